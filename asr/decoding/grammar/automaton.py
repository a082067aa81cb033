"""A grammar expression → the character automaton the CTC search walks (``CompiledGrammar``).

Compilation: Thompson's construction over the expression (``Repeat`` becomes a
loop, so ``*``/``+`` never expand into a list), each word spelled in the model's
label ids (``Tokenizer.encode``) with an optional space after it, sharing the
spelling of words that leave the same node as a character trie; alternatives
that are plain word sequences (a phrase list) are first factored into a word
trie. Words and tags are outputs on epsilon arcs. The epsilon arcs are then
closed: each *label state* (one label arc of the automaton) gets the label
states it may be followed by, each with the weight and the outputs of the best
epsilon path to it, and its weight (and outputs) to the end of the sentence.

Weights: JSGF ``/w/`` weights are relative; the heaviest alternative costs 0
and another ``ln(w / heaviest)``. Alternatives without weights cost nothing.

The result is plain arrays (``CompiledGrammar``), saved with ``numpy.savez``
(``save`` / ``load``): the device side needs numpy alone
(``asr.decoding.grammar.search``).
"""

from __future__ import annotations

import heapq
import json
import math
import os
from collections import defaultdict

import numpy as np

from asr.decoding.grammar.search import FORMAT, CompiledGrammar, load_grammar
from asr.grammar.jsgf import Alt, Expr, GrammarError, Repeat, Seq, Tagged, Words
from asr.text import Tokenizer

class _NFA:
    """An epsilon automaton under construction: ``arcs[node]`` lists
    ``(dst, label or None, weight, output or None)``."""

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        self.space = tokenizer.encode(" ", normalize=False)[0]
        self.arcs: list[list[tuple]] = []
        self.tries: dict[int, dict] = defaultdict(dict)  # node → {label: next node} of spelled words

    def node(self) -> int:
        self.arcs.append([])
        return len(self.arcs) - 1

    def arc(self, src: int, dst: int, label: int | None = None, weight: float = 0.0, output: str | None = None):
        self.arcs[src].append((dst, label, weight, output))

    def word(self, src: int, word: str) -> int:
        """Spell ``word`` from ``src`` (sharing a trie with the other words leaving ``src``); returns its end."""
        try:
            ids = self.tokenizer.encode(word, normalize=False)
        except Exception as exc:  # TextError: a character the model cannot write
            raise GrammarError(f"word {word!r}: {exc}") from None
        node = src
        for label in ids:
            trie = self.tries[node]
            if label not in trie:
                trie[label] = self.node()
                self.arc(node, trie[label], label)
            node = trie[label]
        end, spaced = self.node(), self.node()
        self.arc(node, spaced, output=f"w:{word}")
        self.arc(spaced, end)
        self.arc(spaced, end, self.space)  # the space after a word is optional
        return end

    def build(self, expr: Expr, src: int) -> int:
        """Add ``expr`` starting at ``src``; returns its end node."""
        if isinstance(expr, Words):
            for w in expr.words:
                src = self.word(src, w)
            return src
        if isinstance(expr, Seq):
            for item in expr.items:
                src = self.build(item, src)
            return src
        if isinstance(expr, Tagged):
            mid, end = self.build(expr.item, src), self.node()
            self.arc(mid, end, output=f"t:{expr.tag}")
            return end
        if isinstance(expr, Repeat):
            return self._repeat(expr, src)
        return self._alternatives(expr, src)

    def _repeat(self, expr: Repeat, src: int) -> int:
        end = self.node()
        if expr.most is None:  # a loop, one copy of the item: bounded size whatever the sentence length
            for _ in range(max(expr.least - 1, 0)):
                src = self.build(expr.item, src)
            loop = self.node()
            self.arc(src, loop)
            back = self.build(expr.item, loop)
            self.arc(back, loop)
            self.arc(back, end)
            if expr.least == 0:
                self.arc(src, end)
            return end
        for _ in range(expr.least):
            src = self.build(expr.item, src)
        for _ in range(expr.most - expr.least):
            self.arc(src, end)
            src = self.build(expr.item, src)
        self.arc(src, end)
        return end

    def _alternatives(self, expr: Alt, src: int) -> int:
        end = self.node()
        plain = all(isinstance(e, Words) for e in expr.items) and len(set(expr.weights)) <= 1
        if plain and len(expr.items) > 1:
            self._word_trie(src, end, [e.words for e in expr.items])
            return end
        heaviest = max(expr.weights, default=1.0)
        for item, weight in zip(expr.items, expr.weights):
            if weight == 0:
                continue  # a weight of 0 switches the alternative off
            start = self.node()
            self.arc(src, start, weight=math.log(weight / heaviest))
            self.arc(self.build(item, start), end)
        return end

    def _word_trie(self, src: int, end: int, sentences: list[tuple[str, ...]]) -> None:
        """Equal-weight word sequences from ``src`` to ``end``, sharing common first words."""
        groups: dict[str, list[tuple[str, ...]]] = defaultdict(list)
        for s in sentences:
            if not s:
                self.arc(src, end)
            else:
                groups[s[0]].append(s[1:])
        for first, rests in groups.items():
            self._word_trie(self.word(src, first), end, rests)


def _closure(nfa: _NFA, node: int, final: int, memo: dict) -> tuple[dict, tuple | None]:
    """Best epsilon paths from ``node``: ``({label arc: (weight, outputs)}, (weight, outputs) to final or None)``."""
    if node in memo:
        return memo[node]
    best: dict[int, tuple[float, tuple]] = {node: (0.0, ())}
    heap = [(0.0, 0, node, ())]
    labels: dict[tuple[int, int], tuple[float, tuple]] = {}
    order = 0
    while heap:
        cost, _, n, outs = heapq.heappop(heap)
        if best.get(n, (None,))[0] is not None and -best[n][0] < cost:
            continue
        for dst, label, weight, output in nfa.arcs[n]:
            if label is not None:
                key = (n, dst)
                if key not in labels or labels[key][0] < -cost:
                    labels[key] = (-cost, outs)
                continue
            new_outs = outs + ((output,) if output else ())
            new = cost - weight
            if dst not in best or -best[dst][0] > new:
                best[dst] = (-new, new_outs)
                order += 1
                heapq.heappush(heap, (new, order, dst, new_outs))
    memo[node] = (labels, best.get(final))
    return memo[node]


def compile_expr(expr: Expr, tokenizer: Tokenizer) -> CompiledGrammar:
    """Compile a grammar expression for a model with ``tokenizer``."""
    nfa = _NFA(tokenizer)
    start = nfa.node()
    final = nfa.build(expr, start)
    index: dict[tuple[int, int], int] = {}
    labels: list[int] = []
    for src, arcs in enumerate(nfa.arcs):
        for dst, label, _, _ in arcs:
            if label is not None:
                index[(src, dst)] = len(labels)
                labels.append(label)
    outputs: dict[tuple, int] = {(): 0}
    memo: dict = {}

    def entries(node: int) -> list[tuple[int, float, int]]:
        arcs, _ = _closure(nfa, node, final, memo)
        return [(index[key], w, outputs.setdefault(outs, len(outputs))) for key, (w, outs) in sorted(arcs.items())]

    succ_ptr, succ = [0], []
    final_weight, final_out = np.full(len(labels), -np.inf, np.float32), np.zeros(len(labels), np.int32)
    for (src, dst), k in index.items():
        succ += entries(dst)
        succ_ptr.append(len(succ))
        _, end = _closure(nfa, dst, final, memo)
        if end is not None:
            final_weight[k], final_out[k] = end[0], outputs.setdefault(end[1], len(outputs))
    init = entries(start)
    _, empty = _closure(nfa, start, final, memo)
    if not init and empty is None:
        raise GrammarError("the grammar matches no sentence")
    return CompiledGrammar(
        labels=np.array(labels, np.int32), succ_ptr=np.array(succ_ptr, np.int64),
        succ_to=np.array([e[0] for e in succ], np.int32), succ_weight=np.array([e[1] for e in succ], np.float32),
        succ_out=np.array([e[2] for e in succ], np.int32),
        init_to=np.array([e[0] for e in init], np.int32), init_weight=np.array([e[1] for e in init], np.float32),
        init_out=np.array([e[2] for e in init], np.int32), final_weight=final_weight, final_out=final_out,
        start_final=-np.inf if empty is None else float(empty[0]),
        outputs=tuple(sorted(outputs, key=outputs.get)), tokenizer=tokenizer.to_dict())


def save(grammar: CompiledGrammar, path: str | os.PathLike) -> None:
    """Write a compiled grammar as one ``.npz`` file (arrays, plus the outputs and tokenizer as JSON)."""
    arrays = {name: getattr(grammar, name) for name in (
        "labels", "succ_ptr", "succ_to", "succ_weight", "succ_out", "init_to", "init_weight", "init_out",
        "final_weight", "final_out")}
    meta = {"format": FORMAT, "start_final": grammar.start_final, "outputs": grammar.outputs,
            "tokenizer": grammar.tokenizer}
    with open(path, "wb") as f:
        np.savez_compressed(f, meta=np.array(json.dumps(meta)), **arrays)


def load(path: str | os.PathLike) -> CompiledGrammar:
    """Read a file written by ``save`` (``GrammarError`` when it is not one)."""
    try:
        return load_grammar(path)
    except ValueError as exc:
        raise GrammarError(str(exc)) from None

"""The CTC search over a compiled grammar: the best sentence the grammar accepts.

Needs numpy and the standard library only, so a device can run it with a
compiled grammar file (``asr.decoding.grammar.automaton.save``, ``asr grammar
compile``) and no TensorFlow or grammar parser: ``examples/edge/grammar_search.py``
is a copy of this file (a test keeps the two identical).

A Viterbi (max) search over (label state, in-blank) pairs: a label state may
repeat its label over frames, pass to a blank, or move to one of its successors
(after a blank when both emit the same label). Every path ends in a state the
grammar lets a sentence end in, so the answer is always a grammar sentence,
never a rescoring of an unconstrained n-best list. ``beam`` (natural log) and
``max_states`` prune the states kept per frame; with ``beam=inf`` and
``max_states=0`` the search is exact.

The score is the path's log-probability (plus grammar weights); its cost per
letter of the sentence is the rejection statistic (``cost_per_letter``). The
free score is the best path with no grammar at all (each frame's most probable
label): the filler comparison, ``gap_per_frame``, is reported too, but rejects
worse (docs/GRAMMARS.md): a model that hears an unknown word as one of its own
words scores that word as well with the grammar as without it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

START = -1  # the state before the first label
FORMAT = "asr-grammar-1"  # the compiled file's format (``asr.decoding.grammar.automaton.save``)


@dataclass(frozen=True)
class CompiledGrammar:
    """Label states ``0..S-1`` and their transitions, as arrays (numpy only to use).

    Attributes:
        labels: ``[S]`` int32, the label id each state emits.
        succ_ptr: ``[S + 1]`` int64; state ``k``'s successors are entries
            ``succ_ptr[k]:succ_ptr[k + 1]`` of ``succ_to`` (state), ``succ_weight``
            (natural log) and ``succ_out`` (index into ``outputs``).
        init_to, init_weight, init_out: the states a sentence may start with.
        final_weight: ``[S]`` float32, the weight of ending the sentence after
            state ``k`` (``-inf``: it cannot end there); ``final_out``: its outputs.
        start_final: weight of the empty sentence (``-inf`` when not allowed).
        outputs: tuples of ``"w:<word>"`` and ``"t:<tag>"``, in order; index 0 is ``()``.
        tokenizer: the model tokenizer's ``to_dict()`` the labels belong to.
    """

    labels: np.ndarray
    succ_ptr: np.ndarray
    succ_to: np.ndarray
    succ_weight: np.ndarray
    succ_out: np.ndarray
    init_to: np.ndarray
    init_weight: np.ndarray
    init_out: np.ndarray
    final_weight: np.ndarray
    final_out: np.ndarray
    start_final: float
    outputs: tuple[tuple[str, ...], ...]
    tokenizer: dict

    @property
    def size(self) -> int:
        return len(self.labels)


def load_grammar(path) -> CompiledGrammar:
    """A compiled grammar file (``.npz``); ``ValueError`` naming the file when it is not one."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            arrays = {name: data[name] for name in data.files if name != "meta"}
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{path}: not a compiled grammar ({exc})") from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not a compiled grammar of format {FORMAT}")
    return CompiledGrammar(**arrays, start_final=float(meta["start_final"]),
                           outputs=tuple(tuple(o) for o in meta["outputs"]), tokenizer=meta["tokenizer"])


@dataclass(frozen=True)
class SearchResult:
    """The best grammar path of one utterance.

    Attributes:
        words: the sentence's words (empty when no path reaches an end).
        tags: the tags passed, in order (JSGF ``{...}`` contents).
        score: the path's natural-log score (``-inf`` when none).
        free_score: the best unconstrained path's log-probability.
        frames: frames searched.
    """

    words: tuple[str, ...]
    tags: tuple[str, ...]
    score: float
    free_score: float
    frames: int

    @property
    def gap_per_frame(self) -> float:
        """(free score - grammar score) / frames: 0 when the grammar sentence is the best path."""
        if not math.isfinite(self.score):
            return math.inf
        return (self.free_score - self.score) / max(self.frames, 1)

    @property
    def cost_per_letter(self) -> float:
        """-score / letters of the sentence (spaces not counted): the rejection statistic.
        Near 0 when the speech says the sentence clearly; large when the grammar had to force it."""
        letters = sum(len(w) for w in self.words)
        if not math.isfinite(self.score) or not letters:
            return math.inf
        return -self.score / letters


def log_probs(scores: np.ndarray) -> np.ndarray:
    """Logits or log-probabilities ``[T, V]`` → natural-log probabilities, float64."""
    x = np.asarray(scores, dtype=np.float64)
    top = x.max(axis=-1, keepdims=True)
    return x - (top + np.log(np.exp(x - top).sum(axis=-1, keepdims=True)))


def _successors(g, state: int):
    if state == START:
        return g.init_to, g.init_weight, g.init_out
    lo, hi = g.succ_ptr[state], g.succ_ptr[state + 1]
    return g.succ_to[lo:hi], g.succ_weight[lo:hi], g.succ_out[lo:hi]


def _step(g, active: dict, frame: np.ndarray, blank: int) -> tuple[dict, dict]:
    """One frame: ``{(state, in_blank): score}`` → the next, with back-pointers
    ``{(state, in_blank): ((previous state, in_blank), output index)}``."""
    new: dict = {}
    back: dict = {}

    def offer(key, score, prev, out):
        if score > new.get(key, -math.inf):
            new[key] = score
            back[key] = (prev, out)

    for key, score in active.items():
        state, in_blank = key
        offer((state, True), score + frame[blank], key, 0)
        if state != START and not in_blank:
            offer(key, score + frame[g.labels[state]], key, 0)  # the same label, one more frame
        last = None if state == START else g.labels[state]
        to, weight, out = _successors(g, state)
        for k2, w, o in zip(to.tolist(), weight.tolist(), out.tolist()):
            label = g.labels[k2]
            if label == last and not in_blank:
                continue  # CTC: two equal labels in a row need a blank between them
            offer((k2, False), score + w + frame[label], key, o)
    return new, back


def _prune(scores: dict, beam: float, max_states: int) -> dict:
    if not scores:
        return scores
    best = max(scores.values())
    kept = {k: s for k, s in scores.items() if s >= best - beam}
    if max_states and len(kept) > max_states:
        kept = dict(sorted(kept.items(), key=lambda item: -item[1])[:max_states])
    return kept


def _outputs(g, backs: list[dict], end_key, end_out: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Follow the back-pointers from ``end_key`` at the last frame; the words and tags passed."""
    indices = [end_out]
    key = end_key
    for back in reversed(backs):
        key, out = back[key]
        indices.append(out)
    items = [item for i in reversed(indices) for item in g.outputs[i]]
    return (tuple(i[2:] for i in items if i.startswith("w:")), tuple(i[2:] for i in items if i.startswith("t:")))


def search(g, scores: np.ndarray, length: int | None = None, blank: int = 0, beam: float = 30.0,
           max_states: int = 2000) -> SearchResult:
    """The best sentence of grammar ``g`` (a ``CompiledGrammar``) for one utterance.

    Args:
        scores: ``[T', V]`` logits or log-probabilities of the model's output frames.
        length: real frames (default: all).
        blank: the CTC blank's id.
        beam: keep states within this many nats of the frame's best (``inf``: all).
        max_states: keep at most this many states per frame (0: no limit).
    """
    frames = log_probs(np.asarray(scores)[: len(scores) if length is None else int(length)])
    active: dict = {(START, True): 0.0}
    backs: list[dict] = []
    for frame in frames:
        active, back = _step(g, active, frame, blank)
        active = _prune(active, beam, max_states)
        backs.append(back)
    free = float(frames.max(axis=-1).sum()) if len(frames) else 0.0
    best_key, best_score, best_out = None, -math.inf, 0
    for key, score in active.items():
        state = key[0]
        end = g.start_final if state == START else float(g.final_weight[state])
        out = 0 if state == START else int(g.final_out[state])
        if score + end > best_score:
            best_key, best_score, best_out = key, score + end, out
    if best_key is None:
        if math.isfinite(beam):  # every path to an end was pruned: search again without the beam
            return search(g, scores, length, blank, math.inf, max_states)
        return SearchResult((), (), -math.inf, free, len(frames))
    words, tags = _outputs(g, backs, best_key, best_out)
    return SearchResult(words, tags, best_score, free, len(frames))

"""Sentences for a corpus from a grammar expression, covering every alternative.

A plain random walk says the likely sentences over and over and may never say a
rare alternative; a model cannot learn a word it never heard. Here each choice
(an alternative, an optional part, a repeat count) takes the option used least
so far, ties broken at random, so ``n`` sentences use every alternative of every
rule once ``n`` is at least the largest number of alternatives, and spread evenly
after that. JSGF weights do not bias it: a weight says how likely a sentence is,
not how much training it needs.
"""

from __future__ import annotations

import random
from collections import Counter

from asr.grammar.jsgf import Expr, GrammarError, Repeat, Seq, Tagged, Words

MAX_REPEATS = 3  # a * or + says its item at most this many times in a sampled sentence


class _Sampler:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.used: Counter = Counter()  # (id of the choice point, option) → times taken

    def pick(self, point: int, options: list[int]) -> int:
        fewest = min(self.used[(point, o)] for o in options)
        choice = self.rng.choice([o for o in options if self.used[(point, o)] == fewest])
        self.used[(point, choice)] += 1
        return choice

    def words(self, expr: Expr) -> list[str]:
        if isinstance(expr, Words):
            return list(expr.words)
        if isinstance(expr, Seq):
            return [w for item in expr.items for w in self.words(item)]
        if isinstance(expr, Tagged):
            return self.words(expr.item)
        if isinstance(expr, Repeat):
            most = MAX_REPEATS if expr.most is None else expr.most
            count = self.pick(id(expr), list(range(expr.least, max(most, expr.least) + 1)))
            return [w for _ in range(count) for w in self.words(expr.item)]
        live = [i for i, w in enumerate(expr.weights) if w > 0]
        if not live:
            raise GrammarError("an alternative set with nothing in it (<VOID>) cannot be sampled")
        return self.words(expr.items[self.pick(id(expr), live)])


def sample_sentences(expr: Expr, n: int, seed: int = 0) -> list[str]:
    """``n`` sentences of ``expr`` (space-joined words), every alternative covered as early as possible.
    An empty sentence (all parts optional and left out) is drawn again, up to 100 times."""
    sampler = _Sampler(seed)
    out = []
    for _ in range(n):
        for _ in range(100):
            sentence = " ".join(sampler.words(expr))
            if sentence:
                break
        out.append(sentence)
    return out

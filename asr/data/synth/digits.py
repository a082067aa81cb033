"""The ``digits`` grammar: TIDIGITS-like strings of spoken digits.

A grammar is a function ``(rng: random.Random) -> str`` that returns one
normalised sentence (see :mod:`asr.data.synth.grammars`).
"""

from __future__ import annotations

import random

_DIGIT_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _digit_word(rng: random.Random) -> str:
    # Zero has two spoken forms in TIDIGITS; draw it as often as any other
    # digit, then split it evenly between "zero" and "oh".
    d = rng.randrange(10)
    if d == 0:
        return rng.choice(("zero", "oh"))
    return _DIGIT_WORDS[d - 1]


def digit_string(rng: random.Random, lo: int, hi: int) -> str:
    """``lo`` to ``hi`` spoken digits (the count drawn uniformly), joined by spaces."""
    return " ".join(_digit_word(rng) for _ in range(rng.randint(lo, hi)))


def digits(rng: random.Random) -> str:
    """One TIDIGITS-like string: 1-7 digits from {zero, oh, one..nine}.

    Args:
        rng: the random source (consumed).
    """
    return digit_string(rng, 1, 7)

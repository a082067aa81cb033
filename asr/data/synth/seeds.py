"""Seeded randomness shared by the corpus, its voice split and long recordings."""

from __future__ import annotations

import hashlib
import math
import random


def derive_seed(*parts: object) -> int:
    """A stable 63-bit seed from ``parts`` (Python's hash() is salted per process)."""
    digest = hashlib.sha256(repr(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    """A factor drawn log-uniformly from [lo, hi], so x0.8 and x1.25 are equally likely."""
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))

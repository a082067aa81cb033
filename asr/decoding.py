"""Decoding: CTC output scores → text, outside the model.

Every strategy is a ``Decoder``: ``decoder(logits [B, T', V], lengths [B]) → list[str]``.
Greedy (best path) is the one here; beam search plugs in behind the same call.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from asr.text import Tokenizer


class Decoder(Protocol):
    def __call__(self, logits: np.ndarray, lengths: Sequence[int]) -> list[str]: ...


def greedy_ids(scores: np.ndarray, length: int, blank_id: int = 0) -> list[int]:
    """Best-path CTC ids of one utterance: argmax per frame, repeats merged, blanks dropped.

    Args:
        scores: ``[T', V]`` logits or log-probabilities.
        length: number of real frames; frames past it are ignored.
        blank_id: the blank's id.
    """
    best = np.asarray(scores)[: int(length)].argmax(axis=-1)
    if best.size == 0:
        return []
    keep = np.ones(best.shape, dtype=bool)
    keep[1:] = best[1:] != best[:-1]
    return [int(i) for i in best[keep] if i != blank_id]


class GreedyDecoder:
    """Greedy CTC decoding with a tokenizer.

    Args:
        tokenizer: maps ids to characters; its blank is id 0.
    """

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, logits: np.ndarray, lengths: Sequence[int]) -> list[str]:
        """``logits [B, T', V]``, ``lengths [B]`` → B transcripts."""
        return [
            " ".join(self.tokenizer.decode(greedy_ids(row, n, self.tokenizer.blank_id)).split())
            for row, n in zip(np.asarray(logits), np.asarray(lengths))
        ]

"""Word timestamps and confidences from a CTC alignment (numpy only).

The decoder's transcript is aligned to the model's output frames with a CTC
Viterbi forced alignment: the most probable frame-by-frame path (characters,
their repeats and blanks) that collapses to exactly that transcript. For a
greedy transcript this is the per-frame argmax path itself (the best path of
all collapses to it); for a beam-search transcript it is the best path that
spells what the beam search chose.

Output frame ``t`` covers the audio from ``t * frame_seconds`` to
``(t + 1) * frame_seconds``, where ``frame_seconds`` is the feature hop times
the model's time reduction (40 ms for the shipped model). For each word:

- ``start``: the start of the first frame emitting its first character;
- ``end``: the end of the last frame emitting its last character (its repeats included);
- ``confidence``: the mean, over the frames emitting its characters (blanks
  inside the word left out, as they say nothing about which word it is), of
  the probability the model gives the aligned character in that frame. On the
  greedy path that is each frame's maximum softmax probability.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from asr.decoding.decoders import log_softmax
from asr.text import Tokenizer

# A transcript whose words' mean confidence is below this is taken for noise and dropped. On the shipped
# model it empties 86 % of 300 noise clips, 0 % of 300 held-out synthetic voices and 12 % of 166 real
# recordings; 0.7 would empty every noise clip but 61 % of the real recordings (pipelines/noise_confidence.py,
# docs/RESULTS.md "Noise"): the default keeps real voices, which the model is less sure of.
MIN_CONFIDENCE = 0.5

NEG_INF = float("-inf")


@dataclass(frozen=True)
class Word:
    """One recognised word.

    Attributes:
        word: its text.
        start, end: seconds from the start of the file.
        confidence: in [0, 1] (see the module docstring).
    """

    word: str
    start: float
    end: float
    confidence: float

    def to_dict(self) -> dict:
        """``{"word", "start", "end", "confidence"}``, times to the millisecond."""
        return {"word": self.word, "start": round(self.start, 3), "end": round(self.end, 3),
                "confidence": round(self.confidence, 3)}


def forced_align(log_probs: np.ndarray, ids: Sequence[int], blank_id: int = 0) -> np.ndarray:
    """The most probable CTC path of ``log_probs`` that collapses to ``ids``.

    Args:
        log_probs: ``[T, V]`` natural-log probabilities (or logits: a per-frame
            constant does not change the path).
        ids: the label ids, without blanks (``L`` of them).
        blank_id: the blank's id.

    Returns:
        int ``[T]``: per frame, the index into ``ids`` of the label it emits, or
        -1 for a blank.

    Raises:
        ValueError: when no path fits (fewer frames than the labels and their
            required blanks between repeats).
    """
    scores = np.asarray(log_probs, dtype=np.float64)
    n_frames = scores.shape[0]
    if len(ids) == 0:
        return np.full(n_frames, -1, dtype=np.int64)
    # extended sequence: blank, l1, blank, l2, ..., lL, blank
    states = np.full(2 * len(ids) + 1, blank_id, dtype=np.int64)
    states[1::2] = ids
    n_states = states.size
    # a state may be entered from two back when it is a label differing from the previous label
    skip = np.zeros(n_states, dtype=bool)
    skip[3::2] = states[3::2] != states[1:-2:2]
    if n_frames == 0:
        raise ValueError(f"cannot align {len(ids)} labels to 0 frames")
    score = np.full(n_states, NEG_INF)
    score[:2] = scores[0, states[:2]]
    back = np.zeros((n_frames, n_states), dtype=np.int8)  # 0 stay, 1 from previous state, 2 from two back
    for t in range(1, n_frames):
        stay, step, jump = score, np.full(n_states, NEG_INF), np.full(n_states, NEG_INF)
        step[1:] = score[:-1]
        jump[2:] = np.where(skip[2:], score[:-2], NEG_INF)
        moves = np.stack([stay, step, jump])
        back[t] = moves.argmax(axis=0)
        score = moves.max(axis=0) + scores[t, states]
    end = n_states - 1 if score[-1] >= score[-2] else n_states - 2
    if score[end] == NEG_INF:
        raise ValueError(f"cannot align {len(ids)} labels to {n_frames} frames")
    path = np.empty(n_frames, dtype=np.int64)
    for t in range(n_frames - 1, -1, -1):
        path[t] = end
        end -= int(back[t, end])  # a Python int: numpy would keep int8 and overflow past 127 states
    return np.where(path % 2 == 1, (path - 1) // 2, -1)


def frame_confidence(log_probs: np.ndarray) -> np.ndarray:
    """Each frame's largest softmax probability: ``[T, V]`` logits → float ``[T]`` in (0, 1]."""
    return np.exp(log_softmax(log_probs).max(axis=-1))


def align_words(log_probs: np.ndarray, text: str, tokenizer: Tokenizer, frame_seconds: float,
                offset: float = 0.0) -> list[Word]:
    """Words of ``text`` with their times and confidences (see the module docstring).

    Args:
        log_probs: one utterance's ``[T, V]`` logits or log-probabilities.
        text: its transcript, as a decoder returned it (normalised; words
            separated by single spaces).
        tokenizer: the model's tokenizer.
        frame_seconds: seconds per output frame.
        offset: seconds added to every time (the chunk's start in the file).

    Returns:
        One ``Word`` per word of ``text``, in order.
    """
    ids = tokenizer.encode(text, normalize=False)
    log_probs = log_softmax(log_probs)
    path = forced_align(log_probs, ids, tokenizer.blank_id)
    frames = np.flatnonzero(path >= 0)  # the frames emitting a character, in order
    label_of_frame = path[frames]
    probs = np.exp(log_probs[frames, np.asarray(ids, dtype=np.int64)[label_of_frame]])
    words = []
    position = 0  # index into ids of the word's first character
    for word in text.split(" "):
        first, last = position, position + len(word) - 1
        position += len(word) + 1  # the space after it
        if not word:
            continue
        mine = (label_of_frame >= first) & (label_of_frame <= last)
        times = frames[mine]
        words.append(Word(word, float(offset + times[0] * frame_seconds),
                          float(offset + (times[-1] + 1) * frame_seconds), float(probs[mine].mean())))
    return words


def text_confidence(log_probs: np.ndarray, text: str, tokenizer: Tokenizer) -> float:
    """The mean confidence of ``text``'s words on ``[T, V]`` scores (``align_words``); 1.0 for no words."""
    words = align_words(log_probs, text, tokenizer, frame_seconds=1.0)
    return float(np.mean([w.confidence for w in words])) if words else 1.0


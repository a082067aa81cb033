"""Energy voice-activity detection, and cutting a long recording into chunks
the model can take (numpy only).

A frame is speech when its energy rises far enough above the local noise
floor (``speech_mask``). ``plan_chunks`` leaves a recording of up to
``max_seconds`` whole; a longer one it cuts at every pause of at least
``min_silence`` seconds, keeping ``margin`` seconds of the pause on each side
of the speech, and splits a stretch still longer than ``max_seconds`` at its
longest silence near that length (a hard cut at the quietest frame only when
there is no silence at all).

Why every pause and not chunks of ``max_seconds``: the shipped model was
trained on single commands with 0.1-0.2 s of silence around them, and it
transcribes pause-separated sentences one at a time far better than several
at once (docs/LONGFORM.md has the measurements).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME_SECONDS = 0.02  # energy window
HOP_SECONDS = 0.01  # energy frame step: the resolution of every cut
FLOOR_PERCENTILE = 10  # the local noise floor: the quietest tenth of the frames around
FLOOR_SECONDS = 10.0  # its window: long enough to hold pauses, short enough to follow the noise
PEAK_PERCENTILE = 95  # the local speech level, robust to a few clicks
PEAK_SECONDS = 5.0  # its window: quiet speech next to loud speech keeps its own level
STATS_STEP_SECONDS = 0.5  # the statistics are taken this often and interpolated between
THRESHOLD_RATIO = 0.3  # speech: above floor + this share of (peak - floor), in dB
MIN_RISE_DB = 6.0  # ...and at least this far above the floor (a window holding only noise)
MIN_SILENCE = 0.3  # seconds; shorter pauses (between words, stop closures) do not cut
MARGIN = 0.15  # seconds of pause kept on each side of the speech, as in training (0.1-0.2 s)
MIN_SPEECH = 0.05  # seconds; shorter isolated bursts (clicks) are not speech


def frame_energy_db(samples: np.ndarray, sample_rate: int, frame_seconds: float = FRAME_SECONDS,
                    hop_seconds: float = HOP_SECONDS) -> np.ndarray:
    """Mean-square energy of each frame, in dB relative to full scale.

    Args:
        samples: float samples ``[n]``, nominally in [-1, 1].
        sample_rate: Hz.
        frame_seconds: window length, rounded to whole hops.
        hop_seconds: frame step; frame ``i`` starts at sample ``i * hop``.

    Returns:
        float64 ``[ceil(n / hop)]``; frames running past the end are zero-padded.
    """
    samples = np.asarray(samples)
    hop = max(1, int(round(hop_seconds * sample_rate)))
    span = max(1, int(round(frame_seconds / hop_seconds)))  # hops per frame
    whole = len(samples) // hop * hop
    # energy per hop-long block: einsum sums the squares without a squared copy of an hour of audio
    blocks = np.einsum("ij,ij->i", samples[:whole].reshape(-1, hop), samples[:whole].reshape(-1, hop),
                       dtype=np.float64)
    if whole < len(samples):
        blocks = np.append(blocks, np.dot(samples[whole:].astype(np.float64), samples[whole:]))
    cumulative = np.concatenate([[0.0], np.cumsum(blocks), np.full(span, np.sum(blocks))])
    energy = (cumulative[span:span + len(blocks)] - cumulative[:len(blocks)]) / (span * hop)
    return 10.0 * np.log10(np.maximum(energy, 0.0) + 1e-12)


def _local_percentile(values: np.ndarray, q: float, window: int, step: int) -> np.ndarray:
    """The ``q``-th percentile of ``values`` over a centred ``window``, taken every
    ``step`` frames and linearly interpolated: ``[len(values)]``."""
    centres = np.arange(0, len(values), step)
    taken = [np.percentile(values[max(0, c - window // 2): c + window // 2 + 1], q) for c in centres]
    return np.interp(np.arange(len(values)), centres, taken)


def speech_mask(energy_db: np.ndarray, hop_seconds: float = HOP_SECONDS,
                ratio: float = THRESHOLD_RATIO) -> np.ndarray:
    """Which frames are speech: energy above an adaptive threshold.

    The threshold is ``floor + max(ratio * (peak - floor), MIN_RISE_DB)`` dB,
    where floor is the 10th percentile of the frame energies within
    ``FLOOR_SECONDS`` around the frame and peak their 95th percentile within
    ``PEAK_SECONDS``: it follows a recording whose level or background noise
    changes, and a stretch of noise alone (peak close to floor) does not turn
    into speech.

    Args:
        energy_db: ``[F]`` from ``frame_energy_db``.
        hop_seconds: its frame step.
        ratio: where between floor and peak the threshold lies.

    Returns:
        bool ``[F]``.
    """
    if energy_db.size == 0:
        return np.zeros(0, dtype=bool)
    step = max(1, int(round(STATS_STEP_SECONDS / hop_seconds)))
    floor = _local_percentile(energy_db, FLOOR_PERCENTILE, int(round(FLOOR_SECONDS / hop_seconds)), step)
    peak = _local_percentile(energy_db, PEAK_PERCENTILE, int(round(PEAK_SECONDS / hop_seconds)), step)
    return energy_db > floor + np.maximum(ratio * (peak - floor), MIN_RISE_DB)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, end)`` index ranges of the True runs of a bool ``[F]`` array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def _cut_point(energy_db: np.ndarray, speech: np.ndarray, start: int, limit: int) -> int:
    """Where to end a chunk that starts at frame ``start`` and may not pass ``limit``:
    the middle of the longest silence in the second half of ``[start, limit]``
    (ties: the one nearest ``limit``), else of any silence after ``start``, else
    (a hard cut) the quietest frame of the second half."""
    for low in (start + (limit - start) // 2, start + 1):
        silences = [(b - a, a) for a, b in runs(~speech[low:limit])]
        if silences:
            length, a = max(silences)
            return low + a + length // 2
    low = start + (limit - start) // 2
    return low + int(np.argmin(energy_db[low:limit]))


@dataclass(frozen=True)
class Chunk:
    """A piece of a recording to transcribe: samples ``[start, end)``, with the
    speech the VAD found in it spanning ``[speech_start, speech_end)`` (the
    whole chunk when it found none)."""

    start: int
    end: int
    speech_start: int
    speech_end: int


def plan_chunks(samples: np.ndarray, sample_rate: int, max_seconds: float, min_silence: float = MIN_SILENCE,
                margin: float = MARGIN) -> list[Chunk]:
    """Cut a recording into chunks of speech, never longer than ``max_seconds``.

    A recording no longer than ``max_seconds`` is one chunk, whole. In a
    longer one, the speech regions (``speech_mask``; bursts shorter than
    ``MIN_SPEECH`` dropped) are joined across pauses shorter than
    ``min_silence``; each is widened by ``margin`` on both sides (at most half
    the pause to its neighbour, so chunks never overlap), and one still longer
    than ``max_seconds`` is split at its longest silence near ``max_seconds``
    (see ``_cut_point``). Stretches without speech belong to no chunk.

    Args:
        samples: mono float samples ``[n]``.
        sample_rate: Hz.
        max_seconds: the longest chunk, seconds.
        min_silence: seconds; the shortest pause that separates chunks.
        margin: seconds of pause kept before and after the speech.

    Returns:
        The chunks, in order, disjoint.
    """
    hop = max(1, int(round(HOP_SECONDS * sample_rate)))
    energy_db = frame_energy_db(samples, sample_rate)
    speech = speech_mask(energy_db)
    if len(samples) <= max_seconds * sample_rate:
        spans = [(0, len(speech))]
    else:
        spans = _speech_spans(energy_db, speech, max_seconds, min_silence, margin)
    chunks = []
    for a, b in spans:
        found = np.flatnonzero(speech[a:b])
        first, last = (a + found[0], a + found[-1] + 1) if found.size else (a, b)
        chunks.append(Chunk(a * hop, min(b * hop, len(samples)), int(first) * hop, min(int(last) * hop, len(samples))))
    return chunks


def _speech_spans(energy_db: np.ndarray, speech: np.ndarray, max_seconds: float, min_silence: float,
                  margin: float) -> list[tuple[int, int]]:
    """``plan_chunks``'s cuts of a long recording, as ``[start, end)`` frame ranges."""
    regions: list[list[int]] = []
    for a, b in runs(speech):
        if regions and a - regions[-1][1] < min_silence / HOP_SECONDS:
            regions[-1][1] = b
        else:
            regions.append([a, b])
    regions = [r for r in regions if r[1] - r[0] >= MIN_SPEECH / HOP_SECONDS]
    pad = int(round(margin / HOP_SECONDS))
    widened = []
    for i, (a, b) in enumerate(regions):
        before = regions[i - 1][1] if i else -2 * pad
        after = regions[i + 1][0] if i + 1 < len(regions) else len(speech) + 2 * pad
        widened.append((max(0, a - min(pad, (a - before) // 2)), min(len(speech), b + min(pad, (after - b) // 2))))
    longest = max(1, int(max_seconds / HOP_SECONDS))
    chunks = []
    for a, b in widened:
        while b - a > longest:
            cut = _cut_point(energy_db, speech, a, a + longest)
            chunks.append((a, cut))
            a = cut
        chunks.append((a, b))
    return chunks

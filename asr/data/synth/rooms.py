"""Room reverberation for the synthetic corpus: simulated shoebox rooms.

:func:`room_impulse_response` draws a room (size, reverberation time, source
and microphone) and simulates its impulse response with pyroomacoustics'
image-source method; :func:`reverberate` convolves an utterance with it. The
image order is capped (``AcousticsConfig.max_order``), so one response costs
about 10-40 ms; long reverberation times get a shortened late tail.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import fftconvolve

from asr.config import AcousticsConfig

HEIGHT_M = (2.4, 3.5)  # ceiling height range, metres
WALL_GAP_M = 0.5  # source and microphone stay this far from every wall, metres
MIN_DISTANCE_M = 0.5  # source-microphone distance, at least, metres
PRE_PEAK = 16  # samples kept before the direct-path peak (1 ms at 16 kHz): the sinc's lead-in


@dataclass(frozen=True)
class Room:
    """A simulated room: ``size_m`` (length, width, height, metres), ``rt60_s``
    (the reverberation time it was built for, seconds) and ``distance_m``
    (source to microphone, metres)."""

    size_m: tuple[float, float, float]
    rt60_s: float
    distance_m: float


def _draw_room(rng: np.random.Generator, cfg: AcousticsConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Room size ``[3]``, source and microphone positions ``[3]`` (metres), and RT60 (s)."""
    size = np.array([*rng.uniform(*cfg.room_size_m, size=2), rng.uniform(*HEIGHT_M)])
    rt60 = float(rng.uniform(*cfg.rt60_s))
    low, high = np.full(3, WALL_GAP_M), size - WALL_GAP_M
    source = rng.uniform(low, high)
    for _ in range(100):  # rooms are at least 1.5 m wide, so a far-enough place is quickly found
        mic = rng.uniform(low, high)
        if np.linalg.norm(mic - source) >= MIN_DISTANCE_M:
            break
    return size, source, mic, rt60


def room_impulse_response(rng: np.random.Generator, cfg: AcousticsConfig,
                          sample_rate: int) -> tuple[np.ndarray, Room]:
    """A random room's impulse response from source to microphone.

    Args:
        rng: draws the room size, RT60 and placements.
        cfg: ``rt60_s``, ``room_size_m`` and ``max_order``.
        sample_rate: Hz.

    Returns:
        ``(rir [taps] float64, room)``; the response starts ``PRE_PEAK``
        samples before its direct-path peak (the propagation delay is trimmed).
    """
    import pyroomacoustics as pra  # lazily: only corpora with reverb need it (and it loads slowly)

    size, source, mic, rt60 = _draw_room(rng, cfg)
    try:
        absorption, order = pra.inverse_sabine(rt60, size)
    except ValueError:  # RT60 too short for so large a room: the walls absorb all they can
        absorption, order = 0.99, 1
    room = pra.ShoeBox(size, fs=sample_rate, materials=pra.Material(min(absorption, 0.99)),
                       max_order=min(order, cfg.max_order))
    room.add_source(source)
    room.add_microphone(mic)
    room.compute_rir()
    rir = np.asarray(room.rir[0][0], dtype=np.float64)
    start = max(int(np.argmax(np.abs(rir))) - PRE_PEAK, 0)
    info = Room(tuple(round(float(s), 2) for s in size), round(rt60, 3),
                round(float(np.linalg.norm(mic - source)), 2))
    return rir[start:], info


def reverberate(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """``x`` ``[samples]`` convolved with ``rir`` ``[taps]``, cut to ``x``'s length,
    at ``x``'s peak level (the tail past the end is dropped; speech moves by
    ``PRE_PEAK`` samples at most)."""
    y = fftconvolve(x, rir)[:x.size]
    peak = np.max(np.abs(y))
    return y * (np.max(np.abs(x)) / peak) if peak > 0 else y

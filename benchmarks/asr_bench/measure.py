"""Measuring: wall time of repeated calls, and a runtime's log-probabilities against Keras's
(``LOG_PROB_TOLERANCE``: how far a float port may be from them)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from asr.decoding.decoders import log_softmax as decoders_log_softmax
from asr.core.errors import ASRError

LOG_PROB_TOLERANCE = 1e-3  # max |Δ log-probability| of a float port against Keras


def timed_runs(run: Callable[[], object], repeats: int) -> list[float]:
    """Wall seconds of ``repeats`` calls of ``run`` after one untimed warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Log-probabilities over the last axis, float32 (the library's ``log_softmax``, computed in float64)."""
    return decoders_log_softmax(x).astype(np.float32)


def max_difference(log_probs: np.ndarray, reference: np.ndarray) -> float:
    """Max |Δ| between two ``[T', V]`` log-probability arrays; an ``ASRError`` when their shapes differ."""
    log_probs = np.asarray(log_probs)
    if log_probs.shape != reference.shape:
        raise ASRError(f"output shape {log_probs.shape} differs from Keras's {reference.shape}")
    return float(np.abs(log_probs - reference).max())

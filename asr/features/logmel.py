"""Features: librosa log-mel with per-utterance normalisation, computed in
worker processes and cached on disk keyed by the file and the feature config.

The cache holds the log-mel before normalisation, so training-time augmentation
(gain, noise, speed) can work on mel power and normalise afterwards.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
import zipfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from asr.audio.files import check_duration, read_audio
from asr.config import FeatureConfig, save_json
from asr.core.atomic import atomic_path
from asr.core.errors import ASRError
from asr.core.progress import progress

NORM_EPSILON = 1e-5  # added to the standard deviation by per-utterance normalisation
PROGRESS_MIN_FILES = 100  # fewer files than this get no progress bar
CACHE_KEY = "log_mel"  # the npz entry holding the raw (unnormalised) log-mel


def log_mel(audio: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Log-mel features of one utterance.

    Args:
        audio: float32 samples at ``cfg.sample_rate``, shape ``[n]``.
        cfg: feature settings.

    Returns:
        float32 ``[frames, cfg.n_mels]``, frames = 1 + n // hop_length
        (librosa's centred framing with zero padding).
    """
    import librosa  # lazily: librosa (numba) takes seconds to load

    mel = librosa.feature.melspectrogram(
        y=audio,
        sr=cfg.sample_rate,
        n_fft=cfg.n_fft,
        win_length=cfg.win_length,
        hop_length=cfg.hop_length,
        window=cfg.window,
        center=True,
        pad_mode="constant",
        power=2.0,
        n_mels=cfg.n_mels,
        fmin=cfg.fmin,
        fmax=cfg.fmax,
    )
    return normalize(np.log(mel + cfg.log_floor).T, cfg)


def raw_log_mel(audio: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """``log_mel`` before normalisation: ``log(mel power + cfg.log_floor)``, ``[frames, n_mels]``."""
    return log_mel(audio, dataclasses.replace(cfg, normalize="none"))


def normalize(feats: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Apply ``cfg.normalize`` to raw log-mel ``[frames, n_mels]``; returns float32.

    ``utterance``: per mel bin, subtract the mean over frames and divide by the
    standard deviation (+1e-5). ``none``: unchanged.
    """
    if cfg.normalize == "utterance":  # the config refuses any mode but these two
        feats = (feats - feats.mean(axis=0)) / (feats.std(axis=0) + NORM_EPSILON)
    return feats.astype(np.float32)


def frames_for(samples: int, cfg: FeatureConfig) -> int:
    """Feature frames of ``samples`` samples (librosa's centred framing)."""
    return 1 + samples // cfg.hop_length


def config_key(cfg: FeatureConfig) -> str:
    """A short hash of the feature settings: the cache's folder name."""
    text = json.dumps(dataclasses.asdict(cfg), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _file_key(path: str) -> str:
    stat = os.stat(path)
    text = f"{os.path.abspath(path)}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha1(text.encode()).hexdigest()


@dataclass(frozen=True)
class CachedFeatures:
    """Where one file's raw log-mel lies in the cache, and how many frames it has."""

    path: str
    frames: int


def save_cached(path: str | os.PathLike, raw: np.ndarray, samples: int) -> CachedFeatures:
    """Write one cache entry (atomically): raw log-mel ``[frames, n_mels]`` float32 and the sample count."""
    with atomic_path(path, suffix=".npz") as tmp:  # savez would add .npz itself
        np.savez(tmp, **{CACHE_KEY: raw}, samples=np.int64(samples))
    return CachedFeatures(str(path), raw.shape[0])


def load_cached(path: str | os.PathLike) -> np.ndarray:
    """The raw (unnormalised) log-mel ``[frames, n_mels]`` float32 of a cache entry."""
    with np.load(path) as entry:
        return entry[CACHE_KEY]


def _featurize(job: tuple) -> np.ndarray | CachedFeatures | str:
    """Worker: one file → features (from cache when present), or an error message.

    With ``keep`` false, only makes sure the cache entry exists and returns a
    ``CachedFeatures``, so many files never sit in memory together.
    """
    path, cfg, cache_dir, min_duration, max_duration, keep = job
    try:
        cached = Path(cache_dir) / f"{_file_key(path)}.npz" if cache_dir else None
        if cached is not None and cached.is_file():
            try:
                with np.load(cached) as entry:
                    samples = int(entry["samples"])
                    # the limits may have changed since the entry was written
                    check_duration(samples / cfg.sample_rate, path, min_duration, max_duration)
                    if CACHE_KEY not in entry.files:
                        raise KeyError(CACHE_KEY)  # an older format
                    if not keep:
                        return CachedFeatures(str(cached), frames_for(samples, cfg))
                    return normalize(entry[CACHE_KEY], cfg)
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                pass  # a damaged (or older-format) cache entry is recomputed and replaced
        audio = read_audio(path, cfg.sample_rate, min_duration, max_duration)
        raw = raw_log_mel(audio, cfg)
        if cached is not None:
            save_cached(cached, raw, audio.size)
        return normalize(raw, cfg) if keep else CachedFeatures(str(cached), raw.shape[0])
    except ASRError as exc:
        return str(exc)
    except OSError as exc:
        return f"{path}: {exc.strerror or exc}"


def _one_thread_each() -> None:
    """Pool initializer: one BLAS thread per worker process.

    Each worker's OpenBLAS would otherwise start a thread per core, so ``workers``
    processes run ``workers`` × cores threads that spin against each other: on
    2 cores, two workers took 2.3× as long as one (docs/RESULTS.md, "Time").
    """
    from threadpoolctl import threadpool_limits  # here: runs in each worker process as it starts

    threadpool_limits(1)


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """The process pool that computes features: ``workers`` spawned processes, one BLAS thread each."""
    # spawn, not fork: the parent may hold TensorFlow's threads, which fork would copy broken.
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_one_thread_each)


def compute_features(
    paths: Sequence[str],
    cfg: FeatureConfig,
    cache_dir: str | os.PathLike | None = None,
    workers: int = 1,
    min_duration: float = 0.1,
    max_duration: float | None = None,
    keep: bool = True,
) -> list[np.ndarray | CachedFeatures | str]:
    """Features for many files, in parallel, through the disk cache.

    Args:
        paths: audio files.
        cfg: feature settings; the cache lives in ``cache_dir/<hash of cfg>/``.
        cache_dir: cache root, or None for no cache.
        workers: processes (1: compute in this process).
        min_duration, max_duration: seconds; files outside are errors.
        keep: return the features themselves; false returns ``CachedFeatures``
            (cache path and frame count) instead, so memory does not grow with
            the number of files (needs ``cache_dir``).

    Returns:
        Per path, normalised ``[frames, n_mels]`` float32 features (or a
        ``CachedFeatures``), or a one-line error string.
    """
    if not keep and cache_dir is None:
        raise ASRError("features can only be streamed from a cache: set data.cache_dir")
    folder = None
    if cache_dir is not None:
        folder = Path(cache_dir) / config_key(cfg)
        folder.mkdir(parents=True, exist_ok=True)
        save_json(cfg, folder / "features.json")
    jobs = [(str(p), cfg, str(folder) if folder else None, min_duration, max_duration, keep) for p in paths]
    desc = "features" if len(jobs) >= PROGRESS_MIN_FILES else None
    if workers <= 1 or len(jobs) < 16:
        return list(progress(map(_featurize, jobs), desc, total=len(jobs), unit="file"))
    with worker_pool(workers) as pool:
        results = pool.map(_featurize, jobs, chunksize=max(1, min(64, len(jobs) // (workers * 8))))
        return list(progress(results, desc, total=len(jobs), unit="file"))

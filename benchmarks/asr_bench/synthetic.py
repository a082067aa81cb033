"""Synthetic inputs: the speech-like batch-1 clip (``speechlike``) and the training
utterances (random log-mels and labels of the recipe's shapes, or a draw of real ones)."""

from __future__ import annotations

import numpy as np

from asr.config import FeatureConfig
from asr.core.errors import ASRError
from asr.data.manifest import Utterance
from asr.data.splits import Split, load_split, min_frames_for
from asr.features.graph import frame_lengths

CHARACTERS_PER_SECOND = 13.0  # synthetic transcript lengths (the commands corpus: about 13)
SYNTHETIC_DURATIONS = (0.8, 3.4)  # seconds, uniform: mean 2.1 s, as the commands training set


def speechlike(seconds: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """A voiced, amplitude-modulated harmonic signal with a little noise: float32 ``[n]`` in [-0.5, 0.5]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    f0 = rng.uniform(100, 180) + 40 * np.sin(2 * np.pi * rng.uniform(1, 3) * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(2, 5) * t + rng.uniform(0, 6)))
    x = voiced * envelope + 0.05 * rng.normal(size=t.size)
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def synthetic_split(count: int, features: FeatureConfig, vocab_size: int, time_reduction: int,
                    seed: int = 0) -> Split:
    """``count`` utterances of random per-utterance-normalised log-mels and random labels
    (``asr.data.splits.Split``): durations uniform in ``SYNTHETIC_DURATIONS``, about
    ``CHARACTERS_PER_SECOND`` labels a second, never more than CTC can emit."""
    rng = np.random.default_rng(seed)
    split = Split([], [], [], [])
    for i in range(count):
        duration = float(rng.uniform(*SYNTHETIC_DURATIONS))
        frames = int(frame_lengths(int(duration * features.sample_rate), features))
        budget = -(-frames // time_reduction)
        labels = rng.integers(1, vocab_size, size=max(1, int(duration * CHARACTERS_PER_SECOND))).tolist()
        while len(labels) > 1 and min_frames_for(labels) > budget:
            labels.pop()
        split.utterances.append(Utterance(f"<synthetic {i}>", duration, ""))
        split.features.append(rng.standard_normal((frames, features.n_mels)).astype(np.float32))
        split.labels.append(labels)
    return split


def training_split(cfg, tokenizer, count: int, manifest: str | None) -> tuple[Split, str]:
    """``(split, description)``: ``count`` utterances of ``manifest`` (a seeded draw), or synthetic ones."""
    if manifest is None:
        split = synthetic_split(count, cfg.features, tokenizer.vocab_size, cfg.model.time_reduction, cfg.train.seed)
        low, high = SYNTHETIC_DURATIONS
        return split, (f"synthetic: random log-mels and labels, durations uniform in [{low}, {high}] s, "
                       f"{CHARACTERS_PER_SECOND:g} labels/s")
    full = load_split(manifest, cfg.data, cfg.features, tokenizer, cfg.model.time_reduction)
    if not len(full):
        raise ASRError(f"{manifest}: no usable utterances")
    chosen = np.random.default_rng(cfg.train.seed).permutation(len(full))[:count]
    split = Split([full.utterances[i] for i in chosen], [full.features[i] for i in chosen],
                  [full.labels[i] for i in chosen], [])
    return split, f"real: {len(split)} utterances of {manifest}"

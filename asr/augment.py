"""Training-time augmentation of log-mel features (never applied at evaluation).

SpecAugment masks (Park et al., 2019) and a random warp of the mel axis, a
cheap stand-in for vocal-tract-length perturbation: it moves formants the way a
shorter or longer vocal tract does, which is what separates an unseen voice
from the training voices.
"""

from __future__ import annotations

import numpy as np

from asr.config import AugmentConfig


def warp_mel_axis(features: np.ndarray, factor: float) -> np.ndarray:
    """Stretch (factor > 1) or squeeze the mel axis, by linear interpolation.

    Args:
        features: ``[frames, n_mels]``.
        factor: bin ``i`` of the output reads bin ``i / factor`` of the input.
    """
    n_mels = features.shape[1]
    source = np.clip(np.arange(n_mels) / factor, 0, n_mels - 1)
    low = np.floor(source).astype(int)
    high = np.minimum(low + 1, n_mels - 1)
    frac = (source - low).astype(features.dtype)
    return features[:, low] * (1 - frac) + features[:, high] * frac


def augment(features: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Return an augmented copy of one utterance's features.

    Args:
        features: ``[frames, n_mels]`` normalised log-mel (mean 0, so masks set 0).
        cfg: augmentation settings.
        rng: the source of randomness (seeded per epoch by the caller).
    """
    out = features
    if cfg.mel_warp > 0:
        out = warp_mel_axis(out, float(np.exp(rng.uniform(-cfg.mel_warp, cfg.mel_warp))))
    else:
        out = out.copy()
    frames, n_mels = out.shape
    for _ in range(cfg.freq_masks):
        width = int(rng.integers(0, cfg.freq_mask_width + 1))
        start = int(rng.integers(0, max(1, n_mels - width)))
        out[:, start:start + width] = 0.0
    max_time = min(cfg.time_mask_width, int(cfg.time_mask_max_fraction * frames))
    for _ in range(cfg.time_masks):
        width = int(rng.integers(0, max_time + 1))
        start = int(rng.integers(0, max(1, frames - width)))
        out[start:start + width] = 0.0
    return out

"""What the config sections may hold: enums declared on their fields (``choice``)
and the numeric bounds (``RANGES``), both checked once, when a section is built or loaded."""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Any

from asr.core.errors import ConfigError


def choice(default: str, *others: str) -> Any:
    """A string field that takes one of a fixed set of values (``default`` first);
    ``check_choices`` refuses any other when the dataclass is built."""
    return field(default=default, metadata={"choices": (default, *others)})


def choices_of(cls: type, name: str) -> tuple[str, ...]:
    """The values field ``name`` of config dataclass ``cls`` takes (declared with ``choice``)."""
    return next(f.metadata["choices"] for f in dataclasses.fields(cls) if f.name == name)


def check_choices(cfg: Any, section: str) -> None:
    """Refuse a field declared with ``choice`` whose value is not one of its choices."""
    for f in dataclasses.fields(cfg):
        allowed = f.metadata.get("choices")
        if allowed and getattr(cfg, f.name) not in allowed:
            raise ConfigError(f"{section}.{f.name}: {getattr(cfg, f.name)!r} is not one of {' | '.join(allowed)}")


# Allowed ranges [low, high] (None: unbounded) of numeric settings, checked on load.
RANGES: dict[str, tuple[float | None, float | None]] = {
    "corpus.n_train": (0, None), "corpus.random_voices": (0, 2000), "corpus.n_dev": (0, None),
    "corpus.n_test": (0, None), "corpus.train_flite_share": (0, 1),
    **{f"corpus.acoustics.{name}_prob": (0, 1) for name in (
        "reverb", "noise", "babble", "noise_file", "eq", "bandlimit", "telephone", "codec", "gain", "clip")},
    "corpus.acoustics.rt60_s": (0.05, 3.0), "corpus.acoustics.room_size_m": (1.5, 50.0),
    "corpus.acoustics.max_order": (0, 60), "corpus.acoustics.babble_talkers": (1, 20),
    "corpus.acoustics.snr_db": (-10, 60), "corpus.acoustics.eq_gain_db": (0, 24),
    "corpus.acoustics.codec_compression": (0, 1), "corpus.acoustics.gain_db": (-60, 20),
    "corpus.acoustics.clip_level": (0.05, 1),
    "data.min_duration": (0, None), "data.max_duration": (0, None), "data.num_workers": (1, None),
    "features.sample_rate": (1000, None), "features.n_fft": (16, None), "features.win_length": (16, None),
    "features.hop_length": (1, None), "features.n_mels": (1, None), "features.fmin": (0, None),
    "features.log_floor": (1e-12, None),
    "model.conv_kernel": (1, None), "model.lstm_units": (1, None),
    "model.lstm_layers": (0, None), "model.dropout": (0, 0.95),
    "train.epochs": (1, None), "train.batch_size": (1, None), "train.length_jitter": (0, 0.5),
    "train.learning_rate": (1e-9, None),
    "train.warmup_steps": (0, None), "train.min_learning_rate": (0, None), "train.clipnorm": (1e-9, None),
    "train.early_stopping_patience": (1, None), "train.freeze_blocks": (0, None), "train.log_every_steps": (1, None),
    "train.augment.mel_warp": (0, 0.5), "train.augment.gain_db": (0, 60), "train.augment.noise_prob": (0, 1),
    "train.augment.freq_masks": (0, None),
    "train.augment.freq_mask_width": (0, None), "train.augment.time_masks": (0, None),
    "train.augment.time_mask_width": (0, None), "train.augment.time_mask_max_fraction": (0, 1),
}


def check_range(value: Any, where: str) -> None:
    low, high = RANGES.get(where, (None, None))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
            raise ConfigError(f"{where}: {value!r} is out of range (must be {bounds})")

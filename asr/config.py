"""One config schema: typed dataclasses that the YAML files fill in.

YAML is plain data (``yaml.safe_load``: no object tags). A key the schema does
not know is an error that names it. ``--set section.key=value`` overrides go
through the same checks.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from asr.core.atomic import atomic_write_text
from asr.core.errors import ConfigError, first_line


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


@dataclass
class CorpusConfig:
    """The synthetic corpus a recipe trains on (``asr synth``)."""

    grammar: str | None = "commands"  # built-in grammar: digits | commands
    text_file: str | None = None  # or sentences from a UTF-8 file, one a line
    out_dir: str = "data/commands"
    n_train: int = 4000
    n_dev: int = 300
    n_test: int = 600
    seed: int = 0
    engines: list[str] = field(default_factory=lambda: ["espeak-ng", "flite"])
    holdout: str = choice("voice", "engine")  # voice: unseen voices in dev/test; engine: test on flite only
    random_voices: int = 0  # extra random-timbre espeak-ng speakers, training only
    # Share of the dev and test utterances said by flite when both engines are used: fixed, not a
    # setting, so that dev and test figures compare across recipes. flite has only a few voices,
    # but they sound more natural than espeak-ng's.
    EVAL_FLITE_SHARE: ClassVar[float] = 0.3
    # Share of the training utterances said by flite when both engines are used.
    train_flite_share: float = EVAL_FLITE_SHARE

    def __post_init__(self):
        check_choices(self, "corpus")


@dataclass
class DataConfig:
    """Manifests and the limits an utterance must meet to be used."""

    train_manifest: str | None = None  # default: <corpus.out_dir>/train.jsonl
    dev_manifest: str | None = None
    test_manifest: str | None = None
    min_duration: float = 0.1  # seconds
    max_duration: float = 20.0  # seconds
    cache_dir: str = "data/feature_cache"
    num_workers: int = 2  # feature-extraction processes


@dataclass
class FeatureConfig:
    """librosa log-mel settings. Saved with every model."""

    sample_rate: int = 16000  # Hz
    n_fft: int = 400  # samples
    win_length: int = 400  # samples (25 ms at 16 kHz)
    hop_length: int = 160  # samples (10 ms at 16 kHz)
    window: str = "hann"
    n_mels: int = 80
    fmin: float = 20.0  # Hz
    fmax: float | None = 7600.0  # Hz; None means sample_rate / 2
    log_floor: float = 1e-6  # added to mel power before the log
    normalize: str = choice("utterance", "none")  # utterance: per-utterance mean/variance per mel bin; none

    def __post_init__(self):
        check_choices(self, "features")

    def frame_seconds(self, time_reduction: int = 1) -> float:
        """Seconds of audio per frame: the hop, times ``time_reduction`` for a model's output frames."""
        return self.hop_length * time_reduction / self.sample_rate


@dataclass
class TokenizerConfig:
    """Tokenizer settings (``asr.text.Tokenizer``). Saved with every model."""

    # Write the second of two equal letters as a repeat token ("door" → d o <repeat> r), so a doubled
    # letter needs no blank frame between its halves.
    repeat_token: bool = False


@dataclass
class ModelConfig:
    """Encoder (strided conv front end + BiLSTM stack) and CTC head sizes."""

    conv_channels: list[int] = field(default_factory=lambda: [256, 256])  # one conv layer each
    conv_kernel: int = 5  # frames
    # Feature frames per output frame: 1, 2, 4... The first convs stride 2 until it is reached.
    time_reduction: int = 2
    lstm_units: int = 128  # per direction
    lstm_layers: int = 2
    dropout: float = 0.1  # between layers; never recurrent (keeps cuDNN eligible)
    layer_norm: bool = False  # LayerNormalization of each BiLSTM's input frames

    def __post_init__(self):
        r = self.time_reduction
        if r < 1 or r & (r - 1) or r > 2 ** len(self.conv_channels):
            raise ConfigError(f"model.time_reduction: {r!r} must be a power of two, at most "
                              f"2 ** len(model.conv_channels) = {2 ** len(self.conv_channels)}")
        for i, channels in enumerate(self.conv_channels):
            if channels < 1:
                raise ConfigError(f"model.conv_channels[{i}]: {channels!r} is out of range (must be >= 1)")

    @property
    def conv_strides(self) -> list[int]:
        """Each conv layer's stride: 2 for the first log2(time_reduction) layers, then 1."""
        halvings = self.time_reduction.bit_length() - 1
        return [2 if i < halvings else 1 for i in range(len(self.conv_channels))]


@dataclass
class AugmentConfig:
    """Training-time augmentation (off at evaluation), in the order it is applied.

    Gain and noise act on the mel power before normalisation; masks on the
    normalised features. See ``asr.data.augment``.
    """

    enabled: bool = True
    # speed perturbation: one factor drawn per utterance (Kaldi's recipe uses 0.9, 1.0, 1.1)
    speeds: list[float] = field(default_factory=lambda: [1.0])
    mel_warp: float = 0.1  # mel axis stretched by exp(U(-w, w)): vocal-tract-length-like
    gain_db: float = 0.0  # gain drawn from U(-g, g) dB: moves the speech against the log floor and the noise
    noise_prob: float = 0.0  # fraction of utterances that get additive noise
    noise_snr_db: list[float] = field(default_factory=lambda: [10.0, 30.0])  # [low, high], on mel power
    noise_files: list[str] = field(default_factory=list)  # noise recordings; none: white, pink, brown noise
    freq_masks: int = 2  # SpecAugment frequency masks per utterance (tensorflow-io)
    freq_mask_width: int = 12  # mel bins, at most
    time_masks: int = 2
    time_mask_width: int = 20  # frames, at most
    time_mask_max_fraction: float = 0.1  # of the utterance, at most

    def __post_init__(self):
        if not self.speeds or any(not 0.5 <= s <= 2.0 for s in self.speeds):
            raise ConfigError(f"train.augment.speeds: {self.speeds!r} must be factors in [0.5, 2.0]")
        low_high = self.noise_snr_db
        if len(low_high) != 2 or low_high[0] > low_high[1]:
            raise ConfigError(f"train.augment.noise_snr_db: {low_high!r} must be [low, high] with low <= high")




@dataclass
class TrainConfig:
    """Optimisation, schedule, checkpointing and stopping; where training runs and in what precision."""

    epochs: int = 20
    batch_size: int = 32  # the global batch: each step's utterances, split across all replicas
    # batches group utterances of similar length; each epoch every length is scaled by a random
    # factor in [1 - length_jitter, 1 + length_jitter] before sorting, so batches vary between epochs
    length_jitter: float = 0.1
    learning_rate: float = 1.5e-3  # peak, reached after warmup_steps
    warmup_steps: int = 300
    min_learning_rate: float = 5e-5  # end of the cosine decay
    clipnorm: float = 5.0
    early_stopping_patience: int = 5  # epochs without dev WER improvement
    seed: int = 0
    log_every_steps: int = 50  # TensorBoard scalar frequency
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    # none | mirrored (this machine's GPUs) | multi_worker (processes told their place by TF_CONFIG);
    # see asr.training.distribute and docs/DISTRIBUTED.md
    distribution: str = choice("none", "mirrored", "multi_worker")
    devices: list[str] = field(default_factory=list)  # mirrored only: e.g. ["GPU:0", "GPU:1"]; empty: all GPUs
    # float32 | mixed_float16 (loss scaling) | mixed_bfloat16: the encoder's compute dtype; weights,
    # the CTC head and the loss stay float32, and the saved model.keras is float32
    precision: str = choice("float32", "mixed_float16", "mixed_bfloat16")

    def __post_init__(self):
        check_choices(self, "train")
        if self.devices and self.distribution != "mirrored":
            raise ConfigError(f"train.devices: {self.devices!r} only applies to train.distribution: mirrored")


@dataclass
class Config:
    """A whole recipe: corpus → data → features and tokenizer → model → training."""

    name: str = "commands"
    run_dir: str | None = None  # default: runs/<name>
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    data: DataConfig = field(default_factory=DataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def manifest(self, split: str) -> str:
        """The manifest path for ``split`` (train | dev | test)."""
        explicit = getattr(self.data, f"{split}_manifest")
        return explicit or str(Path(self.corpus.out_dir) / f"{split}.jsonl")

    @property
    def resolved_run_dir(self) -> str:
        return self.run_dir or str(Path("runs") / self.name)


# Allowed ranges [low, high] (None: unbounded) of numeric settings, checked on load.
RANGES: dict[str, tuple[float | None, float | None]] = {
    "corpus.n_train": (0, None), "corpus.random_voices": (0, 2000), "corpus.n_dev": (0, None),
    "corpus.n_test": (0, None), "corpus.train_flite_share": (0, 1),
    "data.min_duration": (0, None), "data.max_duration": (0, None), "data.num_workers": (1, None),
    "features.sample_rate": (1000, None), "features.n_fft": (16, None), "features.win_length": (16, None),
    "features.hop_length": (1, None), "features.n_mels": (1, None), "features.fmin": (0, None),
    "features.log_floor": (1e-12, None),
    "model.conv_kernel": (1, None), "model.lstm_units": (1, None),
    "model.lstm_layers": (0, None), "model.dropout": (0, 0.95),
    "train.epochs": (1, None), "train.batch_size": (1, None), "train.length_jitter": (0, 0.5),
    "train.learning_rate": (1e-9, None),
    "train.warmup_steps": (0, None), "train.min_learning_rate": (0, None), "train.clipnorm": (1e-9, None),
    "train.early_stopping_patience": (1, None), "train.log_every_steps": (1, None),
    "train.augment.mel_warp": (0, 0.5), "train.augment.gain_db": (0, 60), "train.augment.noise_prob": (0, 1),
    "train.augment.freq_masks": (0, None),
    "train.augment.freq_mask_width": (0, None), "train.augment.time_masks": (0, None),
    "train.augment.time_mask_width": (0, None), "train.augment.time_mask_max_fraction": (0, 1),
}


def _check_range(value: Any, where: str) -> None:
    low, high = RANGES.get(where, (None, None))
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
            raise ConfigError(f"{where}: {value!r} is out of range (must be {bounds})")


def _check_value(value: Any, hint: Any, where: str) -> Any:
    """Check ``value`` against the type hint ``hint``, converting int→float."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _check_value(value, option, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0])
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(hint)
        return [_check_value(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint in (int, float, str, bool) and (type(value) is not hint):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def from_dict(cls: type, data: Any, where: str = "config") -> Any:
    """Build dataclass ``cls`` from a plain dict, refusing unknown keys.

    Args:
        cls: a dataclass type of this module.
        data: the mapping read from YAML (or None for all defaults).
        where: dotted path used in error messages.
    """
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        prefix = "" if where == "config" else f"{where}."
        key = str(unknown[0])
        key = key if key.isprintable() and key.strip() == key and key else repr(key)  # one readable line
        raise ConfigError(f"unknown config key {prefix}{key} (known: {', '.join(sorted(names))})")
    prefix = "" if where == "config" else f"{where}."
    kwargs = {k: _check_value(v, hints[k], f"{prefix}{k}") for k, v in data.items()}
    for key, value in kwargs.items():
        _check_range(value, f"{prefix}{key}")
    return cls(**kwargs)


def to_dict(cfg: Any) -> dict:
    """A dataclass as plain data, ready for YAML or JSON."""
    return dataclasses.asdict(cfg)


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``section.key=value`` strings to a plain config dict (values parsed as YAML scalars)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ConfigError(f"--set {item!r}: value is not valid YAML") from None
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            if node.get(part) is None:  # absent, or left empty in the YAML
                node[part] = {}
            node = node[part]
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {part} is not a section")
        node[parts[-1]] = value
    return data


def load_config(path: str | os.PathLike | None, overrides: list[str] | None = None) -> Config:
    """Read a YAML recipe (or the defaults when ``path`` is None) and apply overrides.

    Args:
        path: a YAML file holding plain data.
        overrides: ``section.key=value`` strings, applied after the file.
    """
    data: dict = {}
    if path is not None:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read config ({exc})") from None
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            first = first_line(exc, "invalid YAML")
            raise ConfigError(f"{path}: not plain YAML data ({first})") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping")
    data = apply_overrides(data, overrides or [])
    try:
        return from_dict(Config, data)
    except ConfigError as exc:
        where = f"{path}: " if path is not None else ""
        raise ConfigError(f"{where}{exc}") from None


def save_config(cfg: Config, path: str | os.PathLike) -> None:
    """Write the config a run used, as YAML."""
    atomic_write_text(Path(path), yaml.safe_dump(to_dict(cfg), sort_keys=False))


def save_json(section: Any, path: str | os.PathLike) -> None:
    """Write one config section as indented JSON (a run's or the feature cache's ``features.json``)."""
    atomic_write_text(Path(path), json.dumps(to_dict(section), indent=2))

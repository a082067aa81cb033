"""The config schema: one dataclass per recipe section, their defaults (the only
place defaults live) and the checks each section makes when it is built."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from asr.config.checks import check_choices, check_range, choice
from asr.core.errors import ConfigError


@dataclass
class AcousticsConfig:
    """Rooms, noise and channels rendered into the corpus's WAVs, each effect with
    its probability, in this order (``asr.data.synth.acoustics``). All 0 by default: a clean corpus."""

    reverb_prob: float = 0.0  # a simulated shoebox room (pyroomacoustics)
    rt60_s: list[float] = field(default_factory=lambda: [0.2, 0.8])  # [low, high] reverberation time, seconds
    room_size_m: list[float] = field(default_factory=lambda: [3.0, 10.0])  # [low, high] length and width, metres
    max_order: int = 20  # image-source reflection order, at most (higher: longer tail, slower)
    noise_prob: float = 0.0  # white, pink or brown noise
    babble_prob: float = 0.0  # other utterances of the same split, summed
    babble_talkers: int = 4  # utterances in one babble
    noise_file_prob: float = 0.0  # a random stretch of one of noise_files
    noise_files: list[str] = field(default_factory=list)  # noise recordings (any format asr reads)
    snr_db: list[float] = field(default_factory=lambda: [5.0, 25.0])  # [low, high], each noise drawn separately
    eq_prob: float = 0.0  # microphone colouring: a low shelf, a peak and a high shelf
    eq_gain_db: float = 6.0  # each band's gain drawn from U(-g, g) dB
    bandlimit_prob: float = 0.0  # a band-pass with random edges
    telephone_prob: float = 0.0  # 8 kHz, 300-3400 Hz, 8-bit mu-law, and back
    codec_prob: float = 0.0  # an OGG/Vorbis round trip
    codec_compression: list[float] = field(default_factory=lambda: [0.3, 0.9])  # [low, high], 0-1 (1: smallest)
    gain_prob: float = 0.0  # a level change (a peak over full scale is scaled back to it)
    gain_db: list[float] = field(default_factory=lambda: [-20.0, 6.0])  # [low, high] dB
    clip_prob: float = 0.0  # hard clipping
    clip_level: list[float] = field(default_factory=lambda: [0.3, 0.8])  # [low, high], of the utterance's peak

    def __post_init__(self):  # every list but noise_files is a [low, high] range
        for f in dataclasses.fields(self):
            value, where = getattr(self, f.name), f"corpus.acoustics.{f.name}"
            pair = isinstance(value, list) and f.name != "noise_files"
            if pair and (len(value) != 2 or value[0] > value[1]):
                raise ConfigError(f"{where}: {value!r} must be [low, high] with low <= high")
            for item in value if pair else [value]:
                check_range(item, where)

    @classmethod
    def realistic(cls) -> AcousticsConfig:
        """Every effect on at a modest probability (docs/AUGMENTATION.md): what ``asr synth``
        renders by default for a grammar or text file, and ``configs/words.yaml``'s setting."""
        return cls(reverb_prob=0.5, noise_prob=0.3, babble_prob=0.2, eq_prob=0.3, bandlimit_prob=0.1,
                   telephone_prob=0.1, codec_prob=0.1, gain_prob=0.3, clip_prob=0.05)

    @property
    def enabled(self) -> bool:
        """True when any effect has a probability above 0."""
        return any(getattr(self, f.name) > 0 for f in dataclasses.fields(self) if f.name.endswith("_prob"))


@dataclass
class CorpusConfig:
    """The synthetic corpus a recipe trains on (``asr synth``)."""

    grammar: str | None = "commands"  # built-in grammar: digits | commands, or a JSGF file (.jsgf)
    text_file: str | None = None  # or sentences from a UTF-8 file, one a line
    out_dir: str = "data/commands"
    n_train: int = 4000
    n_dev: int = 300
    n_test: int = 600
    seed: int = 0
    engines: list[str] = field(default_factory=lambda: ["espeak-ng", "flite"])
    holdout: str = choice("voice", "engine")  # voice: unseen voices in dev/test; engine: test on one engine alone
    held_out_engine: str = choice("flite", "espeak-ng", "mbrola", "pico", "piper")  # holdout: engine's test engine
    random_voices: int = 0  # extra random-timbre espeak-ng speakers, training only
    # text files: share of the distinct sentences kept out of training, for half of dev and test (None: 0.2
    # once the file has 50 or more; 0: none). asr evaluate reports seen and unseen sentences apart
    sentence_holdout: float | None = None
    AUTO_SENTENCE_HOLDOUT: ClassVar[float] = 0.2
    SENTENCE_HOLDOUT_MIN_LINES: ClassVar[int] = 50
    # Share of the dev and test utterances said by flite when both engines are used: fixed, not a
    # setting, so that dev and test figures compare across recipes. flite has only a few voices,
    # but they sound more natural than espeak-ng's.
    EVAL_FLITE_SHARE: ClassVar[float] = 0.3
    # Share of the training utterances said by flite when both engines are used.
    train_flite_share: float = EVAL_FLITE_SHARE
    acoustics: AcousticsConfig = field(default_factory=AcousticsConfig)  # off by default

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
    freq_masks: int = 2  # SpecAugment frequency masks per utterance
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
    # start from this model's weights (a run or saved-model folder, or a .keras file) instead of random
    # ones: fine-tuning, e.g. configs/adapt.yaml. Its features and encoder must match the recipe's.
    init_from: str | None = None
    freeze_blocks: int = 0  # with init_from: the lowest N encoder blocks (conv0, conv1, bilstm0...) stay as loaded

    def __post_init__(self):
        check_choices(self, "train")
        if self.freeze_blocks and self.init_from is None:
            raise ConfigError("train.freeze_blocks: freezing needs train.init_from (random layers would stay random)")
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

    def manifest(self, split: str) -> str | None:
        """The manifest path for ``split`` (train | dev | test).

        By default all three are the synthetic corpus's (``<corpus.out_dir>/<split>.jsonl``).
        Once ``data.train_manifest`` names the user's own data, nothing falls back to the
        corpus: dev must be named too (else ``ConfigError``), and test is None unless named,
        so no figure is reported on a test set the user did not choose.
        """
        explicit = getattr(self.data, f"{split}_manifest")
        if explicit or self.data.train_manifest is None:
            return explicit or str(Path(self.corpus.out_dir) / f"{split}.jsonl")
        if split == "dev":
            raise ConfigError("data.dev_manifest: name a dev manifest too when data.train_manifest is your own "
                              "data (the best epoch is chosen on it)")
        return None

    @property
    def resolved_run_dir(self) -> str:
        return self.run_dir or str(Path("runs") / self.name)

"""Training-time augmentation, as TensorFlow ops in the input pipeline (never at evaluation).

Each utterance's raw log-mel (``[T, F]``, before normalisation) goes through,
in order:

1. **speed perturbation** by a factor ``r`` drawn from ``speeds``: audio played
   ``r`` times faster lasts ``1/r`` as long and has every frequency times ``r``.
   Done on the features: the time axis is resampled to ``T/r`` frames and the
   mel axis warped so that bin ``j`` reads the frequency ``f_j / r``
   (``docs/AUGMENTATION.md`` compares it with resampling the audio);
2. **mel warp**: the mel axis stretched by ``exp(U(-w, w))``, a cheap stand-in
   for vocal-tract-length perturbation;
3. **gain** and **additive noise** on the mel power, the noise from recordings
   or generated (white, pink, brown) at an SNR drawn in ``noise_snr_db``;
4. per-utterance **normalisation** (the feature config's, as ``asr.features.logmel.normalize``);
5. SpecAugment **frequency and time masks** through ``tensorflow-io``.

Steps 1–4 use stateless random ops seeded by (epoch seed, utterance index), so
they do not depend on the order or parallelism of the pipeline. The
tensorflow-io masks draw from TensorFlow's global seed in a sequential map, so
a run with the same seed sees the same masks.
"""

from __future__ import annotations

import logging
import warnings
from typing import Sequence

import numpy as np

from asr.audio.files import read_audio
from asr.config import AugmentConfig, FeatureConfig
from asr.features.graph import normalize_frames
from asr.features.logmel import raw_log_mel

log = logging.getLogger("asr")

NOISE_COLORS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power spectral density ∝ f ** -exponent
MAX_NOISE_SECONDS = 3600.0  # noise recordings kept in memory, at most


def sped_frames(frames: int, speed: float) -> int:
    """Feature frames of an utterance of ``frames`` frames after speed perturbation by ``speed``."""
    return int(np.floor(np.float32(frames - 1) / np.float32(speed))) + 1  # float32, as the graph computes it


def fastest_feasible_speed(frames: int, needed: int, speeds: Sequence[float], time_reduction: int) -> float:
    """The largest factor in ``speeds`` (or 1.0) that leaves CTC enough output frames.

    Args:
        frames: the utterance's feature frames.
        needed: output frames its transcript needs (``asr.data.splits.min_frames_for``).
        speeds: the configured factors.
        time_reduction: feature frames per output frame.
    """
    fits = [s for s in speeds if -(-sped_frames(frames, s) // time_reduction) >= needed]
    return max(fits + [1.0])


def mel_centres(cfg: FeatureConfig) -> np.ndarray:
    """Centre frequencies (Hz) of the ``n_mels`` librosa mel filters, ``[F]``."""
    import librosa  # lazily: librosa (numba) takes seconds to load

    fmax = cfg.fmax if cfg.fmax is not None else cfg.sample_rate / 2
    return librosa.mel_frequencies(cfg.n_mels + 2, fmin=cfg.fmin, fmax=fmax)[1:-1]


def speed_source_bins(cfg: FeatureConfig, speed: float) -> np.ndarray:
    """Fractional mel bins that each output bin reads under speed factor ``speed``.

    Output bin ``j`` (centre ``f_j`` Hz) takes the input at ``f_j / speed``,
    placed between the input centres by linear interpolation and clamped at the
    edges. Returns ``[F]`` float32.
    """
    centres = mel_centres(cfg)
    return np.interp(centres / speed, centres, np.arange(len(centres))).astype(np.float32)


def noise_profiles(cfg: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """Mel power profiles of generated noise colours, and their spread.

    Returns:
        ``profiles [len(NOISE_COLORS), F]``: the mean mel power of each colour,
        each row summing to 1; ``dof [F]``: per mel bin, the effective number of
        FFT bins it averages, which sets how much one frame's noise power
        fluctuates around the mean (a Gamma with that shape).
    """
    import librosa  # lazily: librosa (numba) takes seconds to load

    filters = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels,
                                  fmin=cfg.fmin, fmax=cfg.fmax)  # [F, K]
    freqs = np.maximum(librosa.fft_frequencies(sr=cfg.sample_rate, n_fft=cfg.n_fft), cfg.sample_rate / cfg.n_fft)
    rows = []
    for exponent in NOISE_COLORS.values():
        band = filters @ freqs ** -exponent
        rows.append(band / band.sum())
    dof = filters.sum(axis=1) ** 2 / np.maximum((filters ** 2).sum(axis=1), 1e-12)
    return np.stack(rows).astype(np.float32), np.maximum(dof, 1.0).astype(np.float32)


def load_noise(paths: Sequence[str], cfg: FeatureConfig) -> np.ndarray:
    """Mel power ``[frames, F]`` of noise recordings, end to end (at most ``MAX_NOISE_SECONDS``)."""
    parts, seconds = [], 0.0
    for path in paths:
        audio = read_audio(path, cfg.sample_rate, min_duration=0.1, max_duration=None)
        parts.append(np.maximum(np.exp(raw_log_mel(audio, cfg)) - cfg.log_floor, 0.0))
        seconds += audio.size / cfg.sample_rate
        if seconds >= MAX_NOISE_SECONDS:
            log.warning(f"augment.noise_files: using the first {seconds:.0f} s of noise only")
            break
    return np.concatenate(parts).astype(np.float32)


def spec_augment_ops():
    """tensorflow-io's ``audio`` module, imported without its loader warnings.

    On TF >= 2.17 its native library cannot load; the pure-TF ops used here
    (``freq_mask``, ``time_mask``) do not need it, so the warnings only mislead.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module=r"tensorflow_io")
        import tensorflow_io as tfio  # lazily: it loads TensorFlow
    return tfio.audio


class Augmenter:
    """The augmentation of one training run.

    Args:
        cfg: augmentation settings.
        features: the feature settings (sample rate, mel range, log floor, normalisation).
    """

    def __init__(self, cfg: AugmentConfig, features: FeatureConfig):
        import tensorflow as tf  # lazily: `import asr` and the TFLite path never load TensorFlow

        self.cfg = cfg
        self.features = features
        self.speed_factors = tf.constant(cfg.speeds, tf.float32)
        self.speed_bins = tf.constant(np.stack([speed_source_bins(features, s) for s in cfg.speeds]))
        self.noise = self.profiles = self.dof = None  # what _noise draws from: recordings, or generated colours
        if cfg.noise_prob > 0 and cfg.noise_files:
            self.noise = tf.constant(load_noise(cfg.noise_files, features))
        elif cfg.noise_prob > 0:
            profiles, dof = noise_profiles(features)
            self.profiles, self.dof = tf.constant(profiles), tf.constant(dof)

    # -- the stateless part: raw log-mel → normalised features ---------------------------------
    def __call__(self, raw, seed, max_speed=None):
        """Augment and normalise one utterance.

        Args:
            raw: ``[T, F]`` float32 raw log-mel (``log(mel power + log_floor)``).
            seed: ``[2]`` int64, unique per (epoch, utterance).
            max_speed: scalar; a faster draw becomes 1.0, so the transcript
                still fits CTC (see ``fastest_feasible_speed``).

        Returns:
            ``[T', F]`` float32 normalised features (``T' = T`` unless the speed changed).
        """
        import tensorflow as tf  # lazily: `import asr` and the TFLite path never load TensorFlow

        seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), num=7)
        x = raw
        if len(self.cfg.speeds) > 1 or self.cfg.speeds[0] != 1.0:
            x = self._speed(x, seeds[0], max_speed)
        if self.cfg.mel_warp > 0:
            w = self.cfg.mel_warp
            factor = tf.exp(tf.random.stateless_uniform([], seeds[1], -w, w))
            positions = tf.range(tf.shape(x)[1], dtype=tf.float32) / factor
            x = _interpolate(x, positions, axis=1)
        if self.cfg.gain_db > 0 or self.cfg.noise_prob > 0:
            x = self._power_domain(x, seeds[2:6])
        return normalize_frames(x, self.features.normalize, axis=0)

    def _speed(self, x, seed, max_speed=None):
        import tensorflow as tf  # lazily: `import asr` and the TFLite path never load TensorFlow

        choice = tf.random.stateless_uniform([], seed, 0, len(self.cfg.speeds), dtype=tf.int32)
        speed, bins = self.speed_factors[choice], self.speed_bins[choice]
        if max_speed is not None:
            too_fast = speed > max_speed
            speed = tf.where(too_fast, 1.0, speed)
            bins = tf.where(too_fast, tf.range(tf.shape(x)[1], dtype=tf.float32), bins)
        frames = tf.shape(x)[0]
        new_frames = tf.maximum(1, tf.cast(tf.math.floor(tf.cast(frames - 1, tf.float32) / speed), tf.int32) + 1)
        x = _interpolate(x, tf.range(new_frames, dtype=tf.float32) * speed, axis=0)
        return _interpolate(x, bins, axis=1)

    def _power_domain(self, x, seeds):
        import tensorflow as tf  # lazily: `import asr` and the TFLite path never load TensorFlow

        floor = self.features.log_floor
        power = tf.maximum(tf.exp(x) - floor, 0.0)
        if self.cfg.gain_db > 0:
            g = self.cfg.gain_db
            power *= 10.0 ** (tf.random.stateless_uniform([], seeds[0], -g, g) / 10.0)
        if self.cfg.noise_prob > 0:
            use = tf.random.stateless_uniform([], seeds[1]) < self.cfg.noise_prob
            low, high = self.cfg.noise_snr_db
            snr_db = tf.random.stateless_uniform([], seeds[2], low, high)
            noise = self._noise(tf.shape(power)[0], seeds[3])
            signal_mean = tf.reduce_mean(tf.reduce_sum(power, axis=1))
            noise_mean = tf.reduce_mean(tf.reduce_sum(noise, axis=1)) + 1e-20
            scale = signal_mean / (noise_mean * 10.0 ** (snr_db / 10.0))
            power = tf.where(use, power + scale * noise, power)
        return tf.math.log(power + floor)

    def _noise(self, frames, seed):
        """``[frames, F]`` noise mel power: a random stretch of the recordings, or a generated colour."""
        import tensorflow as tf  # lazily: `import asr` and the TFLite path never load TensorFlow

        pick, draw = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
        if self.noise is not None:
            total = tf.shape(self.noise)[0]
            start = tf.random.stateless_uniform([], pick, 0, total, dtype=tf.int32)
            return tf.gather(self.noise, (start + tf.range(frames)) % total)
        colour = tf.random.stateless_uniform([], pick, 0, len(NOISE_COLORS), dtype=tf.int32)
        n_mels = tf.shape(self.profiles)[1]
        spread = tf.random.stateless_gamma([frames, n_mels], draw, alpha=self.dof) / self.dof
        return self.profiles[colour][None, :] * spread

    # -- the stateful part: SpecAugment masks through tensorflow-io -----------------------------
    def masks(self, x):
        """Frequency and time masks on normalised features ``[T, F]`` (0 is the mean)."""
        import tensorflow as tf  # lazily: `import asr` and the TFLite path never load TensorFlow

        cfg = self.cfg
        if not (cfg.freq_masks and cfg.freq_mask_width) and not (cfg.time_masks and cfg.time_mask_width):
            return x
        ops = spec_augment_ops()
        n_mels = int(x.shape[1])
        for _ in range(cfg.freq_masks if cfg.freq_mask_width else 0):
            # tfio draws widths in [0, param): +1 makes freq_mask_width inclusive, as documented
            x = ops.freq_mask(x, param=min(cfg.freq_mask_width, n_mels - 1) + 1)
        frames = tf.shape(x)[0]
        longest = tf.minimum(cfg.time_mask_width, tf.cast(cfg.time_mask_max_fraction * tf.cast(frames, tf.float32),
                                                           tf.int32))
        for _ in range(cfg.time_masks if cfg.time_mask_width else 0):
            x = ops.time_mask(x, param=tf.minimum(longest, frames - 1) + 1)
        return x


def _interpolate(x, positions, axis: int):
    """Read ``x`` at fractional ``positions`` along ``axis`` (0 or 1), linearly; clamped at the ends."""
    import tensorflow as tf  # lazily: `import asr` and the TFLite path never load TensorFlow

    size = tf.shape(x)[axis]
    positions = tf.clip_by_value(positions, 0.0, tf.cast(size - 1, tf.float32))
    low = tf.cast(tf.floor(positions), tf.int32)
    high = tf.minimum(low + 1, size - 1)
    frac = positions - tf.cast(low, tf.float32)
    frac = frac[:, None] if axis == 0 else frac[None, :]
    return tf.gather(x, low, axis=axis) * (1.0 - frac) + tf.gather(x, high, axis=axis) * frac

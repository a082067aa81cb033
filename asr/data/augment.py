"""Training-time augmentation in numpy, in the input pipeline (never at evaluation).

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
5. SpecAugment **frequency and time masks** (zeros, the normalised mean).

Every draw comes from a generator seeded by (epoch seed, utterance index), so an
utterance's augmentation does not depend on the order or parallelism of the
pipeline, nor on the Keras backend: the same numpy code feeds TensorFlow's
``tf.data`` pipeline and the other backends' ``PyDataset``
(``asr.data.batching``), so a run with the same seed sees the same features on
every backend.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

from asr.audio.files import read_audio
from asr.config import AugmentConfig, FeatureConfig
from asr.features.logmel import normalize, raw_log_mel

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


class Augmenter:
    """The augmentation of one training run.

    Args:
        cfg: augmentation settings.
        features: the feature settings (sample rate, mel range, log floor, normalisation).
    """

    def __init__(self, cfg: AugmentConfig, features: FeatureConfig):
        self.cfg = cfg
        self.features = features
        self.speed_bins = np.stack([speed_source_bins(features, s) for s in cfg.speeds])
        self.noise = self.profiles = self.dof = None  # what _noise draws from: recordings, or generated colours
        if cfg.noise_prob > 0 and cfg.noise_files:
            self.noise = load_noise(cfg.noise_files, features)
        elif cfg.noise_prob > 0:
            self.profiles, self.dof = noise_profiles(features)

    def __call__(self, raw: np.ndarray, seed: Sequence[int], max_speed: float | None = None) -> np.ndarray:
        """Augment, normalise and mask one utterance.

        Args:
            raw: ``[T, F]`` float32 raw log-mel (``log(mel power + log_floor)``).
            seed: ints unique per (epoch, utterance), e.g. ``(epoch seed, index)``.
            max_speed: a faster speed draw becomes 1.0, so the transcript still
                fits CTC (see ``fastest_feasible_speed``).

        Returns:
            ``[T', F]`` float32 normalised features (``T' = T`` unless the speed changed).
        """
        rng = np.random.default_rng([int(s) for s in seed])
        cfg = self.cfg
        x = np.asarray(raw, dtype=np.float32)
        if len(cfg.speeds) > 1 or cfg.speeds[0] != 1.0:
            x = self._speed(x, rng, max_speed)
        if cfg.mel_warp > 0:
            factor = np.exp(rng.uniform(-cfg.mel_warp, cfg.mel_warp))
            x = _interpolate(x, np.arange(x.shape[1], dtype=np.float32) / np.float32(factor), axis=1)
        if cfg.gain_db > 0 or cfg.noise_prob > 0:
            x = self._power_domain(x, rng)
        return self.masks(normalize(x, self.features), rng)

    def _speed(self, x: np.ndarray, rng: np.random.Generator, max_speed: float | None) -> np.ndarray:
        choice = int(rng.integers(len(self.cfg.speeds)))
        speed, bins = np.float32(self.cfg.speeds[choice]), self.speed_bins[choice]
        if max_speed is not None and speed > np.float32(max_speed):
            return x
        new_frames = max(1, sped_frames(x.shape[0], float(speed)))
        x = _interpolate(x, np.arange(new_frames, dtype=np.float32) * speed, axis=0)
        return _interpolate(x, bins, axis=1)

    def _power_domain(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        cfg, floor = self.cfg, self.features.log_floor
        power = np.maximum(np.exp(x) - floor, 0.0)
        if cfg.gain_db > 0:
            power *= 10.0 ** (rng.uniform(-cfg.gain_db, cfg.gain_db) / 10.0)
        if cfg.noise_prob > 0 and rng.uniform() < cfg.noise_prob:
            snr_db = rng.uniform(*cfg.noise_snr_db)
            noise = self._noise(power.shape[0], rng)
            signal_mean = power.sum(axis=1).mean()
            noise_mean = noise.sum(axis=1).mean() + 1e-20
            power = power + signal_mean / (noise_mean * 10.0 ** (snr_db / 10.0)) * noise
        return np.log(power + floor).astype(np.float32)

    def _noise(self, frames: int, rng: np.random.Generator) -> np.ndarray:
        """``[frames, F]`` noise mel power: a random stretch of the recordings, or a generated colour."""
        if self.noise is not None:
            start = int(rng.integers(self.noise.shape[0]))
            return self.noise[(start + np.arange(frames)) % self.noise.shape[0]]
        colour = int(rng.integers(len(NOISE_COLORS)))
        spread = rng.gamma(self.dof, size=(frames, self.dof.size)) / self.dof
        return self.profiles[colour][None, :] * spread

    def masks(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """SpecAugment frequency and time masks on normalised features ``[T, F]``: each
        mask zeroes (the mean) a band of at most ``freq_mask_width`` bins or
        ``time_mask_width`` frames (and at most ``time_mask_max_fraction`` of them)."""
        cfg = self.cfg
        frames, n_mels = x.shape
        bands = [(1, min(cfg.freq_mask_width, n_mels - 1))] * (cfg.freq_masks if cfg.freq_mask_width else 0)
        longest = min(cfg.time_mask_width, int(cfg.time_mask_max_fraction * frames), frames - 1)
        bands += [(0, longest)] * (cfg.time_masks if cfg.time_mask_width else 0)
        if not bands:
            return x
        x = x.copy()
        for axis, widest in bands:
            width = int(rng.integers(max(widest, 0) + 1))
            start = int(rng.integers(x.shape[axis] - width + 1))
            if axis == 0:
                x[start:start + width] = 0.0
            else:
                x[:, start:start + width] = 0.0
        return x


def _interpolate(x: np.ndarray, positions: np.ndarray, axis: int) -> np.ndarray:
    """Read ``x`` at fractional ``positions`` along ``axis`` (0 or 1), linearly; clamped at the ends."""
    size = x.shape[axis]
    positions = np.clip(positions, 0.0, size - 1).astype(np.float32)
    low = np.floor(positions).astype(np.int64)
    high = np.minimum(low + 1, size - 1)
    frac = positions - low
    frac = frac[:, None] if axis == 0 else frac[None, :]
    return (np.take(x, low, axis=axis) * (1.0 - frac) + np.take(x, high, axis=axis) * frac).astype(np.float32)

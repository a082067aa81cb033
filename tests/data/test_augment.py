"""Training-time augmentation: speed perturbation against resampled audio, gain,
noise at a known SNR, the SpecAugment masks, and determinism."""

import librosa
import numpy as np
import pytest
import soundfile as sf

from asr.config import AugmentConfig, FeatureConfig
from asr.core.errors import ConfigError
from asr.data.augment import Augmenter, fastest_feasible_speed, sped_frames, speed_source_bins
from asr.features.logmel import normalize, raw_log_mel

SR = 16000
OFF = dict(mel_warp=0.0, freq_masks=0, time_masks=0)  # every augmentation off unless a test turns it on


def voiced(seconds=1.5, seed=0):
    """A vowel-like signal: harmonics of a gliding pitch under a formant-ish envelope, with pauses."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 120 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    y = sum(np.sin(k * phase) * np.exp(-((k * 130 - 700) / 900.0) ** 2) for k in range(1, 40))
    y *= (np.sin(2 * np.pi * 1.3 * t) > -0.3)  # on/off, so frames differ along time
    return (0.2 * y / np.abs(y).max() + 1e-3 * rng.standard_normal(t.size)).astype(np.float32)


def run(cfg: AugmentConfig, raw, seed=(0, 0), features=FeatureConfig(), max_speed=None):
    return Augmenter(cfg, features)(raw, seed, max_speed)


@pytest.mark.parametrize("speed", [0.9, 1.1])
def test_speed_perturbation_on_features_follows_resampled_audio(speed):
    cfg = FeatureConfig()
    audio = voiced()
    truth = normalize(raw_log_mel(librosa.resample(audio, orig_sr=SR * speed, target_sr=SR), cfg), cfg)
    raw = raw_log_mel(audio, cfg)
    ours = run(AugmentConfig(speeds=[speed], **OFF), raw)
    assert ours.shape[0] == sped_frames(raw.shape[0], speed)
    assert abs(ours.shape[0] - truth.shape[0]) <= 1
    n = min(len(ours), len(truth))
    error = np.abs(ours[:n] - truth[:n]).mean()
    # the time axis alone is not enough: the frequency warp is what makes it a speed change
    time_only = run(AugmentConfig(speeds=[1.0], **OFF), raw)
    positions = np.minimum(np.arange(len(ours)) * speed, len(raw) - 1)
    time_only = np.stack([np.interp(positions, np.arange(len(raw)), time_only[:, f])
                          for f in range(raw.shape[1])], axis=1)
    unwarped = np.abs(normalize(time_only, cfg)[:n] - truth[:n]).mean()
    assert error < 0.5 * unwarped, (error, unwarped)


def test_speed_source_bins_move_the_spectrum_the_right_way():
    cfg = FeatureConfig()
    faster = speed_source_bins(cfg, 1.1)
    slower = speed_source_bins(cfg, 0.9)
    middle = np.arange(10, 70)
    assert (faster[middle] < middle).all() and (slower[middle] > middle).all()  # faster: bin j reads lower
    np.testing.assert_allclose(speed_source_bins(cfg, 1.0), np.arange(cfg.n_mels), atol=1e-4)


def test_a_speed_too_fast_for_the_transcript_falls_back_to_one():
    # 100 frames, reduction 4: 25 output frames; 25 labels fit at 1.0 only
    assert fastest_feasible_speed(100, 25, [0.9, 1.0, 1.1], 4) == 1.0
    assert fastest_feasible_speed(100, 20, [0.9, 1.0, 1.1], 4) == 1.1
    assert fastest_feasible_speed(100, 30, [0.9, 1.1], 4) == 1.0  # nothing fits: unchanged
    raw = raw_log_mel(voiced(1.0), FeatureConfig())
    out = run(AugmentConfig(speeds=[1.1], **OFF), raw, max_speed=1.0)
    assert out.shape[0] == raw.shape[0]


def test_gain_is_a_shift_of_the_log_mel_above_the_floor():
    raw = raw_log_mel(voiced(), FeatureConfig())
    none = FeatureConfig(normalize="none")
    floor = none.log_floor
    base = run(AugmentConfig(**OFF), raw, features=none)
    for seed in range(4):  # gains of both signs
        gained = run(AugmentConfig(gain_db=12.0, **OFF), raw, seed=(seed, 0), features=none)
        shift = gained - base
        loud = base > np.log(1e-2)  # well above the log floor: a plain shift by log(gain)
        assert loud.mean() > 0.2 and np.ptp(shift[loud]) < 5e-3
        log_gain = float(np.median(shift[loud]))
        assert 1e-2 < abs(log_gain) <= 12 * np.log(10) / 10 + 1e-4
        # every cell is gain × (power above the floor), the floor added back: the floor itself never moves
        expected = np.log(np.exp(log_gain) * np.maximum(np.exp(base) - floor, 0.0) + floor)
        np.testing.assert_allclose(gained, expected, atol=2e-3)
        quiet = base < np.log(2 * floor)
        assert quiet.any() and np.abs(shift[quiet]).mean() < 0.5 * abs(log_gain)


def realised_snr_db(clean_raw, noisy_raw):
    clean, noisy = np.exp(clean_raw), np.exp(noisy_raw)
    return 10 * np.log10(clean.sum(axis=1).mean() / (noisy - clean).sum(axis=1).mean())


@pytest.mark.parametrize("snr", [5.0, 20.0])
def test_generated_noise_is_added_at_the_drawn_snr(snr):
    raw = raw_log_mel(voiced(), FeatureConfig())
    none = FeatureConfig(normalize="none")
    cfg = AugmentConfig(noise_prob=1.0, noise_snr_db=[snr, snr], **OFF)
    for seed in range(3):  # each seed picks a colour and a draw
        noisy = run(cfg, raw, seed=(seed, 7), features=none)
        assert abs(realised_snr_db(raw, noisy) - snr) < 0.05
    silent = raw < np.log(1e-5)  # digital silence now carries noise
    assert silent.any() and (noisy[silent] > raw[silent] + 1).mean() > 0.9


def test_noise_from_files_and_noise_prob_zero(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "hum.wav"
    t = np.arange(2 * SR) / SR
    sf.write(path, (0.1 * np.sin(2 * np.pi * 100 * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32), SR)
    raw = raw_log_mel(voiced(), FeatureConfig())
    none = FeatureConfig(normalize="none")
    noisy = run(AugmentConfig(noise_prob=1.0, noise_snr_db=[10, 10], noise_files=[str(path)], **OFF), raw,
                features=none)
    assert abs(realised_snr_db(raw, noisy) - 10) < 0.05
    added = np.exp(noisy) - np.exp(raw)
    low, high = added[:, :8].mean(), added[:, 40:].mean()
    assert low > 100 * high  # the hum's spectrum, not a generated colour
    untouched = run(AugmentConfig(noise_prob=0.0, gain_db=0.0, **OFF), raw, features=none)
    np.testing.assert_allclose(untouched, raw, atol=1e-5)


def test_stateless_steps_are_deterministic_per_seed_and_vary_between_seeds():
    raw = raw_log_mel(voiced(), FeatureConfig())
    cfg = AugmentConfig(speeds=[0.9, 1.0, 1.1], mel_warp=0.1, gain_db=6, noise_prob=1.0, freq_masks=0, time_masks=0)
    a, b = run(cfg, raw, seed=(1, 2)), run(cfg, raw, seed=(1, 2))
    np.testing.assert_array_equal(a, b)
    others = [run(cfg, raw, seed=(1, k)) for k in range(3, 9)]
    assert any(o.shape != a.shape or not np.allclose(o, a) for o in others)
    assert len({o.shape[0] for o in others + [a]}) > 1  # several speeds drawn


def test_masks_zero_bands_within_the_limits():
    cfg = AugmentConfig(freq_masks=2, freq_mask_width=5, time_masks=2, time_mask_width=7, time_mask_max_fraction=0.5)
    augmenter = Augmenter(cfg, FeatureConfig(n_mels=40))
    x = np.ones((60, 40), np.float32)
    widths = []
    for k in range(30):
        out = augmenter.masks(x, np.random.default_rng(k))
        zero_bins = (out == 0).all(axis=0).sum()
        zero_frames = (out == 0).all(axis=1).sum()
        assert zero_bins <= 2 * 5 and zero_frames <= 2 * 7
        # a cell is zero only inside a masked band of bins or frames
        zeros = out == 0
        assert (zeros == ((out == 0).all(axis=0)[None, :] | (out == 0).all(axis=1)[:, None])).all()
        widths.append((zero_bins, zero_frames))
    assert max(w[0] for w in widths) > 0 and max(w[1] for w in widths) > 0
    assert (x == 1).all()  # the input is left alone
    # a time mask never covers more than time_mask_max_fraction of a short utterance
    short = Augmenter(AugmentConfig(freq_masks=0, time_masks=1, time_mask_width=50, time_mask_max_fraction=0.1),
                      FeatureConfig(n_mels=40))
    covered = [(short.masks(np.ones((30, 40), np.float32), np.random.default_rng(k)) == 0).all(axis=1).sum()
               for k in range(40)]
    assert max(covered) == 3


def test_the_whole_augmentation_is_deterministic_per_seed_masks_included():
    raw = raw_log_mel(voiced(), FeatureConfig())
    cfg = AugmentConfig()  # the defaults: every step on
    a, b = run(cfg, raw, seed=(4, 5)), run(cfg, raw, seed=(4, 5))
    np.testing.assert_array_equal(a, b)
    assert (a == 0).all(axis=0).any() or (a == 0).all(axis=1).any()  # some mask was drawn
    assert not np.array_equal(a, run(cfg, raw, seed=(5, 5)))  # the next epoch differs


@pytest.mark.parametrize("bad", [{"speeds": []}, {"speeds": [0.1]}, {"noise_snr_db": [30, 10]},
                                 {"noise_snr_db": [10]}])
def test_bad_augment_settings_are_refused(bad):
    with pytest.raises(ConfigError, match="train.augment"):
        AugmentConfig(**bad)

"""Log-mel features and the cached, parallel feature computation."""

import dataclasses
import os

import librosa
import numpy as np
import pytest
import soundfile as sf

import asr.features.logmel as features_module
from asr.config import FeatureConfig
from asr.core.errors import ASRError
from asr.features.logmel import compute_features, config_key, log_mel

SR = 16000


def noisy_tone(n, seed=0, freq=440.0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.standard_normal(n)).astype(np.float32)


def reference_log_mel(audio, cfg: FeatureConfig, normalize=True):
    """The same features computed independently: STFT power → mel filterbank → log → normalise."""
    stft = librosa.stft(audio.astype(np.float64), n_fft=cfg.n_fft, hop_length=cfg.hop_length,
                        win_length=cfg.win_length, window=cfg.window, center=True, pad_mode="constant")
    power = np.abs(stft) ** 2
    basis = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels,
                                fmin=cfg.fmin, fmax=cfg.fmax)
    feats = np.log(basis @ power + cfg.log_floor).T
    if normalize:
        feats = (feats - feats.mean(axis=0)) / (feats.std(axis=0) + 1e-5)
    return feats


@pytest.mark.parametrize("cfg", [
    FeatureConfig(),
    FeatureConfig(n_mels=40, fmax=None, n_fft=512, win_length=400, hop_length=128),
], ids=["default", "custom"])
def test_log_mel_matches_librosa(cfg):
    audio = noisy_tone(12345)
    feats = log_mel(audio, cfg)
    assert feats.dtype == np.float32
    expected = reference_log_mel(audio, cfg)
    assert feats.shape == expected.shape
    np.testing.assert_allclose(feats, expected, atol=1e-4, rtol=0)
    # and exactly the librosa.feature.melspectrogram call with the same settings
    mel = librosa.feature.melspectrogram(
        y=audio, sr=cfg.sample_rate, n_fft=cfg.n_fft, win_length=cfg.win_length, hop_length=cfg.hop_length,
        window=cfg.window, center=True, pad_mode="constant", power=2.0, n_mels=cfg.n_mels,
        fmin=cfg.fmin, fmax=cfg.fmax)
    direct = np.log(mel + cfg.log_floor).T
    direct = (direct - direct.mean(axis=0)) / (direct.std(axis=0) + 1e-5)
    np.testing.assert_allclose(feats, direct, atol=1e-5, rtol=0)


@pytest.mark.parametrize("n", [1600, 1601, 1759, 1760, 16000, 23456])
def test_log_mel_shape(n):
    cfg = FeatureConfig()
    feats = log_mel(noisy_tone(n), cfg)
    assert feats.shape == (1 + n // cfg.hop_length, cfg.n_mels)
    cfg40 = FeatureConfig(n_mels=40, hop_length=100)
    assert log_mel(noisy_tone(n), cfg40).shape == (1 + n // 100, 40)


def test_utterance_normalisation_gives_zero_mean_unit_variance_per_bin():
    feats = log_mel(noisy_tone(16000), FeatureConfig())
    np.testing.assert_allclose(feats.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(feats.std(axis=0), 1.0, atol=1e-3)


def test_normalize_none():
    audio = noisy_tone(8000)
    cfg = FeatureConfig(normalize="none")
    feats = log_mel(audio, cfg)
    np.testing.assert_allclose(feats, reference_log_mel(audio, cfg, normalize=False), atol=1e-3, rtol=1e-5)
    # genuinely unnormalised: log powers, far from zero mean
    assert np.abs(feats.mean(axis=0)).max() > 1.0
    # a louder signal gives larger log-mel values without normalisation, not with it
    louder = log_mel(4 * audio, cfg)
    np.testing.assert_allclose(louder - feats, np.log(16.0), atol=0.05)
    # (equal up to the log floor's effect on the quietest bins)
    np.testing.assert_allclose(log_mel(4 * audio, FeatureConfig()), log_mel(audio, FeatureConfig()), atol=0.02)


def test_unknown_normalize_mode_raises():
    with pytest.raises(ASRError, match="normalize"):
        log_mel(noisy_tone(4000), FeatureConfig(normalize="global"))


# ----------------------------------------------------------------------------
# compute_features: cache, workers, errors
# ----------------------------------------------------------------------------


def write_files(folder, count, seconds=0.3, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"f{i:02d}.wav"
        sf.write(str(path), noisy_tone(int(seconds * SR), seed=seed + i, freq=200 + 50 * i), SR, subtype="FLOAT")
        paths.append(str(path))
    return paths


def test_compute_features_matches_log_mel(tmp_path):
    paths = write_files(tmp_path / "wavs", 3)
    cfg = FeatureConfig(n_mels=32)
    results = compute_features(paths, cfg)
    assert len(results) == 3
    for path, feats in zip(paths, results):
        audio, _ = sf.read(path, dtype="float32")
        np.testing.assert_array_equal(feats, log_mel(audio, cfg))


def test_cache_is_used_on_the_second_call(tmp_path, monkeypatch):
    paths = write_files(tmp_path / "wavs", 4)
    cfg = FeatureConfig(n_mels=32)
    cache = tmp_path / "cache"
    first = compute_features(paths, cfg, cache_dir=cache)
    folder = cache / config_key(cfg)
    entries = sorted(folder.glob("*.npz"))
    assert len(entries) == 4
    assert (folder / "features.json").is_file()
    mtimes = {p: p.stat().st_mtime_ns for p in entries}

    def must_not_run(*args, **kwargs):
        raise AssertionError("features recomputed despite the cache")

    monkeypatch.setattr(features_module, "log_mel", must_not_run)
    monkeypatch.setattr(features_module, "read_audio", must_not_run)
    second = compute_features(paths, cfg, cache_dir=cache)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert {p: p.stat().st_mtime_ns for p in sorted(folder.glob("*.npz"))} == mtimes


def test_cache_key_changes_with_feature_settings(tmp_path):
    base = FeatureConfig()
    keys = {config_key(base)}
    for change in ({"n_mels": 40}, {"hop_length": 80}, {"fmax": None}, {"normalize": "none"},
                   {"log_floor": 1e-5}, {"window": "hamming"}):
        keys.add(config_key(dataclasses.replace(base, **change)))
    assert len(keys) == 7
    assert config_key(FeatureConfig()) == config_key(base)  # stable for equal settings

    paths = write_files(tmp_path / "wavs", 2)
    cache = tmp_path / "cache"
    a = compute_features(paths, FeatureConfig(n_mels=32), cache_dir=cache)
    b = compute_features(paths, FeatureConfig(n_mels=24), cache_dir=cache)
    assert a[0].shape[1] == 32 and b[0].shape[1] == 24
    assert len([d for d in cache.iterdir() if d.is_dir()]) == 2


def test_cache_entry_is_renewed_when_the_file_changes(tmp_path):
    paths = write_files(tmp_path / "wavs", 1)
    cfg = FeatureConfig(n_mels=32)
    cache = tmp_path / "cache"
    before = compute_features(paths, cfg, cache_dir=cache)[0]
    new_audio = noisy_tone(int(0.5 * SR), seed=99, freq=1234.0)
    sf.write(paths[0], new_audio, SR, subtype="FLOAT")
    os.utime(paths[0], ns=(1, 10**18))  # make sure the mtime differs
    after = compute_features(paths, cfg, cache_dir=cache)[0]
    assert after.shape != before.shape
    np.testing.assert_array_equal(after, log_mel(new_audio, cfg))


def test_damaged_cache_entry_is_recomputed(tmp_path):
    paths = write_files(tmp_path / "wavs", 1)
    cfg = FeatureConfig(n_mels=32)
    cache = tmp_path / "cache"
    good = compute_features(paths, cfg, cache_dir=cache)[0]
    (entry,) = (cache / config_key(cfg)).glob("*.npz")
    entry.write_bytes(b"not a numpy file")
    np.testing.assert_array_equal(compute_features(paths, cfg, cache_dir=cache)[0], good)


def test_two_workers_match_one_worker(tmp_path, monkeypatch):
    paths = write_files(tmp_path / "wavs", 16, seconds=0.2)
    cfg = FeatureConfig(n_mels=32)
    serial = compute_features(paths, cfg, workers=1)

    # the pool's spawned workers import asr.features afresh, so this patch only
    # breaks the in-process path: passing proves the pool computed the features
    def in_process(*args, **kwargs):
        raise AssertionError("computed in the parent process, not in the pool")

    monkeypatch.setattr(features_module, "log_mel", in_process)
    parallel = compute_features(paths, cfg, workers=2)
    assert len(parallel) == len(serial) == 16
    for a, b in zip(serial, parallel):
        assert isinstance(b, np.ndarray)
        np.testing.assert_array_equal(a, b)


def test_each_pool_worker_runs_one_blas_thread():
    # with one OpenBLAS thread per core in every worker, two workers ran 2.3x slower than one
    from threadpoolctl import threadpool_info

    with features_module.worker_pool(2) as pool:
        info = pool.submit(threadpool_info).result()
    blas = [lib for lib in info if lib["user_api"] == "blas"]
    assert blas, "numpy's BLAS is not loaded in the worker"
    assert {lib["num_threads"] for lib in blas} == {1}


@pytest.mark.parametrize("use_cache", [False, True], ids=["no-cache", "cache"])
def test_bad_files_come_back_as_error_strings(tmp_path, use_cache):
    good = write_files(tmp_path / "wavs", 2)
    garbage = tmp_path / "wavs" / "garbage_one.wav"
    garbage.write_bytes(b"\x00\x01garbage" * 300)
    missing = tmp_path / "wavs" / "missing_one.wav"
    short = tmp_path / "wavs" / "short_one.wav"
    sf.write(str(short), noisy_tone(400), SR)
    paths = [good[0], str(garbage), str(missing), str(short), good[1]]
    results = compute_features(paths, FeatureConfig(n_mels=32), cache_dir=tmp_path / "cache" if use_cache else None,
                               min_duration=0.1)
    assert isinstance(results[0], np.ndarray) and isinstance(results[4], np.ndarray)
    for i, name in ((1, "garbage_one.wav"), (2, "missing_one.wav"), (3, "short_one.wav")):
        assert isinstance(results[i], str), results[i]
        assert name in results[i]
        assert "\n" not in results[i]


def test_max_duration_is_applied(tmp_path):
    paths = write_files(tmp_path / "wavs", 1, seconds=1.0)
    (result,) = compute_features(paths, FeatureConfig(n_mels=32), max_duration=0.5)
    assert isinstance(result, str) and "too long" in result and "f00.wav" in result


def test_duration_limits_apply_to_cached_features(tmp_path):
    paths = write_files(tmp_path / "wavs", 1, seconds=1.0)
    cfg = FeatureConfig(n_mels=32)
    cache = tmp_path / "cache"
    assert isinstance(compute_features(paths, cfg, cache_dir=cache)[0], np.ndarray)  # fills the cache
    (too_long,) = compute_features(paths, cfg, cache_dir=cache, max_duration=0.5)
    assert isinstance(too_long, str) and "too long" in too_long
    (too_short,) = compute_features(paths, cfg, cache_dir=cache, min_duration=2.0)
    assert isinstance(too_short, str) and "too short" in too_short


def test_cache_holds_the_raw_log_mel_and_streams_without_loading(tmp_path):
    from asr.features.logmel import CACHE_KEY, CachedFeatures, frames_for, load_cached, raw_log_mel

    paths = write_files(tmp_path / "wavs", 2, seconds=0.37)
    cfg = FeatureConfig(n_mels=32)
    cache = tmp_path / "cache"
    streamed = compute_features(paths, cfg, cache_dir=cache, keep=False)
    for path, entry in zip(paths, streamed):
        assert isinstance(entry, CachedFeatures)
        audio, _ = sf.read(path, dtype="float32")
        raw = load_cached(entry.path)
        np.testing.assert_array_equal(raw, raw_log_mel(audio, cfg))  # before normalisation
        assert entry.frames == raw.shape[0] == frames_for(audio.size, cfg)
        with np.load(entry.path) as npz:
            assert CACHE_KEY in npz.files
    # the in-memory path normalises the same entries
    kept = compute_features(paths, cfg, cache_dir=cache)
    audio, _ = sf.read(paths[0], dtype="float32")
    np.testing.assert_allclose(kept[0], log_mel(audio, cfg), atol=1e-6)
    with pytest.raises(ASRError, match="cache"):
        compute_features(paths, cfg, cache_dir=None, keep=False)


def test_an_older_cache_entry_without_the_raw_log_mel_is_recomputed(tmp_path):
    paths = write_files(tmp_path / "wavs", 1)
    cfg = FeatureConfig(n_mels=32)
    cache = tmp_path / "cache"
    compute_features(paths, cfg, cache_dir=cache)
    (entry,) = (cache / config_key(cfg)).glob("*.npz")
    np.savez(entry, features=np.zeros((3, 32), np.float32), samples=np.int64(4800))  # the old layout
    streamed = compute_features(paths, cfg, cache_dir=cache, keep=False)[0]
    audio, _ = sf.read(paths[0], dtype="float32")
    assert streamed.frames == log_mel(audio, cfg).shape[0]
    np.testing.assert_allclose(compute_features(paths, cfg, cache_dir=cache)[0], log_mel(audio, cfg), atol=1e-6)

"""Manifests, length-bucketed batching, padding and load_split."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import cached_split

from asr.config import DataConfig, FeatureConfig
from asr.core.errors import ASRError, ManifestError
from asr.data.batching import bucketed_batches, pad_batch, training_dataset
from asr.data.manifest import read_manifest, write_manifest
from asr.data.splits import load_split, min_frames_for
from asr.text import Tokenizer

SR = 16000


def wav(path: Path, seconds=0.5, freq=300.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * SR)) / SR
    sf.write(str(path), (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32), SR)
    return path


def write_lines(path: Path, lines) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


# ----------------------------------------------------------------------------
# manifests
# ----------------------------------------------------------------------------


def test_write_read_round_trip_with_relative_paths(tmp_path, monkeypatch):
    a = wav(tmp_path / "audio" / "a.wav")
    b = wav(tmp_path / "audio" / "sub" / "b.wav", seconds=0.25)
    entries = [
        {"audio_filepath": str(a), "duration": 0.5, "text": "hello world", "speaker": "s1", "engine": "espeak-ng"},
        {"audio_filepath": str(b), "duration": 0.123456789, "text": "it's here", "speaker": "s2"},
    ]
    manifest = write_manifest(tmp_path / "manifests" / "train.jsonl", entries)
    assert manifest == tmp_path / "manifests" / "train.jsonl"
    rows = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines()]
    assert [r["audio_filepath"] for r in rows] == [os.path.join("..", "audio", "a.wav"),
                                                   os.path.join("..", "audio", "sub", "b.wav")]
    assert rows[0]["speaker"] == "s1"

    monkeypatch.chdir(tmp_path / "audio")  # relative to the manifest, not to the current directory
    good, bad = read_manifest(manifest)
    assert bad == []
    assert [u.audio_filepath for u in good] == [str(a.resolve()), str(b.resolve())]
    assert [u.text for u in good] == ["hello world", "it's here"]
    assert good[0].duration == 0.5
    assert good[1].duration == pytest.approx(0.1235, abs=1e-9)  # rounded to 4 places
    assert good[0].extra == {"speaker": "s1", "engine": "espeak-ng"}
    assert good[1].extra == {"speaker": "s2"}


def test_write_manifest_accepts_paths_relative_to_cwd(tmp_path, monkeypatch):
    wav(tmp_path / "data" / "x.wav")
    monkeypatch.chdir(tmp_path)
    manifest = write_manifest(tmp_path / "m" / "list.jsonl",
                              [{"audio_filepath": "data/x.wav", "duration": 0.5, "text": "x"}])
    (utt,), _ = read_manifest(manifest)
    assert utt.audio_filepath == str((tmp_path / "data" / "x.wav").resolve())


def test_write_manifest_refuses_entries_without_required_keys(tmp_path):
    with pytest.raises(ManifestError, match="text"):
        write_manifest(tmp_path / "m.jsonl", [{"audio_filepath": "a.wav", "duration": 1.0}])


def test_empty_manifest(tmp_path):
    manifest = write_manifest(tmp_path / "m.jsonl", [])
    assert read_manifest(manifest) == ([], [])


@pytest.fixture
def bad_manifest(tmp_path):
    wav(tmp_path / "good.wav")
    good = json.dumps({"audio_filepath": "good.wav", "duration": 0.5, "text": "fine"})
    return write_lines(tmp_path / "bad.jsonl", [
        good,                                                                             # 1
        "{not json",                                                                      # 2
        json.dumps({"audio_filepath": "good.wav", "text": "no duration"}),                # 3
        json.dumps({"audio_filepath": "gone.wav", "duration": 1.0, "text": "missing"}),   # 4
        "",                                                                               # 5 (ignored)
        json.dumps([1, 2, 3]),                                                            # 6
        json.dumps({"audio_filepath": "good.wav", "duration": "long", "text": "x"}),      # 7
        json.dumps({"audio_filepath": 5, "duration": 1.0, "text": "x"}),                  # 8
        good,                                                                             # 9
    ])


def test_bad_lines_are_collected_when_not_strict(bad_manifest):
    good, bad = read_manifest(bad_manifest, strict=False)
    assert len(good) == 2
    assert all(u.text == "fine" for u in good)
    messages = [str(e) for e in bad]
    assert len(messages) == 6
    for lineno, message in zip([2, 3, 4, 6, 7, 8], messages):
        assert f"bad.jsonl:{lineno}" in message, message
        assert "\n" not in message
    assert "JSON" in messages[0]
    assert "duration" in messages[1]
    assert "gone.wav" in messages[2] and "missing" in messages[2]
    assert all(isinstance(e, ManifestError) for e in bad)


def test_bad_lines_raise_when_strict(bad_manifest):
    with pytest.raises(ManifestError) as info:
        read_manifest(bad_manifest, strict=True)
    assert "bad.jsonl:2" in str(info.value)


def test_missing_manifest(tmp_path):
    with pytest.raises(ManifestError, match="nothing.jsonl"):
        read_manifest(tmp_path / "nothing.jsonl")


# ----------------------------------------------------------------------------
# batching
# ----------------------------------------------------------------------------


def test_bucketed_batches_without_rng_are_sorted_chunks():
    rng = np.random.default_rng(0)
    lengths = rng.integers(10, 500, size=53)
    batches = bucketed_batches(lengths, 8)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(53))  # every index exactly once
    assert [len(b) for b in batches] == [8] * 6 + [5]
    for batch in batches:
        assert [lengths[i] for i in batch] == sorted(lengths[i] for i in batch)
    for first, second in zip(batches, batches[1:]):
        assert max(lengths[i] for i in first) <= min(lengths[i] for i in second)


def test_bucketed_batches_with_rng_cover_everything_and_keep_similar_lengths():
    # lengths 1.3x apart: the ±10 % jitter cannot reorder them, so each batch
    # must be a run of neighbours in length order
    n, size = 30, 4
    order = np.random.default_rng(1).permutation(n)
    lengths = 10 * 1.3 ** order
    sorted_idx = list(np.argsort(lengths))
    expected_sets = {frozenset(int(i) for i in sorted_idx[k:k + size]) for k in range(0, n, size)}
    orders = []
    for seed in (0, 1):
        batches = bucketed_batches(lengths, size, np.random.default_rng(seed))
        flat = [i for b in batches for i in b]
        assert sorted(flat) == list(range(n))
        assert {frozenset(b) for b in batches} == expected_sets
        orders.append([tuple(sorted(b)) for b in batches])
    assert orders[0] != orders[1]  # the batch order is shuffled per rng


def test_bucketed_batches_with_jitter_still_cover_everything():
    lengths = np.random.default_rng(3).integers(50, 60, size=101)
    batches = bucketed_batches(lengths, 16, np.random.default_rng(0))
    assert sorted(i for b in batches for i in b) == list(range(101))
    assert sorted(len(b) for b in batches) == [5] + [16] * 6


def test_bucketed_batches_jitter_sets_how_much_batches_are_padded():
    lengths = np.random.default_rng(4).uniform(100, 350, size=2000)

    def padding(jitter):
        batches = bucketed_batches(lengths, 32, np.random.default_rng(0), jitter)
        assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
        return 1 - lengths.sum() / sum(lengths[b].max() * len(b) for b in batches)

    # no jitter: the sorted chunks of the fixed order, only shuffled
    fixed = {frozenset(b) for b in bucketed_batches(lengths, 32)}
    assert {frozenset(b) for b in bucketed_batches(lengths, 32, np.random.default_rng(0), 0.0)} == fixed
    assert padding(0.0) < padding(0.02) < padding(0.1)
    # a little jitter still gives other batches each epoch
    assert {frozenset(b) for b in bucketed_batches(lengths, 32, np.random.default_rng(1), 0.02)} != fixed


def test_pad_batch_shapes_and_zero_padding():
    rng = np.random.default_rng(0)
    feats = [rng.standard_normal((n, 4)).astype(np.float32) + 1.0 for n in (3, 5, 2)]
    labels = [[1, 2], [3], [4, 5, 6]]
    x, y = pad_batch(feats, labels)
    assert x["features"].shape == (3, 5, 4) and x["features"].dtype == np.float32
    assert x["feature_lengths"].tolist() == [3, 5, 2] and x["feature_lengths"].dtype == np.int32
    for i, f in enumerate(feats):
        np.testing.assert_array_equal(x["features"][i, : len(f)], f)
        assert not x["features"][i, len(f):].any()
    assert y["labels"].dtype == np.int32 and y["label_lengths"].dtype == np.int32
    assert y["labels"].tolist() == [[1, 2, 0], [3, 0, 0], [4, 5, 6]]
    assert y["label_lengths"].tolist() == [2, 1, 3]
    x2, y2 = pad_batch(feats)
    assert y2 is None
    np.testing.assert_array_equal(x2["features"], x["features"])


@pytest.mark.parametrize("labels, frames", [
    ([1, 2, 3], 3),
    ([1, 1], 3),          # a blank must separate the repeat
    ([1, 1, 2, 2, 2], 8),
    ([], 0),
])
def test_min_frames_for(labels, frames):
    assert min_frames_for(labels) == frames


# ----------------------------------------------------------------------------
# load_split
# ----------------------------------------------------------------------------


def test_load_split_skips_bad_lines_with_reasons_and_keeps_the_rest(tmp_path):
    root = tmp_path / "corpus"
    wav(root / "one.wav", seconds=0.6)
    wav(root / "two.wav", seconds=0.8, freq=500)
    wav(root / "three.wav", seconds=0.7, freq=700)
    wav(root / "short.wav", seconds=0.05)
    wav(root / "fast.wav", seconds=0.2)
    wav(root / "oov.wav")
    wav(root / "empty.wav")
    rows = [
        {"audio_filepath": "one.wav", "duration": 0.6, "text": "Hello, World!"},
        {"audio_filepath": "oov.wav", "duration": 0.5, "text": "привет"},
        {"audio_filepath": "two.wav", "duration": 0.8, "text": "it's 2"},
        {"audio_filepath": "missing.wav", "duration": 0.5, "text": "gone"},
        {"audio_filepath": "short.wav", "duration": 0.05, "text": "hi"},
        {"audio_filepath": "fast.wav", "duration": 0.2,
         "text": "this sentence is far too long for a fifth of a second"},
        {"audio_filepath": "empty.wav", "duration": 0.5, "text": "?!"},
        {"audio_filepath": "three.wav", "duration": 0.7, "text": "three"},
    ]
    manifest = write_lines(root / "m.jsonl", [json.dumps(r) for r in rows])
    warnings = []
    tok = Tokenizer()
    cfg = FeatureConfig(n_mels=20)
    split = load_split(manifest, DataConfig(cache_dir=None, num_workers=1), cfg, tok, time_reduction=1,
                       log=warnings.append)
    assert len(split) == 3
    assert [Path(u.audio_filepath).name for u in split.utterances] == ["one.wav", "two.wav", "three.wav"]
    assert split.texts == ["hello world", "it's two", "three"]
    assert split.labels == [tok.encode(t) for t in split.texts]
    assert [f.shape for f in split.features] == [(1 + int(s * SR) // 160, 20) for s in (0.6, 0.8, 0.7)]
    assert split.audio_seconds == pytest.approx(0.6 + 0.8 + 0.7)

    assert len(split.skipped) == 5
    expected = {"oov.wav": "vocabulary", "missing.wav": "missing", "short.wav": "too short",
                "fast.wav": "too fast", "empty.wav": "empty transcript"}
    for name, reason in expected.items():
        matching = [s for s in split.skipped if name in s]
        assert len(matching) == 1, (name, split.skipped)
        assert reason in matching[0]
    assert len(warnings) == 5 and all("skipped" in w for w in warnings)


def test_load_split_time_reduction_drops_utterances_too_short_for_ctc(tmp_path):
    wav(tmp_path / "a.wav", seconds=0.3)  # 31 frames; 8 after a reduction of 4
    manifest = write_lines(tmp_path / "m.jsonl",
                           [json.dumps({"audio_filepath": "a.wav", "duration": 0.3, "text": "abcdefghij"})])
    data = DataConfig(cache_dir=None, num_workers=1)
    kept = load_split(manifest, data, FeatureConfig(n_mels=20), Tokenizer(), time_reduction=1, log=lambda m: None)
    assert len(kept) == 1
    dropped = load_split(manifest, data, FeatureConfig(n_mels=20), Tokenizer(), time_reduction=4, log=lambda m: None)
    assert len(dropped) == 0 and "too fast" in dropped.skipped[0]


def test_load_split_streamed_keeps_the_same_utterances_without_loading_features(tmp_path):
    from asr.features.logmel import CachedFeatures, load_cached, normalize

    for name, seconds in (("a.wav", 0.3), ("b.wav", 0.5), ("c.wav", 0.05)):
        wav(tmp_path / name, seconds=seconds)
    lines = [json.dumps({"audio_filepath": n, "duration": 1.0, "text": "ab"}) for n in ("a.wav", "b.wav", "c.wav")]
    manifest = write_lines(tmp_path / "m.jsonl", lines)
    data = DataConfig(cache_dir=str(tmp_path / "cache"), num_workers=1)
    cfg = FeatureConfig(n_mels=20)
    held = load_split(manifest, data, cfg, Tokenizer(), log=lambda m: None)
    streamed = load_split(manifest, data, cfg, Tokenizer(), log=lambda m: None, stream=True)
    assert [u.audio_filepath for u in streamed.utterances] == [u.audio_filepath for u in held.utterances]
    assert streamed.skipped == held.skipped and len(held.skipped) == 1  # c.wav is under 0.1 s
    assert all(isinstance(f, CachedFeatures) for f in streamed.features)
    assert streamed.frames == held.frames == [f.shape[0] for f in held.features]
    for entry, feats in zip(streamed.features, held.features):
        np.testing.assert_allclose(normalize(load_cached(entry.path), cfg), feats, atol=1e-6)


def test_training_dataset_yields_every_utterance_once_per_epoch(tmp_path):
    rng = np.random.default_rng(0)
    n = 10
    feats = [rng.standard_normal((int(k), 6)).astype(np.float32) for k in rng.integers(5, 40, size=n)]
    labels = [[int(i % 5) + 1] * (1 + i % 3) for i in range(n)]
    split = cached_split(tmp_path, feats, labels)
    record: list = []
    dataset = training_dataset(split, batch_size=4, seed=0, feature_cfg=FeatureConfig(n_mels=6, normalize="none"),
                               record=record)
    assert int(dataset.cardinality()) == 3
    orders = []
    for _ in range(2):  # two epochs
        seen = []
        for x, y in dataset:
            features, lengths = x["features"].numpy(), x["feature_lengths"].numpy()
            assert features.shape[0] == lengths.shape[0] == y["labels"].shape[0]
            assert features.shape[1] == lengths.max()
            label_rows, label_lengths = y["labels"].numpy(), y["label_lengths"].numpy()
            batch = []
            for row, length, lab, lab_len in zip(features, lengths, label_rows, label_lengths):
                matches = [i for i, f in enumerate(feats) if f.shape[0] == length and np.array_equal(f, row[:length])]
                assert len(matches) == 1
                assert not row[length:].any()  # padding is zero
                batch.append(matches[0])
                assert lab[:lab_len].tolist() == labels[matches[0]]  # labels travel with their features
            seen.extend(batch)
        assert sorted(seen) == list(range(n))
        assert [len(b) for b in record] == [4, 4, 2]  # the short batch last, where padded_batch cuts it
        assert [i for b in record for i in b] == seen  # the record names each batch's utterances
        orders.append(seen)
    assert orders[0] != orders[1]  # reshuffled between epochs


def test_training_dataset_batches_by_length_with_the_jitter_it_is_given(tmp_path):
    rng = np.random.default_rng(2)
    feats = [np.zeros((int(k), 6), np.float32) for k in rng.permutation(np.arange(20, 60, 2))]
    split = cached_split(tmp_path, feats, [[1]] * len(feats))
    sorted_chunks = {frozenset(b) for b in bucketed_batches(split.frames, 4)}
    for jitter, same in ((0.0, True), (0.3, False)):
        record: list = []
        dataset = training_dataset(split, batch_size=4, seed=0, feature_cfg=FeatureConfig(n_mels=6), record=record,
                                   length_jitter=jitter)
        for _ in dataset:
            pass
        assert ({frozenset(b) for b in record} == sorted_chunks) is same


def test_training_dataset_normalises_the_raw_cached_features(tmp_path):
    from asr.features.logmel import normalize

    rng = np.random.default_rng(1)
    feats = [rng.standard_normal((30, 6)).astype(np.float32) * 3 + 5 for _ in range(3)]
    cfg = FeatureConfig(n_mels=6)  # normalize: utterance
    dataset = training_dataset(cached_split(tmp_path, feats, [[1], [2], [3]]), batch_size=3, seed=0,
                               feature_cfg=cfg)
    (x, y), = list(dataset)
    by_label = {int(lab[0]): row for lab, row in zip(y["labels"].numpy(), x["features"].numpy())}
    for i, f in enumerate(feats):
        np.testing.assert_allclose(by_label[i + 1], normalize(f, cfg), atol=1e-5)


def test_training_dataset_refuses_a_split_held_in_memory():
    from asr.data.manifest import Utterance
    from asr.data.splits import Split

    split = Split([Utterance("a.wav", 1.0, "x")], [np.zeros((5, 6), np.float32)], [[1]], [])
    with pytest.raises(ASRError, match="stream=True"):
        training_dataset(split, 1, 0, FeatureConfig(n_mels=6))

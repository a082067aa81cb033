"""Manifests (the data contract) and length-bucketed batching.

A manifest is JSONL, one utterance a line::

    {"audio_filepath": "wavs/0001.wav", "duration": 2.31, "text": "turn on the lights"}

Relative paths are relative to the manifest's folder. Extra keys (``speaker``,
``engine``...) are kept.
"""

from __future__ import annotations

import json
import math
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

from asr.config import TrainConfig
from asr.errors import ManifestError

REQUIRED_KEYS = ("audio_filepath", "duration", "text")
MAX_LINE_BYTES = 1 << 20  # a longer manifest line is refused (bounded memory)


@dataclass
class Utterance:
    """One manifest line with its audio path resolved to an absolute path."""

    audio_filepath: str
    duration: float
    text: str
    extra: dict = field(default_factory=dict)


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """A temporary path beside ``path`` to write to: renamed onto ``path`` when the
    block ends normally, removed when it raises, so a crash leaves the old file or
    the new one, never half of one.

    Args:
        path: the file to write (its folder is created).
        suffix: appended to the temporary name, for writers that choose the
            format by extension (``".keras"``, ``".npz"``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through ``atomic_path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


class LineWriter:
    """Write a text file a line at a time, in bounded memory, without ever leaving a
    half-written file at ``path``.

    Lines go to a temporary file beside ``path`` (opened here, its folder created),
    renamed into place by ``commit()``; ``abort()`` removes it. As a context
    manager it commits on a normal exit and aborts on an exception, so an
    existing file at ``path`` stays untouched when writing fails.

    Args:
        path: the file to write.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        self._handle = self._tmp.open("wb")
        self.lines = 0  # lines written so far

    def write_line(self, line: str) -> None:
        """Append ``line`` (without its newline). A line that cannot be encoded as
        UTF-8 (a lone surrogate) raises ``ManifestError`` and nothing is written."""
        try:
            data = line.encode("utf-8")
        except UnicodeEncodeError:
            raise ManifestError(f"{self.path}: a line holds a lone surrogate, which UTF-8 cannot encode") from None
        self._handle.write(data + b"\n")
        self.lines += 1

    def commit(self) -> Path:
        """Close the temporary file and rename it to ``path``; returns ``path``."""
        self._handle.close()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Close and remove the temporary file; ``path`` is left as it was."""
        self._handle.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


class ManifestWriter(LineWriter):
    """A ``LineWriter`` for manifest entries, one ``write`` each: audio paths are
    made relative to the manifest's folder and durations rounded to 0.1 ms.

    Args:
        path: the manifest file to write (its folder is created).
    """

    def __init__(self, path: str | os.PathLike):
        super().__init__(path)
        self._root = self.path.parent.resolve()

    def write(self, entry: dict) -> dict:
        """Append one entry: a dict with at least ``audio_filepath`` (absolute, or
        relative to the current directory), ``duration`` (seconds) and ``text``.

        Returns the row as written. Raises ``ManifestError``, writing nothing, when
        a required key is missing or the entry cannot be written as UTF-8.
        """
        missing = [k for k in REQUIRED_KEYS if k not in entry]
        if missing:
            raise ManifestError(f"{self.path}: entry {entry!r} lacks {', '.join(missing)}")
        row = dict(entry)
        audio = Path(row["audio_filepath"]).resolve()
        row["audio_filepath"] = os.path.relpath(audio, self._root)
        row["duration"] = round(float(row["duration"]), 4)
        self.write_line(json.dumps(row, ensure_ascii=False))
        return row


def write_manifest(path: str | os.PathLike, entries: Iterable[dict]) -> Path:
    """Write manifest entries as JSONL, with audio paths made relative to the manifest.

    Entries are written as they come (a generator is never held whole) to a
    temporary file renamed into place at the end; on an error nothing is replaced.

    Args:
        path: the manifest file to write (its folder is created).
        entries: dicts with at least ``audio_filepath`` (absolute, or relative to
            the current directory), ``duration`` (seconds) and ``text``.

    Returns:
        The manifest path.
    """
    with ManifestWriter(path) as writer:
        for entry in entries:
            writer.write(entry)
    return writer.path


def iter_lines(handle: BinaryIO, name: str, strip_bom: bool = False) -> Iterator[tuple[int, str | ManifestError]]:
    """Read a UTF-8 text file a line at a time in bounded memory, decoding each
    line on its own so that one bad line does not stop the reading.

    Args:
        handle: the file, opened in binary mode.
        name: the file's name, for error messages (``name:LINE: reason``).
        strip_bom: drop a UTF-8 byte-order mark at the start of line 1.

    Yields:
        ``(line number from 1, text)`` with the line ending removed, or
        ``(line number, ManifestError)`` for a line that is not UTF-8 or is longer
        than ``MAX_LINE_BYTES`` (such a line is skipped without being held whole).
    """
    lineno = 0
    while True:
        raw = handle.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        lineno += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while (rest := handle.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass  # skip the rest of the line without holding it
            yield lineno, ManifestError(f"{name}:{lineno}: line longer than {MAX_LINE_BYTES} bytes")
            continue
        if strip_bom and lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield lineno, ManifestError(f"{name}:{lineno}: not UTF-8 text")
            continue
        yield lineno, line.rstrip("\r\n")


def iter_manifest(path: str | os.PathLike) -> Iterator[Utterance | ManifestError]:
    """Stream a manifest, yielding an ``Utterance`` per good line and a
    ``ManifestError`` (not raised) per bad one, so callers choose to skip or stop.

    Args:
        path: a JSONL manifest.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found")
    root = path.parent
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ManifestError(f"{path}: cannot open manifest: {exc.strerror}") from None
    with handle:
        for lineno, line in iter_lines(handle, str(path)):
            if isinstance(line, ManifestError):
                yield line
                continue
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield ManifestError(f"{where}: not valid JSON ({exc.msg})")
                continue
            if not isinstance(row, dict):
                yield ManifestError(f"{where}: a line must be a JSON object")
                continue
            missing = [k for k in REQUIRED_KEYS if k not in row]
            if missing:
                yield ManifestError(f"{where}: missing key(s) {', '.join(missing)}")
                continue
            audio, text, duration = row.pop("audio_filepath"), row.pop("text"), row.pop("duration")
            row_duration = duration
            if not isinstance(audio, str) or not isinstance(text, str):
                yield ManifestError(f"{where}: audio_filepath and text must be strings")
                continue
            try:
                duration = float(duration)
            except (TypeError, ValueError, OverflowError):
                duration = float("nan")
            if not math.isfinite(duration) or duration < 0:
                yield ManifestError(f"{where}: duration {row_duration!r:.40} is not a number of seconds")
                continue
            audio_path = Path(audio) if os.path.isabs(audio) else root / audio
            if not audio_path.is_file():
                yield ManifestError(f"{audio_path}: audio file missing (manifest {where})")
                continue
            yield Utterance(str(audio_path.resolve()), duration, text, row)


def read_manifest(path: str | os.PathLike, strict: bool = True) -> tuple[list[Utterance], list[ManifestError]]:
    """Read a whole manifest.

    Args:
        path: a JSONL manifest.
        strict: raise the first bad line's error instead of collecting it.

    Returns:
        ``(utterances, errors)``: the good lines and the skipped ones.
    """
    good, bad = [], []
    for item in iter_manifest(path):
        if isinstance(item, ManifestError):
            if strict:
                raise item
            bad.append(item)
        else:
            good.append(item)
    return good, bad


@dataclass
class Split:
    """A manifest's usable utterances with their features and labels.

    ``features[i]`` is ``[frames, n_mels]`` float32 normalised features, or,
    for a streamed split, an ``asr.features.CachedFeatures`` naming the cache
    entry of its raw log-mel. ``labels[i]`` is a list of ids. ``skipped`` holds
    one-line reasons for lines left out.
    """

    utterances: list[Utterance]
    features: list
    labels: list[list[int]]
    skipped: list[str]

    def __len__(self) -> int:
        return len(self.utterances)

    @property
    def texts(self) -> list[str]:
        return [u.text for u in self.utterances]

    @property
    def audio_seconds(self) -> float:
        return float(sum(u.duration for u in self.utterances))

    @property
    def frames(self) -> list[int]:
        """Feature frames per utterance."""
        return [f.frames if hasattr(f, "frames") else f.shape[0] for f in self.features]


def min_frames_for(labels: list[int]) -> int:
    """Frames CTC needs to emit ``labels``: one per label plus a blank between repeats."""
    return len(labels) + sum(1 for a, b in zip(labels, labels[1:]) if a == b)


def load_split(
    manifest: str | os.PathLike,
    data_cfg,
    feature_cfg,
    tokenizer,
    time_reduction: int = 1,
    log=None,
    stream: bool = False,
) -> Split:
    """Read a manifest, normalise and encode its text, compute (cached) features,
    and leave out what cannot be trained on, with a reason per line.

    Args:
        manifest: JSONL manifest path.
        data_cfg: ``DataConfig`` (duration limits, cache folder, workers).
        feature_cfg: ``FeatureConfig``.
        tokenizer: ``Tokenizer``; transcripts are normalised with it.
        time_reduction: feature frames per model output frame, to drop
            utterances too short for their transcript under CTC.
        log: callable taking a warning line (default: the ``asr`` logger).
        stream: leave the features in the cache (``Split.features`` holds
            ``CachedFeatures``), so memory does not grow with the corpus.
    """
    import logging

    from asr.errors import TextError
    from asr.features import compute_features

    log = log or logging.getLogger("asr").warning
    utterances, errors = read_manifest(manifest, strict=False)
    skipped = [str(e) for e in errors]
    kept, labels = [], []
    for utt in utterances:
        try:
            ids = tokenizer.encode(utt.text)
        except TextError as exc:
            skipped.append(f"{utt.audio_filepath}: {exc}")
            continue
        if not ids:
            skipped.append(f"{utt.audio_filepath}: empty transcript")
            continue
        utt.text = tokenizer.normalize(utt.text)
        kept.append(utt)
        labels.append(ids)
    results = compute_features(
        [u.audio_filepath for u in kept], feature_cfg, data_cfg.cache_dir, data_cfg.num_workers,
        data_cfg.min_duration, data_cfg.max_duration, keep=not stream,
    )
    split = Split([], [], [], skipped)
    for utt, ids, feats in zip(kept, labels, results):
        if isinstance(feats, str):
            split.skipped.append(feats)
            continue
        frames = -(-(feats.frames if stream else feats.shape[0]) // time_reduction)
        if frames < min_frames_for(ids):
            split.skipped.append(
                f"{utt.audio_filepath}: too fast for CTC ({frames} output frames for {len(ids)} characters)")
            continue
        split.utterances.append(utt)
        split.features.append(feats)
        split.labels.append(ids)
    for reason in split.skipped[:10]:
        log(f"skipped {reason}")
    if len(split.skipped) > 10:
        log(f"... and {len(split.skipped) - 10} more skipped lines")
    return split


def cached_split(split: Split, folder: str | os.PathLike) -> Split:
    """The same split streamed: each in-memory feature array written to ``folder`` as a cache entry.

    For features that do not come from audio files (synthetic benchmark batches,
    tests); train with ``normalize="none"`` to read them back unchanged.
    """
    from asr.features import save_cached

    Path(folder).mkdir(parents=True, exist_ok=True)
    entries = [save_cached(Path(folder) / f"{i:06d}.npz", f, 0) for i, f in enumerate(split.features)]
    return Split(split.utterances, entries, split.labels, split.skipped)


def bucketed_batches(lengths, batch_size: int, rng=None,
                     jitter: float = TrainConfig.length_jitter) -> list[list[int]]:
    """Group indices into batches of similar length.

    Indices are sorted by length (with a little random jitter when ``rng`` is
    given, so batches vary between epochs), cut into batches of ``batch_size``,
    and the batch order shuffled.

    Args:
        lengths: frames per utterance.
        batch_size: utterances per batch.
        rng: ``numpy.random.Generator``, or None for a fixed order.
        jitter: with ``rng``, each sort key is the length times a uniform draw
            from ``[1 - jitter, 1 + jitter]``. More jitter mixes batches more
            between epochs and pads them more: every frame of padding costs a
            real frame's compute.
    """
    import numpy as np

    lengths = np.asarray(lengths, dtype=np.float64)
    key = lengths if rng is None else lengths * rng.uniform(1 - jitter, 1 + jitter, size=lengths.shape)
    order = np.argsort(key, kind="stable")
    batches = [order[i:i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    if rng is not None:
        rng.shuffle(batches)
    return batches


def pad_batch(features: list, labels: list | None = None):
    """Pad one batch.

    Returns:
        ``(x, y)``: ``x = {"features": [B, T, F] float32, "feature_lengths": [B] int32}``
        and, with labels, ``y = {"labels": [B, L] int32 (0-padded), "label_lengths": [B] int32}``.
    """
    import numpy as np

    lengths = np.array([f.shape[0] for f in features], dtype=np.int32)
    x = np.zeros((len(features), int(lengths.max()), features[0].shape[1]), dtype=np.float32)
    for i, f in enumerate(features):
        x[i, : f.shape[0]] = f
    inputs = {"features": x, "feature_lengths": lengths}
    if labels is None:
        return inputs, None
    label_lengths = np.array([len(lab) for lab in labels], dtype=np.int32)
    y = np.zeros((len(labels), int(label_lengths.max())), dtype=np.int32)
    for i, lab in enumerate(labels):
        y[i, : len(lab)] = lab
    return inputs, {"labels": y, "label_lengths": label_lengths}


def training_dataset(split: Split, batch_size: int, seed: int, feature_cfg, augment_cfg=None,
                     time_reduction: int = 1, record: list | None = None, replicas: int = 1,
                     length_jitter: float = TrainConfig.length_jitter):
    """A ``tf.data.Dataset`` of padded, length-bucketed batches, reshuffled each epoch.

    Features stream from the cache: only the index (cache paths, frame counts,
    labels) sits in memory, so memory does not grow with the corpus. Parallel
    reads, augmentation and normalisation run in ``tf.data`` maps, ahead of the
    model through prefetch.

    Args:
        split: the training utterances, loaded with ``load_split(..., stream=True)``.
        batch_size: utterances per batch.
        seed: epoch ``k`` of this dataset shuffles (and augments) with ``seed + k``.
        feature_cfg: ``FeatureConfig`` (normalisation, and what augmentation needs).
        augment_cfg: ``AugmentConfig``; applied per utterance when enabled.
        time_reduction: the model's feature frames per output frame, so speed
            perturbation never leaves a transcript too long for CTC.
        record: a list that, during each epoch, holds the utterance indices of
            the batches yielded so far in that epoch (in order), so a callback
            can name the utterances of batch ``k``.
        replicas: how many parts each batch is split into (``tf.distribute``).
            A short last batch of fewer utterances than replicas would leave a
            replica without data, which the model cannot take: it is repeated
            whole until each gets one, which leaves its mean loss unchanged.
        length_jitter: how far batches mix between epochs (``bucketed_batches``'s
            ``jitter``).

    Yields ``(x, y)`` as in ``pad_batch``; its cardinality is the batch count.
    ``batch_size`` is the global batch: under a ``tf.distribute`` strategy each
    batch is split across the replicas, and in a multi-worker run every worker
    builds this same dataset (same seed, same order) and keeps its replicas'
    parts of each batch (auto-shard policy DATA), so each utterance is trained on
    once per epoch across the workers, in the batches a single device would see.
    """
    import numpy as np
    import tensorflow as tf

    from asr.augment import Augmenter, fastest_feasible_speed, normalize
    from asr.errors import ASRError, ConfigError
    from asr.features import load_cached

    if not all(hasattr(f, "path") for f in split.features):
        raise ASRError("training streams features from the cache: load the split with stream=True")
    paths = [f.path for f in split.features]
    lengths = split.frames
    labels = split.labels
    n_mels = feature_cfg.n_mels
    augmenter = Augmenter(augment_cfg, feature_cfg) if augment_cfg is not None and augment_cfg.enabled else None
    speeds = augment_cfg.speeds if augmenter else [1.0]
    max_speed = [fastest_feasible_speed(n, min_frames_for(lab), speeds, time_reduction)
                 for n, lab in zip(lengths, labels)]
    n_batches = -(-len(split) // batch_size)
    short = len(split) % batch_size
    repeats = -(-replicas // short) if 0 < short < replicas else 1
    if batch_size < replicas or short * repeats > batch_size:
        raise ConfigError(f"train.batch_size: {batch_size} (the global batch) cannot be split across {replicas} "
                       f"replicas with {len(split)} training utterances; use at least {2 * replicas}")
    epoch = [0]

    def generate():
        epoch_seed = seed + epoch[0]
        rng = np.random.default_rng(epoch_seed)
        epoch[0] += 1
        if record is not None:
            record.clear()
        batches = bucketed_batches(lengths, batch_size, rng, length_jitter)
        # padded_batch cuts the stream every batch_size utterances: the one short batch goes last
        batches = [b for b in batches if len(b) == batch_size] + [b for b in batches if len(b) < batch_size]
        for batch in batches:
            if record is not None:
                record.append(batch)
            for i in batch * (repeats if len(batch) < batch_size else 1):
                yield i, (epoch_seed, i), max_speed[i], labels[i]

    def load(index, utterance_seed, fastest, label):
        raw = tf.numpy_function(lambda i: load_cached(paths[int(i)]), [index], tf.float32, stateful=False)
        raw.set_shape([None, n_mels])
        feats = augmenter(raw, utterance_seed, fastest) if augmenter else normalize(raw, feature_cfg.normalize)
        return feats, label

    def masked(feats, label):
        return augmenter.masks(feats), label

    def as_inputs(feats, feature_lengths, label, label_lengths):
        return ({"features": feats, "feature_lengths": feature_lengths},
                {"labels": label, "label_lengths": label_lengths})

    signature = (tf.TensorSpec((), tf.int32), tf.TensorSpec((2,), tf.int64), tf.TensorSpec((), tf.float32),
                 tf.TensorSpec((None,), tf.int32))
    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if augmenter is not None:
        dataset = dataset.map(masked)  # sequential: tensorflow-io's masks draw from a stateful generator
    dataset = dataset.map(lambda f, lab: (f, tf.shape(f)[0], lab, tf.shape(lab)[0]))
    dataset = dataset.padded_batch(batch_size, padded_shapes=([None, n_mels], [], [None], []))
    dataset = dataset.map(as_inputs)
    # A generator has no files to shard by (AUTO, the default, finds none and falls back to DATA with a warning).
    # DATA: every worker runs the whole pipeline and keeps its share of each global batch; the reads
    # and augmentation are repeated on each worker, the price of exactly the single-device batches.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(n_batches)).prefetch(tf.data.AUTOTUNE)
    return dataset.with_options(options)

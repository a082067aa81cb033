"""Length-bucketed, padded batches that carry their true lengths, and the
``tf.data`` pipeline that streams them from the feature cache for training."""

from __future__ import annotations

import numpy as np

from asr.config import TrainConfig
from asr.core.errors import ASRError, ConfigError
from asr.data.augment import Augmenter, fastest_feasible_speed
from asr.data.splits import Split, min_frames_for
from asr.features.graph import normalize_frames
from asr.features.logmel import load_cached


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
    import tensorflow as tf  # here, not at the top: evaluation and inference batch without TensorFlow

    if not all(hasattr(f, "path") for f in split.features):
        raise ASRError("training streams features from the cache: load the split with stream=True")
    augmenter = Augmenter(augment_cfg, feature_cfg) if augment_cfg is not None and augment_cfg.enabled else None
    speeds = augment_cfg.speeds if augmenter else [1.0]
    max_speed = [fastest_feasible_speed(n, min_frames_for(lab), speeds, time_reduction)
                 for n, lab in zip(split.frames, split.labels)]
    order = _EpochOrder(split.frames, split.labels, max_speed, batch_size, seed, length_jitter, record,
                        _short_batch_repeats(len(split), batch_size, replicas))
    dataset = _padded_stream(order, [f.path for f in split.features], feature_cfg, augmenter, batch_size)
    # A generator has no files to shard by (AUTO, the default, finds none and falls back to DATA with a warning).
    # DATA: every worker runs the whole pipeline and keeps its share of each global batch; the reads
    # and augmentation are repeated on each worker, the price of exactly the single-device batches.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    n_batches = -(-len(split) // batch_size)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(n_batches)).prefetch(tf.data.AUTOTUNE)
    return dataset.with_options(options)


def _short_batch_repeats(utterances: int, batch_size: int, replicas: int) -> int:
    """How often the short last batch is repeated whole so that every replica gets an
    utterance (1: it needs no repeat); refuses a batch too small to split."""
    short = utterances % batch_size
    repeats = -(-replicas // short) if 0 < short < replicas else 1
    if batch_size < replicas or short * repeats > batch_size:
        raise ConfigError(f"train.batch_size: {batch_size} (the global batch) cannot be split across {replicas} "
                          f"replicas with {utterances} training utterances; use at least {2 * replicas}")
    return repeats


class _EpochOrder:
    """The generator behind the dataset: each call is one epoch, whose batches are drawn
    with ``seed + epoch``; it yields ``(index, (epoch seed, index), fastest speed, label)``
    per utterance, full batches first (``padded_batch`` cuts every ``batch_size``)."""

    def __init__(self, lengths, labels, max_speed, batch_size: int, seed: int, jitter: float,
                 record: list | None, repeats: int):
        self.lengths, self.labels, self.max_speed = lengths, labels, max_speed
        self.batch_size, self.seed, self.jitter, self.record, self.repeats = batch_size, seed, jitter, record, repeats
        self.epoch = 0

    def __call__(self):
        epoch_seed = self.seed + self.epoch
        rng = np.random.default_rng(epoch_seed)
        self.epoch += 1
        if self.record is not None:
            self.record.clear()
        batches = bucketed_batches(self.lengths, self.batch_size, rng, self.jitter)
        # padded_batch cuts the stream every batch_size utterances: the one short batch goes last
        batches = [b for b in batches if len(b) == self.batch_size] + [b for b in batches if len(b) < self.batch_size]
        for batch in batches:
            if self.record is not None:
                self.record.append(batch)
            for i in batch * (self.repeats if len(batch) < self.batch_size else 1):
                yield i, (epoch_seed, i), self.max_speed[i], self.labels[i]


def _padded_stream(order: _EpochOrder, paths: list[str], feature_cfg, augmenter, batch_size: int):
    """``order``'s utterances read from the cache in parallel, augmented (or normalised),
    masked, padded into batches and shaped as ``pad_batch``'s ``(x, y)``."""
    import tensorflow as tf  # as above: only training streams batches

    n_mels = feature_cfg.n_mels

    def load(index, utterance_seed, fastest, label):
        raw = tf.numpy_function(lambda i: load_cached(paths[int(i)]), [index], tf.float32, stateful=False)
        raw.set_shape([None, n_mels])
        if augmenter:
            feats = augmenter(raw, utterance_seed, fastest)
        else:
            feats = normalize_frames(raw, feature_cfg.normalize, axis=0)
        return feats, label

    def as_inputs(feats, feature_lengths, label, label_lengths):
        return ({"features": feats, "feature_lengths": feature_lengths},
                {"labels": label, "label_lengths": label_lengths})

    signature = (tf.TensorSpec((), tf.int32), tf.TensorSpec((2,), tf.int64), tf.TensorSpec((), tf.float32),
                 tf.TensorSpec((None,), tf.int32))
    dataset = tf.data.Dataset.from_generator(order, output_signature=signature)
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if augmenter is not None:
        # sequential: tensorflow-io's masks draw from a stateful generator
        dataset = dataset.map(lambda feats, label: (augmenter.masks(feats), label))
    dataset = dataset.map(lambda f, lab: (f, tf.shape(f)[0], lab, tf.shape(lab)[0]))
    dataset = dataset.padded_batch(batch_size, padded_shapes=([None, n_mels], [], [None], []))
    return dataset.map(as_inputs)

"""Length-bucketed, padded batches that carry their true lengths, and the
training input pipeline that streams them from the feature cache: a ``tf.data``
dataset on TensorFlow, a ``keras.utils.PyDataset`` on Keras's other backends,
both fed by one ``EpochPlan`` (the same batches, the same augmented features)."""

from __future__ import annotations

import numpy as np

from asr.config import TrainConfig
from asr.core.errors import ASRError, ConfigError
from asr.data.augment import Augmenter, fastest_feasible_speed
from asr.data.splits import Split, min_frames_for
from asr.features.logmel import load_cached, normalize


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


def pad_batch(features: list, labels: list | None = None, multiple: int = 1):
    """Pad one batch.

    Args:
        multiple: the padded frame and label counts are rounded up to a multiple of
            this, so that batches come in fewer shapes (JAX compiles a step per shape).

    Returns:
        ``(x, y)``: ``x = {"features": [B, T, F] float32, "feature_lengths": [B] int32}``
        and, with labels, ``y = {"labels": [B, L] int32 (0-padded), "label_lengths": [B] int32}``.
    """
    lengths = np.array([f.shape[0] for f in features], dtype=np.int32)
    x = np.zeros((len(features), _round_up(int(lengths.max()), multiple), features[0].shape[1]), dtype=np.float32)
    for i, f in enumerate(features):
        x[i, : f.shape[0]] = f
    inputs = {"features": x, "feature_lengths": lengths}
    if labels is None:
        return inputs, None
    label_lengths = np.array([len(lab) for lab in labels], dtype=np.int32)
    y = np.zeros((len(labels), _round_up(int(label_lengths.max()), multiple)), dtype=np.int32)
    for i, lab in enumerate(labels):
        y[i, : len(lab)] = lab
    return inputs, {"labels": y, "label_lengths": label_lengths}


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def training_dataset(split: Split, batch_size: int, seed: int, feature_cfg, augment_cfg=None,
                     time_reduction: int = 1, record: list | None = None, replicas: int = 1,
                     length_jitter: float = TrainConfig.length_jitter):
    """Padded, length-bucketed training batches, reshuffled each epoch, for ``model.fit``.

    Features stream from the cache: only the index (cache paths, frame counts,
    labels) sits in memory, so memory does not grow with the corpus. Reads,
    augmentation and normalisation (numpy, ``asr.data.augment``) run ahead of the
    model: in parallel ``tf.data`` maps with prefetch on TensorFlow
    (``tf_dataset``), in a ``keras.utils.PyDataset``'s worker threads on Keras's
    other backends (``asr.data.keras_stream``). Both read one ``EpochPlan``, so a
    seed gives the same batches of the same features on every backend.

    Args:
        split: the training utterances, loaded with ``load_split(..., stream=True)``.
        batch_size: utterances per batch.
        seed: epoch ``k`` of this dataset shuffles (and augments) with ``seed + k``.
        feature_cfg: ``FeatureConfig`` (normalisation, and what augmentation needs).
        augment_cfg: ``AugmentConfig``; applied per utterance when enabled.
        time_reduction: the model's feature frames per output frame, so speed
            perturbation never leaves a transcript too long for CTC.
        record: a list that, during each epoch, holds the utterance indices of
            that epoch's batches (in order), so a callback can name the
            utterances of batch ``k``.
        replicas: how many parts each batch is split into (``tf.distribute``;
            1 on other backends). See ``EpochPlan``.
        length_jitter: how far batches mix between epochs (``bucketed_batches``'s
            ``jitter``).

    Yields ``(x, y)`` as in ``pad_batch``; it holds ``steps_per_epoch`` batches.
    """
    import keras  # here, not at the top: evaluation and inference batch without Keras

    if not all(hasattr(f, "path") for f in split.features):
        raise ASRError("training streams features from the cache: load the split with stream=True")
    plan = EpochPlan(split, batch_size, seed, feature_cfg, augment_cfg, time_reduction, length_jitter,
                     _short_batch_repeats(len(split), batch_size, replicas), record)
    if keras.backend.backend() == "tensorflow":
        return tf_dataset(plan)
    from asr.data.keras_stream import KerasBatches  # here: it subclasses a Keras class

    return KerasBatches(plan)


def steps_per_epoch(utterances: int, batch_size: int) -> int:
    """Batches in one epoch of ``training_dataset``."""
    return -(-utterances // batch_size)


def _short_batch_repeats(utterances: int, batch_size: int, replicas: int) -> int:
    """How often the short last batch is repeated whole so that every replica gets an
    utterance (1: it needs no repeat); refuses a batch too small to split."""
    short = utterances % batch_size
    repeats = -(-replicas // short) if 0 < short < replicas else 1
    if batch_size < replicas or short * repeats > batch_size:
        raise ConfigError(f"train.batch_size: {batch_size} (the global batch) cannot be split across {replicas} "
                          f"replicas with {utterances} training utterances; use at least {2 * replicas}")
    return repeats


class EpochPlan:
    """What each epoch of training reads, whatever the backend: the batches (drawn
    with ``seed + epoch``, full batches first, the short one last) and each
    utterance's features (read from the cache, augmented with the seed
    ``(seed + epoch, index)``, normalised).

    ``repeats``: the short last batch is repeated whole this many times, so that
    each ``tf.distribute`` replica gets an utterance; the model cannot take a
    replica without data, and a repeat leaves the batch's mean loss unchanged.
    """

    def __init__(self, split: Split, batch_size: int, seed: int, feature_cfg, augment_cfg, time_reduction: int,
                 jitter: float, repeats: int = 1, record: list | None = None):
        self.augmenter = Augmenter(augment_cfg, feature_cfg) if augment_cfg is not None and augment_cfg.enabled else None
        speeds = augment_cfg.speeds if self.augmenter else [1.0]
        self.max_speed = [fastest_feasible_speed(n, min_frames_for(lab), speeds, time_reduction)
                          for n, lab in zip(split.frames, split.labels)]
        self.paths = [f.path for f in split.features]
        self.lengths, self.labels = split.frames, split.labels
        self.batch_size, self.seed, self.jitter, self.repeats = batch_size, seed, jitter, repeats
        self.feature_cfg, self.record = feature_cfg, record
        self.steps = steps_per_epoch(len(split), batch_size)

    def batches(self, epoch: int) -> list[list[int]]:
        """Epoch ``epoch``'s batches of utterance indices (each a full batch but the last);
        also what ``record`` holds for that epoch."""
        batches = bucketed_batches(self.lengths, self.batch_size, np.random.default_rng(self.seed + epoch), self.jitter)
        batches = [b for b in batches if len(b) == self.batch_size] + [b for b in batches if len(b) < self.batch_size]
        if self.record is not None:
            self.record[:] = batches
        return [b * self.repeats if len(b) < self.batch_size else b for b in batches]

    def features(self, index: int, epoch: int) -> np.ndarray:
        """``[T, F]`` float32: utterance ``index``'s features as epoch ``epoch`` trains on them."""
        raw = load_cached(self.paths[index])
        if self.augmenter is None:
            return normalize(raw, self.feature_cfg)
        return self.augmenter(raw, (self.seed + epoch, index), self.max_speed[index])

    def batch(self, indices: list[int], epoch: int, multiple: int = 1):
        """``pad_batch``'s ``(x, y)`` of these utterances as epoch ``epoch`` trains on them."""
        return pad_batch([self.features(i, epoch) for i in indices], [self.labels[i] for i in indices], multiple)


def tf_dataset(plan: EpochPlan):
    """``plan`` as a ``tf.data.Dataset``: each iteration (``model.fit`` makes one per
    epoch) is the next epoch; parallel, ordered reads; padded batches; prefetch.

    A generator has no files to shard by, so the auto-shard policy is DATA: in a
    multi-worker run every worker builds this same dataset (same seed, same
    order) and keeps its replicas' parts of each global batch, so each utterance
    is trained on once per epoch across the workers, in the batches a single
    device would see; the reads and augmentation are repeated on each worker.
    """
    import tensorflow as tf  # here, not at the top: only TensorFlow training streams a tf.data pipeline

    epochs = iter(range(1 << 30))
    n_mels = plan.feature_cfg.n_mels

    def utterances():
        epoch = next(epochs)
        for batch in plan.batches(epoch):
            for i in batch:
                yield i, epoch, plan.labels[i]

    def load(index, epoch, label):
        feats = tf.numpy_function(lambda i, e: plan.features(int(i), int(e)), [index, epoch], tf.float32,
                                  stateful=False)
        feats.set_shape([None, n_mels])
        return feats, tf.shape(feats)[0], label, tf.shape(label)[0]

    def as_inputs(feats, feature_lengths, label, label_lengths):
        return ({"features": feats, "feature_lengths": feature_lengths},
                {"labels": label, "label_lengths": label_lengths})

    signature = (tf.TensorSpec((), tf.int32), tf.TensorSpec((), tf.int32), tf.TensorSpec((None,), tf.int32))
    dataset = tf.data.Dataset.from_generator(utterances, output_signature=signature)
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.padded_batch(plan.batch_size, padded_shapes=([None, n_mels], [], [None], [])).map(as_inputs)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(plan.steps)).prefetch(tf.data.AUTOTUNE)
    return dataset.with_options(options)

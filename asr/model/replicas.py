"""Reducing a training step's values across replicas and workers: the pieces of
distributed training that the model's own loss and train step call. Only
TensorFlow distributes (``tf.distribute``); on Keras's other backends a step is
one device's, and these functions are the plain ones, without TensorFlow.
TensorFlow is imported inside each function: the model module must also load
under the other backends."""

from __future__ import annotations

import keras

TASK_TYPES = ("chief", "worker")  # what MultiWorkerMirroredStrategy trains with (no ps, no evaluator)


def worker_count(strategy) -> int:
    """Processes training together: the cluster's chief and workers; 1 without a cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)  # None: no strategy (Keras's other backends)
    if resolver is None or resolver.task_type is None:
        return 1
    spec = resolver.cluster_spec()
    return sum(spec.num_tasks(job) for job in spec.jobs if job in TASK_TYPES)


def reducible_across_workers(logs: dict) -> dict:
    """A training step's logs, each given a leading axis of 1 in a multi-worker run.

    Keras 3 averages each step's logs over the workers with
    ``strategy.reduce(MEAN, value, axis=0)``, which fails on the scalars its
    own metrics return (tensorflow/tensorflow#72388); with one axis the mean
    over workers comes back as a scalar. Elsewhere the logs are left alone.
    """
    if not _distributes():
        return logs
    import tensorflow as tf  # lazily: `import asr` and the TFLite path never load TensorFlow

    if worker_count(tf.distribute.get_strategy()) < 2:
        return logs
    return {name: tf.reshape(value, [1]) if value.shape.rank == 0 else value for name, value in logs.items()}


def replica_context():
    """``(replica context, replicas in sync)``; ``(None, 1)`` outside a distributed step."""
    if not _distributes():
        return None, 1
    import tensorflow as tf  # lazily: `import asr` and the TFLite path never load TensorFlow

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None, 1
    return context, context.num_replicas_in_sync


def replica_mean(values):
    """This replica's share of the mean of ``values [n]`` over the global batch.

    Each replica holds part of the batch, and the gradients of the replicas'
    results are summed; so each returns its sum over the global count, and the
    sum over replicas is the mean over the whole batch, however unevenly the batch
    was split (a replica may hold no utterance at all). On one device it is the
    plain mean. (Keras's own losses divide the local mean by the replica count
    instead, which is the same only for even splits.)

    Returns:
        A float scalar.
    """
    if not _distributes():
        return keras.ops.mean(values)
    import tensorflow as tf  # lazily: `import asr` and the TFLite path never load TensorFlow

    values = tf.convert_to_tensor(values)
    count = tf.cast(tf.shape(values)[0], values.dtype)
    context, _ = replica_context()
    if context is not None:
        count = context.all_reduce(tf.distribute.ReduceOp.SUM, count)
    return tf.math.divide_no_nan(tf.reduce_sum(values), count)


def replica_share(value):
    """``value``, the same on every replica (a regularisation loss), divided by the
    replica count: the replicas' gradients are summed, so together they add it once."""
    _, replicas = replica_context()
    return value / replicas


def _distributes() -> bool:
    """Whether steps may run under ``tf.distribute``: on the TensorFlow backend only."""
    return keras.backend.backend() == "tensorflow"

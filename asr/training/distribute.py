"""Where training runs, chosen by ``train.distribution`` (see docs/DISTRIBUTED.md):

* ``none``: one device (TensorFlow's default strategy).
* ``mirrored``: ``tf.distribute.MirroredStrategy``, one replica per device of this
  machine: the devices ``train.devices`` names, else every GPU, else (no GPU)
  every logical CPU device when there are several. When that finds fewer than two
  devices it warns and trains on the one, as ``none`` does.
* ``multi_worker``: ``tf.distribute.MultiWorkerMirroredStrategy``, one process per
  machine, each told the cluster and its own place in it by the ``TF_CONFIG``
  environment variable; each worker's replicas are its GPUs (or its CPU).

``train.batch_size`` is the global batch: every step one batch is split across
all replicas, each replica returns its share of the mean loss (its sum over the
global count, ``replica_mean``) and the gradients are summed across replicas, so
a step is the same step as on one device. Two Keras 3 behaviours would break
that, and the optimizers here correct them: Keras clips each replica's part of
the gradient before summing (``ReplicaAdam`` clips the sum), and its loss-scale
optimizer decides on each replica's part whether the gradient is finite
(``ReplicaLossScaleOptimizer`` decides on all of them together).

On Keras's backends other than TensorFlow there is no ``tf.distribute``:
``make_strategy`` returns ``OneDevice`` (``distribution: none`` only), which
offers the little of a strategy's interface the trainer uses.

Every worker of a multi-worker run runs the same loop (collective ops need all
of them, checkpoint saving included), but only the chief (task ``chief``, else
``worker`` 0) writes the run directory; ``is_chief`` tells which.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

import keras

from asr.core.errors import ConfigError, DistributionError, first_line
from asr.model.replicas import TASK_TYPES, replica_context, worker_count

if TYPE_CHECKING:
    import tensorflow as tf  # lazily: `import asr` and the TFLite path never load TensorFlow

    from asr.config import TrainConfig

log = logging.getLogger("asr")


def make_strategy(train_cfg: TrainConfig) -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy ``train_cfg.distribution`` asks for.

    Call it before TensorFlow runs anything in this process: a multi-worker
    strategy configures the runtime's collective ops, which only works at start-up.

    Raises:
        DistributionError: a named device this machine lacks, or a missing or
            malformed ``TF_CONFIG`` for ``multi_worker``.
    """
    if keras.backend.backend() != "tensorflow":
        if train_cfg.distribution != "none":
            raise ConfigError(f"train.distribution={train_cfg.distribution} needs the TensorFlow backend "
                              f"(KERAS_BACKEND=tensorflow); the {keras.backend.backend()} backend trains on one device")
        return OneDevice()
    import tensorflow as tf  # lazily: `import asr` and the TFLite path never load TensorFlow

    if train_cfg.distribution == "none":
        return tf.distribute.get_strategy()
    if train_cfg.distribution == "mirrored":
        devices = mirrored_devices(train_cfg.devices)
        if len(devices) < 2 and not train_cfg.devices:
            log.warning(f"train.distribution=mirrored: only one device found ({devices[0]}); "
                        "training on it alone, as with distribution: none")
            return tf.distribute.get_strategy()
        if any("GPU" in name for name in devices):
            return tf.distribute.MirroredStrategy(devices=devices)
        # CPU devices (tests): sum on one device. The default, collective ops, numbers its groups from 1
        # in every strategy, so a second mirrored training in the process would collide with the first's.
        return tf.distribute.MirroredStrategy(devices=devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
    read_tf_config()
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except (RuntimeError, ValueError) as exc:  # e.g. TensorFlow already initialised in this process
        raise DistributionError(f"train.distribution=multi_worker: cannot start ({first_line(exc)}); "
                                "start training in a fresh process (asr train)") from None


class OneDevice:
    """Training on one device without ``tf.distribute`` (Keras's other backends): the
    parts of a ``tf.distribute.Strategy`` the trainer reads."""

    num_replicas_in_sync = 1
    cluster_resolver = None

    def scope(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()


def mirrored_devices(names: list[str]) -> list[str]:
    """The logical devices a mirrored run uses: ``names`` (checked to exist), else
    every GPU, else every CPU device. Names as TensorFlow spells them (``/device:GPU:0``).

    Args:
        names: ``train.devices``: e.g. ``["GPU:0", "/gpu:1"]``; empty for all GPUs.
    """
    import tensorflow as tf  # lazily: `import asr` and the TFLite path never load TensorFlow

    if not names:
        return [d.name for d in tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")]
    available = {(d.device_type, _index(d.name)): d.name for d in tf.config.list_logical_devices()}
    chosen = []
    for name in names:
        try:
            spec = tf.DeviceSpec.from_string(name if name.startswith("/") else f"/device:{name}")
        except ValueError:
            spec = None
        if spec is None or spec.device_type is None:
            raise DistributionError(f"train.devices: {name!r} is not a device name (e.g. GPU:0)")
        key = (spec.device_type.upper(), spec.device_index or 0)
        if key not in available:
            raise DistributionError(f"train.devices: this machine has no {key[0]}:{key[1]} "
                                    f"(it has {', '.join(sorted(available.values()))})")
        if available[key] in chosen:
            raise DistributionError(f"train.devices: {name!r} is named twice")
        chosen.append(available[key])
    return chosen


def _index(device_name: str) -> int:
    return int(device_name.rsplit(":", 1)[1])


def read_tf_config(environ: Mapping[str, str] | None = None) -> dict:
    """``TF_CONFIG`` parsed and checked, so that a mistake is one line here rather
    than a hang or a traceback inside TensorFlow.

    Expected: ``{"cluster": {"worker": ["host:port", ...], "chief": ["host:port"]},
    "task": {"type": "worker", "index": 0}}`` (``chief`` optional).

    Args:
        environ: the environment to read (default: ``os.environ``).
    """
    environ = os.environ if environ is None else environ
    raw = environ.get("TF_CONFIG", "")
    if not raw.strip():
        raise DistributionError("train.distribution=multi_worker needs the TF_CONFIG environment variable "
                                "(the cluster's host:port list and this process's task; see docs/DISTRIBUTED.md)")
    try:
        spec = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise DistributionError(f"TF_CONFIG is not valid JSON ({exc.msg} at character {exc.pos})") from None
    cluster = spec.get("cluster") if isinstance(spec, dict) else None
    task = spec.get("task") if isinstance(spec, dict) else None
    if not isinstance(cluster, dict) or not cluster:
        raise DistributionError('TF_CONFIG has no "cluster" mapping, e.g. {"worker": ["host1:12345", "host2:12345"]}')
    for kind, addresses in cluster.items():
        if kind not in TASK_TYPES:
            raise DistributionError(f"TF_CONFIG: cluster task type {kind!r} is not supported "
                                    f"(multi_worker uses {' and '.join(TASK_TYPES)})")
        if not isinstance(addresses, list) or not addresses:
            raise DistributionError(f"TF_CONFIG: cluster.{kind} must be a non-empty list of host:port strings")
        for address in addresses:
            host, _, port = str(address).rpartition(":")
            if not isinstance(address, str) or not host or not port.isdigit():
                raise DistributionError(f"TF_CONFIG: cluster.{kind} entry {address!r} is not host:port")
    if len(cluster.get("chief", [])) > 1:
        raise DistributionError("TF_CONFIG: cluster.chief may hold one address only")
    if not isinstance(task, dict) or task.get("type") not in cluster:
        raise DistributionError(f'TF_CONFIG: "task" must be {{"type": one of {sorted(cluster)}, "index": N}}')
    index, count = task.get("index", 0), len(cluster[task["type"]])
    if type(index) is not int or not 0 <= index < count:
        raise DistributionError(f"TF_CONFIG: task index {index!r} is out of range for "
                                f"{count} {task['type']} address(es)")
    return spec


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run directory: always, except in a
    multi-worker run where only task ``chief`` (else ``worker`` 0) does."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type is None:
        return True
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().jobs


def task_name(strategy: tf.distribute.Strategy) -> str:
    """``worker 1`` (this process's TF_CONFIG task) in a multi-worker run, else ``local``."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or resolver.task_type is None:
        return "local"
    return f"{resolver.task_type} {resolver.task_id}"


def agree(strategy: tf.distribute.Strategy, values: dict[str, float]) -> dict[str, float]:
    """Each value averaged over the workers, bit-identical on all of them.

    The workers of a run compute the same dev WER from the same weights, but a
    decision taken on it (early stopping, saving ``best.keras``) must be taken by
    all of them together or the collective ops of the next step would hang; so
    they use the reduced values. Must be called by every worker at the same point.
    Without several workers the values come back unchanged.
    """
    if worker_count(strategy) < 2:
        return dict(values)
    import tensorflow as tf  # lazily: `import asr` and the TFLite path never load TensorFlow

    names = sorted(values)

    # a graph: collectives run eagerly are slow (and TensorFlow warns). No autograph: see asr.inference
    @tf.function(autograph=False)
    def mean(local):
        return strategy.reduce(tf.distribute.ReduceOp.MEAN, strategy.run(tf.identity, args=(local,)), axis=None)

    averaged = mean(tf.constant([float(values[k]) for k in names], tf.float64))
    return {name: float(v) for name, v in zip(names, averaged.numpy())}



@keras.saving.register_keras_serializable(package="asr")
class ReplicaAdam(keras.optimizers.Adam):
    """Adam whose gradient clipping sees the global batch's gradient.

    Keras 3 clips inside ``apply``, before it sums the replicas' gradients, so
    with ``clipnorm`` each replica's part is clipped on its own and a step
    differs from one device's. Here, with several replicas, the parts are summed
    first, clipped, and handed on divided by the replica count, so that Keras's
    own sum gives back the clipped global gradient. That sends the gradients
    across twice a step, only while clipping is configured. With one replica
    it is Keras's Adam.
    """

    def _clip_gradients(self, grads):
        context, replicas = replica_context()
        if context is None or not (self.clipnorm or self.global_clipnorm or self.clipvalue):
            return super()._clip_gradients(grads)
        import tensorflow as tf  # lazily: `import asr` and the TFLite path never load TensorFlow

        present = [g for g in grads if g is not None]
        clipped = iter(super()._clip_gradients(context.all_reduce(tf.distribute.ReduceOp.SUM, present)))
        return [None if g is None else next(clipped) / replicas for g in grads]


@keras.saving.register_keras_serializable(package="asr")
class ReplicaLossScaleOptimizer(keras.optimizers.LossScaleOptimizer):
    """Dynamic loss scaling (``mixed_float16``) whose skip-this-step decision is
    the same on every replica.

    Keras checks each replica's part of the gradient for inf/NaN on its own: on
    one path it then follows the first replica's verdict (an overflow elsewhere
    reaches the weights), on the other replicas that disagree take different
    branches, one of which waits in a collective the other never joins. Here
    the verdicts are combined: a step is applied only when every part is finite.
    """

    def check_finite(self, grads):
        finite = super().check_finite(grads)
        context, _ = replica_context()
        if context is None:
            return finite
        import tensorflow as tf  # lazily: `import asr` and the TFLite path never load TensorFlow

        failures = context.all_reduce(tf.distribute.ReduceOp.SUM, tf.cast(tf.logical_not(finite), tf.float32))
        return tf.equal(failures, 0.0)

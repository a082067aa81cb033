"""Subprocess side of tests/training/test_distribute.py: each mode runs in a fresh process,
since logical devices and multi-worker collectives must be set up before
TensorFlow starts, and writes what it measured to a JSON file.

    python tests/training/distributed_worker.py mirrored OUT.json OVERRIDES.json
    TF_CONFIG=... python tests/training/distributed_worker.py worker OUT.json OVERRIDES.json
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path


def epoch_losses(run_dir: Path) -> list[float]:
    with open(run_dir / "logs" / "training.csv", newline="") as handle:
        return [float(row["loss"]) for row in csv.DictReader(handle)]


def max_weight_difference(a, b) -> float:
    import numpy as np

    return max(float(np.abs(np.asarray(x) - np.asarray(y)).max()) for x, y in zip(a.get_weights(), b.get_weights()))


def one_step_weights(strategy, optimizer_class, clipnorm: float) -> list:
    """A tiny model after three Adam steps on one fixed batch of 7 (split 4 + 3 over two replicas)."""
    import keras
    import numpy as np
    import tensorflow as tf

    from asr.config import FeatureConfig, ModelConfig
    from asr.model.ctc import build_model
    from asr.text import Tokenizer

    rng = np.random.default_rng(0)
    x = {"features": rng.standard_normal((7, 50, 12)).astype("float32"),
         "feature_lengths": rng.integers(30, 51, 7).astype("int32")}
    y = {"labels": rng.integers(1, 20, (7, 5)).astype("int32"), "label_lengths": np.full(7, 5, "int32")}
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = build_model(ModelConfig(conv_channels=[8], lstm_units=8, lstm_layers=1, dropout=0.0),
                            FeatureConfig(n_mels=12), Tokenizer())
        model.compile(optimizer=optimizer_class(1e-2, clipnorm=clipnorm))
    model.fit(tf.data.Dataset.from_tensors((x, y)).repeat(3), epochs=1, verbose=0, shuffle=False)
    return model


def loss_scale_verdicts(strategy) -> dict:
    """Each replica's finite-gradient verdict when only the second replica's gradient overflowed."""
    import keras
    import tensorflow as tf

    from asr.training.distribute import ReplicaLossScaleOptimizer

    def part():
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        return tf.where(tf.equal(replica, 1), float("inf"), 1.0) * tf.ones([3])

    verdicts = {}
    for name, cls in (("keras", keras.optimizers.LossScaleOptimizer), ("asr", ReplicaLossScaleOptimizer)):
        optimizer = cls(keras.optimizers.Adam())

        def verdict():
            return optimizer.check_finite([part()])

        result = tf.function(strategy.run)(verdict)
        verdicts[name] = [bool(v) for v in strategy.experimental_local_results(result)]
    return verdicts


def train_run(overrides: list[str], run_dir: Path, extra: list[str], resume: bool = False) -> dict:
    from asr.config import load_config
    from asr.training.trainer import train

    return train(load_config(None, [*overrides, f"run_dir={run_dir}", *extra]), resume=resume).to_dict()


def mirrored(out: Path, overrides: list[str], root: Path) -> dict:
    """One device against two mirrored CPU devices, same seed, data and global batch."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras

    from asr.config import TrainConfig
    from asr.training.distribute import ReplicaAdam, make_strategy

    strategy = make_strategy(TrainConfig(distribution="mirrored"))
    result = {"replicas": strategy.num_replicas_in_sync}
    one_device = one_step_weights(tf.distribute.get_strategy(), ReplicaAdam, 0.5)  # Keras's Adam on one device
    result["clip_difference"] = {name: max_weight_difference(one_device, one_step_weights(strategy, cls, 0.5))
                                 for name, cls in (("keras", keras.optimizers.Adam), ("asr", ReplicaAdam))}
    result["loss_scale_verdicts"] = loss_scale_verdicts(strategy)

    # three epochs on one device; on two, two epochs and then a resumed third
    single, multi = root / "single", root / "mirrored"
    train_run(overrides, single, ["train.epochs=3"])
    first = train_run(overrides, multi, ["train.epochs=2", "train.distribution=mirrored"])
    train_run(overrides, multi, ["train.epochs=3", "train.distribution=mirrored"], resume=True)
    load = keras.saving.load_model
    result.update(
        single_losses=epoch_losses(single), mirrored_losses=epoch_losses(multi), mirrored_replicas=first["replicas"],
        weight_difference=max_weight_difference(load(single / "checkpoints" / "epoch-0003.keras"),
                                                load(multi / "checkpoints" / "epoch-0003.keras")))
    return result


def fingerprints(strategy, dataset) -> list[list[list]]:
    """Per step, this process's utterances: ``[labels, frames, first value, last value]`` each."""
    import numpy as np

    steps = []
    for batch in dataset:
        seen = []
        for x, y in strategy.experimental_local_results(batch):
            feats, lengths = np.asarray(x["features"]), np.asarray(x["feature_lengths"])
            labels, label_lengths = np.asarray(y["labels"]), np.asarray(y["label_lengths"])
            for f, n, lab, m in zip(feats, lengths, labels, label_lengths):
                seen.append([lab[:m].tolist(), int(n), round(float(f[0, 0]), 4), round(float(f[n - 1, -1]), 4)])
        steps.append(seen)
    return steps


def worker(out: Path, overrides: list[str]) -> dict:
    """One process of a multi-worker run: what this worker's replicas get of two
    epochs of the training data (and, on worker 0, what one device gets), then training."""
    import tensorflow as tf

    from asr.config import load_config
    from asr.data.batching import training_dataset
    from asr.data.splits import load_split
    from asr.text import Tokenizer
    from asr.training.distribute import is_chief, make_strategy
    from asr.training.trainer import train

    cfg = load_config(None, overrides)
    strategy = make_strategy(cfg.train)
    split = load_split(cfg.manifest("train"), cfg.data, cfg.features, Tokenizer(), cfg.model.time_reduction,
                       stream=True)

    def dataset():  # as asr.training builds it
        return training_dataset(split, cfg.train.batch_size, cfg.train.seed, cfg.features, cfg.train.augment,
                                cfg.model.time_reduction, replicas=strategy.num_replicas_in_sync,
                                length_jitter=cfg.train.length_jitter)

    distributed = strategy.experimental_distribute_dataset(dataset())
    result = {"chief": is_chief(strategy), "epochs": [fingerprints(strategy, distributed) for _ in range(2)]}
    if result["chief"]:
        plain, one = dataset(), tf.distribute.get_strategy()
        result["single_device"] = [fingerprints(one, plain) for _ in range(2)]
    result["train"] = train(cfg, strategy=strategy).to_dict()  # one multi-worker strategy per process
    return result


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    mode, out_path, overrides_path = sys.argv[1:4]
    out, overrides = Path(out_path), json.loads(Path(overrides_path).read_text())
    if mode == "mirrored":
        found = mirrored(out, overrides, out.parent)
    else:
        found = worker(out, overrides)
    out.write_text(json.dumps(found))

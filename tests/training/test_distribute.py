"""Distributed training (asr.training.distribute) and mixed precision.

The mirrored and multi-worker runs happen in fresh processes (tests/training/distributed_worker.py):
two logical CPU devices, or two worker processes on loopback, must be set up
before TensorFlow starts. Each is compared with a one-device run of the same
tiny recipe, seed, data and global batch, augmentation off.
"""

import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers import N_TRAIN, REPO, tiny_overrides

from asr.config import FeatureConfig, ModelConfig, TrainConfig, load_config
from asr.core.errors import ConfigError, DistributionError
from asr.model.ctc import build_model, float32_copy, precision_of
from asr.model.replicas import replica_mean
from asr.text import Tokenizer
from asr.training.distribute import agree, is_chief, make_strategy, read_tf_config, worker_count

WORKER = Path(__file__).with_name("distributed_worker.py")
# measured here: epoch losses within 1.4e-7 relative, weights within 1.2e-7 (float32 rounding)
LOSS_RTOL = 1e-4
WEIGHT_ATOL = 1e-4
# Augmentation off: these runs compare steps, not what augmentation does. A constant learning rate after
# the warm-up, so that runs of 2 and 3 epochs share a schedule. No test split: these runs compare training.
COMPARABLE = ["train.augment.enabled=false", "train.min_learning_rate=0.005", "data.test_manifest=none.jsonl"]


def start_worker(mode: str, out: Path, overrides: list[str], env: dict | None = None) -> subprocess.Popen:
    spec = out.with_suffix(".overrides.json")
    spec.write_text(json.dumps(overrides))
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    log = open(out.with_suffix(".log"), "w")
    return subprocess.Popen([sys.executable, str(WORKER), mode, str(out), str(spec)], cwd=REPO, env=full_env,
                            stdout=log, stderr=subprocess.STDOUT)


def finish(processes: list[subprocess.Popen], outs: list[Path], timeout: float = 420) -> list[dict]:
    try:
        for process in processes:
            process.wait(timeout=timeout)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    for process, out in zip(processes, outs):
        log = out.with_suffix(".log").read_text()
        assert process.returncode == 0, f"{out.name}: exit {process.returncode}\n{log[-3000:]}"
    return [json.loads(out.read_text()) for out in outs]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def mirrored(corpus, tmp_path_factory):
    """Two mirrored CPU devices against one: clipping and loss-scale checks, then a
    tiny recipe trained two epochs and resumed for a third, on one device and on two."""
    root = tmp_path_factory.mktemp("mirrored")
    out = root / "mirrored.json"
    overrides = [o for o in tiny_overrides(corpus, root / "unused", extra=COMPARABLE) if not o.startswith("run_dir")]
    return finish([start_worker("mirrored", out, overrides)], [out])[0]


# ----------------------------------------------------------------------------
# mirrored: the same steps as one device
# ----------------------------------------------------------------------------

def test_mirrored_loss_curve_matches_one_device(mirrored):
    assert mirrored["replicas"] == 2 and mirrored["mirrored_replicas"] == 2
    single, multi = mirrored["single_losses"], mirrored["mirrored_losses"]
    assert len(single) == len(multi) == 3  # two epochs, then a resumed third
    assert single[-1] < 0.6 * single[0]  # it did learn
    np.testing.assert_allclose(multi, single, rtol=LOSS_RTOL)
    assert mirrored["weight_difference"] < WEIGHT_ATOL  # after the resumed epoch too


def test_gradient_clipping_sees_the_global_gradient(mirrored):
    """Keras clips each replica's part before summing; ReplicaAdam clips the sum, as one device does."""
    assert mirrored["clip_difference"]["keras"] > 1e-3  # so the check below can fail
    assert mirrored["clip_difference"]["asr"] < 1e-5


def test_loss_scale_skips_a_step_on_every_replica_together(mirrored):
    """The second replica's gradient overflowed: Keras's verdict differs between the
    replicas (its merge-call path follows the first); ours is 'not finite' on both."""
    assert mirrored["loss_scale_verdicts"]["keras"] == [True, False]
    assert mirrored["loss_scale_verdicts"]["asr"] == [False, False]


# ----------------------------------------------------------------------------
# multi-worker: two processes on loopback
# ----------------------------------------------------------------------------

def test_two_workers_split_every_batch_and_match_one_device(corpus, mirrored, tmp_path):
    ports = [free_port(), free_port()]
    run_dir = tmp_path / "run"
    overrides = tiny_overrides(corpus, run_dir, extra=[*COMPARABLE, "train.epochs=2",
                                                       "train.distribution=multi_worker"])
    processes, outs = [], []
    for index in range(2):
        tf_config = {"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                     "task": {"type": "worker", "index": index}}
        scratch = tmp_path / f"tmp{index}"
        scratch.mkdir()
        outs.append(tmp_path / f"worker{index}.json")
        processes.append(start_worker("worker", outs[-1], overrides,
                                      {"TF_CONFIG": json.dumps(tf_config), "TMPDIR": str(scratch)}))
    chief, other = finish(processes, outs)

    # the data: each global step's batch is one device's batch, split between the workers
    assert chief["chief"] and not other["chief"]
    for epoch in range(2):
        reference = chief["single_device"][epoch]
        assert len(reference) == len(chief["epochs"][epoch]) == len(other["epochs"][epoch]) == N_TRAIN // 8
        for step, batch in enumerate(reference):
            parts = chief["epochs"][epoch][step], other["epochs"][epoch][step]
            assert len(parts[0]) == len(parts[1]) == 4
            assert sorted(map(json.dumps, parts[0] + parts[1])) == sorted(map(json.dumps, batch))
        seen = [json.dumps(u) for step in reference for u in step]
        assert len(seen) == len(set(seen)) == N_TRAIN  # every utterance once per epoch
    assert chief["single_device"][0] != chief["single_device"][1]  # reshuffled

    # the training: the chief's curve is one device's; only the chief wrote the run directory
    np.testing.assert_allclose(read_losses(run_dir), mirrored["single_losses"][:2], rtol=LOSS_RTOL)
    assert chief["train"]["replicas"] == 2 and chief["train"]["epochs_run"] == 2
    assert other["train"] == {"task": "worker 1", "epochs_run": 2}
    assert (run_dir / "model.keras").is_file() and (run_dir / "checkpoints" / "epoch-0002.keras").is_file()
    assert list((tmp_path / "tmp1").iterdir()) == []  # the other worker's checkpoints and logs, removed
    model = keras.saving.load_model(run_dir / "checkpoints" / "epoch-0002.keras", safe_mode=True)
    assert int(model.optimizer.iterations.numpy()) == 2 * N_TRAIN // 8


def read_losses(run_dir: Path) -> list[float]:
    import csv

    with open(run_dir / "logs" / "training.csv", newline="") as handle:
        return [float(row["loss"]) for row in csv.DictReader(handle)]


# ----------------------------------------------------------------------------
# bad input: one line each
# ----------------------------------------------------------------------------

@pytest.mark.parametrize("override, match", [
    ("train.distribution=horovod", "train.distribution: 'horovod' is not one of none | mirrored | multi_worker"),
    ("train.precision=float16", "train.precision: 'float16' is not one of float32 | mixed_float16"),
    ("train.devices=[GPU:0]", "train.devices: .* only applies to train.distribution: mirrored"),
])
def test_bad_distribution_settings_are_config_errors(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, [override])


@pytest.mark.parametrize("value, match", [
    (None, "needs the TF_CONFIG environment variable"),
    ("{not json", "TF_CONFIG is not valid JSON"),
    ('{"task": {"type": "worker", "index": 0}}', 'TF_CONFIG has no "cluster"'),
    ('{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}}', "task type 'ps' is not supported"),
    ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}', "is not host:port"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}}', '"task" must be'),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}', "index 2 is out of range"),
])
def test_bad_tf_config_is_one_line(value, match):
    environ = {} if value is None else {"TF_CONFIG": value}
    with pytest.raises(DistributionError, match=match) as info:
        read_tf_config(environ)
    assert "\n" not in str(info.value)


def test_good_tf_config_is_read():
    spec = {"cluster": {"chief": ["a:1"], "worker": ["b:2", "c:3"]}, "task": {"type": "worker", "index": 1}}
    assert read_tf_config({"TF_CONFIG": json.dumps(spec)}) == spec


def test_multi_worker_without_tf_config_fails_before_starting(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(DistributionError, match="TF_CONFIG"):
        make_strategy(TrainConfig(distribution="multi_worker"))


def test_cli_names_tf_config_in_one_line(corpus, tmp_path, monkeypatch, capsys):
    from asr.cli.main import main

    monkeypatch.delenv("TF_CONFIG", raising=False)
    (tmp_path / "recipe.yaml").write_text("name: tiny\n")
    overrides = tiny_overrides(corpus, tmp_path / "run", extra=["train.distribution=multi_worker"])
    sets = [arg for override in overrides for arg in ("--set", override)]
    assert main(["train", "--config", str(tmp_path / "recipe.yaml"), *sets]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "asr: error: train.distribution=multi_worker needs the TF_CONFIG environment variable "
        "(the cluster's host:port list and this process's task; see docs/DISTRIBUTED.md)"]
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_named_devices_must_exist():
    with pytest.raises(DistributionError, match=r"train.devices: this machine has no GPU:7 \(it has .*CPU:0"):
        make_strategy(TrainConfig(distribution="mirrored", devices=["GPU:7"]))
    with pytest.raises(DistributionError, match="is not a device name"):
        make_strategy(TrainConfig(distribution="mirrored", devices=["seven"]))


def test_mirrored_on_one_device_warns_and_trains_on_it(caplog):
    """Without two GPUs (or two logical CPUs) mirrored is a warning and a one-device run, not an error."""
    with caplog.at_level(logging.WARNING, logger="asr"):
        strategy = make_strategy(TrainConfig(distribution="mirrored"))
    assert strategy.num_replicas_in_sync == 1 and is_chief(strategy) and worker_count(strategy) == 1
    assert "only one device found" in caplog.text


def test_a_batch_too_small_for_the_replicas_is_refused(tmp_path):
    from helpers import cached_split

    from asr.data.batching import training_dataset

    feats = [np.zeros((20, 6), np.float32) for _ in range(5)]
    split = cached_split(tmp_path, feats, [[1]] * 5)
    with pytest.raises(ConfigError, match="train.batch_size: 2 .* across 4 replicas .* at least 8"):
        training_dataset(split, 2, 0, FeatureConfig(n_mels=6), replicas=4)
    # 5 utterances in batches of 4 over 2 replicas: the short batch of 1 goes twice, so both replicas get it
    sizes = [int(x["features"].shape[0]) for x, _ in training_dataset(split, 4, 0, FeatureConfig(n_mels=6),
                                                                      replicas=2)]
    assert sizes == [4, 2]


def test_replica_mean_and_agree_outside_a_strategy():
    assert float(replica_mean(tf.constant([1.0, 2.0, 6.0]))) == pytest.approx(3.0)
    assert float(replica_mean(tf.zeros([0]))) == 0.0  # a replica without utterances adds nothing
    assert agree(tf.distribute.get_strategy(), {"wer": 0.25}) == {"wer": 0.25}


# ----------------------------------------------------------------------------
# mixed precision
# ----------------------------------------------------------------------------

SMALL = ModelConfig(conv_channels=[8], lstm_units=8, lstm_layers=1, dropout=0.0)


@pytest.mark.parametrize("precision, compute", [("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16")])
def test_mixed_precision_trains_a_step_and_keeps_float32_where_it_matters(precision, compute):
    from asr.training.trainer import _optimizer

    keras.utils.set_random_seed(0)
    cfg = load_config(None, [f"train.precision={precision}", "train.epochs=1", "train.warmup_steps=0"])
    model = build_model(SMALL, FeatureConfig(n_mels=12), Tokenizer(), precision)
    model.compile(optimizer=_optimizer(cfg, steps_per_epoch=2))
    assert precision_of(model) == precision
    assert keras.config.dtype_policy().name == "float32"  # nothing global was changed
    assert all(w.dtype == "float32" for w in model.weights)  # variables stay float32
    assert model.encoder.outputs[0].dtype == compute and model.get_layer("ctc_head").compute_dtype == "float32"
    expected = "ReplicaLossScaleOptimizer" if precision == "mixed_float16" else "ReplicaAdam"
    assert type(model.optimizer).__name__ == expected

    rng = np.random.default_rng(0)
    x = {"features": rng.standard_normal((4, 40, 12)).astype("float32"), "feature_lengths": np.full(4, 40, "int32")}
    y = {"labels": rng.integers(1, 20, (4, 5)).astype("int32"), "label_lengths": np.full(4, 5, "int32")}
    out = model(x)
    assert out["logits"].dtype == "float32"
    history = model.fit(tf.data.Dataset.from_tensors((x, y)).repeat(2), epochs=1, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"]).all()
    # the float32 twin: same weights, float32 throughout, outputs within the compute dtype's rounding
    twin = float32_copy(model)
    assert precision_of(twin) == "float32" and twin.encoder.outputs[0].dtype == "float32"
    np.testing.assert_allclose(np.asarray(twin(x)["logits"]), np.asarray(model(x)["logits"]),
                               atol=0.05 if compute == "bfloat16" else 0.01)


def test_mixed_precision_run_saves_a_float32_model_that_exports(corpus, tmp_path):
    """A mixed_float16 run: checkpoints keep the policy (for resume), model.keras is
    float32, a checkpoint exports float32 weights, and resuming in float32 is refused."""
    from scipy.special import log_softmax

    from asr.export.exporter import export_model
    from asr.inference.lite import LiteModel
    from asr.inference.backends import KerasBackend
    from asr.inference.recognizer import Recognizer
    from asr.training.trainer import train

    run_dir = tmp_path / "mixed"
    overrides = tiny_overrides(corpus, run_dir, extra=[*COMPARABLE, "train.epochs=1",
                                                       "train.precision=mixed_float16"])
    metrics = train(load_config(None, overrides))
    assert np.isfinite(metrics.dev.cer)
    checkpoint = keras.saving.load_model(run_dir / "checkpoints" / "epoch-0001.keras", safe_mode=True)
    assert precision_of(checkpoint) == "mixed_float16"
    assert type(checkpoint.optimizer).__name__ == "ReplicaLossScaleOptimizer"
    saved = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    assert precision_of(saved) == "float32"

    # exporting the mixed-precision checkpoint itself: its float32 twin goes into the file
    written = export_model(run_dir / "checkpoints" / "best.keras", tmp_path / "exported", formats=["tflite"])
    reference = Recognizer(KerasBackend(keras.saving.load_model(run_dir / "model.keras", safe_mode=True)))
    samples = reference.samples(corpus.dir / corpus.rows["dev"][0]["audio_filepath"])
    expected = reference.logits([reference.featurize(samples, reference.sample_rate)])[0]
    got = LiteModel(written["tflite"], num_threads=1)(samples)
    # the file gives log-probabilities; librosa's features and the in-graph ones differ by ~1e-5
    np.testing.assert_allclose(got, log_softmax(expected, axis=-1), atol=2e-3)

    with pytest.raises(ConfigError, match="trained with train.precision=mixed_float16, not float32"):
        train(load_config(None, [*overrides, "train.epochs=2", "train.precision=float32"]), resume=True)

"""Training on Keras's other backends (torch, jax): one input pipeline whatever the
backend, a run that learns without TensorFlow in the process, and a model that
TensorFlow then loads with the same outputs and loss (export stays on TensorFlow)."""

import csv
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from helpers import REPO, cached_split, tiny_overrides

from asr.config import AugmentConfig, FeatureConfig, load_config
from asr.data.batching import EpochPlan, pad_batch, tf_dataset
from asr.data.keras_stream import KerasBatches
from asr.data.splits import load_split
from asr.model.ctc import ctc_loss

EPOCHS = 5
# The subprocess: TensorFlow made unimportable before anything loads, then train and
# report the model's logits and per-utterance CTC loss on the first test utterances.
TRAIN_WITHOUT_TENSORFLOW = """
import json, sys
sys.modules["tensorflow"] = None  # any attempt to import TensorFlow fails
import keras, numpy as np
from asr.config import load_config
from asr.data.batching import pad_batch
from asr.data.splits import load_split
from asr.model.ctc import ctc_loss
from asr.training.trainer import train
cfg = load_config(None, json.loads(sys.argv[1]))
metrics = train(cfg)
model = keras.saving.load_model(cfg.resolved_run_dir + "/model.keras", safe_mode=True)
test = load_split(cfg.manifest("test"), cfg.data, cfg.features, model.tokenizer, model.time_reduction)
x, y = pad_batch(test.features[:4], test.labels[:4])
out = model(x, training=False)
loss = ctc_loss(y["labels"], y["label_lengths"], out["logits"], out["lengths"])
np.savez(sys.argv[2], logits=keras.ops.convert_to_numpy(out["logits"]), loss=keras.ops.convert_to_numpy(loss),
         lengths=keras.ops.convert_to_numpy(out["lengths"]))
print(json.dumps({"backend": keras.backend.backend(), "tensorflow": sys.modules.get("tensorflow") is not None}))
"""


def test_both_pipelines_give_the_same_batches_of_the_same_features(tmp_path):
    rng = np.random.default_rng(0)
    feats = [rng.normal(-8, 2, (int(n), 40)).astype(np.float32) for n in rng.integers(60, 140, 11)]
    labels = [[int(k) for k in rng.integers(1, 20, 6)] for _ in feats]
    split = cached_split(tmp_path, feats, labels)
    augment = AugmentConfig()  # every step on, masks included
    features = FeatureConfig(n_mels=40)
    tf_batches = tf_dataset(EpochPlan(split, 4, 3, features, augment, 2, 0.1))
    keras_batches = KerasBatches(EpochPlan(split, 4, 3, features, augment, 2, 0.1), workers=2)
    for epoch in range(2):  # each pass over the tf.data dataset is the next epoch, as model.fit runs it
        seen = list(tf_batches)
        assert len(seen) == len(keras_batches) == 3
        for k, (x, y) in enumerate(seen):
            kx, ky = keras_batches[k]
            for key in ("features", "feature_lengths"):
                np.testing.assert_array_equal(x[key].numpy(), kx[key])
            for key in ("labels", "label_lengths"):
                np.testing.assert_array_equal(y[key].numpy(), ky[key])
        keras_batches.on_epoch_end()
    masked = (kx["features"] == 0).all(axis=1).any() or (kx["features"] == 0).all(axis=2).any()
    assert masked  # augmentation did run


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_a_run_on_another_backend_learns_without_tensorflow(backend, corpus, tmp_path):
    pytest.importorskip(backend)
    run_dir = tmp_path / "run"
    overrides = tiny_overrides(corpus, run_dir, extra=[f"train.epochs={EPOCHS}"])
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", TRAIN_WITHOUT_TENSORFLOW, json.dumps(overrides),
                           str(tmp_path / "out.npz")], capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"backend": backend, "tensorflow": False}

    with open(run_dir / "logs" / "training.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    losses = [float(r["loss"]) for r in rows]
    assert len(losses) == EPOCHS and all(np.isfinite(losses))
    assert losses[-1] < 0.3 * losses[0], losses  # the threshold: as TensorFlow's run of this recipe reaches
    assert all(r["dev_wer"] != "" for r in rows)
    assert not (run_dir / "logs" / "tensorboard").exists()  # Keras writes those with TensorFlow

    # the saved model is an ordinary Keras file: TensorFlow (which exports) gives the same outputs and loss
    got = np.load(tmp_path / "out.npz")
    model = keras.saving.load_model(run_dir / "model.keras", safe_mode=True)
    cfg = load_config(None, overrides)
    test = load_split(cfg.manifest("test"), cfg.data, cfg.features, model.tokenizer, model.time_reduction)
    x, y = pad_batch(test.features[:4], test.labels[:4])
    out = model(x, training=False)
    np.testing.assert_array_equal(np.asarray(out["lengths"]), got["lengths"])
    np.testing.assert_allclose(np.asarray(out["logits"]), got["logits"], atol=2e-4)
    loss = ctc_loss(y["labels"], y["label_lengths"], out["logits"], out["lengths"])
    np.testing.assert_allclose(np.asarray(loss), got["loss"], rtol=1e-4)


def test_padding_to_a_multiple_changes_shapes_not_contents(tmp_path):
    rng = np.random.default_rng(1)
    feats = [rng.normal(-8, 2, (int(n), 40)).astype(np.float32) for n in (50, 61, 77, 90)]
    split = cached_split(tmp_path, feats, [[1, 2, 3], [4] * 9, [5, 6], [7]])
    plain = KerasBatches(EpochPlan(split, 4, 0, FeatureConfig(n_mels=40), None, 1, 0.1), pad_multiple=1)[0]
    padded = KerasBatches(EpochPlan(split, 4, 0, FeatureConfig(n_mels=40), None, 1, 0.1), pad_multiple=32)[0]
    assert plain[0]["features"].shape[1] == 90 and padded[0]["features"].shape[1] == 96
    assert plain[1]["labels"].shape[1] == 9 and padded[1]["labels"].shape[1] == 32
    np.testing.assert_array_equal(padded[0]["features"][:, :90], plain[0]["features"])
    assert not padded[0]["features"][:, 90:].any() and not padded[1]["labels"][:, 9:].any()
    for key in ("feature_lengths", "label_lengths"):
        np.testing.assert_array_equal(padded[0 if key == "feature_lengths" else 1][key],
                                      plain[0 if key == "feature_lengths" else 1][key])

"""Faults a long training or a batch transcription meets: a killed process, a
damaged checkpoint, a NaN loss, two trainings in one run directory, unsafe model
files. Each test checks that nothing good was lost and the error is clear."""

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import zipfile

import keras
import numpy as np
import pytest
from helpers import N_TRAIN, REPO, TINY_EPOCHS, copy_run, tiny_overrides

from asr.config import load_config
from asr.core.errors import ASRError, ModelError
from asr.training.checkpoints import CheckpointStore, RunLock
from asr.training.trainer import train

STEPS_PER_EPOCH = math.ceil(N_TRAIN / 8)


def read_rows(run):
    import csv

    with open(run / "logs" / "training.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def asr_cli(*args, **kwargs):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "asr", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def test_sigkill_mid_training_then_resume_continues_where_it_stopped(corpus, tmp_path):
    run = tmp_path / "killed"
    epochs = 6
    sets = [x for o in tiny_overrides(corpus, run, extra=[f"train.epochs={epochs}"]) for x in ("--set", o)]
    store = CheckpointStore(run / "checkpoints")
    config = tmp_path / "tiny.yaml"
    config.write_text("name: tiny\n")
    sets = ["--config", str(config), *sets]

    proc = asr_cli("train", *sets)
    deadline = time.monotonic() + 240
    while not store.epochs() or store.epochs()[0] < 2:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "training made no checkpoint in time"
        time.sleep(0.02)
    time.sleep(0.3)  # into the next epoch
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL

    done = store.epochs()[0]
    assert 2 <= done < epochs, "the kill should land before the last epoch"
    killed_rows = read_rows(run)
    last_loss = float(killed_rows[done - 1]["loss"])
    assert len(killed_rows) >= done

    leftover = run / "checkpoints" / f".epoch-{done + 1:04d}.tmp-1.keras"
    leftover.write_bytes(b"half a checkpoint")  # as if the kill had landed during a save

    proc = asr_cli("train", *sets, "--resume")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert f"resuming after epoch {done} (optimizer step {done * STEPS_PER_EPOCH})" in err

    rows = read_rows(run)
    resumed = [r for r in rows[done:] if int(r["epoch"]) >= done]
    assert [int(r["epoch"]) for r in resumed] == list(range(done, epochs))
    first_loss, fresh_loss = float(resumed[0]["loss"]), float(rows[0]["loss"])
    # in line with the last logged loss, far below where a fresh start begins
    assert first_loss < 1.3 * last_loss, (first_loss, last_loss)
    assert first_loss < 0.7 * fresh_loss, (first_loss, fresh_loss)
    model, state = store.load_latest()
    assert state["epoch"] == epochs
    assert int(model.optimizer.iterations) == epochs * STEPS_PER_EPOCH  # the schedule went on
    assert json.loads((run / "metrics.json").read_text())["epochs_run"] == epochs
    assert not leftover.exists()


def test_a_truncated_checkpoint_falls_back_to_the_one_before(trained_run, tmp_path, caplog):
    run = copy_run(trained_run.run_dir, tmp_path / "damaged")
    store = CheckpointStore(run / "checkpoints")
    newest = store.model_path(TINY_EPOCHS)
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])

    cfg = load_config(run / "config.yaml", [f"run_dir={run}", f"train.epochs={TINY_EPOCHS + 1}"])
    with caplog.at_level("INFO", logger="asr"):
        metrics = train(cfg, resume=True)
    assert f"checkpoint {newest} is unusable" in caplog.text
    assert f"resuming after epoch {TINY_EPOCHS - 1} " in caplog.text
    assert metrics.epochs_run == TINY_EPOCHS + 1
    model, state = store.load_latest()
    assert state["epoch"] == TINY_EPOCHS + 1
    # resumed after epoch N-1 and trained two more epochs: the step count says so
    assert int(model.optimizer.iterations) == (TINY_EPOCHS + 1) * STEPS_PER_EPOCH


def test_no_usable_checkpoint_is_a_clear_error(trained_run, tmp_path):
    run = copy_run(trained_run.run_dir, tmp_path / "all_damaged")
    store = CheckpointStore(run / "checkpoints")
    for epoch in store.epochs():
        store.model_path(epoch).write_bytes(b"PK\x03\x04 not really a zip")
    cfg = load_config(run / "config.yaml", [f"run_dir={run}"])
    with pytest.raises(ASRError, match="no usable checkpoint to resume from"):
        train(cfg, resume=True)


def test_a_nan_loss_stops_training_and_names_the_batch(corpus, tmp_path, monkeypatch):
    import asr.training.trainer

    real_load_split = asr.training.trainer.load_split
    poisoned = {}

    def load_split_with_a_nan(manifest, *args, **kwargs):
        split = real_load_split(manifest, *args, **kwargs)
        if not poisoned:  # the training split streams from the cache: spoil one entry there
            from asr.features.logmel import CACHE_KEY, load_cached

            entry = split.features[5].path
            raw = load_cached(entry)
            raw[3, 2] = np.nan
            np.savez(entry, **{CACHE_KEY: raw}, samples=np.int64(160 * (raw.shape[0] - 1)))
            poisoned["file"] = split.utterances[5].audio_filepath
        return split

    monkeypatch.setattr(asr.training.trainer, "load_split", load_split_with_a_nan)
    run = tmp_path / "nan"
    cfg = load_config(None, tiny_overrides(corpus, run, extra=[f"data.cache_dir={tmp_path / 'cache'}"]))  # own cache
    with pytest.raises(ASRError, match="loss became nan") as info:
        train(cfg)
    assert poisoned["file"] in str(info.value)
    assert "in epoch 1, step " in str(info.value) and "start again" in str(info.value)
    # nothing from the spoilt epoch was checkpointed
    assert CheckpointStore(run / "checkpoints").epochs() == []
    assert not (run / "checkpoints" / "best.keras").exists()


def test_a_second_training_in_the_same_run_dir_refuses(corpus, tmp_path):
    run = tmp_path / "locked"
    cfg = load_config(None, tiny_overrides(corpus, run))
    with RunLock(run):
        with pytest.raises(ASRError, match=f"pid {os.getpid()}"):
            train(cfg)
    assert not (run / "checkpoints").exists() or not CheckpointStore(run / "checkpoints").epochs()
    with RunLock(run):  # released: it can be taken again
        pass


def test_the_lock_is_released_when_its_holder_is_killed(tmp_path):
    code = ("import sys, time; sys.path.insert(0, sys.argv[1]); from asr.training.checkpoints import RunLock\n"
            "with RunLock(sys.argv[2]):\n    print('held', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(REPO), str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    with pytest.raises(ASRError, match="another training"):
        RunLock(tmp_path).__enter__()
    proc.kill()
    proc.wait()
    with RunLock(tmp_path):
        pass


# ----------------------------------------------------------------------------
# unsafe model files
# ----------------------------------------------------------------------------

def test_a_model_with_a_lambda_layer_is_refused(tmp_path):
    import asr

    marker = tmp_path / "ran"
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    path = tmp_path / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(ModelError, match="cannot load model") as info:
        asr.load(path)
    assert "lambda" in str(info.value).lower()
    assert not marker.exists()


def test_a_model_naming_an_unknown_class_is_refused(trained_run, tmp_path):
    import asr

    source = trained_run.run_dir / "model.keras"
    path = tmp_path / "evil.keras"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(path, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                config.update(module="os", class_name="system", registered_name="os>system")
                data = json.dumps(config).encode()
            zout.writestr(item, data)
    with pytest.raises(ModelError, match="cannot load model"):
        asr.load(path)


def test_nothing_in_the_package_unpickles_or_evaluates_code():
    sources = {p: p.read_text(encoding="utf-8") for p in (REPO / "asr").rglob("*.py")}
    for path, text in sources.items():
        for needle in ("import pickle", "allow_pickle=True", "yaml.load(", "yaml.unsafe_load", "torch.load(",
                       "safe_mode=False", "enable_unsafe_deserialization"):
            assert needle not in text, f"{path.name} contains {needle!r}"
        # the builtins, not methods such as torch's Module.eval() (which only switches dropout off)
        called = re.findall(r"(?<![\w.])(eval|exec)\(", text)
        assert not called, f"{path.name} calls {called[0]}()"


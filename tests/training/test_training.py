"""Training end to end on the tiny spoken-digits corpus: loss goes down, the run
directory is complete, bad manifest lines are skipped, and resume continues."""

import csv
import dataclasses
import json
import math

import keras
import numpy as np
import pytest
from helpers import N_TEST, N_TRAIN, TINY_EPOCHS, copy_run

from asr.config import load_config
from asr.core.errors import ASRError, ConfigError
from asr.model.ctc import CTCModel
from asr.text import Tokenizer
from asr.training.trainer import train

STEPS_PER_EPOCH = math.ceil(N_TRAIN / 8)  # batch_size=8 in the tiny recipe


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def last_model_path(run):
    return sorted((run / "checkpoints").glob("epoch-*.keras"))[-1]


def last_state(run):
    return json.loads(sorted((run / "checkpoints").glob("epoch-*.json"))[-1].read_text())


def test_loss_decreases(trained_run):
    rows = read_csv(trained_run.run_dir / "logs" / "training.csv")
    assert [int(r["epoch"]) for r in rows] == list(range(TINY_EPOCHS))
    losses = [float(r["loss"]) for r in rows]
    assert all(math.isfinite(x) and x > 0 for x in losses)
    # measured: ~107 → ~23 over 8 epochs (ratio ~0.21); 0.5 leaves a wide margin
    assert losses[-1] < 0.5 * losses[0], losses
    assert min(losses[-3:]) < min(losses[:3])


def test_run_directory_is_complete(trained_run):
    run = trained_run.run_dir
    for name in ("config.yaml", "tokenizer.json", "features.json", "model.keras", "metrics.json",
                 f"checkpoints/epoch-{TINY_EPOCHS:04d}.keras", f"checkpoints/epoch-{TINY_EPOCHS:04d}.json",
                 "checkpoints/best.keras",
                 "logs/training.csv", "logs/curves.png"):
        assert (run / name).is_file(), name
    assert (run / "logs" / "tensorboard").is_dir()
    assert (run / "logs" / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    header = (run / "logs" / "training.csv").read_text().splitlines()[0].split(",")
    assert header == ["epoch", "dev_cer", "dev_wer", "loss", "train_speed"]  # no empty val_ columns
    assert "NA" not in (run / "logs" / "training.csv").read_text()
    assert not list(run.rglob(".*tmp*")), "temporary files left behind"

    assert load_config(run / "config.yaml") == trained_run.cfg
    assert Tokenizer.load(run / "tokenizer.json") == Tokenizer(repeat_token=True)
    assert json.loads((run / "features.json").read_text()) == dataclasses.asdict(trained_run.cfg.features)

    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    assert isinstance(model, CTCModel)
    assert model.characters == Tokenizer().characters
    assert model.tokenizer == Tokenizer(repeat_token=True)  # the override travelled into the model
    assert model.features == trained_run.cfg.features
    assert model.features.n_mels == 40  # the override travelled into the model

    assert last_state(run)["epoch"] == TINY_EPOCHS
    # the newest two epochs are kept, older ones pruned
    assert sorted(p.name for p in (run / "checkpoints").glob("epoch-*")) == [
        f"epoch-{e:04d}.{ext}" for e in (TINY_EPOCHS - 1, TINY_EPOCHS) for ext in ("json", "keras")]


def test_metrics(trained_run):
    written = json.loads((trained_run.run_dir / "metrics.json").read_text())
    metrics = trained_run.metrics
    assert written == metrics.to_dict()
    assert list(written) == ["dev", "best_epoch", "epochs_run", "train_seconds_this_session", "train_audio_hours",
                             "replicas", "skipped", "parameters", "test"]  # metrics.json keeps its layout
    assert metrics.epochs_run == TINY_EPOCHS
    assert metrics.dev.utterances == 8
    assert metrics.test.utterances == N_TEST
    for split in ("dev", "test"):
        assert 0.0 <= getattr(metrics, split).cer and 0.0 <= getattr(metrics, split).wer
    assert metrics.parameters == keras.saving.load_model(trained_run.run_dir / "model.keras").count_params()
    # the best epoch is the one with the lowest dev WER in the log (first one on ties)
    rows = read_csv(trained_run.run_dir / "logs" / "training.csv")
    wers = [float(r["dev_wer"]) for r in rows]
    assert metrics.dev.wer == pytest.approx(min(wers))
    assert metrics.best_epoch == wers.index(min(wers)) + 1


def test_bad_manifest_lines_are_skipped_and_reported(trained_run):
    # the shared run trains on train_with_bad.jsonl: one line's audio is missing,
    # one line's text is Cyrillic; both are skipped, training still happens
    assert trained_run.metrics.skipped == {"train": 2, "dev": 0}
    assert last_state(trained_run.run_dir)["epoch"] == TINY_EPOCHS


def test_resume_continues_from_the_saved_epoch(trained_run, tmp_path):
    run = copy_run(trained_run.run_dir, tmp_path / "resumed")
    before_rows = read_csv(run / "logs" / "training.csv")
    before_steps = int(keras.saving.load_model(last_model_path(run)).optimizer.iterations)
    assert before_steps == TINY_EPOCHS * STEPS_PER_EPOCH

    more = TINY_EPOCHS + 2
    cfg = load_config(run / "config.yaml", [f"run_dir={run}", f"train.epochs={more}"])
    metrics = train(cfg, resume=True)

    assert metrics.epochs_run == more
    assert json.loads((run / "metrics.json").read_text())["epochs_run"] == more
    assert last_state(run)["epoch"] == more
    rows = read_csv(run / "logs" / "training.csv")
    assert [int(r["epoch"]) for r in rows] == list(range(more))  # rows appended, numbering continued
    assert rows[:TINY_EPOCHS] == before_rows
    # the optimizer state came back with the checkpoint: its step counter went on
    steps = int(keras.saving.load_model(last_model_path(run)).optimizer.iterations)
    assert steps == more * STEPS_PER_EPOCH
    # the shared run was not touched
    assert last_state(trained_run.run_dir)["epoch"] == TINY_EPOCHS


def test_resume_refuses_another_tokenizer(trained_run, tmp_path):
    run = copy_run(trained_run.run_dir, tmp_path / "other_tokenizer")
    assert Tokenizer.load(run / "tokenizer.json").repeat_token  # the shared run has a repeat token
    cfg = load_config(run / "config.yaml", [f"run_dir={run}", "tokenizer.repeat_token=false"])
    with pytest.raises(ConfigError, match="trained with tokenizer.repeat_token=true"):
        train(cfg, resume=True)


def test_existing_run_is_not_overwritten_without_resume(trained_run, tmp_path):
    run = copy_run(trained_run.run_dir, tmp_path / "existing")
    model_bytes = (run / "model.keras").read_bytes()
    cfg = load_config(run / "config.yaml", [f"run_dir={run}"])
    with pytest.raises(ASRError, match="resume"):
        train(cfg)
    assert (run / "model.keras").read_bytes() == model_bytes


def test_resume_without_a_checkpoint_fails(corpus, tmp_path):
    cfg = load_config(None, [f"run_dir={tmp_path / 'fresh'}", f"data.train_manifest={corpus.train}"])
    with pytest.raises(ASRError, match="nothing to resume"):
        train(cfg, resume=True)


def test_learning_curves_read_the_log(trained_run, tmp_path):
    from asr.training.curves import plot_learning_curves, read_curves

    rows = read_csv(trained_run.run_dir / "logs" / "training.csv")
    curves = read_curves(trained_run.run_dir / "logs" / "training.csv")
    assert curves["loss"] == [(int(r["epoch"]) + 1, float(r["loss"])) for r in rows]
    assert [v for _, v in curves["dev_wer"]] == [float(r["dev_wer"]) for r in rows]

    # a resumed run repeats an epoch; NaN and missing values are left out
    log = tmp_path / "training.csv"
    log.write_text("epoch,dev_cer,dev_wer,loss\n0,0.9,1.0,90\n1,0.5,0.8,nan\n1,0.4,0.7,60\n2,NA,NA,50\n")
    curves = read_curves(log)
    assert curves == {"loss": [(1, 90.0), (2, 60.0), (3, 50.0)], "dev_wer": [(1, 1.0), (2, 0.7)],
                      "dev_cer": [(1, 0.9), (2, 0.4)]}
    png = plot_learning_curves(log, tmp_path / "curves.png", title="resumed")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and not list(tmp_path.glob(".*tmp*"))


def test_learning_curves_show_wer_where_cer_equals_it(tmp_path):
    """A warm-up's 100 % WER and 100 % CER: the CER line must not hide the WER line."""
    from matplotlib.image import imread

    from asr.training.curves import plot_learning_curves

    log = tmp_path / "training.csv"
    log.write_text("epoch,dev_cer,dev_wer,loss\n" + "".join(f"{e},1.0,1.0,{90 - e}\n" for e in range(6)))
    pixels = imread(plot_learning_curves(log, tmp_path / "curves.png"))[..., :3]

    def count(rgb: str) -> int:
        target = np.array([int(rgb[i:i + 2], 16) / 255 for i in (0, 2, 4)])
        return int((np.abs(pixels - target).max(axis=-1) < 0.02).sum())

    assert count("d62728") > 300 and count("ff7f0e") > 100  # tab:red (WER) and tab:orange (CER) both visible

"""Training: data → model → Adam with warm-up and cosine decay → checkpoints,
dev WER each epoch, best model by dev WER, early stopping, resume.

A run directory holds::

    config.yaml        the config this run used
    tokenizer.json     the tokenizer (also inside model.keras)
    features.json      the feature settings (also inside model.keras)
    checkpoints/       last.keras + state.json (every epoch), best.keras
    logs/              training.csv and TensorBoard events
    model.keras        the best model, without optimizer state
    metrics.json       dev and test WER/CER, epochs, timings
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
import time
from pathlib import Path

import keras

from asr.config import Config, save_config
from asr.data import Split, atomic_write_text, load_split, training_dataset
from asr.errors import ASRError
from asr.inference import MODEL_FILE, Recognizer
from asr.metrics import error_rates
from asr.model import CTCModel, build_model, time_reduction
from asr.text import Tokenizer

log = logging.getLogger("asr")


def save_model(model: CTCModel, path: str | os.PathLike) -> Path:
    """Save a model for inference (weights and config, no optimizer), atomically."""
    clean = CTCModel.from_config(model.get_config())
    clean.set_weights(model.get_weights())
    _save_checkpoint(clean, Path(path))
    return Path(path)


def _save_checkpoint(model: keras.Model, path: Path) -> None:
    """``model.save`` to a temporary file, then rename: a crash never leaves half a file."""
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.keras")
    model.save(tmp)
    os.replace(tmp, path)


class DevEvaluation(keras.callbacks.Callback):
    """Adds ``dev_wer``, ``dev_cer`` and ``train_speed`` (audio s per wall s) to each epoch's logs."""

    def __init__(self, dev: Split, train_audio_seconds: float, batch_size: int):
        super().__init__()
        self.dev = dev
        self.train_audio_seconds = train_audio_seconds
        self.batch_size = batch_size
        self._recognizer = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        logs["train_speed"] = self.train_audio_seconds / (time.perf_counter() - self._start)
        if self._recognizer is None:  # built once: it holds the traced forward pass
            self._recognizer = Recognizer(self.model)
        hyps = self._recognizer.decode(self._recognizer.logits(self.dev.features, self.batch_size))
        rates = error_rates(self.dev.texts, hyps)
        logs["dev_wer"], logs["dev_cer"] = rates["wer"], rates["cer"]
        log.info(f"epoch {epoch + 1}: dev WER {rates['wer']:.2%}  CER {rates['cer']:.2%}  "
                 f"speed {logs['train_speed']:.0f}x real time")


class CheckpointAndStop(keras.callbacks.Callback):
    """Every epoch: save ``last.keras`` and ``state.json`` (atomically), keep
    ``best.keras`` by dev WER, and stop after ``patience`` epochs without improvement.

    Args:
        folder: the checkpoints folder.
        patience: epochs without a better dev WER before stopping.
        state: the saved state to resume from (``{"epoch", "best_wer", "best_epoch", "wait"}``).
    """

    def __init__(self, folder: Path, patience: int, state: dict | None = None):
        super().__init__()
        self.folder = folder
        self.patience = patience
        self.state = state or {"epoch": 0, "best_wer": None, "best_epoch": None, "wait": 0}

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        wer = logs.get("dev_wer")
        best = self.state["best_wer"]
        if wer is not None and (best is None or wer < best):
            self.state.update(best_wer=float(wer), best_cer=float(logs["dev_cer"]), best_epoch=epoch + 1, wait=0)
            _save_checkpoint(self.model, self.folder / "best.keras")
        else:
            self.state["wait"] += 1
        self.state["epoch"] = epoch + 1
        _save_checkpoint(self.model, self.folder / "last.keras")
        atomic_write_text(self.folder / "state.json", json.dumps(self.state, indent=2))
        if self.state["wait"] >= self.patience:
            log.info(f"early stopping: no dev WER improvement in {self.patience} epochs")
            self.model.stop_training = True


def _optimizer(cfg: Config, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    total = max(cfg.train.epochs * steps_per_epoch, cfg.train.warmup_steps + 1)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        warmup_target=cfg.train.learning_rate,
        warmup_steps=cfg.train.warmup_steps,
        decay_steps=total - cfg.train.warmup_steps,
        alpha=cfg.train.min_learning_rate / cfg.train.learning_rate,
    )
    return keras.optimizers.Adam(schedule, clipnorm=cfg.train.clipnorm)


def _prepare_run_dir(cfg: Config, resume: bool) -> tuple[Path, dict | None]:
    run_dir = Path(cfg.resolved_run_dir)
    state_file = run_dir / "checkpoints" / "state.json"
    if resume:
        if not state_file.is_file():
            raise ASRError(f"{run_dir}: nothing to resume (no checkpoints/state.json)")
        return run_dir, json.loads(state_file.read_text())
    if state_file.exists() or (run_dir / MODEL_FILE).exists():
        raise ASRError(f"{run_dir}: run directory already holds a run; pass --resume, or set run_dir")
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    return run_dir, None


def train(cfg: Config, resume: bool = False) -> dict:
    """Train the model a config describes, in its run directory.

    Args:
        cfg: the recipe.
        resume: continue from ``checkpoints/last.keras`` (optimizer state,
            schedule position and epoch counter included).

    Returns:
        The ``metrics.json`` contents.
    """
    run_dir, state = _prepare_run_dir(cfg, resume)
    keras.utils.set_random_seed(cfg.train.seed)
    tokenizer = Tokenizer()
    save_config(cfg, run_dir / "config.yaml")
    tokenizer.save(run_dir / "tokenizer.json")
    atomic_write_text(run_dir / "features.json", json.dumps(dataclasses.asdict(cfg.features), indent=2))

    reduction = time_reduction(cfg.model)
    splits = {}
    for name in ("train", "dev"):
        splits[name] = load_split(cfg.manifest(name), cfg.data, cfg.features, tokenizer, reduction)
        if not len(splits[name]):
            raise ASRError(f"{cfg.manifest(name)}: no usable utterances")
        log.info(f"{name}: {len(splits[name])} utterances, {splits[name].audio_seconds / 3600:.2f} h, "
                 f"{len(splits[name].skipped)} skipped")
    train_split, dev_split = splits["train"], splits["dev"]

    initial_epoch = int(state["epoch"]) if state else 0
    # seeded by epoch, so a resumed run sees the batches an uninterrupted one would
    dataset = training_dataset(train_split, cfg.train.batch_size, cfg.train.seed + initial_epoch,
                               cfg.train.augment)
    if state is None:
        model = build_model(cfg.model, cfg.features, tokenizer)
        model.compile(optimizer=_optimizer(cfg, int(dataset.cardinality())))
    else:
        model = keras.saving.load_model(run_dir / "checkpoints" / "last.keras", safe_mode=True)
        log.info(f"resuming after epoch {initial_epoch} (optimizer step {int(model.optimizer.iterations)})")

    logs_dir = run_dir / "logs"
    callbacks = [
        DevEvaluation(dev_split, train_split.audio_seconds, cfg.train.batch_size),
        CheckpointAndStop(run_dir / "checkpoints", cfg.train.early_stopping_patience, state),
        keras.callbacks.CSVLogger(str(logs_dir / "training.csv"), append=resume),
        keras.callbacks.TensorBoard(str(logs_dir / "tensorboard"), update_freq=cfg.train.log_every_steps),
    ]
    logs_dir.mkdir(exist_ok=True)
    start = time.perf_counter()
    if initial_epoch < cfg.train.epochs and not (state and state["wait"] >= cfg.train.early_stopping_patience):
        model.fit(dataset, epochs=cfg.train.epochs, initial_epoch=initial_epoch, callbacks=callbacks, shuffle=False,
                  verbose=1 if sys.stdout.isatty() else 2)
    seconds = time.perf_counter() - start
    state = callbacks[1].state

    best = keras.saving.load_model(run_dir / "checkpoints" / "best.keras", safe_mode=True)
    save_model(best, run_dir / MODEL_FILE)
    metrics = {
        "dev": {"wer": state["best_wer"], "cer": state.get("best_cer"), "utterances": len(dev_split)},
        "best_epoch": state["best_epoch"],
        "epochs_run": state["epoch"],
        "train_seconds_this_session": round(seconds, 1),
        "train_audio_hours": round(train_split.audio_seconds / 3600, 3),
        "skipped": {"train": len(train_split.skipped), "dev": len(dev_split.skipped)},
        "parameters": int(best.count_params()),
    }
    test_manifest = cfg.manifest("test")
    if Path(test_manifest).is_file():
        from asr.evaluation import evaluate

        result = evaluate(Recognizer(best), test_manifest, cfg.data)
        metrics["test"] = {k: result[k] for k in ("wer", "cer", "rtf", "utterances", "skipped")}
    atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    skipped = metrics["skipped"]["train"] + metrics["skipped"]["dev"]
    if skipped:
        log.warning(f"{skipped} manifest lines were skipped (see the warnings above)")
    return metrics

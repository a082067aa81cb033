"""Training: data → model → Adam with warm-up and cosine decay → checkpoints,
dev WER each epoch, best model by dev WER, early stopping, resume.

A run directory holds::

    config.yaml        the config this run used
    tokenizer.json     the tokenizer (also inside model.keras)
    features.json      the feature settings (also inside model.keras)
    checkpoints/       epoch-NNNN.keras + epoch-NNNN.json (the newest two epochs), best.keras
    logs/              training.csv, TensorBoard events, curves.png (loss and dev WER/CER per epoch)
    model.keras        the best model, without optimizer state, float32 whatever train.precision
    metrics.json       dev and test WER/CER, epochs, timings
    train.lock         held while a training runs in this directory

``train.distribution`` spreads each global batch over several devices or
machines (``asr.distribute``); in a multi-worker run only the chief writes here.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import keras

from asr.checkpoints import CheckpointStore, RunLock, atomic_save_model
from asr.config import Config, save_config
from asr.data import Split, atomic_write_text, load_split, training_dataset
from asr.distribute import ReplicaAdam, ReplicaLossScaleOptimizer, agree, is_chief, make_strategy, task_name
from asr.errors import ASRError, ConfigError
from asr.inference import MODEL_FILE, Recognizer
from asr.metrics import error_rates
from asr.model import CTCModel, build_model, float32_copy, precision_of
from asr.text import Tokenizer

if TYPE_CHECKING:
    import tensorflow as tf

log = logging.getLogger("asr")


def save_model(model: CTCModel, path: str | Path) -> Path:
    """Save a model for inference (weights and config, no optimizer, float32), atomically."""
    atomic_save_model(float32_copy(model), Path(path))
    return Path(path)


def _finite_loss(logs: dict | None) -> bool:
    return logs is not None and math.isfinite(float(logs.get("loss", 0.0)))


class DevEvaluation(keras.callbacks.Callback):
    """Adds ``dev_wer``, ``dev_cer`` and ``train_speed`` (audio s per wall s) to each epoch's logs.

    In a multi-worker run every worker decodes the dev set and the rates are
    averaged over the workers (``asr.distribute.agree``), so that all of them
    take the same early-stopping and best-model decisions.
    """

    def __init__(self, dev: Split, train_audio_seconds: float, batch_size: int):
        super().__init__()
        self.dev = dev
        self.train_audio_seconds = train_audio_seconds
        self.batch_size = batch_size
        self._recognizer = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if not _finite_loss(logs):
            return
        logs["train_speed"] = self.train_audio_seconds / (time.perf_counter() - self._start)
        if self._recognizer is None:  # built once: it holds the traced forward pass
            self._recognizer = Recognizer(self.model)
        hyps = self._recognizer.decode(self._recognizer.logits(self.dev.features, self.batch_size))
        rates = agree(self.model.distribute_strategy, error_rates(self.dev.texts, hyps))
        logs["dev_wer"], logs["dev_cer"] = rates["wer"], rates["cer"]
        log.info(f"epoch {epoch + 1}: dev WER {rates['wer']:.2%}  CER {rates['cer']:.2%}  "
                 f"speed {logs['train_speed']:.0f}x real time")


class CheckpointAndStop(keras.callbacks.Callback):
    """Every epoch: save a checkpoint (model, optimizer and state), keep
    ``best.keras`` by dev WER, and stop after ``patience`` epochs without improvement.

    Args:
        store: the run's ``CheckpointStore``.
        patience: epochs without a better dev WER before stopping.
        state: the saved state to resume from (``{"epoch", "best_wer", "best_epoch", "wait"}``).
    """

    def __init__(self, store: CheckpointStore, patience: int, state: dict | None = None):
        super().__init__()
        self.store = store
        self.patience = patience
        self.state = state or {"epoch": 0, "best_wer": None, "best_epoch": None, "wait": 0}

    def on_epoch_end(self, epoch, logs=None):
        if not _finite_loss(logs):
            return  # never checkpoint weights a non-finite loss may have spoilt
        wer = logs.get("dev_wer")
        best = self.state["best_wer"]
        if wer is not None and (best is None or wer < best):
            self.state.update(best_wer=float(wer), best_cer=float(logs["dev_cer"]), best_epoch=epoch + 1, wait=0)
            atomic_save_model(self.model, self.store.folder / "best.keras")
        else:
            self.state["wait"] += 1
        self.state["epoch"] = epoch + 1
        self.store.save(self.model, self.state)
        if self.state["wait"] >= self.patience:
            log.info(f"early stopping: no dev WER improvement in {self.patience} epochs")
            self.model.stop_training = True


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training at the first batch whose loss is NaN or infinite and names its utterances.

    Args:
        split: the training utterances.
        batches: the dataset's record of each batch's utterance indices, this epoch.
    """

    def __init__(self, split: Split, batches: list[list[int]]):
        super().__init__()
        self.split = split
        self.batches = batches
        self.epoch = 0
        self.message: str | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.message is None and not _finite_loss(logs):
            files = [self.split.utterances[i].audio_filepath for i in self.batches[batch]]
            self.message = (f"the training loss became {float(logs['loss'])} in epoch {self.epoch + 1}, "
                            f"step {batch + 1}; that batch's utterances: {', '.join(files)}")
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
    optimizer = ReplicaAdam(schedule, clipnorm=cfg.train.clipnorm)  # Keras's Adam, clipping the global gradient
    if cfg.train.precision == "mixed_float16":  # float16 gradients underflow without a (dynamic) loss scale
        return ReplicaLossScaleOptimizer(optimizer)
    return optimizer


def _draw_curves(logs_dir: Path, name: str) -> None:
    """``logs/curves.png`` from ``logs/training.csv``; a failure to draw never fails the run."""
    from asr.plots import plot_learning_curves

    try:
        plot_learning_curves(logs_dir / "training.csv", logs_dir / "curves.png", title=name)
    except (OSError, ValueError) as exc:
        log.warning(f"learning curves not drawn ({exc})")


def _check_run_dir(run_dir: Path, store: CheckpointStore, resume: bool) -> None:
    if resume and not store.epochs():
        raise ASRError(f"{run_dir}: nothing to resume (no checkpoints)")
    if not resume and (store.epochs() or (run_dir / MODEL_FILE).exists()):
        raise ASRError(f"{run_dir}: run directory already holds a run; pass --resume, or set run_dir")


def train(cfg: Config, resume: bool = False, strategy: tf.distribute.Strategy | None = None) -> dict:
    """Train the model a config describes, in its run directory.

    The model is built (or the checkpoint loaded) and compiled under the scope of
    the ``tf.distribute`` strategy ``train.distribution`` names. In a multi-worker
    run every worker calls this; only the chief writes the run directory. Another
    worker reads the checkpoints to resume from in its own ``run_dir`` (a shared
    folder, or a copy of the chief's), writes what the chief would to a temporary
    folder removed at the end, and returns ``{"task": "worker 1", "epochs_run": N}``.

    Args:
        cfg: the recipe.
        resume: continue from the newest usable checkpoint (optimizer state,
            schedule position and epoch counter included).
        strategy: the strategy to train under, for a program that made it
            itself (a multi-worker strategy must be made before TensorFlow runs
            anything, and once per process); default: ``make_strategy(cfg.train)``.

    Returns:
        The ``metrics.json`` contents.
    """
    # first thing: a multi-worker strategy sets up the runtime's collective ops at start-up
    if strategy is None:
        strategy = make_strategy(cfg.train)
    run_dir = Path(cfg.resolved_run_dir)
    if is_chief(strategy):
        with RunLock(run_dir):
            return _train(cfg, strategy, run_dir, run_dir, resume)
    with tempfile.TemporaryDirectory(prefix=f"asr-{task_name(strategy).replace(' ', '')}-") as scratch:
        return _train(cfg, strategy, run_dir, Path(scratch), resume)


def _train(cfg: Config, strategy: tf.distribute.Strategy, run_dir: Path, out_dir: Path, resume: bool) -> dict:
    """Train, reading checkpoints from ``run_dir`` and writing to ``out_dir`` (the
    same folder, except on a multi-worker run's non-chief workers)."""
    chief = out_dir == run_dir
    store = CheckpointStore(run_dir / "checkpoints")
    _check_run_dir(run_dir, store, resume)
    if chief:
        for path in store.remove_stale_temporaries():
            log.info(f"removed {path.name}, left behind by an interrupted save")
    keras.utils.set_random_seed(cfg.train.seed)
    tokenizer = Tokenizer(repeat_token=cfg.tokenizer.repeat_token)
    with strategy.scope():  # the variables (optimizer's included) become the strategy's
        model, state = store.load_latest() if resume else (None, None)
    if model is not None and precision_of(model) != cfg.train.precision:
        raise ConfigError(f"{run_dir}: its checkpoints were trained with train.precision={precision_of(model)}, "
                          f"not {cfg.train.precision}; resume with that setting, or start a new run_dir")
    if model is not None and model.tokenizer != tokenizer:
        raise ConfigError(f"{run_dir}: its checkpoints were trained with tokenizer.repeat_token="
                          f"{str(model.repeat_token).lower()}; resume with that setting, or start a new run_dir")
    save_config(cfg, out_dir / "config.yaml")
    tokenizer.save(out_dir / "tokenizer.json")
    atomic_write_text(out_dir / "features.json", json.dumps(dataclasses.asdict(cfg.features), indent=2))

    splits = {}
    for name in ("train", "dev"):
        splits[name] = load_split(cfg.manifest(name), cfg.data, cfg.features, tokenizer,
                                  cfg.model.time_reduction, stream=name == "train")
        if not len(splits[name]):
            raise ASRError(f"{cfg.manifest(name)}: no usable utterances")
        log.info(f"{name}: {len(splits[name])} utterances, {splits[name].audio_seconds / 3600:.2f} h, "
                 f"{len(splits[name].skipped)} skipped")
    train_split, dev_split = splits["train"], splits["dev"]

    initial_epoch = int(state["epoch"]) if state else 0
    replicas = strategy.num_replicas_in_sync
    batches: list[list[int]] = []  # the dataset records each batch's utterances here
    # seeded by epoch, so a resumed run sees the batches an uninterrupted one would
    dataset = training_dataset(train_split, cfg.train.batch_size, cfg.train.seed + initial_epoch,
                               cfg.features, cfg.train.augment, cfg.model.time_reduction, record=batches,
                               replicas=replicas, length_jitter=cfg.train.length_jitter)
    if model is None:
        with strategy.scope():
            model = build_model(cfg.model, cfg.features, tokenizer, cfg.train.precision)
            model.compile(optimizer=_optimizer(cfg, int(dataset.cardinality())))
    else:
        log.info(f"resuming after epoch {initial_epoch} (optimizer step {int(model.optimizer.iterations.numpy())})")
    if replicas > 1 or not chief:
        log.info(f"{task_name(strategy)}: {replicas} replicas share each global batch of "
                 f"{cfg.train.batch_size}" + ("" if chief else f"; this worker writes only to {out_dir}"))
    if cfg.train.batch_size % replicas:
        log.warning(f"train.batch_size {cfg.train.batch_size} is not a multiple of the {replicas} replicas: the "
                    "gradient is still the whole batch's, but Keras's logged loss leans towards the larger parts")

    logs_dir = out_dir / "logs"
    logs_dir.mkdir(exist_ok=True)
    guard = StopOnNonFiniteLoss(train_split, batches)
    saves = store if chief else CheckpointStore(out_dir / "checkpoints")
    checkpoints = CheckpointAndStop(saves, cfg.train.early_stopping_patience, state)
    callbacks = [
        guard,
        DevEvaluation(dev_split, train_split.audio_seconds, cfg.train.batch_size),
        checkpoints,
        keras.callbacks.CSVLogger(str(logs_dir / "training.csv"), append=resume),
        keras.callbacks.TensorBoard(str(logs_dir / "tensorboard"), update_freq=cfg.train.log_every_steps),
    ]
    start = time.perf_counter()
    if initial_epoch < cfg.train.epochs and not (state and state["wait"] >= cfg.train.early_stopping_patience):
        model.fit(dataset, epochs=cfg.train.epochs, initial_epoch=initial_epoch, callbacks=callbacks, shuffle=False,
                  verbose=1 if sys.stdout.isatty() else 2)
    if guard.message:
        saved = store.epochs()
        then = (f"then continue from epoch {saved[0]} with --resume" if saved
                else "then start again (no epoch was completed)")
        raise ASRError(f"{guard.message}. Nothing from that epoch was saved: check or remove them, {then}")
    seconds = time.perf_counter() - start
    state = checkpoints.state
    if not chief:
        return {"task": task_name(strategy), "epochs_run": state["epoch"]}
    _draw_curves(logs_dir, cfg.name)

    # float32 for the test evaluation and model.keras, whatever precision it was trained in
    best = float32_copy(keras.saving.load_model(run_dir / "checkpoints" / "best.keras", safe_mode=True))
    atomic_save_model(best, run_dir / MODEL_FILE)  # float32_copy has left the optimizer out already
    metrics = {
        "dev": {"wer": state["best_wer"], "cer": state.get("best_cer"), "utterances": len(dev_split)},
        "best_epoch": state["best_epoch"],
        "epochs_run": state["epoch"],
        "train_seconds_this_session": round(seconds, 1),
        "train_audio_hours": round(train_split.audio_seconds / 3600, 3),
        "replicas": replicas,
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

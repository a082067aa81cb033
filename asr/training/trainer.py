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
machines (``asr.training.distribute``); in a multi-worker run only the chief writes here.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import keras

from asr.config import Config, save_config, save_json
from asr.core.atomic import atomic_write_text
from asr.core.errors import ASRError, ConfigError
from asr.data.batching import training_dataset
from asr.data.splits import Split, load_split
from asr.evaluation.evaluate import evaluate
from asr.inference.backends import KerasBackend
from asr.inference.loading import MODEL_FILE
from asr.inference.recognizer import Recognizer
from asr.model.ctc import CTCModel, build_model, float32_copy, precision_of
from asr.text import Tokenizer
from asr.training.curves import plot_learning_curves
from asr.training.results import DevScore, TestScore, TrainResult, WorkerResult
from asr.training.callbacks import CheckpointAndStop, DevEvaluation, EpochLog, StopOnNonFiniteLoss
from asr.training.checkpoints import CheckpointStore, RunLock, atomic_save_model
from asr.training.init_from import freeze_lower_blocks, initialise_from
from asr.training.distribute import ReplicaAdam, ReplicaLossScaleOptimizer, is_chief, make_strategy, task_name

if TYPE_CHECKING:
    import tensorflow as tf  # lazily: `import asr` and the TFLite path never load TensorFlow

log = logging.getLogger("asr")


def save_model(model: CTCModel, path: str | Path) -> Path:
    """Save a model for inference (weights and config, no optimizer, float32), atomically."""
    atomic_save_model(float32_copy(model), Path(path))
    return Path(path)


def _optimizer(cfg: Config, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    steps = cfg.train.epochs * steps_per_epoch
    if cfg.train.warmup_steps * 2 > steps:
        log.warning(f"train.warmup_steps {cfg.train.warmup_steps} is more than half of this run's {steps} steps: "
                    "the learning rate stays low for most of it (and dev WER may stay at 100 %); set "
                    f"train.warmup_steps to about {max(1, steps // 10)}")
    total = max(steps, cfg.train.warmup_steps + 1)
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
    try:
        plot_learning_curves(logs_dir / "training.csv", logs_dir / "curves.png", title=name)
    except (OSError, ValueError) as exc:
        log.warning(f"learning curves not drawn ({exc})")


def _check_run_dir(run_dir: Path, store: CheckpointStore, resume: bool) -> None:
    if resume and not store.epochs():
        raise ASRError(f"{run_dir}: nothing to resume (no checkpoints)")
    if not resume and (store.epochs() or (run_dir / MODEL_FILE).exists()):
        raise ASRError(f"{run_dir}: run directory already holds a run; pass --resume, or set run_dir")


def train(cfg: Config, resume: bool = False,
          strategy: tf.distribute.Strategy | None = None) -> TrainResult | WorkerResult:
    """Train the model a config describes, in its run directory.

    The model is built (or the checkpoint loaded) and compiled under the scope of
    the ``tf.distribute`` strategy ``train.distribution`` names. In a multi-worker
    run every worker calls this; only the chief writes the run directory. Another
    worker reads the checkpoints to resume from in its own ``run_dir`` (a shared
    folder, or a copy of the chief's), writes what the chief would to a temporary
    folder removed at the end, and returns a ``WorkerResult``.

    Args:
        cfg: the recipe.
        resume: continue from the newest usable checkpoint (optimizer state,
            schedule position and epoch counter included).
        strategy: the strategy to train under, for a program that made it
            itself (a multi-worker strategy must be made before TensorFlow runs
            anything, and once per process); default: ``make_strategy(cfg.train)``.

    Returns:
        A ``TrainResult`` (``asr.training.results``; its ``to_dict()`` is ``metrics.json``).
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


def _train(cfg: Config, strategy: tf.distribute.Strategy, run_dir: Path, out_dir: Path,
           resume: bool) -> TrainResult | WorkerResult:
    """Train, reading checkpoints from ``run_dir`` and writing to ``out_dir`` (the
    same folder, except on a multi-worker run's non-chief workers)."""
    chief = out_dir == run_dir
    store = CheckpointStore(run_dir / "checkpoints")
    model, state, tokenizer = _start_run(cfg, strategy, store, run_dir, out_dir, resume)
    train_split, dev_split = _load_splits(cfg, tokenizer)
    initial_epoch = int(state["epoch"]) if state else 0
    batches: list[list[int]] = []  # the dataset records each batch's utterances here
    # seeded by epoch, so a resumed run sees the batches an uninterrupted one would
    dataset = training_dataset(train_split, cfg.train.batch_size, cfg.train.seed + initial_epoch,
                               cfg.features, cfg.train.augment, cfg.model.time_reduction, record=batches,
                               replicas=strategy.num_replicas_in_sync, length_jitter=cfg.train.length_jitter)
    model = _build_or_resume(cfg, strategy, model, tokenizer, int(dataset.cardinality()), initial_epoch, out_dir)
    guard = StopOnNonFiniteLoss(train_split, batches)
    checkpoints = CheckpointAndStop(store if chief else CheckpointStore(out_dir / "checkpoints"),
                                    cfg.train.early_stopping_patience, state)
    callbacks = [guard, DevEvaluation(dev_split, train_split.audio_seconds, cfg.train.batch_size), checkpoints,
                 *_loggers(cfg, out_dir / "logs", resume)]
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
        return WorkerResult(task_name(strategy), state["epoch"])
    _draw_curves(out_dir / "logs", cfg.name)
    return _finish_run(cfg, run_dir, state, train_split, dev_split, seconds, strategy.num_replicas_in_sync)


def _start_run(cfg: Config, strategy, store: CheckpointStore, run_dir: Path, out_dir: Path, resume: bool):
    """Check the run directory, seed, load the checkpoint to resume from (``(None, None)``
    when starting), refuse one trained with other settings, and write the run's
    settings. Returns ``(model or None, state or None, tokenizer)``."""
    _check_run_dir(run_dir, store, resume)
    if out_dir == run_dir:
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
    save_json(cfg.features, out_dir / "features.json")
    return model, state, tokenizer


def _load_splits(cfg: Config, tokenizer: Tokenizer) -> tuple[Split, Split]:
    """The training split (streamed from the feature cache) and the dev split (in memory)."""
    splits = {}
    for name in ("train", "dev"):
        splits[name] = load_split(cfg.manifest(name), cfg.data, cfg.features, tokenizer,
                                  cfg.model.time_reduction, stream=name == "train")
        if not len(splits[name]):
            raise ASRError(f"{cfg.manifest(name)}: no usable utterances")
        log.info(f"{name}: {len(splits[name])} utterances, {splits[name].audio_seconds / 3600:.2f} h, "
                 f"{len(splits[name].skipped)} skipped")
    return splits["train"], splits["dev"]


def _build_or_resume(cfg: Config, strategy, model: CTCModel | None, tokenizer: Tokenizer, steps_per_epoch: int,
                     initial_epoch: int, out_dir: Path) -> CTCModel:
    """A new compiled model under the strategy's scope (from ``train.init_from``'s weights
    when set), or the resumed one; says how the batch is shared."""
    if model is None:
        with strategy.scope():
            model = build_model(cfg.model, cfg.features, tokenizer, cfg.train.precision)
            if cfg.train.init_from is not None:
                initialise_from(model, cfg)
                freeze_lower_blocks(model, cfg.train.freeze_blocks)
            model.compile(optimizer=_optimizer(cfg, steps_per_epoch))  # after freezing: Keras collects trainables here
    else:
        log.info(f"resuming after epoch {initial_epoch} (optimizer step {int(model.optimizer.iterations.numpy())})")
    replicas, chief = strategy.num_replicas_in_sync, is_chief(strategy)
    if replicas > 1 or not chief:
        log.info(f"{task_name(strategy)}: {replicas} replicas share each global batch of "
                 f"{cfg.train.batch_size}" + ("" if chief else f"; this worker writes only to {out_dir}"))
    if cfg.train.batch_size % replicas:
        log.warning(f"train.batch_size {cfg.train.batch_size} is not a multiple of the {replicas} replicas: the "
                    "gradient is still the whole batch's, but Keras's logged loss leans towards the larger parts")
    return model


def _loggers(cfg: Config, logs_dir: Path, resume: bool) -> list[keras.callbacks.Callback]:
    """The CSV log (appended to on resume) and, on TensorFlow, TensorBoard events, in
    ``logs_dir`` (Keras writes those with TensorFlow, which other backends need not have)."""
    logs_dir.mkdir(exist_ok=True)
    loggers: list[keras.callbacks.Callback] = [EpochLog(str(logs_dir / "training.csv"), append=resume)]
    if keras.backend.backend() == "tensorflow":
        loggers.append(keras.callbacks.TensorBoard(str(logs_dir / "tensorboard"),
                                                   update_freq=cfg.train.log_every_steps))
    return loggers


def _finish_run(cfg: Config, run_dir: Path, state: dict, train_split: Split, dev_split: Split, seconds: float,
                replicas: int) -> TrainResult:
    """Save the best model as float32 ``model.keras``, evaluate it on the test manifest
    when there is one, and write ``metrics.json``."""
    best = float32_copy(keras.saving.load_model(run_dir / "checkpoints" / "best.keras", safe_mode=True))
    atomic_save_model(best, run_dir / MODEL_FILE)  # float32_copy has left the optimizer out already
    test = None
    if cfg.manifest("test") is not None and Path(cfg.manifest("test")).is_file():
        result = evaluate(Recognizer(KerasBackend(best)), cfg.manifest("test"), cfg.data)
        test = TestScore(result.wer, result.cer, result.rtf, result.utterances, result.skipped,
                         {name: dataclasses.asdict(rates) for name, rates in result.by_sentence.items()})
    metrics = TrainResult(
        dev=DevScore(state["best_wer"], state.get("best_cer"), len(dev_split)),
        best_epoch=state["best_epoch"],
        epochs_run=state["epoch"],
        train_seconds_this_session=round(seconds, 1),
        train_audio_hours=round(train_split.audio_seconds / 3600, 3),
        replicas=replicas,
        skipped={"train": len(train_split.skipped), "dev": len(dev_split.skipped)},
        parameters=int(best.count_params()),
        test=test,
    )
    atomic_write_text(run_dir / "metrics.json", json.dumps(metrics.to_dict(), indent=2) + "\n")
    if sum(metrics.skipped.values()):
        log.warning(f"{sum(metrics.skipped.values())} manifest lines were skipped (see the warnings above)")
    return metrics

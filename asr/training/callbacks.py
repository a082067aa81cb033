"""The callbacks a training run adds to ``model.fit``: dev WER/CER each epoch,
checkpoints with the best model and early stopping, and a stop on a non-finite loss."""

from __future__ import annotations

import logging
import math
import time

import keras

from asr.data.splits import Split
from asr.evaluation.metrics import error_rates
from asr.inference.backends import KerasBackend
from asr.inference.recognizer import Recognizer
from asr.training.checkpoints import CheckpointStore, atomic_save_model
from asr.training.distribute import agree

log = logging.getLogger("asr")


def _finite_loss(logs: dict | None) -> bool:
    return logs is not None and math.isfinite(float(logs.get("loss", 0.0)))


class DevEvaluation(keras.callbacks.Callback):
    """Adds ``dev_wer``, ``dev_cer`` and ``train_speed`` (audio s per wall s) to each epoch's logs.

    In a multi-worker run every worker decodes the dev set and the rates are
    averaged over the workers (``asr.training.distribute.agree``), so that all of them
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
            self._recognizer = Recognizer(KerasBackend(self.model))
        hyps = self._recognizer.decode(self._recognizer.logits(self.dev.features, self.batch_size))
        rates = agree(getattr(self.model, "distribute_strategy", None), error_rates(self.dev.texts, hyps))
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


class EpochLog(keras.callbacks.CSVLogger):
    """``logs/training.csv``: one row per epoch with exactly the values logged. Keras's
    ``CSVLogger`` adds a ``val_`` column for each when there is no validation data (we
    evaluate dev ourselves), all ``NA``; here the columns are the logs' own."""

    def on_epoch_end(self, epoch, logs=None):
        if self.keys is None:
            self.keys = sorted((logs or {}).keys())
        super().on_epoch_end(epoch, logs)

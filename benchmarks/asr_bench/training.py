"""Section a, training throughput: Keras's ``model.fit`` against the PyTorch port on
the same batches in the same order from the same initial weights, one pass of each
alternately per repeat (run in a process whose frameworks use ``threads`` threads)."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from asr.config import load_config
from asr.data.batching import bucketed_batches, training_dataset
from asr.data.splits import Split, cached_split
from asr.export.architecture import read_architecture
from asr.text import Tokenizer
from asr_bench.options import BenchOptions
from asr_bench.rows import FAILED, MEASURED, SKIPPED, make_row, reason_of
from asr_bench.synthetic import training_split
from asr_bench.torch_train import torch_trainer

UNIT = "audio s / wall s"


@dataclass(frozen=True)
class TrainingSetup:
    """Both frameworks ready to train.

    Attributes:
        keras_pass: one ``model.fit`` pass; returns the batches it trained on, in order.
        trainer: ``torch_trainer``'s pass function, or the reason there is none.
        split: the utterances trained on.
        fixed_order: batches for PyTorch when Keras gave none (its pass failed).
        common: the fields both measured rows carry (batches, batch size, audio, data, architecture, parameters).
        folder: the feature cache the Keras dataset streams from (removed afterwards).
    """

    keras_pass: Callable[[], list[list[int]]]
    trainer: Callable[[list[list[int]]], float] | str
    split: Split
    fixed_order: list[list[int]]
    common: dict
    folder: str


@dataclass
class Side:
    """One framework's timed passes: audio seconds per wall second, or the reason it stopped."""

    error: str | None = None
    runs: list[float] = field(default_factory=list)

    def attempt(self, run: Callable[[], object], audio_seconds: float, timed: bool):
        """``run()``'s value, its speed recorded when ``timed``; None (the reason kept) when it fails or failed."""
        if self.error is not None:
            return None
        try:
            start = time.perf_counter()
            value = run()
            seconds = time.perf_counter() - start
        except Exception as exc:  # noqa: BLE001  (any failure of the tool is recorded)
            self.error = reason_of(exc)
            return None
        if timed:
            self.runs.append(audio_seconds / seconds)
        return value


def prepare(opts: BenchOptions) -> TrainingSetup:
    """The recipe's model compiled as ``asr train`` compiles it, its dataset, and the PyTorch port
    starting from the same initial weights."""
    # TensorFlow (keras, asr.model.ctc, asr.training.trainer): kept off the parent process, imported here
    import keras

    from asr.model.ctc import build_model
    from asr.training.trainer import _optimizer

    cfg = load_config(opts.config, opts.overrides)
    batch_size = opts.batch_size or cfg.train.batch_size
    tokenizer = Tokenizer(repeat_token=cfg.tokenizer.repeat_token)
    split, data = training_split(cfg, tokenizer, opts.train_batches * batch_size, opts.manifest)
    keras.utils.set_random_seed(cfg.train.seed)
    model = build_model(cfg.model, cfg.features, tokenizer)
    n_batches = -(-len(split) // batch_size)
    model.compile(optimizer=_optimizer(cfg, n_batches))
    arch = read_architecture(model)  # the initial weights: the port starts from the same ones
    record: list[list[int]] = []  # the dataset writes each pass's batches here
    folder = tempfile.mkdtemp(prefix="asr-bench-cache-")  # training streams from a cache, as asr train does
    # the split's features are final already: read them back unchanged, so both frameworks see the same numbers
    dataset = training_dataset(cached_split(split, folder), batch_size, cfg.train.seed,
                               dataclasses.replace(cfg.features, normalize="none"), record=record,
                               length_jitter=cfg.train.length_jitter)
    trainer = torch_trainer(arch, cfg, split)
    common = {"batches": n_batches, "batch_size": batch_size, "audio_seconds_per_pass": split.audio_seconds,
              "data": data, "architecture": dataclasses.asdict(cfg.model), "parameters": int(model.count_params())}

    def keras_pass() -> list[list[int]]:
        model.fit(dataset, epochs=1, verbose=0, shuffle=False)
        return [list(batch) for batch in record]

    fixed_order = bucketed_batches([f.shape[0] for f in split.features], batch_size)
    return TrainingSetup(keras_pass, trainer, split, fixed_order, common, folder)


def alternate(setup: TrainingSetup, repeats: int) -> tuple[Side, Side, float | None]:
    """``repeats`` timed passes of each framework after a warm-up pass (Keras traces its train step),
    alternately, PyTorch on the batches Keras just trained on; and PyTorch's last loss."""
    keras_side = Side()
    torch_side = Side(error=setup.trainer if isinstance(setup.trainer, str) else None)
    seconds = setup.split.audio_seconds
    last_loss = None
    for repeat in range(repeats + 1):  # pass 0 is the warm-up
        batches = keras_side.attempt(setup.keras_pass, seconds, timed=repeat > 0)
        if batches is None:
            batches = setup.fixed_order
        loss = torch_side.attempt(lambda: setup.trainer(batches), seconds, timed=repeat > 0)
        if loss is not None:
            last_loss = loss
    return keras_side, torch_side, last_loss


def training_rows(opts: BenchOptions, threads: int) -> list[dict]:
    """Rows ``train.keras`` and ``train.torch`` (run in a process whose frameworks use ``threads``)."""
    setup = prepare(opts)
    try:
        keras_side, torch_side, last_loss = alternate(setup, opts.repeats)
    finally:
        shutil.rmtree(setup.folder, ignore_errors=True)
    if keras_side.error is None:
        keras_row = make_row("train.keras", MEASURED, threads, UNIT, keras_side.runs, **setup.common,
                             note="Adam with the recipe's warm-up/cosine schedule and clipnorm; no augmentation")
    else:
        keras_row = make_row("train.keras", FAILED, threads, UNIT, reason=keras_side.error)
    if isinstance(setup.trainer, str):
        torch_row = make_row("train.torch", SKIPPED, threads, UNIT, reason=setup.trainer)
    elif torch_side.error is not None:
        torch_row = make_row("train.torch", FAILED, threads, UNIT, reason=torch_side.error)
    else:
        torch_row = make_row("train.torch", MEASURED, threads, UNIT, torch_side.runs, **setup.common,
                             last_loss=last_loss,
                             note="same batches in the same order as Keras; Adam, constant peak learning rate, "
                                  "per-weight gradient clipping")
    return [keras_row, torch_row]

"""Section a, training throughput, Keras side: ``model.fit`` passes over a recipe's batches,
recorded so that the PyTorch port (``asr_bench.torch_side``, in a process of its own that never
loads TensorFlow) trains on the same batches in the same order from the same initial weights."""

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
from asr.export.architecture import Architecture, read_architecture
from asr.text import Tokenizer
from asr_bench.options import BenchOptions
from asr_bench.rows import FAILED, MEASURED, make_row, reason_of
from asr_bench.synthetic import training_split

UNIT = "audio s / wall s"


@dataclass(frozen=True)
class TorchJob:
    """What the PyTorch side needs to repeat the Keras passes (pickled into its process).

    Attributes:
        arch: the model's initial weights (before any pass).
        config: the recipe, ``overrides`` applied.
        split: the utterances trained on.
        passes: each pass's batches (lists of ``split`` indices), in order; the first is the warm-up.
        common: the fields both measured rows carry (batches, batch size, audio, data, architecture, parameters).
    """

    arch: Architecture
    config: object
    split: Split
    passes: list[list[list[int]]]
    common: dict


@dataclass(frozen=True)
class TrainingSetup:
    """Keras ready to train.

    Attributes:
        keras_pass: one ``model.fit`` pass; returns the batches it trained on, in order.
        arch: the initial weights (the PyTorch port starts from the same ones).
        config: the recipe.
        split: the utterances trained on.
        fixed_order: batches for PyTorch when Keras gave none (its pass failed).
        common: the fields both measured rows carry.
        folder: the feature cache the Keras dataset streams from (removed afterwards).
    """

    keras_pass: Callable[[], list[list[int]]]
    arch: Architecture
    config: object
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
    """The recipe's model compiled as ``asr train`` compiles it, its dataset, and its initial weights."""
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
    common = {"batches": n_batches, "batch_size": batch_size, "audio_seconds_per_pass": split.audio_seconds,
              "data": data, "architecture": dataclasses.asdict(cfg.model), "parameters": int(model.count_params())}

    def keras_pass() -> list[list[int]]:
        model.fit(dataset, epochs=1, verbose=0, shuffle=False)
        return [list(batch) for batch in record]

    fixed_order = bucketed_batches([f.shape[0] for f in split.features], batch_size)
    return TrainingSetup(keras_pass, arch, cfg, split, fixed_order, common, folder)


def keras_passes(setup: TrainingSetup, repeats: int) -> tuple[Side, list[list[list[int]]]]:
    """A warm-up pass (Keras traces its train step) and ``repeats`` timed passes; the batches of each
    pass, in order (``fixed_order`` for a pass that failed)."""
    side = Side()
    passes = []
    for repeat in range(repeats + 1):  # pass 0 is the warm-up
        batches = side.attempt(setup.keras_pass, setup.split.audio_seconds, timed=repeat > 0)
        passes.append(batches if batches is not None else setup.fixed_order)
    return side, passes


def training_rows(opts: BenchOptions, threads: int) -> tuple[dict, TorchJob]:
    """Row ``train.keras`` (run in a process whose TensorFlow uses ``threads``), and the job that
    makes ``train.torch`` in a process without TensorFlow."""
    setup = prepare(opts)
    try:
        side, passes = keras_passes(setup, opts.repeats)
    finally:
        shutil.rmtree(setup.folder, ignore_errors=True)
    if side.error is None:
        row = make_row("train.keras", MEASURED, threads, UNIT, side.runs, **setup.common,
                       note="Adam with the recipe's warm-up/cosine schedule and clipnorm; no augmentation")
    else:
        row = make_row("train.keras", FAILED, threads, UNIT, reason=side.error)
    return row, TorchJob(setup.arch, setup.config, setup.split, passes, setup.common)

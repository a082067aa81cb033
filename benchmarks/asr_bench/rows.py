"""Result rows of ``asr bench``: the row ids and their titles, the three statuses,
and a row made from repeated measurements or from the reason there are none.

A row is a plain dict (it is written to ``results.json`` as it is, and later
steps add keys to it): ``id``, ``section``, ``title``, ``status``, ``threads``,
``unit``, then either the ``Spread`` fields and ``runs`` (``measured``) or
``reason`` (``skipped``/``failed``), then whatever else the measurement records.
"""

from __future__ import annotations

import dataclasses
import importlib
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from asr.core.errors import first_line

MEASURED, SKIPPED, FAILED = "measured", "skipped", "failed"

ROWS = {
    "train.keras": "Keras 3 / TensorFlow `model.fit` (the training path)",
    "train.torch": "PyTorch: the same architecture (`asr_bench.torch_port`)",
    "rtf.keras": "Keras model, traced call (`Recognizer.logits`)",
    "rtf.saved_model": "SavedModel `transcribe` signature",
    "rtf.tflite_float32": "our TFLite float32 (ai-edge-litert)",
    "rtf.tflite_dynamic": "our TFLite dynamic range: int8 weights, float activations (ai-edge-litert)",
    "rtf.tflite_int8": "our TFLite int8 (ai-edge-litert)",
    "rtf.keras_litert": "Keras 3 `model.export(format=\"litert\")`",
    "rtf.onnxruntime": "ONNX Runtime on a tf2onnx conversion",
    "rtf.torch": "PyTorch port, eval mode",
    "gflops.keras": "Keras model, traced call",
    "gflops.saved_model": "SavedModel `transcribe`",
    "gflops.tflite_float32": "our TFLite float32",
    "gflops.onnxruntime": "ONNX Runtime",
    "gflops.torch": "PyTorch port",
    "features.librosa": "librosa (`asr.features.logmel.log_mel`)",
    "features.graph": "in-graph TF ops (`asr.features.graph`)",
}
SECTIONS = {
    "train": "a. Training throughput",
    "rtf": "b. Batch 1, one thread",
    "gflops": "c. Achieved GFLOP/s (batch 1, one thread)",
    "features": "d. Feature extraction (one thread)",
}
# the bench extra (pyproject.toml): a row needing one that is missing is skipped
BENCH_EXTRA = {"torch": "torch", "onnxruntime": "onnxruntime", "tf2onnx": "tf2onnx"}


@dataclass(frozen=True)
class Spread:
    """Repeated measurements summarised.

    Attributes:
        median: their median.
        min: the smallest.
        max: the largest.
        q1: the first quartile (inclusive method; the only value when there is one).
        q3: the third quartile (likewise).
        n: how many there are.
    """

    median: float
    min: float
    max: float
    q1: float
    q3: float
    n: int


def spread(values: Sequence[float]) -> Spread:
    """Median, min, max and quartiles (inclusive method) of repeated measurements."""
    values = sorted(float(v) for v in values)
    if not values:
        raise ValueError("no measurements")
    q1, q3 = (statistics.quantiles(values, n=4, method="inclusive")[::2] if len(values) > 1
              else (values[0], values[0]))
    return Spread(statistics.median(values), values[0], values[-1], q1, q3, len(values))


def make_row(row_id: str, status: str, threads: int, unit: str = "", runs: Sequence[float] = (),
             reason: str = "", **extra) -> dict:
    """One result row: ``measured`` with ``runs`` (their ``spread`` added), or
    ``skipped``/``failed`` with a one-line ``reason``. ``extra`` keys are kept."""
    if row_id not in ROWS:
        raise ValueError(f"unknown bench row {row_id!r}")
    row = {"id": row_id, "section": row_id.split(".")[0], "title": ROWS[row_id], "status": status,
           "threads": threads, "unit": unit}
    if status == MEASURED:
        row.update(dataclasses.asdict(spread(runs)), runs=[float(v) for v in runs])
    else:
        row["reason"] = reason
    row.update(extra)
    return row


def missing_dependency(*modules: str) -> str | None:
    """``"<module> not installed"`` for the first of ``modules`` that cannot be imported, else None."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            return f"{BENCH_EXTRA.get(name, name)} not installed (pip install 'asr[bench]')"
    return None


def reason_of(exc: BaseException, limit: int = 240) -> str:
    """An exception as one short line: its type and the first line of its message."""
    text = " ".join(first_line(exc).split())
    return f"{type(exc).__name__}: {text}"[:limit]

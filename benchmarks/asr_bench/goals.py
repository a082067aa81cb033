"""The benchmark's goals (``GOALS``) and whether the measured rows meet them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from asr_bench.rows import MEASURED

MET, MISSED, UNKNOWN = "met", "missed", "unknown"


@dataclass(frozen=True)
class GoalSpec:
    """One goal: a ratio of two rows' medians (or of one row's to the peak) against a target.

    Attributes:
        id: the goal's id in ``results.json``.
        text: the goal in words.
        top: the row whose median is the numerator.
        bottom: the row whose median is the denominator; None for the single-core peak.
        target: the ratio that meets the goal (at least).
        how: how the ratio is formed, in words.
    """

    id: str
    text: str
    top: str
    bottom: str | None
    target: float
    how: str


GOALS = (
    GoalSpec("training", "training throughput ≥ PyTorch's", "train.keras", "train.torch", 1.0,
             "Keras audio-s/s ÷ PyTorch audio-s/s"),
    GoalSpec("tflite_vs_keras", "TFLite float32 ≥ 2× faster than the Keras model's TF graph (batch 1, one thread)",
             "rtf.keras", "rtf.tflite_float32", 2.0,
             "Keras time ÷ TFLite time (TFLite's includes its front end, Keras's not)"),
    GoalSpec("tflite_vs_onnx", "TFLite float32 no slower than ONNX Runtime (batch 1, one thread)",
             "rtf.onnxruntime", "rtf.tflite_float32", 1.0, "ONNX Runtime time ÷ TFLite time (same graph)"),
    GoalSpec("peak", "acoustic model ≥ 40 % of single-core peak at batch 1 (TFLite float32)",
             "gflops.tflite_float32", None, 0.40, "achieved GFLOP/s ÷ peak GFLOP/s"),
)


def evaluate_goals(rows: Sequence[dict], peak_gflops: float | None) -> list[dict]:
    """Each goal of ``GOALS`` as met / missed (with the measured ratio) or unknown (with why): dicts with
    ``id``, ``goal``, ``target``, ``ratio_of``, ``status``, ``ratio`` and, when unknown, ``why``."""
    by_id = {row["id"]: row for row in rows}
    out = []
    for spec in GOALS:
        goal = {"id": spec.id, "goal": spec.text, "target": spec.target, "ratio_of": spec.how}
        needed = [r for r in (spec.top, spec.bottom) if r is not None]
        unmeasured = [r for r in needed if by_id.get(r, {}).get("status") != MEASURED]
        if unmeasured:
            goal.update(status=UNKNOWN, ratio=None, why=f"{unmeasured[0]} not measured")
        elif spec.bottom is None and not peak_gflops:
            goal.update(status=UNKNOWN, ratio=None, why="no single-core peak (CPU clock unknown)")
        else:
            ratio = by_id[spec.top]["median"] / (by_id[spec.bottom]["median"] if spec.bottom else peak_gflops)
            goal.update(status=MET if ratio >= spec.target else MISSED, ratio=ratio)
        out.append(goal)
    return out

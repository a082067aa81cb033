"""The one-thread process's work: the batch-1 clip and its Keras reference, every ``rtf``
row, the ``features`` rows, the clip's FLOP count and a one-thread matmul."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from asr.export.architecture import Architecture, read_architecture
from asr.export.tflite import calibration_audio
from asr.features.logmel import log_mel
from asr.inference.loading import load
from asr_bench.cpu import matmul_gflops
from asr_bench.features import feature_rows
from asr_bench.flops import FlopCount, count_flops
from asr_bench.measure import log_softmax
from asr_bench.options import BenchOptions
from asr_bench.runtimes import (
    Clip,
    attempt,
    export_tflite_variants,
    rtf_keras,
    rtf_keras_litert,
    rtf_onnxruntime,
    rtf_saved_model,
    rtf_tflite,
)
from asr_bench.synthetic import speechlike

SYNTHETIC_CALIBRATION = "8 synthetic 2 s clips (speed is what is measured)"


@dataclass(frozen=True)
class OneThreadResult:
    """What the one-thread process returns.

    Attributes:
        rows: the ``rtf`` and ``features`` rows.
        flops: the clip's FLOP count.
        clip_seconds: the clip's duration.
        matmul_gflops: GFLOP/s of a one-thread float32 matmul (``cpu.matmul_gflops``).
        arch: the model's weights, for the PyTorch port (run in a process without TensorFlow).
        clip: the clip and Keras's log-probabilities for it, which the port must match.
    """

    rows: list[dict]
    flops: FlopCount
    clip_seconds: float
    matmul_gflops: float
    arch: Architecture
    clip: Clip


def rtf_rows(recognizer, clip: Clip, calibration: list, calibrated_on: str, repeats: int) -> list[dict]:
    """Every ``rtf`` row but ``rtf.torch`` (``asr_bench.torch_side``), in ``ROWS`` order; the TFLite
    files are written in a temporary folder."""
    model = recognizer.model
    rows = []
    with tempfile.TemporaryDirectory(prefix="asr-bench-") as tmp:
        work = Path(tmp)
        rows.append(attempt("rtf.keras", lambda: rtf_keras(recognizer, clip, repeats)))
        rows.append(attempt("rtf.saved_model", lambda: rtf_saved_model(model, clip, work, repeats)))
        lite = export_tflite_variants(model, work / "tflite", calibration)
        rows.append(attempt("rtf.tflite_float32", lambda: rtf_tflite("rtf.tflite_float32", lite["none"], clip,
                                                                     repeats)))
        rows.append(attempt("rtf.tflite_dynamic", lambda: rtf_tflite("rtf.tflite_dynamic", lite["dynamic"], clip,
                                                                     repeats)))
        int8 = attempt("rtf.tflite_int8", lambda: rtf_tflite("rtf.tflite_int8", lite["int8"], clip, repeats))
        int8["calibration"] = calibrated_on
        rows.append(int8)
        rows.append(attempt("rtf.keras_litert", lambda: rtf_keras_litert(model, clip, work, repeats)))
        rows.append(attempt("rtf.onnxruntime", lambda: rtf_onnxruntime(model, clip, repeats)))
    return rows


def one_thread_rows(opts: BenchOptions, threads: int = 1) -> OneThreadResult:
    """The ``rtf`` rows but ``rtf.torch``, the ``features`` rows and the clip's FLOP count (run in a
    one-thread process)."""
    recognizer = load(opts.model)
    model, features = recognizer.model, recognizer.features
    samples = speechlike(opts.clip_seconds, features.sample_rate, seed=0)
    feats = log_mel(samples, features)
    clip = Clip(samples, len(samples) / features.sample_rate, feats, log_softmax(recognizer.logits([feats])[0]))
    arch = read_architecture(model)
    if opts.calibration_manifest:
        calibration = calibration_audio(opts.calibration_manifest, features.sample_rate, 100)
    else:
        calibration = [speechlike(2.0, features.sample_rate, seed) for seed in range(1, 9)]
    rows = rtf_rows(recognizer, clip, calibration, opts.calibration_manifest or SYNTHETIC_CALIBRATION,
                    opts.repeats)
    rows += feature_rows(features, clip, opts.repeats)
    return OneThreadResult(rows, count_flops(arch, features, clip.seconds), clip.seconds,
                           matmul_gflops(max(3, opts.repeats)), arch, clip)

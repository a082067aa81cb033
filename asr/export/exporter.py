"""``export_model``: export a trained ``.keras`` model for serving and for devices (``asr export``).

Two artefacts, both taking raw PCM and computing the log-mel front end in-graph:
a TF Serving SavedModel (``asr.export.saved_model``) and builtins-only TFLite
files, optionally quantised (``asr.export.tflite``).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from asr.core.errors import ASRError, ModelError
from asr.export.saved_model import export_saved_model
from asr.export.tflite import QUANTIZATIONS, calibration_audio, export_tflite
from asr.inference import load, resolve_model_path

FORMATS = ("saved_model", "tflite")
logger = logging.getLogger(__name__)


@contextlib.contextmanager
def _quiet_tf_logs() -> Iterator[None]:
    """Keep TensorFlow's INFO lines ("Assets written to ...") off the terminal while saving."""
    loggers = [logging.getLogger(name) for name in ("tensorflow", "absl")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def export_model(model_path: str | os.PathLike | None, out_dir: str | os.PathLike,
                 formats: Sequence[str] = FORMATS, quantize: Sequence[str] = ("none",),
                 calibration_manifest: str | os.PathLike | None = None,
                 calibration_samples: int = 100) -> dict[str, Path]:
    """Export a trained ``.keras`` model (what ``asr export`` runs).

    Args:
        model_path: a ``.keras`` file or a folder holding ``model.keras``; None
            for the shipped model.
        out_dir: where to write ``saved_model/1/`` and the ``.tflite`` files.
        formats: any of ``saved_model``, ``tflite``.
        quantize: TFLite variants, any of ``none``, ``float16``, ``dynamic``, ``int8``.
        calibration_manifest: JSONL manifest whose audio calibrates ``int8``
            (e.g. the training manifest).
        calibration_samples: utterances drawn from it.

    Returns:
        ``{"saved_model": path, "tflite": path, "tflite.<quantize>": path, ...}``.
    """
    unknown = [f for f in formats if f not in FORMATS] + [q for q in quantize if q not in QUANTIZATIONS]
    if unknown or not formats:
        raise ASRError(f"export: unknown format or quantization {unknown} "
                       f"(formats: {', '.join(FORMATS)}; quantize: {', '.join(QUANTIZATIONS)})")
    if "tflite" in formats and "int8" in quantize and calibration_manifest is None:
        raise ASRError("export: int8 quantization needs --calibration-manifest (e.g. the training manifest)")
    source = resolve_model_path(model_path)
    if source.suffix != ".keras":
        raise ModelError(f"{source}: export needs the trained .keras model")
    from asr.model.ctc import float32_copy  # heavy: loaded only when exporting

    # a checkpoint of a mixed-precision run computes in float16/bfloat16: export its float32 twin
    model = float32_copy(load(source).model)
    written: dict[str, Path] = {}
    steps = ("saved_model" in formats) + ("tflite" in formats) * len(quantize)
    done = iter(range(1, steps + 1))

    def progress(step: str) -> None:  # a minute or more in all: say what is being made
        logger.info("export [%d/%d]: %s", next(done), steps, step)

    with _quiet_tf_logs():
        if "saved_model" in formats:
            progress(f"SavedModel → {Path(out_dir) / 'saved_model'}")
            written["saved_model"] = export_saved_model(model, out_dir)
        if "tflite" in formats:
            calibration = []
            if "int8" in quantize:
                calibration = calibration_audio(calibration_manifest, model.features.sample_rate,
                                                calibration_samples)
            tflite = export_tflite(model, out_dir, quantize, calibration, source=_display(source), progress=progress)
            for mode, path in tflite.items():
                written["tflite" if mode == "none" else f"tflite.{mode}"] = path
    return written


def _display(path: Path) -> str:
    """``path`` relative to the working directory when inside it (no machine paths in shipped files)."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative

"""Finding and loading a trained model: a ``.keras`` file, a run or saved-model
folder, an exported ``.tflite`` file, or the shipped default model."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from asr.core.errors import ModelError, describe_load_error
from asr.core.quiet import import_tensorflow_quietly
from asr.inference.backends import KerasBackend
from asr.inference.recognizer import Recognizer

MODEL_FILE = "model.keras"  # the model in a run or saved-model folder
LITE_SUFFIX = ".tflite"  # an `asr export` TFLite file, run by asr.inference.lite without TensorFlow
DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "saved_models" / "commands"
DEFAULT_LITE_MODEL = DEFAULT_MODEL / "model.tflite"  # the same model exported: what the CLI runs by default


def resolve_model_path(path: str | os.PathLike | None) -> Path:
    """A ``.keras`` file, a folder holding ``model.keras`` (a run or a saved
    model folder), a ``.tflite`` file, or None for the shipped default model."""
    if path is None:
        path = DEFAULT_MODEL
        if not (path / MODEL_FILE).is_file():
            raise ModelError(f"{path}: no default model installed; pass --model")
    path = Path(path)
    if path.is_dir():
        if not (path / MODEL_FILE).exists() and (path / "saved_model.pb").exists():
            raise ModelError(f"{path}: an exported SavedModel, for TF Serving; asr runs a .keras model, a folder "
                             f"holding {MODEL_FILE}, or a .tflite file (asr export writes one beside it)")
        path = path / MODEL_FILE
    if not path.is_file():
        raise ModelError(f"{path}: model not found")
    if path.suffix == LITE_SUFFIX:
        return path
    if path.suffix != ".keras":
        raise ModelError(f"{path}: not a .keras or {LITE_SUFFIX} model file")
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path}: not a Keras model (a .keras file is a zip archive)")
    return path


def load_keras_model(path: str | os.PathLike):
    """A ``CTCModel`` from a ``.keras`` file (``safe_mode``: no arbitrary code runs)."""
    import_tensorflow_quietly()  # its C++ start-up lines stay off the terminal of a Python API user
    import keras  # here, not at the top: `asr transcribe --model x.tflite` runs without TensorFlow

    from asr.model.ctc import CTCModel  # here too: it imports Keras; loading it registers the custom layers

    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a file it cannot load
        raise ModelError(f"{path}: cannot load model ({describe_load_error(exc)})") from None
    if not isinstance(model, CTCModel):
        raise ModelError(f"{path}: not a model of this toolkit (found {type(model).__name__})")
    return model


def load(path: str | os.PathLike | None = None, num_threads: int | None = None, **kwargs) -> Recognizer:
    """Load a trained model for transcription.

    Args:
        path: a ``.keras`` file or a folder holding ``model.keras``; a ``.tflite``
            file from ``asr export`` (run with ai-edge-litert, see ``asr.inference.lite``);
            None for the shipped default model.
        num_threads: TFLite interpreter threads (None: the runtime's default); unused for Keras.
        **kwargs: passed to ``Recognizer`` (``decoder``, ``max_duration``).
    """
    path = resolve_model_path(path)
    if path.suffix == LITE_SUFFIX:
        from asr.inference.lite import LiteBackend, LiteModel  # here: ai-edge-litert is needed for .tflite only

        return Recognizer(LiteBackend(LiteModel(path, num_threads)), **kwargs)
    return Recognizer(KerasBackend(load_keras_model(path)), **kwargs)

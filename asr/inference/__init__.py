"""Inference: a ``Recognizer`` composes an acoustic backend (``backends.KerasBackend``,
``lite.LiteBackend``: audio → per-frame scores) with a decoder (``asr.decoding``);
``load`` builds one from a model path. Long recordings (``longform``), subtitles
and the transcript picture live here too. Importing it loads no TensorFlow."""

import importlib

# name → the module that defines it; loaded on first use (PEP 562), so that importing one
# submodule (``asr.inference.longform`` for the CLI's defaults) does not load librosa
_EXPORTS = {"Recognizer": "recognizer", "Transcript": "longform", "load": "loading", "resolve_model_path": "loading"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)

"""asr: train small BiLSTM-CTC speech recognisers on your own data and ship them.

The stages, one module each: ``audio`` → ``features`` → ``model`` → ``decoding``
→ text, with ``text`` (normalisation, tokenizer), ``data`` (manifests,
batching), ``training``, ``metrics``, ``evaluation``, ``inference``, ``synth``
and ``cli``. Importing this package loads no TensorFlow.
"""

__version__ = "0.1.0"


def load(path=None, **kwargs):
    """Load a trained model for transcription: a ``.keras`` model or folder, or an
    exported ``.tflite`` file, run without TensorFlow (see ``asr.inference.load``)."""
    from asr.inference import load as _load

    return _load(path, **kwargs)


__all__ = ["load", "__version__"]

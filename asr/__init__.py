"""asr: train small BiLSTM-CTC speech recognisers on your own data and ship them.

One subpackage per stage, data flowing one way (docs/ARCHITECTURE.md)::

    audio → features → model → decoding → text

with ``data`` (manifests, batching, augmentation, corpora) feeding ``training``,
``inference`` composing a model backend with a decoder, ``evaluation``,
``export`` and ``cli`` on top, and ``core``, ``config`` and ``text`` below them
all. Importing this package loads no TensorFlow.
"""

__version__ = "0.1.0"


def load(path=None, **kwargs):
    """Load a trained model for transcription: a ``.keras`` model or folder, or an
    exported ``.tflite`` file, run without TensorFlow (see ``asr.inference.load``)."""
    # imported here so that `import asr` stays light (no NumPy or librosa until a model is loaded)
    from asr.inference import load as _load

    return _load(path, **kwargs)


__all__ = ["load", "__version__"]

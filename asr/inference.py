"""Loading a trained model and transcribing audio with it.

    >>> import asr
    >>> model = asr.load("saved_models/commands")
    >>> model.transcribe("turn_on.wav")
    'turn on the kitchen lights'
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from asr.audio import check_audio, load_audio
from asr.config import DataConfig, FeatureConfig
from asr.decoding import Decoder, GreedyDecoder
from asr.errors import ASRError, ModelError, describe_load_error
from asr.features import log_mel
from asr.longform import CHUNK_SECONDS, MAX_SECONDS, Transcript, transcribe_long
from asr.progress import progress
from asr.text import Tokenizer

MODEL_FILE = "model.keras"
LITE_SUFFIX = ".tflite"  # an `asr export` TFLite file, run by asr.lite without TensorFlow
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "saved_models" / "commands"


def resolve_model_path(path: str | os.PathLike | None) -> Path:
    """A ``.keras`` file, a folder holding ``model.keras`` (a run or a saved
    model folder), a ``.tflite`` file, or None for the shipped default model."""
    if path is None:
        path = DEFAULT_MODEL
        if not (path / MODEL_FILE).is_file():
            raise ModelError(f"{path}: no default model installed; pass --model")
    path = Path(path)
    if path.is_dir():
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


class Recognizer:
    """A trained ``CTCModel`` with its tokenizer, feature settings and a decoder.

    Args:
        model: a ``CTCModel``.
        decoder: a ``Decoder`` (default: greedy).
        max_duration: seconds; longer audio is refused by ``transcribe`` (``transcribe_long``
            has its own, larger ``max_seconds``).
    """

    features_in_graph = False  # True where the model takes samples and computes its own log-mels

    def __init__(self, model, decoder: Decoder | None = None, max_duration: float | None = None):
        self.model = model
        self.tokenizer: Tokenizer = model.tokenizer
        self.features: FeatureConfig = model.features
        self.decoder = decoder or GreedyDecoder(self.tokenizer)
        self.max_duration = DataConfig.max_duration if max_duration is None else max_duration
        self._forward = self._make_forward(model)

    @staticmethod
    def _make_forward(model):
        """One traced graph for every batch shape on TensorFlow; Keras's predict elsewhere."""
        import keras

        if keras.backend.backend() != "tensorflow":
            return model.predict_on_batch
        import tensorflow as tf

        n_mels = model.features.n_mels
        signature = [{"features": tf.TensorSpec((None, None, n_mels), tf.float32),
                      "feature_lengths": tf.TensorSpec((None,), tf.int32)}]
        # No autograph (nothing to convert): it parses source with Python's ast module, which on
        # CPython 3.11 can fail (SystemError: AST constructor recursion depth mismatch, gh-106905)
        # while a tf.data thread parses .npy headers, as the next epoch's prefetch does when training
        # traces this at its first epoch's end.
        return tf.function(lambda x: model(x, training=False), input_signature=signature, autograph=False)

    @property
    def sample_rate(self) -> int:
        return self.features.sample_rate

    @property
    def time_reduction(self) -> int:
        """Feature frames per output frame: the product of the encoder's conv strides."""
        reduction = 1
        for layer in self.model.encoder.layers:
            reduction *= int(getattr(layer, "strides", 1))
        return reduction

    @property
    def frame_seconds(self) -> float:
        """Seconds per output frame: the feature hop times the time reduction."""
        return self.features.hop_length * self.time_reduction / self.sample_rate

    def samples(self, audio: str | os.PathLike | np.ndarray, sample_rate: int | None = None,
                name: str = "<array>", max_duration: float | None = None) -> np.ndarray:
        """A file or an array → checked mono float32 samples ``[n]`` at the model's rate.

        Args:
            audio: a path, or float samples ``[n]``; two-dimensional arrays are
                downmixed, taking the smaller axis as channels (``[n, channels]``
                as soundfile reads, or ``[channels, n]`` as librosa does).
            sample_rate: Hz of an array (default: the model's); resampled when different.
            name: the array's name in error messages.
            max_duration: seconds; longer audio is refused (default: ``self.max_duration``).
        """
        max_duration = self.max_duration if max_duration is None else max_duration
        if isinstance(audio, (str, os.PathLike)):
            name = str(audio)
            samples = load_audio(audio, self.sample_rate, max_duration)  # refused before decoding whole
        else:
            samples = np.asarray(audio, dtype=np.float32)
            if samples.ndim == 2:
                samples = samples.mean(axis=int(np.argmin(samples.shape)))
            rate = sample_rate or self.sample_rate
            if rate != self.sample_rate:
                import librosa

                samples = librosa.resample(samples, orig_sr=rate, target_sr=self.sample_rate, res_type="soxr_hq")
        return check_audio(samples, self.sample_rate, name, max_duration=max_duration)

    def model_input(self, samples: np.ndarray) -> np.ndarray:
        """Checked samples ``[n]`` → what ``logits`` takes: log-mel features ``[frames, n_mels]``."""
        return log_mel(samples, self.features)

    def featurize(self, audio: str | os.PathLike | np.ndarray, sample_rate: int | None = None,
                  name: str = "<array>") -> np.ndarray:
        """A file or an array (see ``samples``) → the model's input (see ``model_input``)."""
        return self.model_input(self.samples(audio, sample_rate, name))

    def logits(self, features: Sequence[np.ndarray], batch_size: int = 32,
               desc: str | None = None) -> list[np.ndarray]:
        """Per-utterance logits ``[T'_i, V]`` for features ``[T_i, F]``, batched by length.

        ``desc``: the label of a progress bar over the batches, shown on a terminal (None: no bar).
        """
        from asr.data import bucketed_batches, pad_batch

        out: list = [None] * len(features)
        batches = bucketed_batches([f.shape[0] for f in features], batch_size)
        for batch in progress(batches, desc, unit="batch"):
            x, _ = pad_batch([features[i] for i in batch])
            pred = self._forward(x)
            logits, lengths = np.asarray(pred["logits"]), np.asarray(pred["lengths"])
            for row, i in enumerate(batch):
                out[i] = logits[row, : lengths[row]]
        return out

    def decode(self, logits: Sequence[np.ndarray], desc: str | None = None) -> list[str]:
        """Per-utterance logits → transcripts with this recognizer's decoder
        (``desc``: a progress bar's label, as for ``logits``)."""
        return [self.decoder(x[None], [x.shape[0]])[0] for x in progress(logits, desc, total=len(logits), unit="utt")]

    def transcribe(self, audio: str | os.PathLike | np.ndarray, sample_rate: int | None = None) -> str:
        """Transcribe one file or one array of samples (see ``featurize``)."""
        return self.decode(self.logits([self.featurize(audio, sample_rate)]))[0]

    def transcribe_long(self, audio: str | os.PathLike | np.ndarray, sample_rate: int | None = None,
                        chunk_seconds: float = CHUNK_SECONDS, max_seconds: float = MAX_SECONDS) -> Transcript:
        """Transcribe a recording of any length up to ``max_seconds``, cut at its pauses
        into chunks of at most ``chunk_seconds``: text and timed words (``asr.longform``)."""
        return transcribe_long(self, audio, sample_rate, chunk_seconds=chunk_seconds, max_seconds=max_seconds)

    def transcribe_files(self, paths: Iterable[str]) -> Iterable[tuple[str, str | None, str | None]]:
        """Yield ``(path, text, error)`` per file; a bad file gives an error and the rest go on."""
        return _each_file(self.transcribe, paths)

    def transcribe_long_files(self, paths: Iterable[str], **kwargs) -> Iterable[tuple[str, Transcript | None,
                                                                                      str | None]]:
        """Yield ``(path, transcript, error)`` per file, as ``transcribe_files`` does,
        with ``transcribe_long`` (``kwargs`` go to it)."""
        return _each_file(lambda path: self.transcribe_long(path, **kwargs), paths)


def _each_file(transcribe, paths: Iterable[str]) -> Iterable[tuple[str, object, str | None]]:
    """``(path, transcribe(path), None)``, or ``(path, None, error)`` for a file it refuses."""
    for path in paths:
        try:
            yield path, transcribe(path), None
        except ASRError as exc:
            yield path, None, str(exc)


def load(path: str | os.PathLike | None = None, **kwargs) -> Recognizer:
    """Load a trained model for transcription.

    Args:
        path: a ``.keras`` file or a folder holding ``model.keras``; a ``.tflite``
            file from ``asr export`` (run with ai-edge-litert, see ``asr.lite``);
            None for the shipped default model.
        **kwargs: passed to ``Recognizer``.
    """
    path = resolve_model_path(path)
    if path.suffix == LITE_SUFFIX:
        from asr.lite import load_lite

        return load_lite(path, **kwargs)
    import keras

    import asr.model  # noqa: F401  (registers the custom layers)

    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a file it cannot load
        raise ModelError(f"{path}: cannot load model ({describe_load_error(exc)})") from None
    if not isinstance(model, asr.model.CTCModel):
        raise ModelError(f"{path}: not a model of this toolkit (found {type(model).__name__})")
    return Recognizer(model, **kwargs)

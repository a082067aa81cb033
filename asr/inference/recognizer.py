"""A recognizer: an acoustic backend (Keras or TFLite) composed with a decoder
(greedy, beam search + LM), with the audio checks and the file loop around them.

    >>> import asr
    >>> model = asr.load("saved_models/commands")
    >>> model.transcribe("turn_on.wav")
    'turn on the kitchen lights'
"""

from __future__ import annotations

import os
import warnings
from typing import Iterable, Sequence

import numpy as np

from asr.audio.files import as_samples, check_audio, is_silent, load_audio
from asr.config import DataConfig, FeatureConfig
from asr.core.errors import ASRError
from asr.core.progress import progress
from asr.decoding.alignment import MIN_CONFIDENCE, text_confidence
from asr.decoding.decoders import Decoder, GreedyDecoder
from asr.decoding.grammar.decoder import GrammarDecoder, GrammarMatch
from asr.inference.longform import CHUNK_SECONDS, MAX_SECONDS, Transcript, transcribe_long
from asr.text import Tokenizer


class Recognizer:
    """An acoustic backend and a decoder.

    Args:
        backend: ``asr.inference.backends.KerasBackend`` or ``asr.inference.lite.LiteBackend``
            (audio → per-frame scores).
        decoder: a ``Decoder`` (default: greedy); it may be swapped at any time.
        max_duration: seconds; longer audio is refused by ``transcribe`` (``transcribe_long``
            has its own, larger ``max_seconds``). Default: ``DataConfig.max_duration``, the
            longest audio a model is trained on.
        min_confidence: a transcript (with ``transcribe_long``, each chunk's) whose words' mean
            confidence is below this is taken for noise: "" (default:
            ``asr.decoding.alignment.MIN_CONFIDENCE``; 0 keeps every guess).
    """

    def __init__(self, backend, decoder: Decoder | None = None, max_duration: float | None = None,
                 min_confidence: float | None = None):
        self.backend = backend
        self.decoder = decoder or GreedyDecoder(backend.tokenizer)
        self.max_duration = DataConfig.max_duration if max_duration is None else max_duration
        self.min_confidence = MIN_CONFIDENCE if min_confidence is None else min_confidence
        self._grammars: dict[str, GrammarDecoder] = {}  # grammar files compiled for transcribe(grammar=...)

    @property
    def model(self):
        """The backend's model (a ``CTCModel`` or a ``LiteModel``)."""
        return self.backend.model

    @property
    def tokenizer(self) -> Tokenizer:
        return self.backend.tokenizer

    @property
    def features(self) -> FeatureConfig:
        return self.backend.features

    @property
    def sample_rate(self) -> int:
        return self.features.sample_rate

    @property
    def time_reduction(self) -> int:
        """Feature frames per output frame (the model's own)."""
        return self.backend.time_reduction

    @property
    def frame_seconds(self) -> float:
        """Seconds of audio per output frame."""
        return self.backend.frame_seconds

    def samples(self, audio: str | os.PathLike | np.ndarray, sample_rate: int | None = None,
                name: str = "<array>", max_duration: float | None = None) -> np.ndarray:
        """A file or an array → checked mono float32 samples ``[n]`` at the model's rate.

        Args:
            audio: a path, or samples ``[n]`` (float, or integer PCM scaled by its full
                scale; a list of numbers is taken as samples); two-dimensional arrays are
                downmixed, taking the smaller axis as channels (``[n, channels]``
                as soundfile reads, or ``[channels, n]`` as librosa does).
            sample_rate: Hz of an array, resampled when not the model's; without it an array
                is taken to be at the model's rate, with a warning.
            name: the array's name in error messages.
            max_duration: seconds; longer audio is refused (default: ``self.max_duration``).
        """
        max_duration = self.max_duration if max_duration is None else max_duration
        if isinstance(audio, (str, os.PathLike)):
            name = str(audio)
            samples = load_audio(audio, self.sample_rate, max_duration)  # refused before decoding whole
        else:
            samples = as_samples(audio, name)
            if samples.ndim == 2:
                samples = samples.mean(axis=int(np.argmin(samples.shape)))
            if sample_rate is None:  # an 8 kHz array read as 16 kHz decodes to confident nonsense: say so
                warnings.warn(f"{name}: samples given without sample_rate are taken to be at the model's "
                              f"{self.sample_rate} Hz; pass sample_rate= to resample them", stacklevel=3)
            rate = sample_rate or self.sample_rate
            if rate != self.sample_rate:
                import librosa  # here, not at the top: only arrays at another rate need it

                samples = librosa.resample(samples, orig_sr=rate, target_sr=self.sample_rate, res_type="soxr_hq")
        return check_audio(samples, self.sample_rate, name, max_duration=max_duration, allow_silence=True)

    def featurize(self, audio: str | os.PathLike | np.ndarray, sample_rate: int | None = None,
                  name: str = "<array>") -> np.ndarray:
        """A file or an array (see ``samples``) → the backend's input (``backend.prepare``)."""
        return self.backend.prepare(self.samples(audio, sample_rate, name))

    def logits(self, inputs: Sequence[np.ndarray], batch_size: int = 32,
               desc: str | None = None) -> list[np.ndarray]:
        """Per-utterance scores ``[T'_i, V]`` for the backend's inputs (``featurize``);
        ``desc`` labels a progress bar shown on a terminal (None: no bar)."""
        return self.backend.forward(inputs, batch_size, desc)

    def decode(self, logits: Sequence[np.ndarray], desc: str | None = None) -> list[str]:
        """Per-utterance scores → transcripts with this recognizer's decoder
        (``desc``: a progress bar's label, as for ``logits``)."""
        return [self.decoder(x[None], [x.shape[0]])[0] for x in progress(logits, desc, total=len(logits), unit="utt")]

    def transcribe(self, audio: str | os.PathLike | np.ndarray, sample_rate: int | None = None,
                   grammar: str | os.PathLike | GrammarDecoder | None = None) -> str:
        """Transcribe one file or one array of samples (see ``samples``); with ``grammar``
        (a JSGF file, a phrase list, a compiled ``.npz`` or a ``GrammarDecoder``) only
        a sentence it accepts, or "" when rejected (``match`` gives the tags too)."""
        if grammar is not None:
            return self.match(audio, sample_rate, grammar).text
        samples = self.samples(audio, sample_rate)
        if is_silent(samples):
            return ""  # silence says nothing: no model run, no guess
        (scores,) = self.logits([self.backend.prepare(samples)])
        return self.confident(scores, self.decode([scores])[0])

    def confident(self, scores: np.ndarray, text: str) -> str:
        """``text``, or "" when its words' mean confidence on ``scores [T', V]`` is below ``min_confidence``
        (noise decodes to letters the model is unsure of)."""
        if text and self.min_confidence > 0 and text_confidence(scores, text, self.tokenizer) < self.min_confidence:
            return ""
        return text

    def match(self, audio: str | os.PathLike | np.ndarray, sample_rate: int | None = None,
              grammar: str | os.PathLike | GrammarDecoder | None = None) -> GrammarMatch:
        """One file or array → its ``GrammarMatch`` (the sentence, or "" when rejected, its
        score and its tags), with ``grammar`` or else this recognizer's decoder, which must
        then be a ``GrammarDecoder``. A grammar file is compiled once and kept."""
        decoder = self._grammar_decoder(grammar)
        samples = self.samples(audio, sample_rate)
        if is_silent(samples):
            return GrammarMatch("", False, float("-inf"), float("inf"), float("inf"))  # silence matches nothing
        scores = self.logits([self.backend.prepare(samples)])[0]
        return decoder.match(scores[None], [scores.shape[0]])[0]

    def _grammar_decoder(self, grammar) -> GrammarDecoder:
        if grammar is None:
            if not isinstance(self.decoder, GrammarDecoder):
                raise ASRError("match needs a grammar: pass grammar=..., or set decoder to a GrammarDecoder")
            return self.decoder
        if isinstance(grammar, GrammarDecoder):
            return grammar
        key = str(grammar)
        if key not in self._grammars:
            self._grammars[key] = GrammarDecoder.from_file(key, self.tokenizer)
        return self._grammars[key]

    def transcribe_long(self, audio: str | os.PathLike | np.ndarray, sample_rate: int | None = None,
                        chunk_seconds: float = CHUNK_SECONDS, max_seconds: float = MAX_SECONDS) -> Transcript:
        """Transcribe a recording of any length up to ``max_seconds``, cut at its pauses
        into chunks of at most ``chunk_seconds``: text and timed words (``asr.inference.longform``)."""
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

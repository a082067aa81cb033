"""Long-form transcription: a recording of any length (up to ``max_seconds``)
→ text and timed words.

A file up to ``chunk_seconds`` long is transcribed whole, giving the text
``Recognizer.transcribe`` gives. A longer one is cut at its pauses into chunks
of at most ``chunk_seconds`` (``asr.audio.vad.plan_chunks``); the chunks go through
the model in batches, each is decoded, its words are aligned to its frames
(``asr.decoding.alignment``) and shifted by the chunk's start, and the texts are joined
with spaces. Stretches without speech between chunks are not transcribed.

Word times are then kept within the speech the energy VAD found in their
chunk: the model often emits a chunk's first character in its very first
frame, inside the silence before the speech, and that start would be early by
the whole silence (0.15 s in a cut chunk; docs/LONGFORM.md has the figures).

    >>> model = asr.load()
    >>> result = model.transcribe_long("meeting.wav")
    >>> result.text, result.words[0]
    ('turn on the lights ...', Word(word='turn', start=0.52, end=0.72, confidence=0.97))
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from asr.audio.files import is_silent
from asr.audio.vad import plan_chunks
from asr.config import DataConfig
from asr.core.errors import ASRError
from asr.decoding.alignment import Word, align_words, frame_confidence

if TYPE_CHECKING:
    from asr.inference.recognizer import Recognizer

CHUNK_SECONDS = DataConfig.max_duration  # the longest audio a model is trained on: shorter files are not cut
MAX_SECONDS = 3600.0  # 230 MB of float32 samples at 16 kHz: longer files are refused from their header


@dataclass
class Transcript:
    """What ``transcribe_long`` returns.

    Attributes:
        text: the transcript.
        words: its words with times (seconds from the start of the file) and confidences.
        duration: the recording's length, seconds.
        chunks: ``[(start, end)]`` seconds of each chunk transcribed.
        frame_times: float ``[N]``: the start (seconds) of every model output
            frame of every chunk, in order.
        frame_confidence: float ``[N]``: each of those frames' largest softmax probability.
    """

    text: str
    words: list[Word]
    duration: float
    chunks: list[tuple[float, float]] = field(default_factory=list)
    frame_times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    frame_confidence: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def to_dict(self) -> dict:
        """``{"text", "words": [{"word", "start", "end", "confidence"}]}`` for JSON."""
        return {"text": self.text, "words": [w.to_dict() for w in self.words]}


def check_lengths(chunk_seconds: float, max_seconds: float) -> None:
    """Refuse a chunk length under 1 s or a maximum length that is not positive (seconds)."""
    if not chunk_seconds >= 1.0:
        raise ASRError(f"chunk length must be at least 1 second, got {chunk_seconds}")
    if not max_seconds > 0:
        raise ASRError(f"maximum length must be positive, got {max_seconds}")


def transcribe_long(recognizer: Recognizer, audio: str | os.PathLike | np.ndarray, sample_rate: int | None = None,
                    chunk_seconds: float = CHUNK_SECONDS, max_seconds: float = MAX_SECONDS,
                    batch_size: int = 32) -> Transcript:
    """Transcribe a recording of any length with timed words (see the module docstring).

    Args:
        recognizer: a ``Recognizer`` (Keras or TFLite).
        audio: a path, or float samples ``[n]`` (see ``Recognizer.samples``).
        sample_rate: Hz of an array (default: the model's).
        chunk_seconds: longer recordings are cut at pauses into chunks of at most this.
        max_seconds: longer recordings are refused.
        batch_size: chunks per forward pass.
    """
    check_lengths(chunk_seconds, max_seconds)
    samples = recognizer.samples(audio, sample_rate, max_duration=max_seconds)
    rate = recognizer.sample_rate
    duration = samples.size / rate
    if is_silent(samples):
        return Transcript("", [], duration)  # silence: an empty transcript, not a guess
    chunks = plan_chunks(samples, rate, chunk_seconds)
    inputs = [recognizer.backend.prepare(samples[c.start:c.end]) for c in chunks]
    many = len(chunks) > batch_size  # a bar only when there is more than one batch to wait for
    logits = recognizer.logits(inputs, batch_size, desc="model" if many else None)
    texts = recognizer.decode(logits, desc="decoding" if many else None)
    texts = [recognizer.confident(scores, text) for scores, text in zip(logits, texts)]  # noise: ""
    step = recognizer.frame_seconds
    words: list[Word] = []
    times, confidences = [], []
    for chunk, scores, text in zip(chunks, logits, texts):
        offset = chunk.start / rate
        aligned = align_words(scores, text, recognizer.tokenizer, step, offset)
        words += _within(aligned, chunk.speech_start / rate, chunk.speech_end / rate)
        times.append(offset + step * np.arange(len(scores)))
        confidences.append(frame_confidence(scores))
    return Transcript(
        text=" ".join(t for t in texts if t),
        words=words,
        duration=duration,
        chunks=[(c.start / rate, c.end / rate) for c in chunks],
        frame_times=np.concatenate(times) if times else np.zeros(0),
        frame_confidence=np.concatenate(confidences) if confidences else np.zeros(0),
    )


def _within(words: list[Word], start: float, end: float) -> list[Word]:
    """``words`` with their times moved inside ``[start, end]`` seconds, where they can be."""
    moved = []
    for word in words:
        begin = min(max(word.start, start), word.end)
        moved.append(dataclasses.replace(word, start=begin, end=max(min(word.end, end), begin)))
    return moved

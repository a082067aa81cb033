"""Live recognition: audio blocks in, partial and final results out.

``Endpointer`` decides, block by block, where an utterance starts and ends:
10 ms frames whose energy rises ``rise_db`` above the noise floor (the 10th
percentile of the last few seconds, digital silence left out) are speech; an utterance starts at the first
speech frame (with ``margin`` seconds of what came before), and ends after
``pause`` seconds without speech, or at ``max_seconds``. ``StreamingRecognizer``
re-decodes the open utterance every ``partial_seconds`` of new audio (a
*partial*, provisional) and decodes it once more at its end (the *final*, with
timed words), so a listener sees text while someone is still speaking. Both
``asr listen`` and the server's WebSocket use it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from asr.audio.vad import HOP_SECONDS, MARGIN, MIN_RISE_DB, frame_energy_db
from asr.config import DataConfig

PAUSE_SECONDS = 0.5  # silence that ends an utterance
PARTIAL_SECONDS = 0.5  # new audio between two partials
FLOOR_SECONDS = 3.0  # the noise floor's window
FLOOR_DB = -70.0  # frames quieter than this are silence, whatever the floor
# frames quieter than this are digital silence (a file's zeros, a muted input), not a noise level: the floor is
# taken over the others, or a stream of zeros between noisy pauses would set it below the pauses' noise
DIGITAL_SILENCE_DB = -90.0


@dataclass(frozen=True)
class Result:
    """A partial or final result.

    Attributes:
        final: False for a provisional partial, replaced by the next result.
        text: the transcript of the utterance so far (partial) or whole (final).
        start, end: seconds from the start of the stream.
        words: timed words, each ``Word.to_dict()`` (finals only).
        tags: a grammar's tags (finals with a grammar decoder only).
    """

    final: bool
    text: str
    start: float
    end: float
    words: tuple = ()
    tags: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = {"type": "final" if self.final else "partial", "text": self.text, "start": round(self.start, 3),
               "end": round(self.end, 3)}
        if self.final:
            out["words"] = list(self.words)
            if self.tags:
                out["tags"] = dict(self.tags)
        return out


class Endpointer:
    """Energy endpointing over a stream (numpy only).

    Call ``push(block)`` with each block; it returns ``(speech_started, utterance_ended)``.
    ``utterance`` holds the open utterance's samples, ``start`` its start in seconds.
    """

    def __init__(self, sample_rate: int, pause: float = PAUSE_SECONDS, rise_db: float = MIN_RISE_DB + 4.0,
                 margin: float = MARGIN, max_seconds: float = DataConfig.max_duration):
        self.rate, self.pause, self.rise_db, self.max_seconds = sample_rate, pause, rise_db, max_seconds
        self.hop = int(round(HOP_SECONDS * sample_rate))
        self.energies: deque = deque(maxlen=int(FLOOR_SECONDS / HOP_SECONDS))
        self.history: deque = deque(maxlen=max(1, int(margin * sample_rate)))  # pre-roll before speech
        self.pending = np.zeros(0, np.float32)  # samples not yet a whole hop
        self.utterance: list[np.ndarray] = []
        self.in_speech, self.silent_hops, self.position, self.start = False, 0, 0, 0.0

    def _speech(self, hop: np.ndarray) -> bool:
        energy = float(frame_energy_db(hop, self.rate, HOP_SECONDS, HOP_SECONDS)[0]) if len(hop) else FLOOR_DB
        audible = [e for e in self.energies if e > DIGITAL_SILENCE_DB]
        floor = float(np.percentile(audible, 10)) if len(audible) >= 10 else energy
        self.energies.append(energy)
        return energy > FLOOR_DB and energy > floor + self.rise_db

    def push(self, block: np.ndarray) -> tuple[bool, bool]:
        started = ended = False
        data = np.concatenate([self.pending, np.asarray(block, np.float32)])
        whole = len(data) // self.hop * self.hop
        self.pending = data[whole:]
        for i in range(0, whole, self.hop):
            hop = data[i:i + self.hop]
            speech = self._speech(hop)
            self.position += len(hop)
            if not self.in_speech:
                if speech:
                    self.in_speech, started, self.silent_hops = True, True, 0
                    before = np.array(self.history, np.float32)
                    self.start = (self.position - len(hop) - len(before)) / self.rate
                    self.utterance = [before, hop]
                else:
                    self.history.extend(hop)
                continue
            self.utterance.append(hop)
            self.silent_hops = 0 if speech else self.silent_hops + 1
            length = sum(len(u) for u in self.utterance) / self.rate
            if self.silent_hops * HOP_SECONDS >= self.pause or length >= self.max_seconds:
                ended = True
                break  # the caller takes the utterance; the rest of the block is pushed again
        if ended:
            rest = data[i + self.hop:whole]
            self.pending = np.concatenate([rest, self.pending])
        return started, ended

    def take(self) -> tuple[np.ndarray, float]:
        """The open utterance's samples and start (seconds); the endpointer waits for speech again."""
        samples = np.concatenate(self.utterance) if self.utterance else np.zeros(0, np.float32)
        self.utterance, self.in_speech, self.silent_hops = [], False, 0
        self.history.clear()
        return samples, self.start


class StreamingRecognizer:
    """Partial and final results from a stream of audio blocks.

    Args:
        recognizer: an ``asr.inference.Recognizer`` (any backend and decoder).
        pause: seconds of silence that end an utterance.
        partial_seconds: new audio between two partials (0: no partials).
    """

    def __init__(self, recognizer, pause: float = PAUSE_SECONDS, partial_seconds: float = PARTIAL_SECONDS):
        self.recognizer = recognizer
        self.endpointer = Endpointer(recognizer.sample_rate, pause, max_seconds=recognizer.max_duration)
        self.partial_samples = int(partial_seconds * recognizer.sample_rate)
        self.partial_at = 0  # the open utterance's length (samples) at its last partial
        self.last_partial = ""

    def feed(self, block: np.ndarray) -> list[Result]:
        """One block ``[n]`` (float32 at the recognizer's rate) → the results it completes."""
        results = []
        while self.endpointer.push(block)[1]:
            block = np.zeros(0, np.float32)  # what followed the end is in the endpointer already
            results.append(self._final())
        if self.endpointer.in_speech and self.partial_samples:
            length = sum(len(u) for u in self.endpointer.utterance)
            if length - self.partial_at >= self.partial_samples:
                self.partial_at = length
                partial = self._partial()
                if partial is not None:
                    results.append(partial)
        return results

    def flush(self) -> list[Result]:
        """End of stream: the open utterance's final result, if any."""
        return [self._final()] if self.endpointer.in_speech else []

    def _partial(self) -> Result | None:
        samples = np.concatenate(self.endpointer.utterance)
        rate = self.recognizer.sample_rate
        text = self.recognizer.transcribe(samples, rate) if _decodable(samples, self.recognizer) else ""
        if not text or text == self.last_partial:
            return None
        self.last_partial = text
        start = self.endpointer.start
        return Result(False, text, start, start + len(samples) / self.recognizer.sample_rate)

    def _final(self) -> Result:
        samples, start = self.endpointer.take()
        self.partial_at, self.last_partial = 0, ""
        end = start + len(samples) / self.recognizer.sample_rate
        if not _decodable(samples, self.recognizer):
            return Result(True, "", start, end)
        match = getattr(self.recognizer.decoder, "match", None)
        if match is not None:  # a grammar: its sentence and tags, no word times
            found = self.recognizer.match(samples, self.recognizer.sample_rate)
            return Result(True, found.text, start, end, tags=found.tags)
        transcript = self.recognizer.transcribe_long(samples, self.recognizer.sample_rate)
        words = tuple({**w.to_dict(), "start": round(start + w.start, 3), "end": round(start + w.end, 3)}
                      for w in transcript.words)
        return Result(True, transcript.text, start, end, words)


def _decodable(samples: np.ndarray, recognizer) -> bool:
    """Long enough for the model's front end (a few frames)."""
    return len(samples) >= recognizer.features.win_length * 2

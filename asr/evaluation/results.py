"""What ``evaluate`` and ``evaluate_long`` return: frozen dataclasses whose
``to_dict()`` is the JSON that ``asr evaluate --json`` and the benchmarks print."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass(frozen=True)
class GroupRates:
    """Corpus-level error rates of a group of utterances (a speaker, a length bucket).

    Attributes:
        wer: word error rate, a fraction (0.05 is 5 %).
        cer: character error rate, a fraction.
        utterances: how many utterances the group holds.
    """

    wer: float
    cer: float
    utterances: int


@dataclass(frozen=True)
class ScoredUtterance:
    """One utterance's transcript against its reference.

    Attributes:
        audio_filepath: the audio file (absolute).
        reference: the normalised manifest text.
        hypothesis: the recognizer's transcript.
        wer, cer: this utterance's error rates, fractions.
    """

    audio_filepath: str
    reference: str
    hypothesis: str
    wer: float
    cer: float


@dataclass(frozen=True)
class EvalResult:
    """A recognizer scored on a manifest (``asr.evaluation.evaluate.evaluate``).

    Attributes:
        wer, cer: corpus-level error rates, fractions.
        sentence_error: the fraction of utterances whose transcript is not exactly the reference
            (what a command or grammar application counts).
        rtf: wall seconds (features + model + decoding) per audio second.
        decode_ms_per_utterance: the decoder's share alone (scores → text), milliseconds.
        utterances: utterances scored.
        audio_seconds: their total length, seconds.
        skipped: manifest lines left out (unreadable, too long, out-of-vocabulary text...).
        worst: the worst utterances, worst first (only those with an error).
        by_length: error rates per length bucket (``"0-2 s"``, ...), shortest first.
        by_speaker: error rates per manifest ``speaker``, sorted; empty without speakers.
        by_engine: error rates per manifest ``engine`` (the synthesiser, ``asr synth``), sorted.
        by_sentence: error rates on sentences trained on (``seen``) and held out (``unseen``),
            from the manifest's ``sentence`` key (``asr synth --text-file``); empty without it.
    """

    wer: float
    cer: float
    sentence_error: float
    rtf: float
    decode_ms_per_utterance: float
    utterances: int
    audio_seconds: float
    skipped: int
    worst: tuple[ScoredUtterance, ...] = ()
    by_length: dict[str, GroupRates] = field(default_factory=dict)
    by_speaker: dict[str, GroupRates] = field(default_factory=dict)
    by_engine: dict[str, GroupRates] = field(default_factory=dict)
    by_sentence: dict[str, GroupRates] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Plain data for JSON, keys in the order of the fields."""
        return dataclasses.asdict(self) | {"worst": [dataclasses.asdict(w) for w in self.worst]}


@dataclass(frozen=True)
class LongFormResult:
    """Long-form transcription scored on a recording of known utterances
    (``asr.evaluation.evaluate.evaluate_long``).

    Attributes:
        duration: the recording's length, seconds.
        utterances: utterances in it.
        chunks: chunks it was cut into.
        wer, cer: long-form error rates over the whole recording, fractions.
        per_utterance_wer, per_utterance_cer: the same utterances transcribed one by one.
        rtf: long-form wall seconds per audio second.
        onset_errors: per utterance, seconds between its first recognised word's start
            and its known speech onset (positive: late); None where that word was missed.
        onsets_matched: how many onset errors are not None.
        onset_error_median, onset_error_max: of their absolute values, seconds (None: none matched).
    """

    duration: float
    utterances: int
    chunks: int
    wer: float
    cer: float
    per_utterance_wer: float
    per_utterance_cer: float
    rtf: float
    onset_errors: tuple[float | None, ...]
    onsets_matched: int
    onset_error_median: float | None
    onset_error_max: float | None

    def to_dict(self) -> dict:
        """Plain data for JSON, keys in the order of the fields."""
        return dataclasses.asdict(self) | {"onset_errors": list(self.onset_errors)}

"""What ``train`` returns: frozen dataclasses whose ``to_dict()`` is the run's ``metrics.json``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class DevScore:
    """The best epoch's dev-set error rates (fractions) and the dev set's size."""

    wer: float
    cer: float | None
    utterances: int


@dataclass(frozen=True)
class TestScore:
    """The best model on the test manifest (``asr.evaluation.results.EvalResult``'s headline).

    Attributes:
        wer, cer: error rates, fractions.
        rtf: wall seconds per audio second.
        utterances: utterances scored.
        skipped: manifest lines left out.
        by_sentence: a text-file corpus's sentence holdout: ``{"seen"|"unseen": {"wer", "cer",
            "utterances"}}``; empty for other corpora.
    """

    wer: float
    cer: float
    rtf: float
    utterances: int
    skipped: int
    by_sentence: dict = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class TrainResult:
    """A finished training run (the chief's), as written to ``metrics.json``.

    Attributes:
        dev: the best epoch's dev score.
        best_epoch: that epoch, from 1.
        epochs_run: epochs completed, across resumed sessions.
        train_seconds_this_session: wall seconds of ``fit`` in this session.
        train_audio_hours: hours of audio in the training split.
        replicas: devices sharing each global batch.
        skipped: manifest lines left out, ``{"train": n, "dev": n}``.
        parameters: the model's parameter count.
        test: the best model on the test manifest; None when the recipe has none.
    """

    dev: DevScore
    best_epoch: int
    epochs_run: int
    train_seconds_this_session: float
    train_audio_hours: float
    replicas: int
    skipped: dict[str, int]
    parameters: int
    test: TestScore | None = None

    def to_dict(self) -> dict:
        """``metrics.json``: plain data, keys in the order of the fields, no ``test`` without one."""
        data = dataclasses.asdict(self)
        if self.test is None:
            del data["test"]
        elif not self.test.by_sentence:
            del data["test"]["by_sentence"]  # metrics.json as before for corpora without a sentence holdout
        return data


@dataclass(frozen=True)
class WorkerResult:
    """What a multi-worker run's non-chief worker returns: its name and the epochs it ran."""

    task: str
    epochs_run: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

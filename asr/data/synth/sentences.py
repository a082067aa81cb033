"""What each split of a corpus says: a grammar's sentences, or a text file's lines with a
sentence holdout, so that dev and test measure wording the model never trained on.

With a holdout, a share of the file's distinct sentences is kept out of training; dev and
test draw every other utterance from those (tagged ``"sentence": "unseen"`` in their
manifests) and the rest from the training sentences (``"seen"``), and ``asr evaluate``
reports WER and CER for each (``by_sentence``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from asr.config import CorpusConfig
from asr.data.synth.grammars import generate_sentences
from asr.data.synth.seeds import derive_seed


@dataclass(frozen=True)
class Sentences:
    """Where a corpus's sentences come from.

    Attributes:
        grammar: a built-in grammar or JSGF file, when there are no lines.
        lines: the training sentences of a text file (repeats kept: a line twice is drawn twice as often).
        unseen: its held-out sentences (none: no holdout).
        share: the share of distinct sentences held out.
    """

    grammar: str | None
    lines: tuple[str, ...] | None = None
    unseen: tuple[str, ...] = ()
    share: float = 0.0

    def draw(self, split: str, n: int, seed: int, rng: random.Random) -> list[str]:
        """``n`` sentences of ``split``; ``rng`` is the split's own generator."""
        if self.lines is None:
            return generate_sentences(self.grammar, n, derive_seed("sentences", seed, split))
        if split == "train" or not self.unseen:
            return rng.choices(self.lines, k=n)
        return [rng.choice(self.unseen) if i % 2 == 0 else rng.choice(self.lines) for i in range(n)]

    def tag(self, split: str, text: str) -> dict:
        """The manifest key that says whether a dev/test sentence was trained on (with a holdout)."""
        if not self.unseen or split == "train":
            return {}
        return {"sentence": "unseen" if text in self.unseen else "seen"}

    def record(self) -> dict:
        """What ``corpus.json`` says about the holdout (nothing for a grammar)."""
        if self.lines is None:
            return {}
        return {"sentence_holdout": {"share": self.share, "held_out": len(self.unseen),
                                     "training": len(set(self.lines))}}


def hold_out(lines: list[str] | None, grammar: str | None, share: float | None, seed: int) -> Sentences:
    """A text file's normalised ``lines`` split into training and held-out sentences; ``share`` None:
    ``CorpusConfig.AUTO_SENTENCE_HOLDOUT`` once the file has ``SENTENCE_HOLDOUT_MIN_LINES`` distinct ones."""
    if lines is None:
        return Sentences(grammar)
    distinct = sorted(set(lines))
    if share is None:
        share = CorpusConfig.AUTO_SENTENCE_HOLDOUT if len(distinct) >= CorpusConfig.SENTENCE_HOLDOUT_MIN_LINES else 0.0
    count = min(len(distinct) - 1, round(share * len(distinct)))
    if count <= 0:
        return Sentences(None, tuple(lines), (), 0.0)
    held = set(random.Random(derive_seed("sentence-holdout", seed)).sample(distinct, count))
    return Sentences(None, tuple(line for line in lines if line not in held), tuple(sorted(held)), share)

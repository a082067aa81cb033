"""``GrammarDecoder``: decode only sentences a grammar accepts, and say "no match" when
the speech does not fit it (``--grammar``, ``--reject-threshold``).

    >>> decoder = GrammarDecoder.from_file("lights.jsgf", model.tokenizer)
    >>> decoder.match(logits, lengths)[0].tags
    {'action': 'on', 'room': 'kitchen'}
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from asr.core.errors import DecoderError
from asr.decoding.grammar.automaton import CompiledGrammar, compile_expr, load
from asr.grammar.jsgf import read_grammar
from asr.decoding.grammar.search import SearchResult, search
from asr.text import Tokenizer

# The largest cost per letter (nats, SearchResult.cost_per_letter) of an accepted sentence: the
# point where in-grammar rejects and out-of-grammar accepts are equal on the commands dev sets
# (pipelines/grammar_rejection.py, docs/GRAMMARS.md).
DEFAULT_REJECT_THRESHOLD = 0.5
COMPILED_SUFFIX = ".npz"


def tag_slots(tags: Sequence[str]) -> dict[str, object]:
    """JSGF tag texts → ``{key: value}``: ``action=on`` → ``{"action": "on"}`` (quotes and a
    leading ``out.`` dropped; several ``k=v`` in one tag split at ``;`` or ``,``), a bare tag
    ``{lights}`` → ``{"lights": True}``. Later tags win."""
    slots: dict[str, object] = {}
    for tag in tags:
        for part in re.split(r"[;,]", tag):
            part = part.strip()
            if not part:
                continue
            key, sep, value = part.partition("=")
            key = key.strip().removeprefix("out.")
            slots[key] = value.strip().strip("'\"") if sep else True
    return slots


@dataclass(frozen=True)
class GrammarMatch:
    """One utterance's answer: ``text`` is the grammar sentence, or "" when rejected.

    Attributes:
        text: the sentence (words joined by spaces); "" when ``accepted`` is False.
        accepted: the sentence's cost per letter is within the threshold.
        score: natural-log score of the grammar path.
        cost_per_letter: -score per letter of the sentence, the rejection statistic.
        gap_per_frame: (free - grammar score) per frame: how far the grammar forced the path.
        tags: the tags' slots (``tag_slots``).
        sentence: the best grammar sentence even when rejected.
    """

    text: str
    accepted: bool
    score: float
    cost_per_letter: float
    gap_per_frame: float
    tags: dict = field(default_factory=dict)
    sentence: str = ""

    def to_dict(self) -> dict:
        return {"text": self.text, "accepted": self.accepted, "score": self.score,
                "cost_per_letter": self.cost_per_letter, "gap_per_frame": self.gap_per_frame,
                "tags": dict(self.tags), "sentence": self.sentence}


class GrammarDecoder:
    """A ``Decoder`` restricted to a grammar's sentences.

    Args:
        grammar: a ``CompiledGrammar`` for this tokenizer.
        tokenizer: the model's.
        reject_threshold: nats per letter (see ``GrammarMatch.cost_per_letter``);
            None: never reject.
        beam, max_states: the search's pruning (``asr.decoding.grammar.search.search``).
    """

    def __init__(self, grammar: CompiledGrammar, tokenizer: Tokenizer,
                 reject_threshold: float | None = DEFAULT_REJECT_THRESHOLD, beam: float = 30.0,
                 max_states: int = 2000):
        if grammar.tokenizer != tokenizer.to_dict():
            raise DecoderError("the grammar was compiled for another tokenizer; compile it for this model")
        if reject_threshold is not None and reject_threshold < 0:
            raise DecoderError(f"reject threshold {reject_threshold} must be >= 0")
        self.grammar, self.tokenizer = grammar, tokenizer
        self.reject_threshold, self.beam, self.max_states = reject_threshold, beam, max_states

    @classmethod
    def from_file(cls, path: str | os.PathLike, tokenizer: Tokenizer, **kwargs) -> GrammarDecoder:
        """A JSGF file, a phrase list (one sentence a line) or a compiled ``.npz``."""
        path = str(path)
        grammar = load(path) if path.endswith(COMPILED_SUFFIX) else compile_expr(read_grammar(path), tokenizer)
        return cls(grammar, tokenizer, **kwargs)

    def search(self, scores: np.ndarray, length: int) -> SearchResult:
        return search(self.grammar, scores, length, self.tokenizer.blank_id, self.beam, self.max_states)

    def match(self, logits: np.ndarray, lengths: Sequence[int]) -> list[GrammarMatch]:
        """``logits [B, T', V]`` → one ``GrammarMatch`` per utterance."""
        matches = []
        for scores, length in zip(logits, lengths):
            found = self.search(scores, int(length))
            sentence = " ".join(found.words)
            cost = found.cost_per_letter
            accepted = np.isfinite(found.score) and (self.reject_threshold is None or cost <= self.reject_threshold)
            matches.append(GrammarMatch(sentence if accepted else "", bool(accepted), found.score, cost,
                                        found.gap_per_frame, tag_slots(found.tags) if accepted else {}, sentence))
        return matches

    def __call__(self, logits: np.ndarray, lengths: Sequence[int]) -> list[str]:
        return [m.text for m in self.match(logits, lengths)]

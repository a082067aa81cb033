"""Decoding: CTC output scores → text, outside the model.

Every strategy is a ``Decoder``: ``decoder(logits [B, T', V], lengths [B]) → list[str]``.
``GreedyDecoder`` takes the best path; ``BeamSearchDecoder`` runs a CTC prefix
beam search, optionally with a word n-gram language model (``asr.decoding.ngram``) and
hot-word boosting. ``make_decoder`` picks one from command-line style options.
"""

from __future__ import annotations

import heapq
import math
import os
from typing import Hashable, Iterable, Protocol, Sequence

import numpy as np

from asr.core.errors import DecoderError, TextError
from asr.decoding.ngram import EOS, load_lm
from asr.text import Tokenizer

LN10 = math.log(10.0)  # LM scores are log10; CTC scores are natural logs
NEG_INF = float("-inf")


class Decoder(Protocol):
    def __call__(self, logits: np.ndarray, lengths: Sequence[int]) -> list[str]: ...


def ids_to_text(tokenizer: Tokenizer, ids: Iterable[int]) -> str:
    """Label ids (no blanks) → the transcript every decoder returns: stray,
    leading and trailing spaces collapsed."""
    return " ".join(tokenizer.decode(ids).split())


def log_softmax(scores: np.ndarray) -> np.ndarray:
    """Logits (or log-probabilities) ``[..., V]`` → natural-log probabilities, float64."""
    x = np.asarray(scores, dtype=np.float64)
    top = x.max(axis=-1, keepdims=True)
    return x - (top + np.log(np.exp(x - top).sum(axis=-1, keepdims=True)))


def greedy_ids(scores: np.ndarray, length: int, blank_id: int = 0) -> list[int]:
    """Best-path CTC ids of one utterance: argmax per frame, repeats merged, blanks dropped.

    Args:
        scores: ``[T', V]`` logits or log-probabilities.
        length: number of real frames; frames past it are ignored.
        blank_id: the blank's id.
    """
    best = np.asarray(scores)[: int(length)].argmax(axis=-1)
    if best.size == 0:
        return []
    keep = np.ones(best.shape, dtype=bool)
    keep[1:] = best[1:] != best[:-1]
    return [int(i) for i in best[keep] if i != blank_id]


class GreedyDecoder:
    """Greedy CTC decoding with a tokenizer.

    Args:
        tokenizer: maps ids to characters; its blank is id 0.
    """

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, logits: np.ndarray, lengths: Sequence[int]) -> list[str]:
        """``logits [B, T', V]``, ``lengths [B]`` → B transcripts."""
        return [ids_to_text(self.tokenizer, greedy_ids(row, n, self.tokenizer.blank_id))
                for row, n in zip(np.asarray(logits), np.asarray(lengths))]


def _logaddexp(a: float, b: float) -> float:
    """``log(exp(a) + exp(b))`` on Python floats (numpy's is slow on scalars)."""
    if a < b:
        a, b = b, a
    if b == NEG_INF:
        return a
    return a + math.log1p(math.exp(b - a))


class _Words:
    """The word side of one prefix, a function of the prefix alone: the LM state
    after its completed words, their summed log10 LM probability, how many words
    (and hot words) are completed, the partial word being spelled, and ``bonus``,
    everything the prefix's score adds to its CTC log probability (natural log)."""

    __slots__ = ("lm_state", "lm_log10", "n_words", "n_hot", "partial", "bonus")

    def __init__(self, lm_state: Hashable, lm_log10: float, n_words: int, n_hot: int, partial: str, bonus: float):
        self.lm_state, self.lm_log10, self.n_words = lm_state, lm_log10, n_words
        self.n_hot, self.partial, self.bonus = n_hot, partial, bonus


class BeamSearchDecoder:
    """CTC prefix beam search with an optional word n-gram LM and hot-word boosting.

    Per frame, each kept prefix is extended by a blank, by a repeat of its last
    character (which CTC collapses) and by every character whose frame log
    probability is at least ``prune_log_prob``; each prefix carries the
    probability of all alignments ending in a blank and in a non-blank, and
    prefixes reached twice are merged by adding them. The ``beam_size`` best by

        log P_ctc(prefix) + alpha · ln P_lm(words) + beta · (completed words)
        + hotword_weight · (completed hot words + hot fraction of the partial word)

    survive. A word is completed, and scored by the LM, when a space follows it
    and at the end, where ``</s>`` is scored too. The LM gives log10
    probabilities: they are multiplied by ln 10 before ``alpha``. ``alpha`` and
    ``beta`` apply only with an LM.

    Unknown words: a word the LM does not list scores ``P(<unk> | history)``
    times the probability of spelling it letter by letter, uniformly over the
    alphabet (``(1/A)^len``; A = 27 letters and apostrophe); without that
    spelling term, gluing several words into one unknown word is cheaper than
    scoring them, and the search drops spaces. When the LM lists its words
    (an ARPA model does), this cost is charged as soon as the partial word
    stops being the beginning of any known word, so such prefixes lose ground
    before they are complete.

    Hot words: a completed word in ``hotwords`` earns ``hotword_weight``; a
    partial word that begins a hot word earns ``hotword_weight · len(partial) /
    len(hot word)`` (the largest such fraction), so a hot word in progress is
    not pruned before it is finished, and the bonus grows smoothly to the full
    one. A partial bonus is not kept when the word ends up different.

    Args:
        tokenizer: ids ↔ characters; blank is id 0 and ``" "`` separates words.
        beam_size: prefixes kept per frame (>= 1).
        lm: a word LM (``asr.decoding.ngram.load_lm``), or None.
        alpha: LM weight (>= 0).
        beta: word insertion bonus, natural-log units per word.
        hotwords: words to boost (normalised like transcripts; phrases give their words).
        hotword_weight: natural-log bonus per completed hot word (>= 0).
        prune_log_prob: characters below this natural-log probability in a
            frame are not tried there (speed); the best character always passes.
    """

    # beam_size, alpha and beta default to the values chosen on the commands dev set (docs/DECODING.md)
    def __init__(self, tokenizer: Tokenizer, beam_size: int = 64, lm=None, alpha: float = 0.8,
                 beta: float = 4.0, hotwords: Iterable[str] = (), hotword_weight: float = 3.0,
                 prune_log_prob: float = -8.0):
        if not isinstance(beam_size, (int, np.integer)) or beam_size < 1:
            raise DecoderError(f"beam size must be an integer >= 1, got {beam_size!r}")
        for name, value in (("alpha", alpha), ("hotword weight", hotword_weight)):
            if not math.isfinite(value) or value < 0:
                raise DecoderError(f"{name} must be a finite number >= 0, got {value!r}")
        if not math.isfinite(beta):
            raise DecoderError(f"beta must be a finite number, got {beta!r}")
        self.tokenizer = tokenizer
        self.beam_size = int(beam_size)
        self.lm = lm
        self.alpha, self.beta = float(alpha), float(beta)
        self.hotword_weight = float(hotword_weight)
        self.prune_log_prob = float(prune_log_prob)
        self.hotwords = self._hot_words(tokenizer, hotwords)
        self._hot_prefix: dict[str, float] = {}  # partial word → fraction of a hot word it spells
        for word in self.hotwords:
            for i in range(1, len(word) + 1):
                self._hot_prefix[word[:i]] = max(self._hot_prefix.get(word[:i], 0.0), i / len(word))
        self._space = tokenizer.characters.find(" ") + 1 or None  # the space's id (ids start at 1)
        self._lm_weight = self.alpha * LN10 if lm is not None else 0.0
        self._word_bonus = self.beta if lm is not None else 0.0
        letters = len(tokenizer.characters.replace(" ", "")) or 1
        self._spell_log10 = -math.log10(letters)  # log10 of one letter of an unknown word
        listed = getattr(lm, "vocabulary", None)
        self._known_prefixes = None if listed is None else {w[:i] for w in listed() for i in range(1, len(w) + 1)}

    @staticmethod
    def _hot_words(tokenizer: Tokenizer, hotwords: Iterable[str]) -> frozenset[str]:
        words = set()
        for item in hotwords:
            text = tokenizer.normalize(item)
            try:
                tokenizer.encode(text, normalize=False)
            except TextError as exc:
                raise DecoderError(f"hot word {item!r}: {exc}") from None
            words.update(text.split())
        return frozenset(words)

    def __call__(self, logits: np.ndarray, lengths: Sequence[int]) -> list[str]:
        """``logits [B, T', V]``, ``lengths [B]`` → B transcripts."""
        return [self.search(row[: int(n)])[0][0] for row, n in zip(np.asarray(logits), np.asarray(lengths))]

    def search(self, scores: np.ndarray) -> list[tuple[str, float]]:
        """One utterance's ``[T', V]`` logits or log-probabilities → the final beam
        as ``(transcript, score)``, best first, one entry per transcript; the
        score is the natural-log total described in the class docstring."""
        log_probs = log_softmax(scores)
        blank = self.tokenizer.blank_id
        cache: dict = {}  # (LM state, word) → (log10 score, next state), for this utterance
        root_state = self.lm.start() if self.lm is not None else None
        beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, NEG_INF)}  # (ends in blank, in non-blank)
        words = {(): _Words(root_state, 0.0, 0, 0, "", self._bonus(0.0, 0, 0, ""))}
        for frame in log_probs:
            values = frame.tolist()
            tried = set(np.flatnonzero(frame >= self.prune_log_prob).tolist()) | {int(frame.argmax())}
            chars = sorted(tried - {blank})
            grown: dict[tuple[int, ...], tuple[float, float]] = {}
            for prefix, (p_blank, p_char) in beams.items():
                total = _logaddexp(p_blank, p_char)
                last = prefix[-1] if prefix else None
                for c in chars:
                    if c != last:
                        extended = total + values[c]
                    elif p_blank > NEG_INF:  # a repeat is a new character only after a blank
                        extended = p_blank + values[c]
                    else:
                        continue
                    new = prefix + (c,)
                    b, nb = grown.get(new, (NEG_INF, NEG_INF))
                    grown[new] = (b, _logaddexp(nb, extended))
                # staying: a blank, or the last character again, which CTC collapses
                stay_char = p_char + values[last] if last is not None else NEG_INF
                b, nb = grown.get(prefix, (NEG_INF, NEG_INF))
                grown[prefix] = (_logaddexp(b, total + values[blank]), _logaddexp(nb, stay_char))
            new_words = {}
            for prefix in grown:
                known = words.get(prefix)
                new_words[prefix] = known if known is not None else self._extend(words[prefix[:-1]], prefix, cache)
            kept = heapq.nlargest(self.beam_size, grown.items(),
                                  key=lambda item: _logaddexp(*item[1]) + new_words[item[0]].bonus)
            beams = dict(kept)
            words = {prefix: new_words[prefix] for prefix in beams}
        final: dict[str, float] = {}
        for prefix, (p_blank, p_char) in beams.items():
            score = _logaddexp(p_blank, p_char) + self._finish(words[prefix], cache).bonus
            text = ids_to_text(self.tokenizer, prefix)
            final[text] = max(final.get(text, NEG_INF), score)
        return sorted(final.items(), key=lambda item: -item[1])

    def _bonus(self, lm_log10: float, n_words: int, n_hot: int, partial: str) -> float:
        return (self._lm_weight * lm_log10 + self._word_bonus * n_words
                + self.hotword_weight * (n_hot + self._hot_prefix.get(partial, 0.0)))

    def _word_log10(self, state: Hashable, word: str, cache: dict) -> tuple[float, Hashable]:
        """``(log10 P_lm(word | state), next state)``, an unknown word's spelling
        included (see the class docstring)."""
        key = (state, word)
        found = cache.get(key)
        if found is None:
            logp, next_state = self.lm.score(state, word)
            if word != EOS and word not in self.lm:
                logp += len(word) * self._spell_log10
            found = cache[key] = (logp, next_state)
        return found

    def _complete(self, words: _Words, word: str, cache: dict, is_word: bool = True) -> _Words:
        """``words`` after ``word`` (a completed word, or ``</s>`` with ``is_word``
        False) is scored by the LM; the partial word is cleared."""
        state, lm_log10 = words.lm_state, words.lm_log10
        if self.lm is not None:
            logp, state = self._word_log10(state, word, cache)
            lm_log10 += logp
        n_words = words.n_words + is_word
        n_hot = words.n_hot + (is_word and word in self.hotwords)
        return _Words(state, lm_log10, n_words, n_hot, "", self._bonus(lm_log10, n_words, n_hot, ""))

    def _extend(self, words: _Words, prefix: tuple[int, ...], cache: dict) -> _Words:
        """The word side of ``prefix`` from ``words``, that of ``prefix[:-1]``."""
        char_id = prefix[-1]
        if char_id == self._space:  # a stray space changes nothing
            return self._complete(words, words.partial, cache) if words.partial else words
        after_repeat = len(prefix) > 1 and prefix[-2] == self.tokenizer.repeat_id
        partial = words.partial + self.tokenizer.piece(char_id, words.partial, after_repeat)
        pending = 0.0
        if self.lm is not None and self._known_prefixes is not None and partial not in self._known_prefixes:
            pending = self._word_log10(words.lm_state, partial, cache)[0]  # it can only end as an unknown word
        return _Words(words.lm_state, words.lm_log10, words.n_words, words.n_hot, partial,
                      self._bonus(words.lm_log10 + pending, words.n_words, words.n_hot, partial))

    def _finish(self, words: _Words, cache: dict) -> _Words:
        """At the end: complete the partial word, then score ``</s>``."""
        if words.partial:
            words = self._complete(words, words.partial, cache)
        if self.lm is None:
            return words
        return self._complete(words, EOS, cache, is_word=False)


def make_decoder(tokenizer: Tokenizer, beam_size: int | None = None, lm=None, alpha: float | None = None,
                 beta: float | None = None, hotwords: Iterable[str] = (),
                 hotword_weight: float | None = None) -> Decoder:
    """The decoder that command-line options ask for.

    Greedy when no beam size, LM or hot words are given; otherwise a
    ``BeamSearchDecoder`` with the options given and its own defaults for the
    rest (the defaults live in its signature only).

    Args:
        tokenizer: the model's tokenizer.
        beam_size: prefixes kept per frame; None: greedy, or the beam search's
            default when an LM or hot words are given.
        lm: an ARPA or KenLM binary path (``asr.decoding.ngram.load_lm``), an already loaded
            model, or None.
        alpha, beta: LM weight and word bonus; only with ``lm``.
        hotwords: words to boost.
        hotword_weight: their bonus; only with ``hotwords``.
    """
    if lm is None and (alpha is not None or beta is not None):
        raise DecoderError("alpha and beta weigh a language model: give one (--lm)")
    hotwords = list(hotwords)
    if hotword_weight is not None and not hotwords:
        raise DecoderError("a hot-word weight needs hot words (--hotwords)")
    if beam_size is None and lm is None and not hotwords:
        return GreedyDecoder(tokenizer)
    if isinstance(lm, (str, os.PathLike)):
        lm = load_lm(lm)
    given = {"beam_size": beam_size, "alpha": alpha, "beta": beta, "hotword_weight": hotword_weight}
    return BeamSearchDecoder(tokenizer, lm=lm, hotwords=hotwords, **{k: v for k, v in given.items() if v is not None})

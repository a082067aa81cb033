"""Word n-gram language models for the beam search: read an ARPA file, score words.

``read_arpa`` streams any standard ARPA file (ours, KenLM's, SRILM's; plain or
gzipped) into ``NgramLM``, a pure-Python backoff scorer. KenLM binary files
are read through the ``kenlm`` module when it is installed (``load_lm``).
Building a model from text is :mod:`asr.decoding.lm_build`.
"""

from __future__ import annotations

import gzip
import math
import os
from collections import Counter
from pathlib import Path
from typing import Hashable, Iterable, Iterator, Protocol

from asr.core.errors import LMError, one_line

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
MISSING_UNK_LOG10 = -100.0  # an ARPA file without <unk>: what an unknown word scores (as KenLM does)
KENLM_MAGIC = b"mmap lm http://kheafield.com/code"
GZIP_MAGIC = b"\x1f\x8b"


class LanguageModel(Protocol):
    """What the beam search needs from a word LM. States are hashable; scores are log10."""

    order: int

    def start(self) -> Hashable:
        """The state after ``<s>``."""

    def score(self, state: Hashable, word: str) -> tuple[float, Hashable]:
        """``(log10 P(word | state), next state)``; ``word`` may be ``</s>``; an
        unknown word scores as ``<unk>``."""

    def __contains__(self, word: str) -> bool:
        """Whether the model lists ``word`` (else it is scored as ``<unk>``)."""


# ----------------------------------------------------------------------------
# the scorer
# ----------------------------------------------------------------------------

class NgramLM:
    """A backoff word n-gram model held in one dict (pure Python).

    Args:
        order: the highest n.
        entries: ``(w1, ..., wn) → (log10 p, log10 backoff)`` for every listed
            n-gram, n = 1..order; the backoff is 0.0 where none is given.
        name: where it came from, for messages.
    """

    def __init__(self, order: int, entries: dict[tuple[str, ...], tuple[float, float]], name: str = "<memory>"):
        self.order = order
        self.entries = entries
        self.name = name
        self._unk = UNK if (UNK,) in entries else None

    def __contains__(self, word: str) -> bool:
        return (word,) in self.entries

    def vocabulary(self) -> list[str]:
        """The words the model lists, without ``<s>``, ``</s>`` and ``<unk>``."""
        return [g[0] for g in self.entries if len(g) == 1 and g[0] not in (BOS, EOS, UNK)]

    def counts(self) -> list[int]:
        """Number of listed n-grams per order, ``[n1, n2, ...]``."""
        found = Counter(len(g) for g in self.entries)
        return [found[n] for n in range(1, self.order + 1)]

    def log10_prob(self, word: str, context: Iterable[str] = ()) -> float:
        """``log10 P(word | context)`` with backoff; only the last ``order - 1``
        context words matter. A word not in the model scores as ``<unk>``."""
        context = tuple(context)
        return self.score(context[max(0, len(context) - self.order + 1):], word)[0]

    def start(self) -> tuple[str, ...]:
        """The state after ``<s>``."""
        return self._trim((BOS,)) if self.order > 1 else ()

    def score(self, state: tuple[str, ...], word: str) -> tuple[float, tuple[str, ...]]:
        """``(log10 P(word | state), next state)``. A state is the last words
        (at most ``order - 1``), cut to the longest tail the model lists, so
        equal futures share one state."""
        if (word,) not in self.entries:
            if self._unk is None:
                return MISSING_UNK_LOG10, ()
            word = self._unk
        entries, backoff = self.entries, 0.0
        for i in range(len(state) + 1):
            found = entries.get(state[i:] + (word,))
            if found is not None:
                return backoff + found[0], self._trim((state + (word,))[-(self.order - 1):] if self.order > 1 else ())
            if i < len(state):  # not listed: this context's backoff weight, then a shorter context
                context = entries.get(state[i:])
                if context is not None:
                    backoff += context[1]
        raise AssertionError("unreachable: every known word is a listed unigram")

    def sentence_log10(self, words: Iterable[str]) -> float:
        """``log10 P(words </s> | <s>)``."""
        state, total = self.start(), 0.0
        for word in [*words, EOS]:
            logp, state = self.score(state, word)
            total += logp
        return total

    def _trim(self, words: tuple[str, ...]) -> tuple[str, ...]:
        while words and words not in self.entries:
            words = words[1:]
        return words


class KenLMModel:
    """A KenLM binary (or ARPA) model through the ``kenlm`` module, with ``NgramLM``'s
    ``start``/``score`` interface (log10 scores)."""

    def __init__(self, path: str | os.PathLike):
        import kenlm  # optional: only KenLM binary files need it

        self.name = str(path)
        try:
            self._model = kenlm.Model(str(path))
        except (OSError, RuntimeError) as exc:
            raise LMError(f"{path}: kenlm cannot load it ({one_line(exc, 160)})") from None
        self._kenlm = kenlm
        self.order = self._model.order

    def __contains__(self, word: str) -> bool:
        return word in self._model

    def start(self):
        state = self._kenlm.State()
        self._model.BeginSentenceWrite(state)
        return state

    def score(self, state, word: str):
        out = self._kenlm.State()
        return self._model.BaseScore(state, word, out), out


# ----------------------------------------------------------------------------
# reading ARPA
# ----------------------------------------------------------------------------

def _parse_float(text: str, what: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise LMError(f"{where}: {what} {text!r:.40} is not a number") from None
    if math.isnan(value) or value == math.inf:
        raise LMError(f"{where}: {what} {text!r:.40} is not a finite log10 value")
    return value


def _head(path: Path, size: int) -> bytes:
    """The first ``size`` bytes of a file (to tell gzip and KenLM binary files apart)."""
    try:
        with path.open("rb") as handle:
            return handle.read(size)
    except OSError as exc:
        raise LMError(f"{path}: cannot open language model: {exc.strerror or exc}") from None


def _arpa_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, text without the newline)``, streamed; gzip read transparently."""
    try:
        handle = gzip.open(path, "rb") if _head(path, len(GZIP_MAGIC)) == GZIP_MAGIC else path.open("rb")
    except OSError as exc:
        raise LMError(f"{path}: cannot open language model: {exc.strerror or exc}") from None
    with handle:
        lineno = 0
        try:
            for raw in handle:
                lineno += 1
                try:
                    yield lineno, raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError:
                    raise LMError(f"{path}:{lineno}: not UTF-8 text (not an ARPA file?)") from None
        except (OSError, EOFError) as exc:  # a damaged gzip stream
            raise LMError(f"{path}:{lineno + 1}: cannot read ({exc})") from None


class _ArpaReader:
    """The state of reading one ARPA file, fed one stripped line at a time.

    Args:
        name: the file, for messages.
    """

    def __init__(self, name: str):
        self.name = name
        self.declared: dict[int, int] = {}  # order → n-gram count, from the counts section
        self.entries: dict[tuple[str, ...], tuple[float, float]] = {}
        self.phase = "header"  # header | counts | ngrams | end
        self.n = 0  # the order of the section being read
        self.seen = 0  # entries read in that section

    def feed(self, text: str, where: str) -> bool:
        """Take one line (stripped; ``where`` is ``file:line``); False once past ``\\end\\``."""
        if self.phase == "header":
            if text == "\\data\\":
                self.phase = "counts"
        elif self.phase == "end":
            return False
        elif not text:
            pass
        elif self.phase == "counts":
            self._count(text, where)
        elif text.startswith("\\"):  # the end of a section
            self._section_end(text, where)
        else:
            self._ngram(text, where)
        return True

    def _count(self, text: str, where: str) -> None:
        """An ``ngram N=COUNT`` line, or the ``\\1-grams:`` line that ends them."""
        declared = self.declared
        if text.startswith("ngram "):
            key, _, value = text[len("ngram "):].partition("=")
            try:
                k, count = int(key), int(value)
            except ValueError:
                raise LMError(f"{where}: expected 'ngram N=COUNT', got {text!r:.60}") from None
            if k != len(declared) + 1 or count < 0:
                raise LMError(f"{where}: expected 'ngram {len(declared) + 1}=COUNT' with COUNT >= 0, "
                              f"got {text!r:.60}")
            declared[k] = count
            return
        if not declared:
            raise LMError(f"{where}: expected 'ngram 1=COUNT' after \\data\\, got {text!r:.60}")
        if text != "\\1-grams:":
            raise LMError(f"{where}: expected 'ngram {len(declared) + 1}=COUNT' or '\\1-grams:', "
                          f"got {text!r:.60}")
        self.phase, self.n, self.seen = "ngrams", 1, 0

    def _section_end(self, text: str, where: str) -> None:
        """``\\N-grams:`` or ``\\end\\`` after a section, whose size must match ``\\data\\``."""
        n, declared = self.n, self.declared
        if self.seen != declared[n]:
            raise LMError(f"{where}: the \\{n}-grams: section has {self.seen} entries but \\data\\ says "
                          f"{declared[n]}")
        if text == "\\end\\" and n == len(declared):
            self.phase = "end"
        elif text == f"\\{n + 1}-grams:" and n < len(declared):
            self.n, self.seen = n + 1, 0
        else:
            expected = "\\end\\" if n == len(declared) else f"\\{n + 1}-grams:"
            raise LMError(f"{where}: expected '{expected}', got {text!r:.60}")

    def _ngram(self, text: str, where: str) -> None:
        """``LOG10P W1 .. Wn [BACKOFF]``."""
        n = self.n
        fields = text.split()
        highest = n == len(self.declared)
        if len(fields) != n + 1 and (highest or len(fields) != n + 2):
            extra = " (no backoff at the highest order)" if highest else ""
            raise LMError(f"{where}: expected {n} word{'s' if n > 1 else ''} in a {n}-gram line{extra}, "
                          f"found {len(fields)} fields")
        logp = _parse_float(fields[0], "log10 probability", where)
        if logp > 0:
            raise LMError(f"{where}: positive log10 probability {fields[0]}")
        backoff = _parse_float(fields[n + 1], "backoff", where) if len(fields) == n + 2 else 0.0
        gram = tuple(fields[1: n + 1])
        if gram in self.entries:
            raise LMError(f"{where}: duplicate {n}-gram {' '.join(gram)!r:.60}")
        self.entries[gram] = (logp, backoff)
        self.seen += 1

    def finish(self, lineno: int) -> NgramLM:
        """The model, once the file (last line ``lineno``) is read; raises if it was incomplete."""
        if self.phase == "header":
            raise LMError(f"{self.name}: no \\data\\ line (not an ARPA file?)")
        if self.phase != "end":
            raise LMError(f"{self.name}:{lineno}: the file ends before \\end\\ (truncated?)")
        if not self.declared or self.declared[1] == 0:
            raise LMError(f"{self.name}: the model has no unigrams")
        return NgramLM(len(self.declared), self.entries, self.name)


def read_arpa(path: str | os.PathLike) -> NgramLM:
    """Read an ARPA file line by line into an ``NgramLM``.

    Text before ``\\data\\`` is ignored (SRILM writes a header there). Every
    problem raises ``LMError`` naming the file, the line and what is wrong:
    a malformed ``ngram N=COUNT`` line, sections out of order, an n-gram line
    with the wrong number of words, a probability or backoff that is not a
    number, a positive log10 probability, a duplicate n-gram, a section whose
    size disagrees with ``\\data\\``, or a file that ends before ``\\end\\``.

    Args:
        path: an ARPA file, plain or gzipped.
    """
    path = Path(path)
    if not path.is_file():
        raise LMError(f"{path}: language model not found")
    reader, lineno = _ArpaReader(str(path)), 0
    for lineno, line in _arpa_lines(path):
        if not reader.feed(line.strip(), f"{reader.name}:{lineno}"):
            break
    return reader.finish(lineno)


def load_lm(path: str | os.PathLike) -> LanguageModel:
    """An ARPA file (plain or gzipped) as an ``NgramLM``, or a KenLM binary file
    through the ``kenlm`` module (``KenLMModel``), chosen by the file's first bytes.

    Raises ``LMError`` for a missing file, a malformed ARPA file, or a KenLM
    binary file when ``kenlm`` is not installed.
    """
    path = Path(path)
    if not path.is_file():
        raise LMError(f"{path}: language model not found")
    if _head(path, len(KENLM_MAGIC)) == KENLM_MAGIC:
        try:
            import kenlm  # noqa: F401
        except ImportError:
            raise LMError(f"{path}: a KenLM binary model needs the kenlm Python module "
                          "(pip install kenlm); or pass the ARPA file it was built from") from None
        return KenLMModel(path)
    return read_arpa(path)

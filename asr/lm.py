"""Word n-gram language models: build an ARPA file from text, read one back for scoring.

Building (``build_lm``) estimates an **interpolated modified Kneser-Ney** model
(Chen & Goodman 1998, the smoothing KenLM's ``lmplz`` uses):

* adjusted counts: the highest order and n-grams starting with ``<s>`` keep
  their raw counts; every other lower-order n-gram counts its distinct left
  extensions (how many different words precede it);
* three discounts per order from the counts of counts ``t1..t4`` of the
  adjusted counts: ``Y = t1 / (t1 + 2 t2)``, ``D1 = 1 - 2Y t2/t1``,
  ``D2 = 2 - 3Y t3/t2``, ``D3+ = 3 - 4Y t4/t3``; where the data is too small
  for them to be in range (``0 < Dk < k``) the order falls back to 0.5, 1, 1.5
  (``lmplz --discount_fallback``);
* ``p(w | h) = max(a(hw) - D(a(hw)), 0) / a(h·) + gamma(h) p(w | h')`` with
  ``gamma(h) = (D1 N1(h·) + D2 N2(h·) + D3+ N3+(h·)) / a(h·)``; unigrams
  interpolate with the uniform distribution over the words that can be
  predicted (every word seen, ``</s>`` and ``<unk>``; ``<s>`` is never
  predicted), so ``<unk>`` gets ``gamma() / |V|``.

An interpolated model is exactly a backoff model whose backoff weight is
``gamma(h)``, which is what the ARPA file stores.

Reading (``read_arpa``) streams any standard ARPA file (ours, KenLM's, SRILM's;
plain or gzipped) into ``NgramLM``, a pure-Python backoff scorer. KenLM binary
files are read through the ``kenlm`` module when it is installed (``load_lm``).
"""

from __future__ import annotations

import gzip
import logging
import math
import os
from collections import Counter, defaultdict
from pathlib import Path
from typing import Hashable, Iterable, Iterator, Protocol

from asr.errors import LMError, ManifestError, one_line
from asr.text import DEFAULT_CHARACTERS, normalize_text

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
DEFAULT_ORDER = 3
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)  # lmplz --discount_fallback
BOS_LOG10 = -99.0  # written for <s>: a context only, never predicted
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

    def write_arpa(self, path: str | os.PathLike) -> Path:
        """Write the model as a standard ARPA file, atomically; returns the path."""
        from asr.data import atomic_write_text

        by_order: dict[int, list[tuple[str, ...]]] = defaultdict(list)
        for gram in self.entries:
            by_order[len(gram)].append(gram)
        lines = ["\\data\\"] + [f"ngram {n}={len(by_order[n])}" for n in range(1, self.order + 1)] + [""]
        for n in range(1, self.order + 1):
            lines.append(f"\\{n}-grams:")
            for gram in sorted(by_order[n]):
                logp, backoff = self.entries[gram]
                line = f"{logp:.7g}\t{' '.join(gram)}"
                if n < self.order and backoff != 0.0:
                    line += f"\t{backoff:.7g}"
                lines.append(line)
            lines.append("")
        lines.append("\\end\\")
        path = Path(path)
        atomic_write_text(path, "\n".join(lines) + "\n")
        return path


class KenLMModel:
    """A KenLM binary (or ARPA) model through the ``kenlm`` module, with ``NgramLM``'s
    ``start``/``score`` interface (log10 scores)."""

    def __init__(self, path: str | os.PathLike):
        import kenlm

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
    name = str(path)
    declared: dict[int, int] = {}
    entries: dict[tuple[str, ...], tuple[float, float]] = {}
    phase, n, seen, lineno = "header", 0, 0, 0  # phase: header | counts | ngrams | end

    def close_section(where: str) -> None:
        if seen != declared[n]:
            raise LMError(f"{where}: the \\{n}-grams: section has {seen} entries but \\data\\ says {declared[n]}")

    for lineno, line in _arpa_lines(path):
        text = line.strip()
        where = f"{name}:{lineno}"
        if phase == "header":
            if text == "\\data\\":
                phase = "counts"
            continue
        if phase == "end":
            break
        if not text:
            continue
        if phase == "counts":
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
                continue
            if not declared:
                raise LMError(f"{where}: expected 'ngram 1=COUNT' after \\data\\, got {text!r:.60}")
            if text != "\\1-grams:":
                raise LMError(f"{where}: expected 'ngram {len(declared) + 1}=COUNT' or '\\1-grams:', "
                              f"got {text!r:.60}")
            phase, n, seen = "ngrams", 1, 0
            continue
        if text.startswith("\\"):  # the end of a section
            close_section(where)
            if text == "\\end\\" and n == len(declared):
                phase = "end"
            elif text == f"\\{n + 1}-grams:" and n < len(declared):
                n, seen = n + 1, 0
            else:
                expected = "\\end\\" if n == len(declared) else f"\\{n + 1}-grams:"
                raise LMError(f"{where}: expected '{expected}', got {text!r:.60}")
            continue
        fields = text.split()
        highest = n == len(declared)
        if len(fields) != n + 1 and (highest or len(fields) != n + 2):
            extra = " (no backoff at the highest order)" if highest else ""
            raise LMError(f"{where}: expected {n} word{'s' if n > 1 else ''} in a {n}-gram line{extra}, "
                          f"found {len(fields)} fields")
        logp = _parse_float(fields[0], "log10 probability", where)
        if logp > 0:
            raise LMError(f"{where}: positive log10 probability {fields[0]}")
        backoff = _parse_float(fields[n + 1], "backoff", where) if len(fields) == n + 2 else 0.0
        gram = tuple(fields[1: n + 1])
        if gram in entries:
            raise LMError(f"{where}: duplicate {n}-gram {' '.join(gram)!r:.60}")
        entries[gram] = (logp, backoff)
        seen += 1
    if phase == "header":
        raise LMError(f"{name}: no \\data\\ line (not an ARPA file?)")
    if phase != "end":
        raise LMError(f"{name}:{lineno}: the file ends before \\end\\ (truncated?)")
    if not declared or declared[1] == 0:
        raise LMError(f"{name}: the model has no unigrams")
    return NgramLM(len(declared), entries, name)


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


# ----------------------------------------------------------------------------
# building
# ----------------------------------------------------------------------------

def _is_manifest(path: Path) -> bool:
    if path.suffix == ".jsonl":
        return True
    with path.open("rb") as handle:
        for raw in handle:
            if raw.strip():
                return raw.lstrip().startswith(b"{")
    return False


def read_sentences(path: str | os.PathLike, characters: str = DEFAULT_CHARACTERS,
                   log=None) -> Iterator[str]:
    """Normalised sentences from a text file (one a line) or a JSONL manifest
    (its ``text`` fields; recognised by a ``.jsonl`` suffix or a first line that
    is a JSON object), streamed.

    Text is normalised with ``asr.text.normalize_text``, as transcripts are, so
    the LM's words are the model's. Empty lines are skipped; so are lines that
    still hold characters outside ``characters`` and manifest lines that
    ``asr.data.iter_manifest`` refuses (the ones training skips too), with one
    warning giving the count.

    Args:
        path: a UTF-8 text file or a JSONL manifest.
        characters: the model's alphabet (without the blank).
        log: callable taking a warning line (default: the ``asr`` logger).
    """
    from asr.data import iter_manifest

    path = Path(path)
    if not path.is_file():
        raise LMError(f"{path}: text file not found")
    log = log or logging.getLogger("asr").warning
    allowed = set(characters)
    skipped: list[str] = []
    if _is_manifest(path):
        texts = ((str(item), None) if isinstance(item, ManifestError) else (None, item.text)
                 for item in iter_manifest(path))
    else:
        texts = _text_lines(path)
    for problem, text in texts:
        if problem is not None:
            skipped.append(problem)
            continue
        sentence = normalize_text(text, characters)
        if not set(sentence) <= allowed:
            skipped.append(f"{path}: {sentence!r:.60} has characters outside the alphabet")
            continue
        if sentence:
            yield sentence
    if skipped:
        log(f"{path}: {len(skipped)} line(s) left out of the language model, e.g. {skipped[0]}")


def _text_lines(path: Path) -> Iterator[tuple[None, str]]:
    with path.open("rb") as handle:
        for lineno, raw in enumerate(handle, 1):
            try:
                yield None, raw.decode("utf-8")
            except UnicodeDecodeError:
                raise LMError(f"{path}:{lineno}: not UTF-8 text") from None


def count_ngrams(sentences: Iterable[str], order: int) -> tuple[list[Counter], int]:
    """Raw counts of every n-gram, n = 1..order, of ``<s> words </s>``.

    Returns:
        ``(counts, sentences)``: ``counts[n - 1]`` maps word tuples to counts.
    """
    counts = [Counter() for _ in range(order)]
    n_sentences = 0
    for sentence in sentences:
        words = (BOS, *sentence.split(), EOS)
        n_sentences += 1
        for n in range(1, order + 1):
            table = counts[n - 1]
            for i in range(len(words) - n + 1):
                table[words[i: i + n]] += 1
    return counts, n_sentences


def kneser_ney_discounts(adjusted: Iterable[int]) -> tuple[tuple[float, float, float], bool]:
    """Modified Kneser-Ney discounts ``(D1, D2, D3+)`` from one order's adjusted counts.

    Returns:
        ``(discounts, fallback)``: ``fallback`` is True where the counts of
        counts gave a discount out of ``(0, k)`` and ``FALLBACK_DISCOUNTS`` are used.
    """
    t = Counter(c for c in adjusted if c <= 4)
    if all(t[k] > 0 for k in (1, 2, 3, 4)):
        y = t[1] / (t[1] + 2 * t[2])
        d = (1 - 2 * y * t[2] / t[1], 2 - 3 * y * t[3] / t[2], 3 - 4 * y * t[4] / t[3])
        if all(0 < dk < k for k, dk in zip((1, 2, 3), d)):
            return d, False
    return FALLBACK_DISCOUNTS, True


def kneser_ney(counts: list[Counter]) -> tuple[dict[tuple[str, ...], tuple[float, float]], list[dict]]:
    """Interpolated modified Kneser-Ney from raw counts (see the module docstring).

    Args:
        counts: ``counts[n - 1]``: raw n-gram counts, n = 1..order, from ``count_ngrams``.

    Returns:
        ``(entries, discounts)``: ARPA entries ``gram → (log10 p, log10 backoff)``
        and per order ``{"order", "D1", "D2", "D3+", "fallback"}``.
    """
    order = len(counts)
    # adjusted counts: continuation counts below the highest order, except after <s>
    adjusted: list[dict[tuple[str, ...], int]] = [dict() for _ in range(order)]
    adjusted[order - 1] = dict(counts[order - 1])
    for n in range(order - 1, 0, -1):
        left_extensions = Counter(gram[1:] for gram in counts[n])
        adjusted[n - 1] = {g: (c if g[0] == BOS else left_extensions[g]) for g, c in counts[n - 1].items()}
    del adjusted[0][(BOS,)]  # <s> is never predicted
    adjusted[0].setdefault((UNK,), 0)

    discounts, gammas, probs = [], [], []  # per order; gammas[n-1]: context (n-1 words) → gamma
    for n in range(1, order + 1):
        table = adjusted[n - 1]
        d, fallback = kneser_ney_discounts(c for c in table.values() if c > 0)
        discounts.append({"order": n, "D1": d[0], "D2": d[1], "D3+": d[2], "fallback": fallback})
        totals: dict[tuple[str, ...], float] = defaultdict(float)
        mass: dict[tuple[str, ...], float] = defaultdict(float)  # discounted mass per context
        for gram, c in table.items():
            if c > 0:
                totals[gram[:-1]] += c
                mass[gram[:-1]] += d[min(c, 3) - 1]
        gamma = {h: mass[h] / totals[h] for h in totals}
        level = {}
        for gram, c in table.items():
            h = gram[:-1]
            discounted = max(c - d[min(c, 3) - 1], 0.0) / totals[h] if c > 0 else 0.0
            lower = 1.0 / len(table) if n == 1 else probs[n - 2][gram[1:]]
            level[gram] = discounted + gamma[h] * lower
        gammas.append(gamma)
        probs.append(level)

    entries: dict[tuple[str, ...], tuple[float, float]] = {}
    for n in range(1, order + 1):
        contexts = gammas[n] if n < order else {}
        for gram, p in probs[n - 1].items():
            backoff = math.log10(contexts[gram]) if gram in contexts else 0.0
            entries[gram] = (min(math.log10(p), 0.0), backoff)
    entries[(BOS,)] = (BOS_LOG10, math.log10(gammas[1][(BOS,)]) if order > 1 else 0.0)
    return entries, discounts


def build_lm(text: str | os.PathLike, out: str | os.PathLike, order: int = DEFAULT_ORDER,
             characters: str = DEFAULT_CHARACTERS) -> dict:
    """Estimate an interpolated modified Kneser-Ney n-gram model from text and
    write it as an ARPA file (atomically).

    Args:
        text: sentences, one a line, or a JSONL manifest (see ``read_sentences``).
        out: the ARPA file to write.
        order: the highest n (>= 1).
        characters: the model's alphabet; text is normalised to it.

    Returns:
        ``{"path", "order", "sentences", "ngrams": [n1, n2, ...], "discounts": [...]}``.
    """
    if not isinstance(order, int) or order < 1:
        raise LMError(f"order must be an integer >= 1, got {order!r}")
    counts, n_sentences = count_ngrams(read_sentences(text, characters), order)
    if not n_sentences:
        raise LMError(f"{text}: no sentences to build a language model from")
    entries, discounts = kneser_ney(counts)
    model = NgramLM(order, entries, str(out))
    path = model.write_arpa(out)
    return {"path": str(path), "order": order, "sentences": n_sentences, "ngrams": model.counts(),
            "discounts": discounts}

"""Build a word n-gram language model from text and write it as an ARPA file.

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

The model is read back for decoding by :mod:`asr.decoding.ngram`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
import os
from collections import Counter, defaultdict
from pathlib import Path
from typing import Iterable, Iterator

from asr.core.atomic import atomic_write_text
from asr.core.errors import LMError, ManifestError
from asr.data.manifest import iter_manifest
from asr.decoding.ngram import BOS, EOS, UNK, NgramLM
from asr.text import DEFAULT_CHARACTERS, normalize_text

DEFAULT_ORDER = 3
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)  # lmplz --discount_fallback
BOS_LOG10 = -99.0  # written for <s>: a context only, never predicted


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
    ``asr.data.manifest.iter_manifest`` refuses (the ones training skips too), with one
    warning giving the count.

    Args:
        path: a UTF-8 text file or a JSONL manifest.
        characters: the model's alphabet (without the blank).
        log: callable taking a warning line (default: the ``asr`` logger).
    """
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


def write_arpa(model: NgramLM, path: str | os.PathLike) -> Path:
    """Write ``model`` as a standard ARPA file, atomically; returns the path."""
    by_order: dict[int, list[tuple[str, ...]]] = defaultdict(list)
    for gram in model.entries:
        by_order[len(gram)].append(gram)
    lines = ["\\data\\"] + [f"ngram {n}={len(by_order[n])}" for n in range(1, model.order + 1)] + [""]
    for n in range(1, model.order + 1):
        lines.append(f"\\{n}-grams:")
        for gram in sorted(by_order[n]):
            logp, backoff = model.entries[gram]
            line = f"{logp:.7g}\t{' '.join(gram)}"
            if n < model.order and backoff != 0.0:
                line += f"\t{backoff:.7g}"
            lines.append(line)
        lines.append("")
    lines.append("\\end\\")
    path = Path(path)
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


@dataclass(frozen=True)
class BuiltLM:
    """What ``build_lm`` wrote.

    Attributes:
        path: the ARPA file.
        order: the highest n.
        sentences: sentences counted.
        ngrams: how many n-grams of each order, unigrams first.
        discounts: per order, the modified Kneser-Ney discounts used (see ``kneser_ney``).
    """

    path: str
    order: int
    sentences: int
    ngrams: tuple[int, ...]
    discounts: tuple[dict, ...]


def build_lm(text: str | os.PathLike, out: str | os.PathLike, order: int = DEFAULT_ORDER,
             characters: str = DEFAULT_CHARACTERS) -> BuiltLM:
    """Estimate an interpolated modified Kneser-Ney n-gram model from text and
    write it as an ARPA file (atomically).

    Args:
        text: sentences, one a line, or a JSONL manifest (see ``read_sentences``).
        out: the ARPA file to write.
        order: the highest n (>= 1).
        characters: the model's alphabet; text is normalised to it.

    Returns:
        A ``BuiltLM``.
    """
    if not isinstance(order, int) or order < 1:
        raise LMError(f"order must be an integer >= 1, got {order!r}")
    counts, n_sentences = count_ngrams(read_sentences(text, characters), order)
    if not n_sentences:
        raise LMError(f"{text}: no sentences to build a language model from")
    entries, discounts = kneser_ney(counts)
    model = NgramLM(order, entries, str(out))
    path = write_arpa(model, out)
    return BuiltLM(str(path), order, n_sentences, tuple(model.counts()), tuple(discounts))

"""Built-in text grammars that produce normalised training sentences.

Every sentence a grammar emits is already in the toolkit's normal form:
lowercase ``a-z``, apostrophe, single spaces, and numbers always spelled out
as words. Two grammars are built in:

``digits``
    TIDIGITS-like strings of 1-7 spoken digits; zero is said as "zero" or "oh".
``commands``
    Smart-home commands (lights, timers, volume, thermostat, alarms, media,
    locks, blinds, fans, weather, codes...) with optional polite openers and
    closers. About 15% of its sentences are bare digit strings, so a model
    trained on it also recognises plain digits.

A grammar is a function ``(rng: random.Random) -> str``; :func:`generate_sentences`
draws from one deterministically for a seed. A JSGF file (``.jsgf``) is a grammar
too: its sentences are sampled to cover every alternative (:mod:`asr.grammar.sample`). The grammars themselves live in
:mod:`asr.data.synth.digits` and :mod:`asr.data.synth.commands`; this module
names them and reads sentences from text files.
"""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Mapping

from asr.core.errors import ConfigError, TextError
from asr.data.synth.commands import commands
from asr.data.synth.digits import digits
from asr.grammar.jsgf import read_grammar
from asr.grammar.sample import sample_sentences

GRAMMARS: Mapping[str, Callable[[random.Random], str]] = MappingProxyType({
    "commands": commands,
    "digits": digits,
})


def generate_sentences(grammar: str, n: int, seed: int) -> list[str]:
    """Draw ``n`` sentences from a built-in grammar, deterministically for ``seed``.

    Args:
        grammar: a name in :data:`GRAMMARS` ("commands" or "digits"), or a JSGF file
            (``.jsgf``), sampled to cover every alternative (``asr.grammar.sample``).
        n: how many sentences (>= 0).
        seed: the random seed; the same (grammar, n, seed) always gives the same list,
            and a shorter ``n`` gives a prefix of a longer one.

    Returns:
        ``n`` normalised sentences (repeats are possible).
    """
    if n < 0:
        raise ConfigError(f"grammar: cannot generate a negative number of sentences ({n})")
    if is_grammar_file(grammar):
        return sample_sentences(read_grammar(grammar), n, seed)
    if grammar not in GRAMMARS:
        raise ConfigError(f"grammar: unknown grammar {grammar!r}; choose one of {', '.join(sorted(GRAMMARS))}, "
                          "or give a JSGF file (.jsgf)")
    rng = random.Random(seed)
    fn = GRAMMARS[grammar]
    return [fn(rng) for _ in range(n)]


def is_grammar_file(grammar: str | None) -> bool:
    """Whether ``grammar`` names a JSGF file rather than a built-in grammar."""
    return grammar is not None and grammar not in GRAMMARS and str(grammar).endswith((".jsgf", ".gram"))


def grammar_digest(grammar: str | None) -> str | None:
    """The SHA-256 of a JSGF grammar file (what ``corpus.json`` records), None for a built-in one."""
    if not is_grammar_file(grammar):
        return None
    try:
        return hashlib.sha256(Path(grammar).read_bytes()).hexdigest()
    except OSError as exc:
        raise ConfigError(f"{grammar}: cannot read grammar ({exc.strerror or exc})") from None


def vocabulary(grammar: str, n: int = 20000, seed: int = 0) -> set[str]:
    """The words a grammar uses, estimated by sampling ``n`` sentences.

    Args:
        grammar: a name in :data:`GRAMMARS`.
        n: sentences to sample; rare words may be missed when this is small.
        seed: the sampling seed.
    """
    return {w for s in generate_sentences(grammar, n, seed) for w in s.split()}


def read_text_file(path: str | os.PathLike) -> list[str]:
    """Read sentences from a UTF-8 text file, one a line, skipping blank lines.

    The text is returned as written (only surrounding whitespace is stripped);
    normalising it is the caller's job.

    Args:
        path: the text file.

    Returns:
        The non-blank lines, in file order.
    """
    try:
        with open(path, "r", encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        raise TextError(f"{path}: text file not found") from None
    except UnicodeDecodeError as exc:
        raise TextError(f"{path}: text file is not UTF-8 (bad byte at offset {exc.start})") from None
    except OSError as exc:
        raise TextError(f"{path}: cannot read text file: {exc.strerror}") from None
    # Strip a BOM that some editors write, so it does not end up in the first sentence.
    if lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]
    return [line.strip() for line in lines if line.strip()]

"""Text normalisation and the character tokenizer (CTC blank explicit at id 0).

Normalisation lives here and only here: lowercase, numbers to words,
punctuation dropped, accents folded, spaces collapsed.

The tokenizer can add a repeat token (as wav2letter did): the second of two
equal letters is written as "the letter before again", so "door" is
``d o <repeat> r``. CTC merges equal neighbours, so a doubled letter otherwise
needs a blank frame between its halves; at 25 output frames a second a model
often drops one of them ("dor"). With the repeat token no label repeats its
neighbour, and a transcript needs one output frame per character.
"""

from __future__ import annotations

import json
import os
import re
import string
import unicodedata
from pathlib import Path

from asr.core.atomic import atomic_write_text
from asr.core.errors import TextError

BLANK = "<blank>"
REPEAT = "<repeat>"
DEFAULT_CHARACTERS = " '" + string.ascii_lowercase

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = [(10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand")]
_ORDINAL_IRREGULAR = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                      "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}


def number_to_words(n: int) -> str:
    """Spell a non-negative integer in English words (``42`` → ``forty two``)."""
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (f" {_ONES[ones]}" if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return f"{_ONES[hundreds]} hundred" + (f" {number_to_words(rest)}" if rest else "")
    for value, name in _SCALES:
        if n >= value:
            head, rest = divmod(n, value)
            return f"{number_to_words(head)} {name}" + (f" {number_to_words(rest)}" if rest else "")
    raise AssertionError("unreachable")


def _ordinal(words: str) -> str:
    head, _, last = words.rpartition(" ")
    if last in _ORDINAL_IRREGULAR:
        last = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return f"{head} {last}".strip()


def _spell_number(match: re.Match) -> str:
    integer, fraction, suffix = match.group(1).replace(",", ""), match.group(2), match.group(3)
    if len(integer) > 15 or (len(integer) > 1 and integer[0] == "0"):  # a code: digit by digit
        words = " ".join(_ONES[int(d)] for d in integer)
    else:
        words = number_to_words(int(integer))
    if fraction:
        words += " point " + " ".join(_ONES[int(d)] for d in fraction)
    if suffix:
        words = _ordinal(words)
    return f" {words} "


_NUMBER = re.compile(r"(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?:(st|nd|rd|th)\b)?")
_SYMBOLS = {"%": " percent ", "&": " and ", "+": " plus ", "@": " at ", "°": " degrees "}


def normalize_text(text: str, characters: str = DEFAULT_CHARACTERS) -> str:
    """Normalise a transcript to the tokenizer's alphabet.

    Lowercases, folds accents (``café`` → ``cafe``), spells numbers (``21st`` →
    ``twenty first``, ``3.5`` → ``three point five``), turns ``% & + @ °`` into
    words, drops other punctuation, and collapses whitespace. Letters that are
    still outside ``characters`` are kept, so ``Tokenizer.encode`` can reject them.

    Args:
        text: any transcript.
        characters: the alphabet (without the blank).
    """
    text = unicodedata.normalize("NFKC", text).lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    for symbol, words in _SYMBOLS.items():
        text = text.replace(symbol, words)
    text = _NUMBER.sub(_spell_number, text)
    out = []
    for ch in unicodedata.normalize("NFKD", text):
        if ch in characters:
            out.append(ch)
        elif unicodedata.combining(ch):
            continue  # accents folded onto their base letter
        elif ch.isspace() or ch in "-_/":
            out.append(" ")
        elif unicodedata.category(ch)[0] in "PS":
            continue  # punctuation and symbols outside the alphabet
        else:
            out.append(ch)
    text = "".join(out)
    if "'" in characters:  # quotes, not apostrophes
        text = re.sub(r"(^|\s)'+|'+(\s|$)", r"\1\2", text)
    return " ".join(text.split())


class Tokenizer:
    """Characters ↔ integer ids. Id 0 is the CTC blank; characters follow, then
    the repeat token when there is one.

    Args:
        characters: the alphabet, one character each (default: space, apostrophe, a–z).
        repeat_token: add id ``len(characters) + 1``, meaning "the character
            before it again" (see the module docstring). Encoding writes it for
            the second of two equal characters other than the space; decoding
            expands it, and drops one that follows a space, the start of the
            text or another repeat token.
    """

    def __init__(self, characters: str = DEFAULT_CHARACTERS, repeat_token: bool = False):
        if len(set(characters)) != len(characters):
            raise TextError("tokenizer characters must be unique")
        self.characters = characters
        self.repeat_token = bool(repeat_token)
        self.vocabulary = [BLANK, *characters] + ([REPEAT] if self.repeat_token else [])
        self.repeat_id = len(characters) + 1 if self.repeat_token else None
        self._ids = {ch: i + 1 for i, ch in enumerate(characters)}

    @property
    def blank_id(self) -> int:
        return 0

    @property
    def vocab_size(self) -> int:
        """Number of output classes, blank included."""
        return len(self.vocabulary)

    def normalize(self, text: str) -> str:
        return normalize_text(text, self.characters)

    def encode(self, text: str, normalize: bool = True) -> list[int]:
        """Text → ids (no blanks), one id per character. Raises ``TextError`` naming unknown characters."""
        if normalize:
            text = self.normalize(text)
        unknown = sorted({ch for ch in text if ch not in self._ids})
        if unknown:
            raise TextError(f"characters outside the vocabulary: {''.join(unknown)!r}")
        ids = [self._ids[ch] for ch in text]
        if self.repeat_token:
            for k in range(1, len(ids)):
                if text[k] == text[k - 1] and text[k] != " " and ids[k - 1] != self.repeat_id:
                    ids[k] = self.repeat_id
        return ids

    def piece(self, token_id: int, before: str = "", after_repeat: bool = False) -> str:
        """The text token ``token_id`` adds after ``before`` (the decoded text so far);
        ``after_repeat``: the token before it was the repeat token."""
        if token_id == self.repeat_id:
            return "" if after_repeat or not before or before[-1] == " " else before[-1]
        return self.vocabulary[token_id] if 0 < token_id < len(self.vocabulary) else ""

    def decode(self, ids) -> str:
        """Ids → text; the blank and out-of-range ids are skipped, repeat tokens expanded."""
        text, after_repeat = "", False
        for i in ids:
            i = int(i)
            if 0 < i < len(self.vocabulary):
                text += self.piece(i, text, after_repeat)
                after_repeat = i == self.repeat_id
        return text

    def to_dict(self) -> dict:
        return {"type": "characters", "blank_id": 0, "characters": self.characters,
                "repeat_token": self.repeat_token}

    @classmethod
    def from_dict(cls, data: dict) -> "Tokenizer":
        if not isinstance(data, dict) or data.get("type") != "characters" or data.get("blank_id") != 0:
            raise TextError(f"not a character tokenizer description: {data!r:.80}")
        return cls(data["characters"], bool(data.get("repeat_token", False)))

    def save(self, path: str | os.PathLike) -> None:
        atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Tokenizer":
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise TextError(f"{path}: cannot read tokenizer ({exc})") from None

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Tokenizer) and other.characters == self.characters
                and other.repeat_token == self.repeat_token)

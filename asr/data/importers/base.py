"""What every importer shares: the item types, the skip reasons, and reading source text files.

A reader yields :class:`Candidate` items (audio path, original transcript,
extra keys) or, for a line that cannot even be parsed, :class:`Skipped` items;
:mod:`asr.data.importers.check` checks the candidates and writes the manifest.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from asr.core.errors import ManifestError
from asr.data.manifest import iter_lines

# skip reasons: short categories, counted and printed; each skipped item also has a one-line detail
MISSING = "audio missing"
UNREADABLE = "audio unreadable"
NO_DECODER = "no decoder for this audio format (install ffmpeg)"
DURATION = "duration out of range"
EMPTY = "empty transcript"
OUT_OF_VOCABULARY = "out-of-vocabulary transcript"
MALFORMED = "malformed line"
PIPED = "piped command (not run)"
NO_AUDIO_ENTRY = "no wav.scp entry"
NO_TRANSCRIPT = "no transcript"
DUPLICATE = "duplicate utterance id"
SEGMENTED = "segment of a recording (not supported)"


@dataclass
class Candidate:
    """One utterance a reader found, not yet checked.

    Attributes:
        audio: the audio file (absolute, or relative to the current directory).
        text: the transcript as the corpus has it.
        where: ``file:line`` of the source line, for the skipped list.
        extra: keys kept in the manifest (``id``, ``speaker``...).
    """

    audio: Path
    text: str
    where: str
    extra: dict = field(default_factory=dict)


@dataclass
class Skipped:
    """An item left out of the manifest.

    Attributes:
        where: ``file:line`` of the source line.
        reason: a short category (one of this module's reason constants, or the
            reason part of a line-reading error).
        detail: one line naming the file and saying what is wrong.
        audio: the audio path when known.
    """

    where: str
    reason: str
    detail: str
    audio: str | None = None

    def to_json(self) -> str:
        """One JSON line; always UTF-8-encodable, so a broken source cannot stop the skipped list."""
        row = {"where": self.where, "reason": self.reason, "detail": self.detail, "audio": self.audio}
        line = json.dumps(row, ensure_ascii=False)
        try:
            line.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate from a JSON source: escape it
            line = json.dumps(row)
        return line


@dataclass
class ImportResult:
    """What one import wrote.

    Attributes:
        manifest: the JSONL manifest.
        skipped_list: the JSONL list of skipped items (``where``, ``reason``, ``detail``, ``audio``).
        kept: utterances written to the manifest.
        skipped: skipped items per reason.
        seconds: total audio duration of the kept utterances, in seconds.
    """

    manifest: Path
    skipped_list: Path
    kept: int = 0
    skipped: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def hours(self) -> float:
        return self.seconds / 3600.0

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


def source_lines(path: Path) -> Iterator[tuple[str, str | Skipped]]:
    """``(where, text)`` per non-blank line of a UTF-8 text file (BOM dropped, line
    endings removed); a line that is not UTF-8 or too long comes as a ``Skipped`` item."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ManifestError(f"{path}: cannot open: {exc.strerror or exc}") from None
    with handle:
        if handle.read(2) in (b"\xff\xfe", b"\xfe\xff"):
            raise ManifestError(f"{path}: UTF-16 text; convert it to UTF-8 first (iconv -f UTF-16 -t UTF-8)")
        handle.seek(0)
        for lineno, line in iter_lines(handle, str(path), strip_bom=True):
            where = f"{path}:{lineno}"
            if isinstance(line, ManifestError):
                message = str(line)
                yield where, Skipped(where, message.removeprefix(f"{where}: "), message)
            elif line.strip():
                yield where, line


def is_plain_name(name: str) -> bool:
    """An id that is safe to turn into a file name in its folder (no path parts)."""
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\x00")


def one_folder(src: Path, split: str | None, needs: tuple[str, ...]) -> list[tuple[str, Path]]:
    """SRC (or SRC/SPLIT) as one folder holding ``needs``."""
    folder = src / split if split else src
    if not folder.is_dir():
        raise ManifestError(f"{folder}: not a folder")
    for name in needs:
        if not (folder / name).is_file():
            raise ManifestError(f"{folder}: no {name} in it")
    return [(folder.resolve().name, folder)]

"""Manifests (the data contract): reading, checking and writing JSONL lines.

A manifest is JSONL, one utterance a line::

    {"audio_filepath": "wavs/0001.wav", "duration": 2.31, "text": "turn on the lights"}

Relative paths are relative to the manifest's folder. Extra keys (``speaker``,
``engine``...) are kept.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

from asr.core.atomic import LineWriter
from asr.core.errors import ManifestError

REQUIRED_KEYS = ("audio_filepath", "duration", "text")
MAX_LINE_BYTES = 1 << 20  # a longer manifest line is refused (bounded memory)


@dataclass
class Utterance:
    """One manifest line with its audio path resolved to an absolute path."""

    audio_filepath: str
    duration: float
    text: str
    extra: dict = field(default_factory=dict)


class ManifestWriter(LineWriter):
    """A ``LineWriter`` for manifest entries, one ``write`` each: audio paths are
    made relative to the manifest's folder (or absolute) and durations rounded to 0.1 ms.

    Args:
        path: the manifest file to write (its folder is created).
        absolute: write absolute audio paths instead, for audio that stays where
            it is installed (system files) while the manifest may move.
    """

    def __init__(self, path: str | os.PathLike, absolute: bool = False):
        super().__init__(path)
        self._root = self.path.parent.resolve()
        self.absolute = absolute

    def write(self, entry: dict) -> dict:
        """Append one entry: a dict with at least ``audio_filepath`` (absolute, or
        relative to the current directory), ``duration`` (seconds) and ``text``.

        Returns the row as written. Raises ``ManifestError``, writing nothing, when
        a required key is missing or the entry cannot be written as UTF-8.
        """
        missing = [k for k in REQUIRED_KEYS if k not in entry]
        if missing:
            raise ManifestError(f"{self.path}: entry {entry!r} lacks {', '.join(missing)}")
        row = dict(entry)
        audio = Path(row["audio_filepath"]).resolve()
        row["audio_filepath"] = str(audio) if self.absolute else os.path.relpath(audio, self._root)
        row["duration"] = round(float(row["duration"]), 4)
        self.write_line(json.dumps(row, ensure_ascii=False))
        return row


def write_manifest(path: str | os.PathLike, entries: Iterable[dict], absolute: bool = False) -> Path:
    """Write manifest entries as JSONL, with audio paths made relative to the manifest
    (``absolute``: left absolute).

    Entries are written as they come (a generator is never held whole) to a
    temporary file renamed into place at the end; on an error nothing is replaced.

    Args:
        path: the manifest file to write (its folder is created).
        entries: dicts with at least ``audio_filepath`` (absolute, or relative to
            the current directory), ``duration`` (seconds) and ``text``.

    Returns:
        The manifest path.
    """
    with ManifestWriter(path, absolute=absolute) as writer:
        for entry in entries:
            writer.write(entry)
    return writer.path


def iter_lines(handle: BinaryIO, name: str, strip_bom: bool = False) -> Iterator[tuple[int, str | ManifestError]]:
    """Read a UTF-8 text file a line at a time in bounded memory, decoding each
    line on its own so that one bad line does not stop the reading.

    Args:
        handle: the file, opened in binary mode.
        name: the file's name, for error messages (``name:LINE: reason``).
        strip_bom: drop a UTF-8 byte-order mark at the start of line 1.

    Yields:
        ``(line number from 1, text)`` with the line ending removed, or
        ``(line number, ManifestError)`` for a line that is not UTF-8 or is longer
        than ``MAX_LINE_BYTES`` (such a line is skipped without being held whole).
    """
    lineno = 0
    while True:
        raw = handle.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        lineno += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while (rest := handle.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass  # skip the rest of the line without holding it
            yield lineno, ManifestError(f"{name}:{lineno}: line longer than {MAX_LINE_BYTES} bytes")
            continue
        if strip_bom and lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield lineno, ManifestError(f"{name}:{lineno}: not UTF-8 text")
            continue
        yield lineno, line.rstrip("\r\n")


def iter_manifest(path: str | os.PathLike) -> Iterator[Utterance | ManifestError]:
    """Stream a manifest, yielding an ``Utterance`` per good line and a
    ``ManifestError`` (not raised) per bad one, so callers choose to skip or stop.

    Args:
        path: a JSONL manifest.
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found")
    root = path.parent
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise ManifestError(f"{path}: cannot open manifest: {exc.strerror}") from None
    with handle:
        for lineno, line in iter_lines(handle, str(path)):
            if isinstance(line, ManifestError):
                yield line
                continue
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield ManifestError(f"{where}: not valid JSON ({exc.msg})")
                continue
            if not isinstance(row, dict):
                yield ManifestError(f"{where}: a line must be a JSON object")
                continue
            missing = [k for k in REQUIRED_KEYS if k not in row]
            if missing:
                yield ManifestError(f"{where}: missing key(s) {', '.join(missing)}")
                continue
            audio, text, duration = row.pop("audio_filepath"), row.pop("text"), row.pop("duration")
            row_duration = duration
            if not isinstance(audio, str) or not isinstance(text, str):
                yield ManifestError(f"{where}: audio_filepath and text must be strings")
                continue
            try:
                duration = float(duration)
            except (TypeError, ValueError, OverflowError):
                duration = float("nan")
            if not math.isfinite(duration) or duration < 0:
                yield ManifestError(f"{where}: duration {row_duration!r:.40} is not a number of seconds")
                continue
            audio_path = Path(audio) if os.path.isabs(audio) else root / audio
            if not audio_path.is_file():
                yield ManifestError(f"{audio_path}: audio file missing (manifest {where})")
                continue
            yield Utterance(str(audio_path.resolve()), duration, text, row)


def read_manifest(path: str | os.PathLike, strict: bool = True) -> tuple[list[Utterance], list[ManifestError]]:
    """Read a whole manifest.

    Args:
        path: a JSONL manifest.
        strict: raise the first bad line's error instead of collecting it.

    Returns:
        ``(utterances, errors)``: the good lines and the skipped ones.
    """
    good, bad = [], []
    for item in iter_manifest(path):
        if isinstance(item, ManifestError):
            if strict:
                raise item
            bad.append(item)
        else:
            good.append(item)
    return good, bad

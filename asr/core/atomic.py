"""Files written whole or not at all: a crash leaves the old file or the new one,
never half of one. Every writer in the package goes through here."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from asr.core.errors import ManifestError


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """A temporary path beside ``path`` to write to: renamed onto ``path`` when the
    block ends normally, removed when it raises, so a crash leaves the old file or
    the new one, never half of one.

    Args:
        path: the file to write (its folder is created).
        suffix: appended to the temporary name, for writers that choose the
            format by extension (``".keras"``, ``".npz"``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through ``atomic_path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


class LineWriter:
    """Write a text file a line at a time, in bounded memory, without ever leaving a
    half-written file at ``path``.

    Lines go to a temporary file beside ``path`` (opened here, its folder created),
    renamed into place by ``commit()``; ``abort()`` removes it. As a context
    manager it commits on a normal exit and aborts on an exception, so an
    existing file at ``path`` stays untouched when writing fails.

    Args:
        path: the file to write.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.tmp-{os.getpid()}")
        self._handle = self._tmp.open("wb")
        self.lines = 0  # lines written so far

    def write_line(self, line: str) -> None:
        """Append ``line`` (without its newline). A line that cannot be encoded as
        UTF-8 (a lone surrogate) raises ``ManifestError`` and nothing is written."""
        try:
            data = line.encode("utf-8")
        except UnicodeEncodeError:
            raise ManifestError(f"{self.path}: a line holds a lone surrogate, which UTF-8 cannot encode") from None
        self._handle.write(data + b"\n")
        self.lines += 1

    def commit(self) -> Path:
        """Close the temporary file and rename it to ``path``; returns ``path``."""
        self._handle.close()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Close and remove the temporary file; ``path`` is left as it was."""
        self._handle.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

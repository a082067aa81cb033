"""Kaldi data dirs: ``wav.scp``, ``text`` and ``utt2spk`` joined by utterance id.

Nothing here runs commands found in a corpus (``cmd |`` entries are skipped).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from asr.core.errors import ManifestError
from asr.data.importers.base import (
    DUPLICATE,
    MALFORMED,
    NO_AUDIO_ENTRY,
    NO_TRANSCRIPT,
    PIPED,
    SEGMENTED,
    Candidate,
    Skipped,
    one_folder,
    source_lines,
)


@dataclass
class _Entry:
    """One ``KEY VALUE`` line of a Kaldi table, and its ``file:line``."""

    where: str
    key: str
    value: str


def _kaldi_table(path: Path) -> Iterator[_Entry | Skipped]:
    """``KEY VALUE`` lines of a Kaldi table, checked to be sorted by key (as
    ``LC_ALL=C sort`` leaves them: Python compares str by code point, which is
    UTF-8 byte order). A repeated key is skipped; a key out of order is an error,
    because the join relies on the order."""
    previous = None
    for where, line in source_lines(path):
        if isinstance(line, Skipped):
            yield line
            continue
        parts = line.split(maxsplit=1)
        if not parts:
            continue
        key, value = parts[0], (parts[1].strip() if len(parts) == 2 else "")
        if previous is not None and key < previous:
            raise ManifestError(f"{where}: {key!r:.60} comes after {previous!r:.60}: not sorted by utterance id "
                                "(sort it with LC_ALL=C sort, or Kaldi's utils/fix_data_dir.sh)")
        if key == previous:
            yield Skipped(where, DUPLICATE, f"{where}: {key!r:.60} appears again")
            continue
        previous = key
        yield _Entry(where, key, value)


def read_kaldi(data_dir: Path) -> Iterator[Candidate | Skipped]:
    """A Kaldi data dir: ``wav.scp`` (``UTT PATH``) joined with ``text``
    (``UTT TRANSCRIPT``) and the optional ``utt2spk`` by a merge join over the
    sorted files, so none is held in memory. Relative paths are relative to the
    current directory, as for Kaldi's scripts (run from the recipe folder).
    ``UTT COMMAND |`` entries are skipped and never run; with a ``segments``
    file, every utterance is skipped (segments of recordings are not supported)."""
    if (data_dir / "segments").exists():
        for entry in _kaldi_table(data_dir / "text"):
            if isinstance(entry, _Entry):
                entry = Skipped(entry.where, SEGMENTED, f"{entry.where}: {entry.key!r:.60} is a segment of a recording "
                                "(data dir has a segments file); cut the segments into files first")
            yield entry
        return
    texts = _kaldi_table(data_dir / "text")
    wavs = _kaldi_table(data_dir / "wav.scp")
    speakers = _kaldi_table(data_dir / "utt2spk") if (data_dir / "utt2spk").exists() else iter(())
    t, w, s = next(texts, None), next(wavs, None), next(speakers, None)
    while t is not None or w is not None:
        if isinstance(t, Skipped):
            yield t
            t = next(texts, None)
        elif isinstance(w, Skipped):
            yield w
            w = next(wavs, None)
        elif w is None or (t is not None and t.key < w.key):
            yield Skipped(t.where, NO_AUDIO_ENTRY, f"{t.where}: {t.key!r:.60} has no entry in wav.scp")
            t = next(texts, None)
        elif t is None or w.key < t.key:
            yield Skipped(w.where, NO_TRANSCRIPT, f"{w.where}: {w.key!r:.60} has no line in text")
            w = next(wavs, None)
        else:
            while isinstance(s, Skipped) or (s is not None and s.key < t.key):
                if isinstance(s, Skipped):
                    yield s
                s = next(speakers, None)
            extra = {"id": t.key}
            if s is not None and s.key == t.key:
                extra["speaker"] = s.value
            if w.value.endswith("|"):
                yield Skipped(w.where, PIPED, f"{w.where}: {w.key!r:.60} is a command, which is never run; "
                              "write the audio to files first (e.g. wav-copy scp:wav.scp ark,scp:...)")
            elif not w.value:
                yield Skipped(w.where, MALFORMED, f"{w.where}: {w.key!r:.60} has no path")
            else:
                yield Candidate(Path(w.value), t.value, t.where, extra)
            t, w = next(texts, None), next(wavs, None)


def kaldi_sources(src: Path, split: str | None) -> list[tuple[str, Path]]:
    """``[(NAME, folder)]``: SRC (or SRC/SPLIT) as a Kaldi data dir."""
    return one_folder(src, split, ("wav.scp", "text"))

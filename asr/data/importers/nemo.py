"""NeMo JSONL manifests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

from asr.core.errors import ManifestError
from asr.data.importers.base import MALFORMED, SEGMENTED, Candidate, Skipped, source_lines


def read_nemo(manifest: Path) -> Iterator[Candidate | Skipped]:
    """A NeMo JSONL manifest (``audio_filepath``, ``duration``, ``text``; other
    keys kept); paths absolute or relative to the manifest's folder. The
    duration is measured again; lines with a non-zero ``offset`` (a segment of a
    longer file) are skipped."""
    for where, line in source_lines(manifest):
        if isinstance(line, Skipped):
            yield line
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
            yield Skipped(where, MALFORMED, f"{where}: not valid JSON ({getattr(exc, 'msg', type(exc).__name__)})")
            continue
        if not isinstance(row, dict) or not isinstance(row.get("audio_filepath"), str) \
                or not isinstance(row.get("text"), str):
            yield Skipped(where, MALFORMED, f"{where}: expected an object with string audio_filepath and text")
            continue
        if row.get("offset") not in (None, 0):
            yield Skipped(where, SEGMENTED, f"{where}: offset {row['offset']!r:.40}: segments of a file "
                          "are not supported", row["audio_filepath"])
            continue
        row.pop("offset", None)
        row.pop("duration", None)
        audio, text = row.pop("audio_filepath"), row.pop("text")
        yield Candidate(manifest.parent / audio, text, where, row)


def nemo_sources(src: Path, split: str | None) -> list[tuple[str, Path]]:
    """``[(NAME, file)]``: SRC as one NeMo manifest (no splits)."""
    if split or not src.is_file():
        raise ManifestError(f"{src}: expected a NeMo manifest file (and no --split)")
    return [(src.stem, src)]

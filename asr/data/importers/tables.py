"""Common Voice TSVs and DeepSpeech / Coqui STT CSVs: delimited tables with a header row."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable, Iterator

from asr.core.errors import ManifestError
from asr.data.importers.base import MALFORMED, Candidate, Skipped, source_lines


def _header(path: Path, lines: Iterator[tuple[str, str | Skipped]], split: Callable[[str], list[str]],
            required: tuple[str, ...]) -> list[str]:
    """Column names from the first non-blank line; columns are then read by name."""
    for where, line in lines:
        if isinstance(line, Skipped):
            raise ManifestError(f"{line.detail} (the header line)")
        try:
            names = [name.strip() for name in split(line)]
        except csv.Error as exc:
            raise ManifestError(f"{where}: cannot parse the header ({exc})") from None
        missing = [name for name in required if name not in names]
        if missing:
            raise ManifestError(f"{where}: the header lacks column(s) {', '.join(missing)}")
        return names
    raise ManifestError(f"{path}: no header line")


def _csv_fields(line: str) -> list[str]:
    """One CSV record on one line (quoted fields allowed); raises ``csv.Error``."""
    return next(csv.reader([line], strict=True), [])


def _tsv_fields(line: str) -> list[str]:
    return line.split("\t")  # Common Voice text holds bare quotes: no CSV quoting


def _table_candidates(path: Path, split: Callable[[str], list[str]], audio_column: str, text_column: str,
                      audio_base: Path, rename: dict[str, str] | None = None,
                      drop: tuple[str, ...] = ()) -> Iterator[Candidate | Skipped]:
    """Candidates from a delimited file with a header: the audio path (relative to
    ``audio_base``) and the text from the named columns; the other non-empty
    columns are kept as extras, renamed by ``rename``, less ``drop``. Bad lines
    (undecodable, unparsable, wrong field count) come as ``Skipped`` items."""
    lines = source_lines(path)
    names = _header(path, lines, split, (audio_column, text_column))
    for where, line in lines:
        if isinstance(line, Skipped):
            yield line
            continue
        try:
            fields = split(line)
        except csv.Error as exc:
            yield Skipped(where, MALFORMED, f"{where}: cannot parse ({exc})")
            continue
        if len(fields) != len(names):
            yield Skipped(where, MALFORMED, f"{where}: {len(fields)} fields where the header has {len(names)}")
            continue
        columns = dict(zip(names, fields))
        audio, text = columns.pop(audio_column), columns.pop(text_column)
        extra = {(rename or {}).get(k, k): v for k, v in columns.items() if v and k not in drop}
        yield Candidate(audio_base / audio, text, where, extra)


def read_commonvoice(tsv: Path) -> Iterator[Candidate | Skipped]:
    """A Common Voice TSV (``client_id, path, sentence, ...`` read by header
    name) whose clips are in ``clips/`` beside it. ``client_id`` becomes
    ``speaker``; the other non-empty columns are kept."""
    return _table_candidates(tsv, _tsv_fields, "path", "sentence", tsv.parent / "clips",
                             rename={"client_id": "speaker"})


def read_deepspeech(csv_path: Path) -> Iterator[Candidate | Skipped]:
    """DeepSpeech / Coqui STT CSV: header ``wav_filename,wav_filesize,transcript``;
    paths absolute or relative to the CSV's folder. A quoted field spanning
    lines is not supported (each line must be a whole record)."""
    # wav_filesize is dropped: the audio is measured instead
    return _table_candidates(csv_path, _csv_fields, "wav_filename", "transcript", csv_path.parent,
                             drop=("wav_filesize",))


def _split_files(src: Path, split: str | None, suffix: str) -> list[tuple[str, Path]]:
    """SRC as one file, or SRC a folder: SPLIT.suffix, or each of train/dev/test.suffix that exists."""
    if src.is_file():
        if split:
            raise ManifestError(f"{src}: --split picks a file in a folder; SRC is already a file")
        return [(src.stem, src)]
    if not src.is_dir():
        raise ManifestError(f"{src}: no such file or folder")
    names = [split] if split else ["train", "dev", "test"]
    found = [(name, src / f"{name}{suffix}") for name in names if (src / f"{name}{suffix}").is_file()]
    if not found:
        raise ManifestError(f"{src}: no {' or '.join(n + suffix for n in names)} in it"
                            + ("" if split else "; pick a file with --split NAME"))
    return found


def commonvoice_sources(src: Path, split: str | None) -> list[tuple[str, Path]]:
    """``[(NAME, TSV)]``: SRC as a TSV, or a Common Voice folder's SPLIT.tsv or train/dev/test.tsv."""
    return _split_files(src, split, ".tsv")


def deepspeech_sources(src: Path, split: str | None) -> list[tuple[str, Path]]:
    """``[(NAME, CSV)]``: SRC as a CSV, or a folder's SPLIT.csv or train/dev/test.csv."""
    return _split_files(src, split, ".csv")

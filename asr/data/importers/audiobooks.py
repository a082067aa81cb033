"""LibriSpeech and LJSpeech: read audiobooks, transcripts in text files beside the audio."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from asr.core.errors import ManifestError
from asr.data.importers.base import MALFORMED, Candidate, Skipped, is_plain_name, one_folder, source_lines


def read_librispeech(split_dir: Path) -> Iterator[Candidate | Skipped]:
    """LibriSpeech split folder: ``SPEAKER/CHAPTER/SPEAKER-CHAPTER.trans.txt``
    (lines ``ID TRANSCRIPT``) beside ``ID.flac``."""
    for speaker in sorted(p for p in split_dir.iterdir() if p.is_dir()):
        for chapter in sorted(p for p in speaker.iterdir() if p.is_dir()):
            for transcripts in sorted(chapter.glob("*.trans.txt")):
                for where, line in source_lines(transcripts):
                    if isinstance(line, Skipped):
                        yield line
                        continue
                    utt, _, text = line.strip().partition(" ")
                    if not is_plain_name(utt):
                        yield Skipped(where, MALFORMED, f"{where}: {utt!r:.60} is not an utterance id")
                        continue
                    yield Candidate(chapter / f"{utt}.flac", text, where,
                                    {"id": utt, "speaker": speaker.name, "chapter": chapter.name})


def read_ljspeech(root: Path) -> Iterator[Candidate | Skipped]:
    """LJSpeech: ``metadata.csv`` lines ``ID|raw text|normalized text`` (no
    header, no quoting) and ``wavs/ID.wav``; the normalized text when present."""
    for where, line in source_lines(root / "metadata.csv"):
        if isinstance(line, Skipped):
            yield line
            continue
        fields = line.split("|")
        if len(fields) not in (2, 3) or not is_plain_name(fields[0]):
            yield Skipped(where, MALFORMED, f"{where}: expected ID|raw text|normalized text")
            continue
        text = fields[2] if len(fields) == 3 and fields[2].strip() else fields[1]
        yield Candidate(root / "wavs" / f"{fields[0]}.wav", text, where, {"id": fields[0]})


def librispeech_sources(src: Path, split: str | None) -> list[tuple[str, Path]]:
    """``[(NAME, folder)]``: SRC (or SRC/SPLIT) as a LibriSpeech split folder."""
    (name, folder), = one_folder(src, split, ())
    if next(folder.glob("*/*/*.trans.txt"), None) is None:
        raise ManifestError(f"{folder}: no SPEAKER/CHAPTER/*.trans.txt in it; expected a LibriSpeech split "
                            "folder such as LibriSpeech/dev-clean (or the LibriSpeech folder with --split)")
    return [(name, folder)]


def ljspeech_sources(src: Path, split: str | None) -> list[tuple[str, Path]]:
    """``[(NAME, folder)]``: SRC as the LJSpeech folder (it has no splits)."""
    if split:
        raise ManifestError(f"{src}: LJSpeech has no splits; leave out --split")
    return one_folder(src, None, ("metadata.csv",))

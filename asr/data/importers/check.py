"""The one check every importer's items go through, and writing the manifest.

``check_item`` tests a candidate (transcript usable by the tokenizer, audio
present and decodable, duration within bounds); ``import_items`` streams the
manifest and the list of skipped items to disk a line at a time, so a source
of any length is never held in memory whole.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Iterable

import soundfile as sf

from asr.audio.files import MAX_CHANNELS, check_duration, load_audio
from asr.core.atomic import LineWriter
from asr.core.errors import AudioError, ManifestError, TextError, first_line
from asr.core.progress import on_terminal, progress
from asr.data.importers.base import (
    DURATION,
    EMPTY,
    MALFORMED,
    MISSING,
    NO_DECODER,
    OUT_OF_VOCABULARY,
    UNREADABLE,
    Candidate,
    ImportResult,
    Skipped,
)
from asr.data.manifest import ManifestWriter
from asr.text import Tokenizer

FALLBACK_RATE = 16000  # Hz; audio that soundfile cannot read is decoded at this rate to measure it
FIRST_BLOCK = 1024  # frames read to prove that a file decodes, not just that its header parses
PROGRESS_EVERY = 10000  # items between progress lines on the "asr" logger, when no bar is drawn


class _Skip(Exception):
    """Raised inside the checks; becomes a ``Skipped`` item (never escapes this module)."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


def _audio_seconds(path: Path, max_duration: float | None = None) -> float:
    """The duration of an audio file in seconds, without decoding it whole when
    soundfile can read it (WAV, FLAC, OGG, and MP3 with libsndfile ≥ 1.1): the
    header gives the length and only the first block is decoded. Other formats
    are decoded with ``asr.audio.files.load_audio`` (librosa/audioread, which needs
    ffmpeg for MP3, M4A...).

    Args:
        path: the audio file.
        max_duration: seconds; bounds the memory of a fallback decode (None: no limit).

    Raises:
        _Skip: with the reason the file cannot be used.
    """
    if not path.is_file():
        raise _Skip(MISSING, f"{path}: audio file not found")
    if path.stat().st_size == 0:
        raise _Skip(UNREADABLE, f"{path}: empty file")

    try:
        with sf.SoundFile(str(path)) as handle:
            frames, rate, channels = handle.frames, handle.samplerate, handle.channels
            if rate <= 0 or not 0 < channels <= MAX_CHANNELS:
                raise _Skip(UNREADABLE, f"{path}: damaged header ({channels} channels at {rate} Hz)")
            handle.read(min(frames, FIRST_BLOCK), dtype="float32")
    except _Skip:
        raise
    except Exception:  # libsndfile's errors have no common type; the fallback below says why
        return _decoded_seconds(path, max_duration)
    if frames <= 0:
        raise _Skip(UNREADABLE, f"{path}: no audio samples")
    return frames / rate


def _decoded_seconds(path: Path, max_duration: float | None) -> float:
    """Duration of a file soundfile cannot read, by decoding it (``load_audio``)."""
    try:
        audio = load_audio(path, FALLBACK_RATE, max_duration=max_duration)
    except AudioError as exc:
        reason = first_line(exc)
        # a format libsndfile does not know, on a machine without ffmpeg: say what to install
        if shutil.which("ffmpeg") is None and path.suffix[1:].upper() not in sf.available_formats():
            raise _Skip(NO_DECODER, f"{reason}; no ffmpeg on PATH to decode {path.suffix or 'this'} files") from None
        # load_audio refuses a file past max_duration before decoding it whole, with this wording
        too_long = max_duration is not None and "too long" in reason
        raise _Skip(DURATION if too_long else UNREADABLE, reason) from None
    if audio.size == 0:
        raise _Skip(UNREADABLE, f"{path}: no audio samples")
    return audio.size / FALLBACK_RATE


def check_item(item: Candidate, tokenizer: Tokenizer, min_duration: float = 0.0,
               max_duration: float | None = None) -> dict | Skipped:
    """Check one candidate: the shared validation of every importer.

    The transcript must normalise to something non-empty inside the tokenizer's
    alphabet (checked first: it is cheap); the audio must exist and decode, and
    its duration lie within the bounds.

    Args:
        item: the candidate.
        tokenizer: whose normalisation and alphabet the transcript must fit.
        min_duration: seconds; shorter audio is skipped (0: only empty audio is).
        max_duration: seconds; longer audio is skipped (None: no limit).

    Returns:
        The manifest entry (``audio_filepath``, ``duration`` in seconds, the
        original ``text``, then the extra keys), or a ``Skipped`` item.
    """
    audio = str(item.audio)
    try:
        normalized = tokenizer.normalize(item.text)
        if not normalized:
            raise _Skip(EMPTY, f"{item.where}: transcript {item.text!r:.80} is empty after normalisation")
        try:
            tokenizer.encode(normalized, normalize=False)
        except TextError as exc:
            raise _Skip(OUT_OF_VOCABULARY, f"{item.where}: {exc}") from None
        duration = _audio_seconds(item.audio, max_duration)
        try:
            check_duration(duration, audio, min_duration, max_duration)
        except AudioError as exc:
            raise _Skip(DURATION, str(exc)) from None
    except _Skip as skip:
        return Skipped(item.where, skip.reason, skip.detail, audio)
    extra = {k: v for k, v in item.extra.items() if k not in ("audio_filepath", "duration", "text")}
    return {"audio_filepath": audio, "duration": duration, "text": item.text, **extra}


def import_items(items: Iterable[Candidate | Skipped], manifest: str | os.PathLike,
                 tokenizer: Tokenizer | None = None, min_duration: float = 0.0,
                 max_duration: float | None = None) -> ImportResult:
    """Check a stream of items and write what passes to a manifest, a line at a time.

    The manifest and ``NAME.skipped.jsonl`` beside it are written to temporary
    files renamed into place at the end; if reading the source fails part way
    (an error, not a skipped item), neither is replaced.

    Args:
        items: what a reader yields; consumed once, never held whole.
        manifest: the manifest to write (``NAME.jsonl``).
        tokenizer: the alphabet transcripts must fit (default: the toolkit's).
        min_duration: seconds; shorter audio is skipped.
        max_duration: seconds; longer audio is skipped (None: no limit).

    Returns:
        Counts of what was kept and skipped (by reason) and the kept audio's duration.
    """
    tokenizer = tokenizer or Tokenizer()
    manifest = Path(manifest)
    stem = manifest.name[: -len(manifest.suffix)] if manifest.suffix else manifest.name
    result = ImportResult(manifest, manifest.with_name(f"{stem}.skipped.jsonl"))
    log = logging.getLogger("asr").info
    bar = on_terminal()  # a log line would break the bar; off a terminal the lines say it is moving
    with ManifestWriter(manifest) as out, LineWriter(result.skipped_list) as skipped:
        for count, item in enumerate(progress(items, manifest.name, unit="item")):
            if count and count % PROGRESS_EVERY == 0 and not bar:  # a big corpus takes minutes
                log(f"{manifest.name}: {count} items read, {result.kept} kept")
            where = item.where
            if isinstance(item, Candidate):
                item = check_item(item, tokenizer, min_duration, max_duration)
            if isinstance(item, dict):
                try:
                    row = out.write(item)
                except ManifestError as exc:  # e.g. extra keys holding lone surrogates
                    item = Skipped(where, MALFORMED, f"{where}: {exc}", item["audio_filepath"])
                else:
                    result.kept += 1
                    result.seconds += row["duration"]
                    continue
            skipped.write_line(item.to_json())
            result.skipped[item.reason] += 1
    return result

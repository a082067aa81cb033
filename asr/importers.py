"""Corpus importers: other corpus layouts → JSONL manifests (``asr prepare``).

One small reader per layout (LibriSpeech, LJSpeech, Common Voice, DeepSpeech /
Coqui STT CSV, Kaldi data dirs, NeMo JSONL) yields the corpus's utterances
lazily, each a ``Candidate`` (audio path, original transcript, extra keys) or,
for a line that cannot even be parsed, a ``Skipped`` item. ``import_items``
checks every candidate the same way (``check_item``: transcript usable by the
tokenizer, audio present and decodable) and streams the manifest and the list
of skipped items to disk a line at a time, so a source of any length is never
held in memory whole. Transcripts are stored as they are: normalisation
happens at training time.

Nothing here runs commands found in a corpus (Kaldi's ``cmd |`` entries are
skipped) or imports TensorFlow.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from asr.audio import MAX_CHANNELS, check_duration, load_audio
from asr.data import LineWriter, ManifestWriter, iter_lines
from asr.errors import ASRError, AudioError, ManifestError, TextError, first_line
from asr.progress import on_terminal, progress
from asr.text import Tokenizer

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

FALLBACK_RATE = 16000  # Hz; audio that soundfile cannot read is decoded at this rate to measure it
FIRST_BLOCK = 1024  # frames read to prove that a file decodes, not just that its header parses
PROGRESS_EVERY = 10000  # items between progress lines on the "asr" logger, when no bar is drawn


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


class _Skip(Exception):
    """Raised inside the checks; becomes a ``Skipped`` item (never escapes this module)."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


# ----------------------------------------------------------------------------
# the one check every format goes through
# ----------------------------------------------------------------------------

def _audio_seconds(path: Path, max_duration: float | None = None) -> float:
    """The duration of an audio file in seconds, without decoding it whole when
    soundfile can read it (WAV, FLAC, OGG, and MP3 with libsndfile ≥ 1.1): the
    header gives the length and only the first block is decoded. Other formats
    are decoded with ``asr.audio.load_audio`` (librosa/audioread, which needs
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
    import soundfile as sf

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
    import soundfile as sf

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


# ----------------------------------------------------------------------------
# reading source files
# ----------------------------------------------------------------------------

def _lines(path: Path) -> Iterator[tuple[str, str | Skipped]]:
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
    lines = _lines(path)
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


def _is_plain_name(name: str) -> bool:
    """An id that is safe to turn into a file name in its folder (no path parts)."""
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\x00")


# ----------------------------------------------------------------------------
# one reader per layout: each yields Candidate or Skipped items, lazily
# ----------------------------------------------------------------------------

def read_librispeech(split_dir: Path) -> Iterator[Candidate | Skipped]:
    """LibriSpeech split folder: ``SPEAKER/CHAPTER/SPEAKER-CHAPTER.trans.txt``
    (lines ``ID TRANSCRIPT``) beside ``ID.flac``."""
    for speaker in sorted(p for p in split_dir.iterdir() if p.is_dir()):
        for chapter in sorted(p for p in speaker.iterdir() if p.is_dir()):
            for transcripts in sorted(chapter.glob("*.trans.txt")):
                for where, line in _lines(transcripts):
                    if isinstance(line, Skipped):
                        yield line
                        continue
                    utt, _, text = line.strip().partition(" ")
                    if not _is_plain_name(utt):
                        yield Skipped(where, MALFORMED, f"{where}: {utt!r:.60} is not an utterance id")
                        continue
                    yield Candidate(chapter / f"{utt}.flac", text, where,
                                    {"id": utt, "speaker": speaker.name, "chapter": chapter.name})


def read_ljspeech(root: Path) -> Iterator[Candidate | Skipped]:
    """LJSpeech: ``metadata.csv`` lines ``ID|raw text|normalized text`` (no
    header, no quoting) and ``wavs/ID.wav``; the normalized text when present."""
    for where, line in _lines(root / "metadata.csv"):
        if isinstance(line, Skipped):
            yield line
            continue
        fields = line.split("|")
        if len(fields) not in (2, 3) or not _is_plain_name(fields[0]):
            yield Skipped(where, MALFORMED, f"{where}: expected ID|raw text|normalized text")
            continue
        text = fields[2] if len(fields) == 3 and fields[2].strip() else fields[1]
        yield Candidate(root / "wavs" / f"{fields[0]}.wav", text, where, {"id": fields[0]})


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


@dataclass
class _Entry:
    where: str
    key: str
    value: str


def _kaldi_table(path: Path) -> Iterator[_Entry | Skipped]:
    """``KEY VALUE`` lines of a Kaldi table, checked to be sorted by key (as
    ``LC_ALL=C sort`` leaves them: Python compares str by code point, which is
    UTF-8 byte order). A repeated key is skipped; a key out of order is an error,
    because the join relies on the order."""
    previous = None
    for where, line in _lines(path):
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


def read_nemo(manifest: Path) -> Iterator[Candidate | Skipped]:
    """A NeMo JSONL manifest (``audio_filepath``, ``duration``, ``text``; other
    keys kept); paths absolute or relative to the manifest's folder. The
    duration is measured again; lines with a non-zero ``offset`` (a segment of a
    longer file) are skipped."""
    for where, line in _lines(manifest):
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


# ----------------------------------------------------------------------------
# sources: which file or folder of SRC each manifest comes from
# ----------------------------------------------------------------------------

def _one_folder(src: Path, split: str | None, needs: tuple[str, ...]) -> list[tuple[str, Path]]:
    """SRC (or SRC/SPLIT) as one folder holding ``needs``."""
    folder = src / split if split else src
    if not folder.is_dir():
        raise ManifestError(f"{folder}: not a folder")
    for name in needs:
        if not (folder / name).is_file():
            raise ManifestError(f"{folder}: no {name} in it")
    return [(folder.resolve().name, folder)]


def _librispeech_sources(src: Path, split: str | None) -> list[tuple[str, Path]]:
    (name, folder), = _one_folder(src, split, ())
    if next(folder.glob("*/*/*.trans.txt"), None) is None:
        raise ManifestError(f"{folder}: no SPEAKER/CHAPTER/*.trans.txt in it; expected a LibriSpeech split "
                            "folder such as LibriSpeech/dev-clean (or the LibriSpeech folder with --split)")
    return [(name, folder)]


def _ljspeech_sources(src: Path, split: str | None) -> list[tuple[str, Path]]:
    if split:
        raise ManifestError(f"{src}: LJSpeech has no splits; leave out --split")
    return _one_folder(src, None, ("metadata.csv",))


def _kaldi_sources(src: Path, split: str | None) -> list[tuple[str, Path]]:
    return _one_folder(src, split, ("wav.scp", "text"))


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


def _commonvoice_sources(src: Path, split: str | None) -> list[tuple[str, Path]]:
    return _split_files(src, split, ".tsv")


def _deepspeech_sources(src: Path, split: str | None) -> list[tuple[str, Path]]:
    return _split_files(src, split, ".csv")


def _nemo_sources(src: Path, split: str | None) -> list[tuple[str, Path]]:
    if split or not src.is_file():
        raise ManifestError(f"{src}: expected a NeMo manifest file (and no --split)")
    return [(src.stem, src)]


FORMATS = {  # kind → (sources of SRC, reader of one source)
    "librispeech": (_librispeech_sources, read_librispeech),
    "ljspeech": (_ljspeech_sources, read_ljspeech),
    "commonvoice": (_commonvoice_sources, read_commonvoice),
    "deepspeech": (_deepspeech_sources, read_deepspeech),
    "kaldi": (_kaldi_sources, read_kaldi),
    "nemo": (_nemo_sources, read_nemo),
}


def prepare(kind: str, src: str | os.PathLike, out_dir: str | os.PathLike, split: str | None = None,
            tokenizer: Tokenizer | None = None, min_duration: float = 0.0,
            max_duration: float | None = None) -> list[ImportResult]:
    """Import a corpus into JSONL manifests: ``OUT/NAME.jsonl`` and
    ``OUT/NAME.skipped.jsonl`` for each part of SRC (``asr prepare``).

    Args:
        kind: one of ``FORMATS``: librispeech, ljspeech, commonvoice, deepspeech, kaldi, nemo.
        src: the corpus: a LibriSpeech split folder, the LJSpeech folder, the
            Common Voice folder (TSVs + ``clips/``), a DeepSpeech CSV (or a folder
            of them), a Kaldi data dir, a NeMo manifest.
        out_dir: the folder the manifests go to (created).
        split: commonvoice/deepspeech: the TSV/CSV to read (default: each of
            train, dev, test that exists); librispeech/kaldi: a subfolder of SRC.
            NAME is the split (or SRC's file stem or folder name).
        tokenizer: the alphabet transcripts must fit (default: the toolkit's).
        min_duration: seconds; shorter audio is skipped (default: only empty audio).
        max_duration: seconds; longer audio is skipped (default: no limit).

    Returns:
        One ``ImportResult`` per manifest written.
    """
    if kind not in FORMATS:
        raise ASRError(f"unknown corpus kind {kind!r}; one of: {', '.join(FORMATS)}")
    find_sources, read = FORMATS[kind]
    src, out_dir = Path(src), Path(out_dir)
    results = []
    for name, source in find_sources(src, split):
        manifest = out_dir / f"{name}.jsonl"
        if manifest.resolve() == source.resolve():
            raise ManifestError(f"{manifest}: would overwrite the source; choose another --out")
        results.append(import_items(read(source), manifest, tokenizer, min_duration, max_duration))
    return results

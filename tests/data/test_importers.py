"""Corpus importers (``asr prepare``): each layout on a tiny fixture written here
in that exact layout, with good utterances and every kind of bad item; streaming
in bounded memory; Kaldi piped commands never run; the CLI; fuzzed sources."""

import json
import os
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
import soundfile as sf
from helpers import REPO, write_sine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asr.core.errors import ASRError, ManifestError
from asr.data.importers import (
    DUPLICATE,
    EMPTY,
    MALFORMED,
    MISSING,
    NO_AUDIO_ENTRY,
    NO_DECODER,
    NO_TRANSCRIPT,
    OUT_OF_VOCABULARY,
    PIPED,
    SEGMENTED,
    UNREADABLE,
    prepare,
)
from asr.data.manifest import MAX_LINE_BYTES

NOT_UTF8 = "not UTF-8 text"
GARBAGE = b"this is not audio, only text pretending to be a sound file\n" * 4


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def kept_rows(result) -> dict[str, tuple[Path, float, str]]:
    """utterance id → (resolved audio path, duration, text) from a written manifest."""
    rows = read_jsonl(result.manifest)
    assert len(rows) == result.kept
    return {row["id"]: ((result.manifest.parent / row["audio_filepath"]).resolve(), row["duration"], row["text"])
            for row in rows}


def skipped_set(result) -> set[tuple[str, str]]:
    """(where, reason) of every skipped item, checking each has a one-line detail."""
    rows = read_jsonl(result.skipped_list)
    assert len(rows) == result.skipped_total
    for row in rows:
        assert row["detail"] and "\n" not in row["detail"]
    return {(row["where"], row["reason"]) for row in rows}


def assert_kept(result, expected: dict[str, tuple[Path, float, str]]):
    """Manifest rows name the right files, durations within 1 ms, original texts."""
    rows = kept_rows(result)
    assert sorted(rows) == sorted(expected)
    for key, (path, seconds, text) in expected.items():
        got_path, got_seconds, got_text = rows[key]
        assert got_path == path.resolve(), key
        assert abs(got_seconds - seconds) < 1e-3, key
        assert got_text == text, key
    assert result.seconds == pytest.approx(sum(s for _, s, _ in expected.values()), abs=1e-3)


def tone(path: Path, seconds: float) -> Path:
    """A sine at 16 kHz (format from the suffix); its duration is exactly len / rate."""
    write_sine(path, seconds=seconds)
    return path


def lines_bytes(*lines) -> bytes:
    """Text lines as UTF-8; a bytes item is written as it is (a non-UTF-8 line)."""
    return b"".join((line if isinstance(line, bytes) else line.encode("utf-8")) + b"\n" for line in lines)


# ----------------------------------------------------------------------------
# one test per layout
# ----------------------------------------------------------------------------

def test_librispeech(tmp_path):
    split = tmp_path / "LibriSpeech" / "dev-clean"
    ch1, ch2 = split / "19" / "198", split / "26" / "495"
    audio = {"19-198-0000": tone(ch1 / "19-198-0000.flac", 0.31), "19-198-0001": tone(ch1 / "19-198-0001.flac", 0.42),
             "26-495-0000": tone(ch2 / "26-495-0000.flac", 0.53)}
    (ch1 / "19-198-0003.flac").write_bytes(GARBAGE)
    tone(ch1 / "19-198-0004.flac", 0.2)
    tone(ch1 / "19-198-0005.flac", 0.2)
    trans1 = ch1 / "19-198.trans.txt"
    trans1.write_bytes(lines_bytes(
        "19-198-0000 NORTHANGER ABBEY", "19-198-0001 THIS LITTLE WORK WAS FINISHED",
        "19-198-0002 THE FILE OF THIS ONE IS MISSING", "19-198-0003 GARBAGE AUDIO", "19-198-0004 ",
        "19-198-0005 ПРИВЕТ МИР", "19-198-0006 CAF\xc9".encode("latin-1"), "../../etc/passwd X"))
    (ch2 / "26-495.trans.txt").write_text("26-495-0000 I'M OLD ENOUGH\n", encoding="utf-8")

    (result,) = prepare("librispeech", split, tmp_path / "out")
    assert result.manifest == tmp_path / "out" / "dev-clean.jsonl"
    texts = {"19-198-0000": "NORTHANGER ABBEY", "19-198-0001": "THIS LITTLE WORK WAS FINISHED",
             "26-495-0000": "I'M OLD ENOUGH"}
    seconds = {"19-198-0000": 0.31, "19-198-0001": 0.42, "26-495-0000": 0.53}
    assert_kept(result, {k: (audio[k], seconds[k], texts[k]) for k in audio})
    rows = read_jsonl(result.manifest)
    assert [(r["speaker"], r["chapter"]) for r in rows] == [("19", "198"), ("19", "198"), ("26", "495")]
    where = f"{trans1}:"
    assert skipped_set(result) == {(where + "3", MISSING), (where + "4", UNREADABLE), (where + "5", EMPTY),
                                   (where + "6", OUT_OF_VOCABULARY), (where + "7", NOT_UTF8),
                                   (where + "8", MALFORMED)}
    assert result.kept == 3 and result.skipped_total == 6 and result.skipped[MISSING] == 1

    # the LibriSpeech folder with --split gives the same manifest
    (again,) = prepare("librispeech", tmp_path / "LibriSpeech", tmp_path / "out2", split="dev-clean")
    assert again.kept == 3 and read_jsonl(again.manifest) == rows


def test_ljspeech_uses_the_normalized_column_and_keeps_quotes(tmp_path):
    root = tmp_path / "LJSpeech-1.1"
    wavs = {i: tone(root / "wavs" / f"LJ001-000{i}.wav", 0.3 + i / 10) for i in (1, 2, 3, 6, 7)}
    (root / "wavs" / "LJ001-0004.wav").write_bytes(GARBAGE)
    metadata = root / "metadata.csv"
    metadata.write_bytes(lines_bytes(
        'LJ001-0001|Dr. Smith said "hi" on the 1st|Doctor Smith said "hi" on the first',
        "LJ001-0002|raw only, no normalized column|",
        "LJ001-0003|two fields only",
        "LJ001-0004|garbage audio|garbage audio",
        "LJ001-0005|missing file|missing file",
        "LJ001-0006|...|...",
        "LJ001-0007|Привет|Привет",
        "LJ001-0008|caf\xe9|caf\xe9".encode("latin-1"),
        "LJ001-0009|too|many|fields",
    ).replace(b"\n", b"\r\n", 2))  # Windows line endings on the first lines

    (result,) = prepare("ljspeech", root, tmp_path / "out")
    assert result.manifest.name == "LJSpeech-1.1.jsonl"
    assert_kept(result, {
        "LJ001-0001": (wavs[1], 0.4, 'Doctor Smith said "hi" on the first'),
        "LJ001-0002": (wavs[2], 0.5, "raw only, no normalized column"),
        "LJ001-0003": (wavs[3], 0.6, "two fields only"),
    })
    where = f"{metadata}:"
    assert skipped_set(result) == {(where + "4", UNREADABLE), (where + "5", MISSING), (where + "6", EMPTY),
                                   (where + "7", OUT_OF_VOCABULARY), (where + "8", NOT_UTF8),
                                   (where + "9", MALFORMED)}


CV_HEADER = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccents"


def write_commonvoice(root: Path, suffix: str = ".wav") -> dict:
    """train.tsv (good + bad rows) and dev.tsv (columns in another order) with clips;
    audio written as ``suffix`` (a real MP3 for ``.mp3``)."""
    clips = root / "clips"
    clips.mkdir(parents=True)
    fmt = {"format": "MP3"} if suffix == ".mp3" else {}
    audio = {}
    for name, seconds in (("a", 0.5), ("b", 0.6), ("c", 0.7), ("e", 0.3), ("f", 0.3)):
        write_sine(clips / f"cv_{name}{suffix}", seconds=seconds, **fmt)
        audio[name] = (clips / f"cv_{name}{suffix}", seconds)
    (clips / f"cv_g{suffix}").write_bytes(GARBAGE)
    (root / "train.tsv").write_bytes(lines_bytes(
        CV_HEADER,
        f"spk1\tcv_a{suffix}\tHe said \"it's fine\".\t2\t0\ttwenties\tfemale\t",
        f"spk2\tcv_b{suffix}\tSecond sentence here\t3\t1\t\t\tScottish English",
        f"spk3\tcv_missing{suffix}\tThis clip is gone\t2\t0\t\t\t",
        f"spk3\tcv_e{suffix}\t \t2\t0\t\t\t",
        f"spk3\tcv_f{suffix}\tЭто по-русски\t2\t0\t\t\t",
        f"spk4\tcv_g{suffix}\tgarbage audio\t2\t0\t\t\t",
        f"spk4\tcv_a{suffix}\ttoo few columns",
        f"spk5\tcv_a{suffix}\tna\xefve\t2\t0\t\t\t".encode("latin-1"),
    ))
    (root / "dev.tsv").write_bytes(lines_bytes(
        "sentence\tpath\tclient_id\tlocale", f"Third one\tcv_c{suffix}\tspk9\ten"))
    return audio


def test_commonvoice_reads_columns_by_name_and_one_manifest_per_split(tmp_path):
    root = tmp_path / "cv-corpus" / "en"
    audio = write_commonvoice(root)
    train, dev = prepare("commonvoice", root, tmp_path / "out")  # no test.tsv: train and dev only
    assert (train.manifest.name, dev.manifest.name) == ("train.jsonl", "dev.jsonl")
    rows = read_jsonl(train.manifest)
    assert [(r["text"], r["speaker"]) for r in rows] == [("He said \"it's fine\".", "spk1"),
                                                         ("Second sentence here", "spk2")]
    for row, name in zip(rows, "ab"):
        path, seconds = audio[name]
        assert (train.manifest.parent / row["audio_filepath"]).resolve() == path.resolve()
        assert abs(row["duration"] - seconds) < 1e-3
    assert rows[0]["age"] == "twenties" and "accents" not in rows[0]  # empty columns are left out
    assert rows[1]["accents"] == "Scottish English"
    tsv = f"{root / 'train.tsv'}:"
    assert skipped_set(train) == {(tsv + "4", MISSING), (tsv + "5", EMPTY), (tsv + "6", OUT_OF_VOCABULARY),
                                  (tsv + "7", UNREADABLE), (tsv + "8", MALFORMED), (tsv + "9", NOT_UTF8)}
    (dev_row,) = read_jsonl(dev.manifest)
    assert dev_row["text"] == "Third one" and dev_row["speaker"] == "spk9" and dev_row["locale"] == "en"
    assert abs(dev_row["duration"] - 0.7) < 1e-3

    (only,) = prepare("commonvoice", root, tmp_path / "out2", split="dev")
    assert only.manifest.name == "dev.jsonl" and only.kept == 1
    with pytest.raises(ManifestError, match="validated.tsv"):
        prepare("commonvoice", root, tmp_path / "out3", split="validated")


@pytest.mark.needs_mp3
def test_commonvoice_mp3_clips(tmp_path):
    root = tmp_path / "cv"
    audio = write_commonvoice(root, suffix=".mp3")
    train, _ = prepare("commonvoice", root, tmp_path / "out")
    rows = read_jsonl(train.manifest)
    assert len(rows) == 2 and train.skipped_total == 6
    for row, name in zip(rows, "ab"):
        path, seconds = audio[name]
        decoded, rate = sf.read(str(path))
        assert (train.manifest.parent / row["audio_filepath"]).resolve() == path.resolve()
        assert abs(row["duration"] - len(decoded) / rate) < 1e-3  # what decoding gives
        assert abs(row["duration"] - seconds) < 0.1  # MP3 frames pad the ends a little


def write_cv_clip_list(root: Path, clip: str) -> None:
    (root / "clips").mkdir(parents=True, exist_ok=True)
    (root / "train.tsv").write_text(f"{CV_HEADER}\nspk\t{clip}\thello there\t1\t0\t\t\t\n", encoding="utf-8")


def make_m4a(path: Path, seconds: float) -> Path:
    """AAC in M4A, which libsndfile cannot read (made with ffmpeg)."""
    wav = tone(path.with_suffix(".src.wav"), seconds)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-c:a", "aac", str(path)], check=True)
    wav.unlink()
    return path


@pytest.mark.needs_ffmpeg
def test_audio_soundfile_cannot_read_is_decoded_with_ffmpeg(tmp_path):
    from asr.audio.files import load_audio

    root = tmp_path / "cv"
    clip = make_m4a(root / "clips" / "x.m4a", 0.8)
    write_cv_clip_list(root, "x.m4a")
    (result,) = prepare("commonvoice", root, tmp_path / "out")
    (row,) = read_jsonl(result.manifest)
    assert abs(row["duration"] - load_audio(clip, 16000).size / 16000) < 1e-3
    assert abs(row["duration"] - 0.8) < 0.1  # AAC adds priming samples


def test_without_ffmpeg_such_audio_is_skipped_with_that_reason(tmp_path, monkeypatch):
    root = tmp_path / "cv"
    clip = root / "clips" / "x.m4a"
    if shutil.which("ffmpeg"):
        make_m4a(clip, 0.5)
    else:
        clip.parent.mkdir(parents=True)
        clip.write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(200))
    write_cv_clip_list(root, "x.m4a")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no ffmpeg to be found
    (result,) = prepare("commonvoice", root, tmp_path / "out")
    assert result.kept == 0 and dict(result.skipped) == {NO_DECODER: 1}
    (row,) = read_jsonl(result.skipped_list)
    assert "ffmpeg" in row["detail"] and str(clip) in row["detail"]


def test_deepspeech_csv_with_quotes_bom_and_absolute_paths(tmp_path):
    root = tmp_path / "ds"
    a = tone(root / "wavs" / "a.wav", 0.45)
    b = tone(tmp_path / "elsewhere" / "b.wav", 0.55)
    tone(root / "wavs" / "c.wav", 0.2)
    (root / "wavs" / "g.wav").write_bytes(GARBAGE)
    csv_path = root / "train.csv"
    csv_path.write_bytes(b"\xef\xbb\xbf" + lines_bytes(
        "wav_filename,wav_filesize,transcript",
        "wavs/a.wav,14444,\"hello, world\"",
        f"{b},17644,it's absolute",
        "wavs/missing.wav,100,gone",
        "wavs/g.wav,100,garbage audio",
        "wavs/c.wav,100,",
        "wavs/c.wav,100,日本語",
        "wavs/c.wav,100,\"unterminated",
        "wavs/c.wav,100,one,two",
        "wavs/c.wav,100,caf\xe9".encode("latin-1"),
    ))
    (result,) = prepare("deepspeech", csv_path, tmp_path / "out")
    assert result.manifest.name == "train.jsonl"
    rows = read_jsonl(result.manifest)
    assert [r["text"] for r in rows] == ["hello, world", "it's absolute"]
    for row, (path, seconds) in zip(rows, [(a, 0.45), (b, 0.55)]):
        assert (result.manifest.parent / row["audio_filepath"]).resolve() == path.resolve()
        assert abs(row["duration"] - seconds) < 1e-3
    where = f"{csv_path}:"
    assert skipped_set(result) == {(where + "4", MISSING), (where + "5", UNREADABLE), (where + "6", EMPTY),
                                   (where + "7", OUT_OF_VOCABULARY), (where + "8", MALFORMED),
                                   (where + "9", MALFORMED), (where + "10", NOT_UTF8)}
    # a folder of CSVs: --split picks one
    (same,) = prepare("deepspeech", root, tmp_path / "out2", split="train")
    assert read_jsonl(same.manifest) == rows


def test_deepspeech_csv_without_the_columns_is_an_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("filename,text\na.wav,hello\n", encoding="utf-8")
    with pytest.raises(ManifestError, match=r"x\.csv:1: .*wav_filename"):
        prepare("deepspeech", path, tmp_path / "out")


def write_kaldi(data: Path, wav_scp: list[str], text: list[str], utt2spk: list[str] | None = None) -> Path:
    data.mkdir(parents=True, exist_ok=True)
    (data / "wav.scp").write_bytes(lines_bytes(*wav_scp))
    (data / "text").write_bytes(lines_bytes(*text))
    if utt2spk is not None:
        (data / "utt2spk").write_text("".join(line + "\n" for line in utt2spk), encoding="utf-8")
    return data


def test_kaldi_joins_sorted_files_by_utterance_id(tmp_path):
    audio = tmp_path / "audio"
    a, b, d = tone(audio / "a.wav", 0.33), tone(audio / "b.wav", 0.44), tone(audio / "d.wav", 0.55)
    tone(audio / "short.wav", 0.2)
    (audio / "g.wav").write_bytes(GARBAGE)
    data = write_kaldi(
        tmp_path / "data" / "train",
        wav_scp=[f"spk1-a {a}", f"spk1-b {b}", f"spk1-b {b}", f"spk1-c {audio / 'missing.wav'}",
                 f"spk2-d {d}", f"spk2-e {audio / 'short.wav'}", f"spk2-f {audio / 'short.wav'}",
                 f"spk2-g {audio / 'g.wav'}", f"spk3-n {audio / 'short.wav'}", f"spk3-w {audio / 'short.wav'}"],
        text=["spk1-a TURN ON THE LIGHTS", "spk1-b HELLO", "spk1-c ONE TWO", "spk1-x NO AUDIO FOR ME",
              "spk2-d IT'S FINE", "spk2-e", "spk2-f ΕΛΛΗΝΙΚΑ", "spk2-g GARBAGE",
              "spk3-n CAF\xc9".encode("latin-1")],
        utt2spk=["spk1-a spk1", "spk1-b spk1", "spk2-d spk2", "spk2-e spk2"],
    )
    (result,) = prepare("kaldi", tmp_path / "data", tmp_path / "out", split="train")
    assert result.manifest.name == "train.jsonl"
    assert_kept(result, {"spk1-a": (a, 0.33, "TURN ON THE LIGHTS"), "spk1-b": (b, 0.44, "HELLO"),
                         "spk2-d": (d, 0.55, "IT'S FINE")})
    assert [r.get("speaker") for r in read_jsonl(result.manifest)] == ["spk1", "spk1", "spk2"]
    scp, text = f"{data / 'wav.scp'}:", f"{data / 'text'}:"
    assert skipped_set(result) == {
        (scp + "3", DUPLICATE), (text + "3", MISSING), (text + "4", NO_AUDIO_ENTRY), (text + "6", EMPTY),
        (text + "7", OUT_OF_VOCABULARY), (text + "8", UNREADABLE), (text + "9", NOT_UTF8),
        (scp + "9", NO_TRANSCRIPT), (scp + "10", NO_TRANSCRIPT),
    }


def test_kaldi_piped_commands_are_skipped_and_never_run(tmp_path):
    marker = tmp_path / "MARKER"
    good = tone(tmp_path / "good.wav", 0.3)
    data = write_kaldi(tmp_path / "data",
                       wav_scp=[f"u1 touch {marker} |", f"u2 {good}", f"u3 sh -c 'touch {marker}; cat {good}' |"],
                       text=["u1 one", "u2 two", "u3 three"])
    (result,) = prepare("kaldi", data, tmp_path / "out")
    assert not marker.exists()
    assert result.kept == 1 and dict(result.skipped) == {PIPED: 2}
    assert skipped_set(result) == {(f"{data / 'wav.scp'}:1", PIPED), (f"{data / 'wav.scp'}:3", PIPED)}


def test_kaldi_unsorted_files_are_a_clear_error_and_nothing_is_written(tmp_path):
    good = tone(tmp_path / "good.wav", 0.3)
    data = write_kaldi(tmp_path / "data", wav_scp=[f"u2 {good}", f"u1 {good}"], text=["u1 one", "u2 two"])
    with pytest.raises(ManifestError, match=r"wav\.scp:2: .*not sorted"):
        prepare("kaldi", data, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == []  # no manifest, no temporary file


def test_kaldi_segments_are_skipped_with_a_reason(tmp_path):
    good = tone(tmp_path / "rec.wav", 1.0)
    data = write_kaldi(tmp_path / "data", wav_scp=[f"rec {good}"], text=["rec-1 one", "rec-2 two"])
    (data / "segments").write_text("rec-1 rec 0.0 0.5\nrec-2 rec 0.5 1.0\n", encoding="utf-8")
    (result,) = prepare("kaldi", data, tmp_path / "out")
    assert result.kept == 0 and dict(result.skipped) == {SEGMENTED: 2}


def test_nemo_manifest(tmp_path):
    root = tmp_path / "nemo"
    a = tone(root / "audio" / "a.wav", 0.36)
    b = tone(tmp_path / "abs" / "b.flac", 0.47)
    tone(root / "audio" / "s.wav", 0.2)
    (root / "audio" / "g.wav").write_bytes(GARBAGE)
    source = root / "train_manifest.json"

    def row(path, text, **extra):
        return json.dumps({"audio_filepath": str(path), "duration": 99.0, "text": text, **extra}, ensure_ascii=False)

    source.write_bytes(lines_bytes(
        row("audio/a.wav", "Relative path", speaker="s1", lang="en"),
        row(b, "Absolute path"),
        row("audio/missing.wav", "gone"),
        row("audio/g.wav", "garbage"),
        row("audio/s.wav", "   "),
        row("audio/s.wav", "ελληνικά"),
        '{"audio_filepath": "audio/s.wav", "text": ',
        row("audio/s.wav", "a segment", offset=0.1),
        row("audio/s.wav", "caf\xe9").encode("latin-1"),
        '{"audio_filepath": "audio/s.wav", "text": 5}',
    ))
    (result,) = prepare("nemo", source, tmp_path / "out")
    rows = read_jsonl(result.manifest)
    assert [r["text"] for r in rows] == ["Relative path", "Absolute path"]
    assert rows[0]["speaker"] == "s1" and rows[0]["lang"] == "en"
    for r, (path, seconds) in zip(rows, [(a, 0.36), (b, 0.47)]):
        assert (result.manifest.parent / r["audio_filepath"]).resolve() == path.resolve()
        assert abs(r["duration"] - seconds) < 1e-3  # measured, not copied (the source said 99)
    where = f"{source}:"
    assert skipped_set(result) == {(where + "3", MISSING), (where + "4", UNREADABLE), (where + "5", EMPTY),
                                   (where + "6", OUT_OF_VOCABULARY), (where + "7", MALFORMED),
                                   (where + "8", SEGMENTED), (where + "9", NOT_UTF8), (where + "10", MALFORMED)}
    with pytest.raises(ManifestError, match="overwrite the source"):  # NAME.jsonl beside a NAME.jsonl source
        prepare("nemo", result.manifest, tmp_path / "out")


# ----------------------------------------------------------------------------
# odd encodings, long lines, bounded memory
# ----------------------------------------------------------------------------

def test_utf16_text_is_refused_with_a_clear_error(tmp_path):
    (tmp_path / "LJ").mkdir()
    (tmp_path / "LJ" / "metadata.csv").write_text("LJ001-0001|hello|hello\n", encoding="utf-16")
    with pytest.raises(ManifestError, match="UTF-16"):
        prepare("ljspeech", tmp_path / "LJ", tmp_path / "out")


def deepspeech_csv(path: Path, n: int, audio: str = "a.wav") -> Path:
    with path.open("w", encoding="utf-8") as handle:
        handle.write("wav_filename,wav_filesize,transcript\n")
        for _ in range(n):
            handle.write(f"{audio},9644,turn on the kitchen lights\n")
    return path


def test_an_over_long_line_is_skipped_without_being_read_whole(tmp_path):
    tone(tmp_path / "a.wav", 0.3)
    path = deepspeech_csv(tmp_path / "long.csv", 1)
    with path.open("ab") as handle:
        handle.write(b"a.wav,1," + b"x" * (16 * MAX_LINE_BYTES) + b"\na.wav,1,after the long line\n")
    tracemalloc.start()
    try:
        (result,) = prepare("deepspeech", path, tmp_path / "out")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.kept == 2 and skipped_set(result) == {(f"{path}:3", f"line longer than {MAX_LINE_BYTES} bytes")}
    # measured: about 4 MiB (a few line-sized buffers), whatever the line's length
    assert peak < 6 * MAX_LINE_BYTES, f"{peak / 2**20:.1f} MiB for a {16 * MAX_LINE_BYTES / 2**20:.0f} MiB line"


def kaldi_dir(root: Path, n: int, wav: Path) -> Path:
    """A Kaldi data dir of ``n`` utterances (ids sorted), all pointing at ``wav``."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / "wav.scp").open("w") as scp, (root / "text").open("w") as text, \
            (root / "utt2spk").open("w") as spk:
        for i in range(n):
            scp.write(f"utt{i:08d} {wav}\n")
            text.write(f"utt{i:08d} turn on the kitchen lights\n")
            spk.write(f"utt{i:08d} spk{i // 100}\n")
    return root


def peak_memory(kind: str, src: Path, out: Path, runs: int = 2) -> tuple[int, int]:
    """(utterances kept, peak traced bytes) of importing ``src``: the lowest peak
    of ``runs`` imports, because libraries make one-off allocations (a cffi cache
    of about 2 MiB) at some call or other, which are not the importer's."""
    peaks = []
    for run in range(runs):
        tracemalloc.start()
        try:
            (result,) = prepare(kind, src, out / str(run))
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    return result.kept, min(peaks)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["deepspeech", "kaldi"])
def test_memory_stays_bounded_whatever_the_source_length(tmp_path, kind):
    wav = tone(tmp_path / "a.wav", 0.3)
    small, large = 1000, 6000

    def source(n):
        if kind == "kaldi":
            return kaldi_dir(tmp_path / f"kaldi{n}", n, wav)
        return deepspeech_csv(tmp_path / f"ds{n}.csv", n)

    src_small, src_large = source(small), source(large)
    prepare(kind, src_small, tmp_path / "warm")  # imports and caches outside the measurement
    kept_small, peak_small = peak_memory(kind, src_small, tmp_path / "out_small")
    kept_large, peak_large = peak_memory(kind, src_large, tmp_path / "out_large")
    assert (kept_small, kept_large) == (small, large)
    # measured: about 40 KiB for either; holding the entries would cost ~0.5 KiB each, 2.5 MiB more
    assert peak_large < peak_small + 512 * 1024, (peak_small, peak_large)


# ----------------------------------------------------------------------------
# the command line
# ----------------------------------------------------------------------------

def test_cli_prints_counts_and_paths(tmp_path, cli):
    root = tmp_path / "LJ"
    tone(root / "wavs" / "LJ1.wav", 0.4)
    tone(root / "wavs" / "LJ2.wav", 0.5)
    (root / "metadata.csv").write_text("LJ1|one|one\nLJ2|two|two\nLJ3|gone|gone\nLJ4|Ωμέγα|Ωμέγα\n",
                                       encoding="utf-8")
    result = cli("prepare", "ljspeech", root, "--out", tmp_path / "out", timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "kept 2" in out and "skipped 2" in out and f"1 {MISSING}" in out and f"1 {OUT_OF_VOCABULARY}" in out
    assert str(tmp_path / "out" / "LJ.jsonl") in out and str(tmp_path / "out" / "LJ.skipped.jsonl") in out
    assert len(read_jsonl(tmp_path / "out" / "LJ.jsonl")) == 2


def test_cli_fails_when_nothing_is_kept_and_never_imports_tensorflow(tmp_path):
    root = tmp_path / "LJ"
    (root / "wavs").mkdir(parents=True)
    (root / "metadata.csv").write_text("LJ1|gone|gone\n", encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    script = ("import sys\nfrom asr.cli.main import main\nrc = main(['prepare', 'ljspeech', sys.argv[1], '--out', "
              "sys.argv[2]])\nprint('loaded:', sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n"
              "sys.exit(rc)")
    result = subprocess.run([sys.executable, "-c", script, str(root), str(tmp_path / "out")], capture_output=True,
                            text=True, env=env, cwd=REPO, timeout=120)
    assert result.returncode == 1
    assert "loaded: []" in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("asr: error: ") and "nothing kept" in errors[0]
    assert str(tmp_path / "out" / "LJ.skipped.jsonl") in errors[0]

    wrapper = subprocess.run([sys.executable, "pipelines/prepare.py", "kaldi", str(tmp_path / "nowhere"), "--out",
                              str(tmp_path / "out")], capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert wrapper.returncode == 1 and wrapper.stderr.startswith("asr: error: ") and "nowhere" in wrapper.stderr


# ----------------------------------------------------------------------------
# fuzzed sources: a toolkit error or skipped items, never another exception
# ----------------------------------------------------------------------------

FUZZ = settings(max_examples=30, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture])
WAV = "@WAV@"  # replaced by the good WAV's absolute path when written
TOKENS = {
    "librispeech": ["1-2-0001", "1-2-0002", "../x", "TURN ON", "привет", "", "\t"],
    "ljspeech": ["LJ1", "LJ2", "hello there", "", '"q"', "Ω", "|"],
    "commonvoice": ["client_id", "path", "sentence", "a.wav", "b.wav", "hello", "", '"', "Ω"],
    "deepspeech": ["wav_filename", "wav_filesize", "transcript", "a.wav", WAV, "x.wav", "hello", '"a,b"', '"',
                   ""],
    "kaldi": ["u1", "u2", "u3", WAV, "missing.wav", "cat x |", "hello", "", "Ω"],
    "nemo": [],
}
SEPARATORS = {"librispeech": " ", "ljspeech": "|", "commonvoice": "\t", "deepspeech": ",", "kaldi": " "}
HEADERS = {"commonvoice": "client_id\tpath\tsentence", "deepspeech": "wav_filename,wav_filesize,transcript"}

raw_line = st.binary(max_size=80).filter(lambda b: b"\n" not in b)
nemo_line = st.fixed_dictionaries({
    "audio_filepath": st.sampled_from([WAV, "a.wav", "missing.wav", "", "a\x00.wav"]) | st.integers(),
    "text": st.sampled_from(["hello", "", "Ω", "\ud800"]) | st.none(),
}, optional={
    "duration": st.floats(allow_nan=True) | st.text(max_size=3),
    "offset": st.sampled_from([0, 0.0, 1.5, "x", None]),
    "extra": st.text(max_size=5) | st.just("\udc80"),
}).map(lambda row: json.dumps(row).encode())


def fuzz_lines(kind: str):
    if kind == "nemo":
        line = nemo_line
    else:
        line = st.lists(st.sampled_from(TOKENS[kind]), max_size=6).map(
            lambda parts: SEPARATORS[kind].join(parts).encode("utf-8", "surrogatepass"))
    lines = st.lists(line | raw_line, max_size=10)
    if kind in HEADERS:  # mostly with the real header, so the rows get read
        header = st.sampled_from([HEADERS[kind].encode()] * 3 + [b"", b"\xff\xfe", b"path"])
        return st.tuples(header, lines).map(lambda t: [t[0], *t[1]])
    return lines


def write_fuzzed(kind: str, root: Path, lines: list[bytes], other: list[bytes], wav: Path) -> Path:
    """Write fuzzed lines into the file(s) a layout reads; returns SRC."""
    data = [line.replace(WAV.encode(), str(wav).encode()) for line in lines]
    blob = b"\n".join(data) + b"\n"
    if kind == "librispeech":
        chapter = root / "1" / "2"
        chapter.mkdir(parents=True, exist_ok=True)
        shutil.copy(wav, chapter / "1-2-0001.flac")
        (chapter / "1-2.trans.txt").write_bytes(blob)
    elif kind == "ljspeech":
        (root / "wavs").mkdir(parents=True, exist_ok=True)
        shutil.copy(wav, root / "wavs" / "LJ1.wav")
        (root / "metadata.csv").write_bytes(blob)
    elif kind == "commonvoice":
        (root / "clips").mkdir(parents=True, exist_ok=True)
        shutil.copy(wav, root / "clips" / "a.wav")
        (root / "train.tsv").write_bytes(blob)
    elif kind == "deepspeech":
        root.mkdir(parents=True, exist_ok=True)
        shutil.copy(wav, root / "a.wav")
        (root / "train.csv").write_bytes(blob)
    elif kind == "kaldi":
        root.mkdir(parents=True, exist_ok=True)
        (root / "text").write_bytes(blob)
        (root / "wav.scp").write_bytes(b"\n".join(o.replace(WAV.encode(), str(wav).encode()) for o in other))
    else:
        root.mkdir(parents=True, exist_ok=True)
        shutil.copy(wav, root / "a.wav")
        (root / "train.json").write_bytes(blob)
        return root / "train.json"
    return root


def nonblank_lines(lines: list[bytes]) -> int:
    """Lines a reader turns into an item: undecodable ones count, blank ones do not."""
    count = 0
    for i, raw in enumerate(lines):
        raw = raw[3:] if i == 0 and raw.startswith(b"\xef\xbb\xbf") else raw
        try:
            count += bool(raw.decode("utf-8").strip())
        except UnicodeDecodeError:
            count += 1
    return count


@pytest.mark.parametrize("kind", sorted(SEPARATORS) + ["nemo"])
def test_fuzzed_sources_give_skipped_items_or_a_toolkit_error(tmp_path_factory, kind):
    wav = tone(tmp_path_factory.mktemp("wav") / "good.wav", 0.3)

    @FUZZ
    @given(lines=fuzz_lines(kind), other=fuzz_lines("kaldi"))
    def check(lines, other):
        root = tmp_path_factory.mktemp(kind)
        src = write_fuzzed(kind, root / "src", lines, other, wav)
        try:
            results = prepare(kind, src, root / "out")
        except ASRError as exc:
            assert "\n" not in str(exc) and str(root) in str(exc)
            return
        for result in results:
            rows = read_jsonl(result.manifest)
            assert len(rows) == result.kept
            for row in rows:
                assert (result.manifest.parent / row["audio_filepath"]).resolve().read_bytes() == wav.read_bytes()
                assert abs(row["duration"] - 0.3) < 1e-3
            skipped = read_jsonl(result.skipped_list)
            assert len(skipped) == result.skipped_total and all(r["reason"] and r["where"] for r in skipped)
            if kind != "kaldi":  # every data line is one item (kaldi joins two lines into one)
                assert result.kept + result.skipped_total == nonblank_lines(lines) - (kind in HEADERS)

    check()

"""Long audio: the energy VAD and chunking, CTC word alignment, subtitles,
progress bars, ``asr transcribe --format srt|vtt|json --plot``, and the
acceptance test on a 10-minute recording with the shipped model."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from helpers import REPO

from asr.audio.vad import MARGIN, plan_chunks
from asr.decoding.alignment import Word, align_words, forced_align
from asr.decoding.decoders import GreedyDecoder, log_softmax
from asr.inference.subtitles import group_cues, timestamp, to_srt, to_vtt
from asr.text import Tokenizer

RATE = 16000
SHIPPED_TFLITE = REPO / "saved_models" / "commands" / "model.tflite"

# ----------------------------------------------------------------------------
# VAD and chunking, on signals whose silences are known
# ----------------------------------------------------------------------------

def syllable_noise(seconds: float, level_db: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with a 4 Hz syllable-like envelope that never falls silent, RMS about ``level_db`` dBFS."""
    t = np.arange(int(seconds * RATE)) / RATE
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)
    return (10 ** (level_db / 20) * envelope * rng.standard_normal(t.size)).astype(np.float32)


def silence(seconds: float, rng: np.random.Generator, level_db: float = -90.0) -> np.ndarray:
    return (10 ** (level_db / 20) * rng.standard_normal(int(seconds * RATE))).astype(np.float32)


def seconds(chunks):
    return [(c.start / RATE, c.end / RATE, c.speech_start / RATE, c.speech_end / RATE) for c in chunks]


def test_vad_cuts_at_the_known_silence():
    rng = np.random.default_rng(0)
    audio = np.concatenate([silence(0.5, rng), syllable_noise(6.0, -20, rng), silence(0.8, rng),
                            syllable_noise(5.0, -20, rng), silence(0.5, rng)])
    (a, b) = seconds(plan_chunks(audio, RATE, max_seconds=10.0))
    # the cut falls inside the known silence (6.5-7.3 s), each chunk keeping MARGIN of it
    assert 6.5 < a[1] <= 6.9 and 6.9 <= b[0] < 7.3
    assert a[1] == pytest.approx(6.5 + MARGIN, abs=0.03) and b[0] == pytest.approx(7.3 - MARGIN, abs=0.03)
    assert a[2] == pytest.approx(0.5, abs=0.03) and a[3] == pytest.approx(6.5, abs=0.03)
    assert b[2] == pytest.approx(7.3, abs=0.03) and b[3] == pytest.approx(12.3, abs=0.03)
    # the leading and trailing silence beyond the margin belong to no chunk
    assert a[0] == pytest.approx(0.5 - MARGIN, abs=0.03) and b[1] == pytest.approx(12.3 + MARGIN, abs=0.03)


def test_vad_leaves_short_recordings_whole_and_short_pauses_uncut():
    rng = np.random.default_rng(1)
    audio = np.concatenate([syllable_noise(4.0, -20, rng), silence(0.1, rng), syllable_noise(4.0, -20, rng),
                            silence(0.8, rng), syllable_noise(3.0, -20, rng)])
    (whole,) = plan_chunks(audio, RATE, max_seconds=20.0)
    assert (whole.start, whole.end) == (0, audio.size)
    chunks = seconds(plan_chunks(audio, RATE, max_seconds=10.0))
    assert len(chunks) == 2  # the 0.1 s pause (a stop closure) does not cut; the 0.8 s one does
    assert 8.1 < chunks[0][1] < 8.9


def test_vad_splits_long_speech_at_the_longest_silence_near_the_target():
    rng = np.random.default_rng(2)
    pieces, t = [], 0.0
    # pauses all shorter than MIN_SILENCE: 0.1 s at 4 s, 0.2 s at 14 s, 0.25 s at 16 s, 0.15 s at 19 s
    for at, pause in ((4, 0.1), (14, 0.2), (16, 0.25), (19, 0.15), (30, 0.0)):
        pieces += [syllable_noise(at - t, -20, rng), silence(pause, rng)]
        t = at + pause
    audio = np.concatenate(pieces)
    chunks = seconds(plan_chunks(audio, RATE, max_seconds=20.0))
    assert 16.0 < chunks[0][1] < 16.25  # the longest silence in the second half of the first 20 s
    assert all(end - start <= 20.0 for start, end, _, _ in chunks)
    assert chunks[0][1] == chunks[1][0]


def test_vad_hard_cut_only_without_any_silence():
    rng = np.random.default_rng(3)
    audio = syllable_noise(45.0, -20, rng)
    chunks = plan_chunks(audio, RATE, max_seconds=20.0)
    assert len(chunks) == 3
    assert chunks[0].start == 0 and chunks[-1].end == audio.size
    assert all(c.end - c.start <= 20 * RATE for c in chunks)
    assert all(a.end == b.start for a, b in zip(chunks, chunks[1:]))  # contiguous: nothing lost


def test_vad_threshold_follows_the_level_and_the_noise():
    """A minute of loud speech in a noisy room (noise at -40 dBFS), then a
    minute of quiet speech in a quiet one (-80 dBFS), 1 s pauses every 5 s. One
    threshold for the whole file would hear the noisy room's pauses as speech;
    the local one finds every pause (the two segments beside the change may
    take in part of the pause between them)."""
    rng = np.random.default_rng(4)
    pieces, expected = [], []
    for i, (level, noise) in enumerate([(-15, -40)] * 12 + [(-50, -80)] * 12):
        pieces += [syllable_noise(4.0, level, rng) + silence(4.0, rng, noise), silence(1.0, rng, noise)]
        expected.append((5.0 * i, 5.0 * i + 4.0))
    chunks = seconds(plan_chunks(np.concatenate(pieces), RATE, max_seconds=20.0))
    assert len(chunks) == len(expected)
    for i, ((start, end), (_, _, speech_start, speech_end)) in enumerate(zip(expected, chunks)):
        tolerance = 1.0 if i in (11, 12) else 0.15
        assert speech_start == pytest.approx(start, abs=tolerance) and speech_end == pytest.approx(end, abs=tolerance)


# ----------------------------------------------------------------------------
# alignment, on hand-made probability matrices
# ----------------------------------------------------------------------------

TOKENIZER = Tokenizer()  # blank 0, then " 'abc...z"


def matrix(labels: list[str], probs: list[float]) -> np.ndarray:
    """``[T, V]`` log-probabilities whose best label in frame t is ``labels[t]``
    ("_" for the blank) with probability ``probs[t]``, the rest shared equally."""
    V = TOKENIZER.vocab_size
    out = np.empty((len(labels), V))
    for t, (label, p) in enumerate(zip(labels, probs)):
        best = 0 if label == "_" else TOKENIZER.encode(label, normalize=False)[0]
        out[t] = (1 - p) / (V - 1)
        out[t, best] = p
    return np.log(out)


def test_alignment_gives_exact_frames_and_confidence():
    #          0    1    2    3    4    5    6    7    8    9   10   11
    labels = ["_", "h", "h", "_", "i", "_", " ", "_", "_", "y", "o", "_"]
    probs = [0.9, 0.8, 0.6, 0.9, 0.7, 0.9, 0.5, 0.9, 0.9, 0.95, 0.85, 0.9]
    scores = matrix(labels, probs)
    text = GreedyDecoder(TOKENIZER)(scores[None], [len(labels)])[0]
    assert text == "hi yo"
    words = align_words(scores, text, TOKENIZER, frame_seconds=0.04, offset=10.0)
    assert [w.word for w in words] == ["hi", "yo"]
    hi, yo = words
    # start: the first frame of the first character; end: the end of the last frame of the last one
    assert hi.start == pytest.approx(10.0 + 1 * 0.04) and hi.end == pytest.approx(10.0 + 5 * 0.04)
    assert yo.start == pytest.approx(10.0 + 9 * 0.04) and yo.end == pytest.approx(10.0 + 11 * 0.04)
    # confidence: the mean over the character frames only (h, h, i), not the blank between them
    assert hi.confidence == pytest.approx(np.mean([0.8, 0.6, 0.7]))
    assert yo.confidence == pytest.approx(np.mean([0.95, 0.85]))
    assert hi.to_dict() == {"word": "hi", "start": 10.04, "end": 10.2, "confidence": 0.7}


def test_alignment_of_greedy_text_is_the_argmax_path():
    rng = np.random.default_rng(5)
    T, V = 200, TOKENIZER.vocab_size
    scores = rng.normal(0, 1, (T, V))
    scores[np.arange(T), rng.integers(0, V, T)] += 6  # a clear best label per frame
    scores[:, 1] -= 20  # spaces only where placed below, never first, last or doubled
    for t in (40, 90, 150):
        scores[t, 1] += 40
    text = GreedyDecoder(TOKENIZER)(scores[None], [T])[0]
    ids = TOKENIZER.encode(text, normalize=False)
    assert len(ids) > 64  # more states than an int8 back-pointer offset could count
    path = forced_align(log_softmax(scores), ids)
    best = scores.argmax(axis=1)
    emitted = np.where(path >= 0, np.asarray(ids)[np.maximum(path, 0)], 0)
    np.testing.assert_array_equal(emitted, best)


def test_alignment_of_another_text_spells_it_and_impossible_ones_raise():
    scores = matrix(["a", "a", "_", "b", "_"], [0.9, 0.9, 0.9, 0.6, 0.9])
    # a beam search may choose "ac": the path must spell it, putting c where b was likeliest
    (word,) = align_words(scores, "ac", TOKENIZER, frame_seconds=0.04)
    assert word.word == "ac" and word.start == 0.0 and word.end == pytest.approx(0.16)
    assert word.confidence < 0.9
    # "aa" needs a blank between the two a's: the second a goes where b was
    assert list(forced_align(scores, TOKENIZER.encode("aa", normalize=False))) == [0, 0, -1, 1, -1]
    with pytest.raises(ValueError):
        forced_align(scores[:2], TOKENIZER.encode("aa", normalize=False))  # "a _ a" needs 3 frames
    assert align_words(scores, "", TOKENIZER, frame_seconds=0.04) == []


# ----------------------------------------------------------------------------
# subtitles
# ----------------------------------------------------------------------------

def test_subtitle_timestamps():
    assert timestamp(0.0) == "00:00:00,000"
    assert timestamp(1.2344) == "00:00:01,234"
    assert timestamp(3723.4567) == "01:02:03,457"
    assert timestamp(59.9999) == "00:01:00,000"  # rounding carries into the minutes
    assert timestamp(1.2344, ".") == "00:00:01.234"


def test_cues_break_at_pauses_length_and_characters():
    words = [Word("turn", 0.5, 0.7, 0.9), Word("on", 0.72, 0.9, 0.9),  # pause of 0.6 s follows
             Word("the", 1.5, 1.6, 0.9), Word("lights", 1.62, 2.0, 0.9)]
    assert [c.text for c in group_cues(words)] == ["turn on", "the lights"]
    steady = [Word(f"w{i}", i * 0.5, i * 0.5 + 0.4, 0.9) for i in range(14)]  # 7 s without a pause
    cues = group_cues(steady)
    assert len(cues) == 2 and all(c.end - c.start <= 5.0 for c in cues)
    wordy = [Word("abcdefghij", i * 0.45, i * 0.45 + 0.4, 0.9) for i in range(5)]  # 54 characters in 2.2 s
    assert [len(c.text) for c in group_cues(wordy)] == [32, 21]


def test_srt_and_vtt_text():
    words = [Word("turn", 0.5, 0.7, 0.9), Word("on", 0.72, 0.9, 0.9), Word("lights", 61.5, 62.25, 0.8)]
    assert to_srt(words) == ("1\n00:00:00,500 --> 00:00:00,900\nturn on\n\n"
                             "2\n00:01:01,500 --> 00:01:02,250\nlights\n\n")
    assert to_vtt(words) == ("WEBVTT\n\n00:00:00.500 --> 00:00:00.900\nturn on\n\n"
                             "00:01:01.500 --> 00:01:02.250\nlights\n\n")
    assert to_srt([]) == "" and to_vtt([]) == "WEBVTT\n\n"


# ----------------------------------------------------------------------------
# progress bars
# ----------------------------------------------------------------------------

PROGRESS_SCRIPT = "from asr.core.progress import progress\nprint(sum(progress(range(50), 'counting')))\n"


def run_progress(stderr_on_terminal: bool) -> tuple[str, str]:
    """Run PROGRESS_SCRIPT with stderr on a pseudo-terminal or a pipe: (stdout, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    if not stderr_on_terminal:
        done = subprocess.run([sys.executable, "-c", PROGRESS_SCRIPT], capture_output=True, text=True, env=env,
                              timeout=60)
        return done.stdout, done.stderr
    import fcntl
    import pty
    import select
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # a new pty is 0 columns wide
    proc = subprocess.Popen([sys.executable, "-c", PROGRESS_SCRIPT], stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        if not ready:
            break
        try:
            data = os.read(master, 4096)
        except OSError:  # the terminal closed: the child has exited
            break
        if not data:
            break
        out += data
    os.close(master)
    stdout = proc.communicate(timeout=30)[0].decode()
    return stdout, out.decode(errors="replace")


def test_progress_bar_on_a_terminal_only():
    stdout, stderr = run_progress(stderr_on_terminal=False)
    assert stdout.strip() == "1225" and stderr == ""
    stdout, stderr = run_progress(stderr_on_terminal=True)
    assert stdout.strip() == "1225"
    assert "counting" in stderr and "/50" in stderr


# ----------------------------------------------------------------------------
# long recordings through the API and the command line
# ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """About 25 s of held-out test voices with pauses (``asr.data.synth.long.long_recording``)."""
    from asr.data.synth.long import long_recording

    return long_recording(tmp_path_factory.mktemp("long25"), 25.0, seed=1)


@pytest.fixture(scope="module")
def lite():
    import asr

    return asr.load(SHIPPED_TFLITE)


@pytest.mark.needs_espeak  # the recording
def test_transcribe_long_api(recording, lite):
    from asr.core.errors import AudioError

    path = recording["audio_filepath"]
    with pytest.raises(AudioError, match="too long"):
        lite.transcribe(path)  # 25 s: past the one-piece limit
    result = lite.transcribe_long(path)
    assert len(result.chunks) == len(recording["utterances"])  # one chunk per utterance: cut at each pause
    assert result.text == " ".join(w.word for w in result.words)
    starts = [w.start for w in result.words]
    assert starts == sorted(starts) and all(w.start <= w.end <= result.duration for w in result.words)
    assert all(0 < w.confidence <= 1 for w in result.words)
    # a file shorter than a chunk is transcribed whole: the same text as transcribe
    short = recording["utterances"][0]["audio_filepath"]
    assert lite.transcribe_long(short).text == lite.transcribe(short)
    with pytest.raises(AudioError, match="too long"):
        lite.transcribe_long(path, max_seconds=10.0)


@pytest.mark.needs_espeak  # the recording
def test_cli_srt_and_vtt(cli, recording, tmp_path):
    path = recording["audio_filepath"]
    srt = cli("transcribe", "--model", SHIPPED_TFLITE, "--format", "srt", path)
    assert srt.returncode == 0, srt.stderr
    blocks = srt.stdout.strip().split("\n\n")
    assert len(blocks) >= len(recording["utterances"])
    stamp = r"\d\d:\d\d:\d\d,\d\d\d"
    previous = "00:00:00,000"
    for number, block in enumerate(blocks, 1):
        index, times, text = block.split("\n")
        assert index == str(number) and text.strip()
        assert re.fullmatch(f"({stamp}) --> ({stamp})", times)
        start, end = times.split(" --> ")
        assert previous <= start < end  # zero-padded: text order is time order
        previous = end
    vtt = cli("transcribe", "--model", SHIPPED_TFLITE, "--format", "vtt", path)
    assert vtt.returncode == 0, vtt.stderr
    assert vtt.stdout.startswith("WEBVTT\n\n")
    assert vtt.stdout[len("WEBVTT\n\n"):] == re.sub(r"(?m)^\d+\n", "", srt.stdout).replace(",", ".")
    # several files: one subtitle file each, in --out-dir
    short = recording["utterances"][0]["audio_filepath"]
    refused = cli("transcribe", "--model", SHIPPED_TFLITE, "--format", "srt", path, short)
    assert refused.returncode != 0 and refused.stderr.startswith("asr: error: ") and "--out-dir" in refused.stderr
    written = cli("transcribe", "--model", SHIPPED_TFLITE, "--format", "srt", "--out-dir", tmp_path, path, short)
    assert written.returncode == 0, written.stderr
    assert (tmp_path / "long.srt").read_text(encoding="utf-8") == srt.stdout
    assert (tmp_path / "000000.srt").read_text(encoding="utf-8").startswith("1\n00:00:00,")


def test_cli_refuses_bad_lengths_in_one_line(cli, tmp_path):
    # checked before the model is loaded: the missing model is not what is reported
    for flags, reason in ((["--chunk-seconds", "0.5"], "chunk length"), (["--max-seconds", "0"], "maximum length")):
        result = cli("transcribe", "--model", tmp_path / "no-model.keras", *flags, tmp_path / "a.wav")
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert result.stderr.startswith(f"asr: error: {reason}") and len(result.stderr.splitlines()) == 1


@pytest.mark.needs_espeak  # the recording
def test_cli_json_words_and_plot(cli, recording, tmp_path):
    path = recording["audio_filepath"]
    short = recording["utterances"][0]["audio_filepath"]
    missing = tmp_path / "missing.wav"
    png = tmp_path / "plot.png"
    result = cli("transcribe", "--model", SHIPPED_TFLITE, "--format", "json", "--plot", png, path, missing, short)
    assert result.returncode == 1  # the missing file fails; the others are still transcribed
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["file"] for o in objects] == [path, str(missing), short]
    assert "error" in objects[1] and "missing.wav" in result.stderr
    for obj in (objects[0], objects[2]):
        assert set(obj) == {"file", "text", "words"}
        assert obj["text"] == " ".join(w["word"] for w in obj["words"])
        for word in obj["words"]:
            assert set(word) == {"word", "start", "end", "confidence"}
            assert 0 <= word["start"] <= word["end"] and 0 < word["confidence"] <= 1
    # one PNG per transcribed file, named after it
    for stem in ("long", "000000"):
        picture = tmp_path / f"plot-{stem}.png"
        assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "plot-missing.png").exists() and not png.exists()


# ----------------------------------------------------------------------------
# acceptance: a 10-minute recording with the shipped model
# ----------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.needs_espeak
def test_ten_minute_recording_matches_one_by_one_wer_and_onsets(tmp_path):
    """223 held-out-voice commands with 0.5-1.2 s pauses (``long_recording``):
    long-form WER within 2 points of the same utterances transcribed one by
    one, and every correctly recognised first word starting within 0.15 s of
    the utterance's known speech onset (``evaluate_long`` says how words are
    matched)."""
    import asr
    from asr.data.synth.long import long_recording
    from asr.evaluation.evaluate import evaluate_long

    long_recording(tmp_path, 600.0, seed=0)
    result = evaluate_long(asr.load(), tmp_path / "long.json")
    assert result.duration >= 600.0
    assert result.wer <= result.per_utterance_wer + 0.02, result
    assert result.onsets_matched >= 0.8 * result.utterances
    assert result.onset_error_max <= 0.15, result

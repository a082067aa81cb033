"""The ``asr`` command line (through subprocesses) and the ``asr.load`` Python API,
on the shared tiny trained run."""

import argparse
import json
import os
import subprocess
import sys

import librosa
import numpy as np
import pytest
import soundfile as sf
from helpers import N_TEST, copy_run

import asr
from asr.core.errors import ModelError


def wav_paths(corpus, split, n):
    return [str(corpus.dir / row["audio_filepath"]) for row in corpus.rows[split][:n]]


def stderr_lines(result):
    return [line for line in result.stderr.splitlines() if line.strip()]


def assert_one_line_error(result, *fragments):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = stderr_lines(result)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("asr: error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def test_help(cli):
    result = cli("--help")
    assert result.returncode == 0
    for command in ("synth", "train", "evaluate", "transcribe"):
        assert command in result.stdout
    sub = cli("transcribe", "--help")
    assert sub.returncode == 0 and "--format" in sub.stdout and "--model" in sub.stdout


def test_no_command_is_a_usage_error(cli):
    result = cli()
    assert result.returncode == 2
    assert "usage:" in result.stderr and "Traceback" not in result.stderr


def test_transcribe_one_file_prints_its_text(cli, corpus, trained_run, recognizer):
    (path,) = wav_paths(corpus, "test", 1)
    result = cli("transcribe", "--model", trained_run.run_dir, path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    # one line: the transcript alone, the same as the Python API gives
    assert result.stdout.splitlines() == [recognizer.transcribe(path)]


def test_transcribe_json_prints_one_object_per_file(cli, corpus, trained_run, recognizer):
    paths = wav_paths(corpus, "test", 2)
    result = cli("transcribe", "--model", trained_run.run_dir, "--format", "json", *paths)
    assert result.returncode == 0, result.stderr
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(objects) == 2
    for obj, path in zip(objects, paths):
        assert set(obj) == {"file", "text", "words"}  # words: timed words (tests/inference/test_longform.py)
        assert obj["file"] == path
        assert obj["text"] == recognizer.transcribe(path)


def test_transcribe_batch_with_bad_files(cli, corpus, trained_run, recognizer, tmp_path):
    good = wav_paths(corpus, "test", 2)
    garbage = tmp_path / "garbage_input.wav"
    garbage.write_bytes(b"this is not audio at all" * 50)
    missing = tmp_path / "missing_input.wav"
    result = cli("transcribe", "--model", trained_run.run_dir, good[0], garbage, missing, good[1])
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    # the good files are still transcribed, in order, as "path<TAB>text"
    assert result.stdout.splitlines() == [f"{p}\t{recognizer.transcribe(p)}" for p in good]
    errors = stderr_lines(result)
    assert len(errors) == 2, result.stderr
    assert all(line.startswith("asr: error: ") for line in errors)
    assert "garbage_input.wav" in errors[0]
    assert "missing_input.wav" in errors[1]


def test_evaluate_lists_the_worst_speakers_when_there_are_many(cli, corpus, trained_run, tmp_path):
    rows = [{**row, "audio_filepath": str(corpus.dir / row["audio_filepath"]), "speaker": f"voice{i:02d}",
             "engine": "espeak-ng"} for i, row in enumerate(corpus.rows["train"][:20])]
    manifest = tmp_path / "many.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = cli("evaluate", "--model", trained_run.run_dir, "--manifest", manifest)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "by speaker (20; the 6 worst, --json lists each):" in lines
    start = lines.index("by speaker (20; the 6 worst, --json lists each):")
    listed = [line for line in lines[start + 1:start + 7] if line.strip().startswith("voice")]
    assert len(listed) == 6
    wers = [float(line.split("WER")[1].split("%")[0]) for line in listed]
    assert wers == sorted(wers, reverse=True)
    assert lines[lines.index("by engine:") + 1].split()[:2] == ["espeak-ng", "20"]


def test_evaluate_json(cli, corpus, trained_run, recognizer):
    result = cli("evaluate", "--model", trained_run.run_dir, "--manifest", corpus.test, "--json")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    for key in ("wer", "cer", "rtf", "utterances"):
        assert key in report
    assert report["utterances"] == N_TEST
    assert report["rtf"] > 0
    assert report["audio_seconds"] == pytest.approx(sum(r["duration"] for r in corpus.rows["test"]))
    # the same numbers as scoring the Python API's transcripts
    from asr.evaluation.metrics import error_rates

    refs = [r["text"] for r in corpus.rows["test"]]
    hyps = [recognizer.transcribe(str(corpus.dir / r["audio_filepath"])) for r in corpus.rows["test"]]
    expected = error_rates(refs, hyps)
    assert report["wer"] == pytest.approx(expected["wer"])
    assert report["cer"] == pytest.approx(expected["cer"])


def test_train_unknown_set_key(cli, tmp_path):
    config = tmp_path / "recipe.yaml"
    config.write_text(f"name: x\nrun_dir: {tmp_path / 'run'}\nmodel:\n  lstm_units: 8\n", encoding="utf-8")
    result = cli("train", "--config", config, "--set", "model.no_such_key=3")
    assert_one_line_error(result, "model.no_such_key")
    assert not (tmp_path / "run").exists()


def test_train_refuses_an_existing_run_dir(cli, trained_run, tmp_path):
    run = copy_run(trained_run.run_dir, tmp_path / "existing")
    before = (run / "model.keras").read_bytes()
    result = cli("train", "--config", run / "config.yaml", "--set", f"run_dir={run}")
    assert_one_line_error(result, str(run), "--resume")
    assert (run / "model.keras").read_bytes() == before


# ----------------------------------------------------------------------------
# Python API
# ----------------------------------------------------------------------------


def test_api_transcribes_an_8khz_array(corpus, trained_run, tmp_path):
    recognizer = asr.load(trained_run.run_dir)
    (path,) = wav_paths(corpus, "test", 1)
    audio16, rate = sf.read(path, dtype="float32")
    assert rate == 16000
    audio8 = librosa.resample(audio16, orig_sr=16000, target_sr=8000, res_type="soxr_hq")

    text = recognizer.transcribe(audio8, sample_rate=8000)
    assert isinstance(text, str)
    # resampled back to the model's 16 kHz: about as many frames as the 16 kHz original
    feats = recognizer.featurize(audio8, sample_rate=8000)
    assert feats.shape[1] == trained_run.cfg.features.n_mels
    assert abs(feats.shape[0] - (1 + len(audio16) // 160)) <= 1
    # without the rate the array is taken as 16 kHz (half the frames), with a warning that says so
    with pytest.warns(UserWarning, match="without sample_rate are taken to be at the model's 16000 Hz"):
        assert recognizer.featurize(audio8).shape[0] == 1 + len(audio8) // 160
    # same result as the same samples in an 8 kHz file, and as a stereo array
    wav8 = tmp_path / "eight_k.wav"
    sf.write(str(wav8), audio8, 8000, subtype="FLOAT")
    assert recognizer.transcribe(str(wav8)) == text
    np.testing.assert_allclose(recognizer.featurize(str(wav8)), feats, atol=1e-5)
    stereo = np.stack([audio8, audio8], axis=1)
    assert recognizer.transcribe(stereo, sample_rate=8000) == text


def test_api_takes_integer_pcm_and_lists_and_refuses_a_list_of_recordings(corpus, trained_run):
    from asr.core.errors import AudioError

    recognizer = asr.load(trained_run.run_dir)
    (path,) = wav_paths(corpus, "test", 1)
    audio, _ = sf.read(path, dtype="float32")
    pcm16, _ = sf.read(path, dtype="int16")
    expected = recognizer.featurize(audio, sample_rate=16000)
    # int16 PCM is scaled by its full scale, as soundfile reads it, not fed as ±32768
    np.testing.assert_allclose(recognizer.featurize(pcm16, sample_rate=16000), expected, atol=1e-3)
    np.testing.assert_allclose(recognizer.featurize(audio.tolist(), sample_rate=16000), expected, atol=1e-5)
    with pytest.raises(AudioError, match="a list of 2 recordings: transcribe each one"):
        recognizer.transcribe([audio, audio], sample_rate=16000)
    with pytest.raises(AudioError, match="expected float or integer PCM samples, got <U1 values"):
        recognizer.transcribe(["a", "b"], sample_rate=16000)


def test_api_refuses_unusable_arrays_and_paths(trained_run, tmp_path):
    from asr.core.errors import AudioError

    recognizer = asr.load(trained_run.run_dir)
    with pytest.raises(AudioError):
        recognizer.transcribe(np.full(16000, np.nan, np.float32), 16000)
    with pytest.raises(ModelError, match="nowhere"):
        asr.load(tmp_path / "nowhere")
    not_keras = tmp_path / "model.h5"
    not_keras.write_bytes(b"x")
    with pytest.raises(ModelError):
        asr.load(not_keras)
    broken = tmp_path / "broken" / "model.keras"
    broken.parent.mkdir()
    broken.write_bytes(b"not a zip file")
    with pytest.raises(ModelError, match="not a Keras model"):
        asr.load(broken.parent)
    # a zip archive that is not a Keras model gets past that check and fails to load
    import zipfile

    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(ModelError, match="cannot load"):
        asr.load(broken.parent)


@pytest.mark.needs_espeak
def test_shipped_default_model_transcribes_without_training(cli, tmp_path):
    """`asr transcribe` with no --model uses saved_models/commands: it must be
    there, within the size budget, and recognise a plain command."""
    from asr.evaluation.metrics import error_rates
    from asr.inference.loading import DEFAULT_MODEL

    assert (DEFAULT_MODEL / "model.keras").stat().st_size <= 20 * 2**20
    texts = ["turn on the kitchen lights", "set a timer for ten minutes", "four two oh nine"]
    paths = []
    for i, text in enumerate(texts):
        wav = tmp_path / f"{i}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(wav), text], check=True, timeout=60)
        paths.append(str(wav))
    result = cli("transcribe", "--format", "json", *paths)
    assert result.returncode == 0, result.stderr
    hyps = [json.loads(line)["text"] for line in result.stdout.splitlines()]
    assert len(hyps) == len(texts)
    assert error_rates(texts, hyps)["cer"] <= 0.2, hyps


def test_api_refuses_a_too_long_file_before_decoding_it(recognizer, tmp_path):
    import tracemalloc

    from asr.core.errors import AudioError

    path = tmp_path / "long.wav"
    seconds = recognizer.max_duration + 10
    sf.write(str(path), np.full(int(16000 * seconds), 0.1, np.float32), 16000, subtype="PCM_16")
    tracemalloc.start()
    try:
        with pytest.raises(AudioError, match="too long"):
            recognizer.transcribe(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16000 * seconds * 4 / 2, "the whole file was decoded before the limit was checked"


def test_transcribe_and_evaluate_with_a_grammar(cli, corpus, trained_run, recognizer, tmp_path):
    """``--grammar``: each file's sentence is one of the grammar's (or "" when rejected), with its
    score and tags; evaluate reports the sentence error; misuses are one-line errors."""
    from asr.decoding.grammar.decoder import GrammarDecoder

    paths = wav_paths(corpus, "test", 3)
    grammar = tmp_path / "g.jsgf"
    grammar.write_text("#JSGF V1.0;\ngrammar g;\npublic <n> = (one {n=1} | two {n=2} | three | four | five | six "
                       "| seven | eight | nine | zero | oh)+;\n")
    result = cli("transcribe", "--model", trained_run.run_dir, "--grammar", grammar, "--reject-threshold", "-1",
                 "--format", "json", *paths)
    assert result.returncode == 0, result.stderr
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    decoder = GrammarDecoder.from_file(grammar, recognizer.tokenizer, reject_threshold=None)
    for obj, path in zip(objects, paths, strict=True):
        expected = recognizer.match(path, grammar=decoder)  # the API, as the CLI
        assert recognizer.transcribe(path, grammar=decoder) == expected.text
        assert obj["accepted"] and obj["text"] == expected.text == expected.sentence and obj["text"]
        assert set(obj["text"].split()) <= {"one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                                            "zero", "oh"}
        assert set(obj["tags"]) <= {"n"} and obj["cost_per_letter"] == pytest.approx(expected.cost_per_letter)
    result = cli("evaluate", "--model", trained_run.run_dir, "--manifest", corpus.test, "--grammar", grammar,
                 "--json")
    assert result.returncode == 0, result.stderr
    assert 0 <= json.loads(result.stdout)["sentence_error"] <= 1
    for extra, message in ((["--lm", "x.arpa"], "--grammar decodes on its own"),
                           (["--beam-size", "8"], "--grammar decodes on its own")):
        bad = cli("transcribe", "--model", trained_run.run_dir, "--grammar", grammar, *extra, paths[0])
        assert bad.returncode == 1 and message in bad.stderr.strip().splitlines()[-1]
    bad = cli("transcribe", "--model", trained_run.run_dir, "--reject-threshold", "1", paths[0])
    assert bad.returncode == 1 and "--reject-threshold needs --grammar" in bad.stderr
    bad = cli("transcribe", "--model", trained_run.run_dir, "--grammar", tmp_path / "missing.jsgf", paths[0])
    assert bad.returncode == 1 and "missing.jsgf: grammar file not found" in bad.stderr


def test_silence_is_an_empty_transcript_not_an_error(cli, trained_run, tmp_path):
    recognizer = asr.load(trained_run.run_dir)
    silence = np.zeros(16000, np.float32)
    assert recognizer.transcribe(silence, 16000) == ""
    long = recognizer.transcribe_long(silence, 16000)
    assert long.text == "" and long.duration == 1.0
    path = tmp_path / "silence.wav"
    sf.write(path, silence, 16000)
    for fmt, expected in (("text", [""]), ("json", ['{"file": "%s", "text": "", "words": []}' % path])):
        result = cli("transcribe", "--model", trained_run.run_dir, "--format", fmt, path)
        assert result.returncode == 0 and result.stdout.splitlines() == expected, result.stderr


def _noise(seconds: float, exponent: int, dbfs: float, seed: int) -> np.ndarray:
    """White (0), pink (1) or brown (2) noise peaking at ``dbfs``, 16 kHz."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    k = np.arange(len(spectrum))
    k[0] = 1
    x = np.fft.irfft(spectrum / k ** (exponent / 2), n)
    return (x / np.abs(x).max() * 10 ** (dbfs / 20)).astype(np.float32)


def test_noise_is_an_empty_transcript_and_speech_is_kept(corpus):
    """The confidence floor, on the shipped TFLite model: noise decodes to letters the model is unsure
    of (text without the floor); with it, a transcript whose words' mean confidence is below the floor
    comes out empty, which is most noise; synthetic speech keeps its words."""
    from asr.decoding.alignment import MIN_CONFIDENCE
    from asr.inference.loading import DEFAULT_LITE_MODEL

    recognizer = asr.load(DEFAULT_LITE_MODEL)
    guesses = asr.load(DEFAULT_LITE_MODEL)
    guesses.min_confidence = 0.0
    clips = [_noise(2.5, seed % 3, dbfs, seed) for seed, dbfs in enumerate([-6, -20, -12, -35, -9, -28])]
    emptied = 0
    for clip in clips:
        guess = guesses.transcribe_long(clip, 16000)
        assert guess.text  # without the floor: text
        confidence = np.mean([w.confidence for w in guess.words])
        expected = "" if confidence < MIN_CONFIDENCE else guess.text
        assert recognizer.transcribe_long(clip, 16000).text == expected
        assert recognizer.transcribe(clip, 16000) in ("", guesses.transcribe(clip, 16000))  # the same floor
        emptied += expected == ""
    assert emptied >= 4  # most noise says nothing
    for path in wav_paths(corpus, "test", 3):
        assert recognizer.transcribe(path) == guesses.transcribe(path) != ""


def test_a_folder_is_its_audio_files_and_a_savedmodel_is_named(cli, corpus, trained_run, recognizer, tmp_path):
    import shutil

    folder = tmp_path / "recordings"
    folder.mkdir()
    paths = wav_paths(corpus, "test", 2)
    for i, path in enumerate(paths):
        shutil.copy(path, folder / f"{i}.wav")
    (folder / "notes.txt").write_text("not audio")
    result = cli("transcribe", "--model", trained_run.run_dir, folder)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{folder / f'{i}.wav'}\t{recognizer.transcribe(p)}" for i, p in
                                          enumerate(paths)]
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("transcribe", "--model", trained_run.run_dir, empty)
    assert result.returncode == 1 and "a directory with no audio files" in result.stderr
    saved = tmp_path / "saved_model"
    saved.mkdir()
    (saved / "saved_model.pb").write_bytes(b"")
    result = cli("transcribe", "--model", saved, paths[0])
    assert result.returncode == 1 and "an exported SavedModel, for TF Serving" in result.stderr


def _parsers(parser, path=("asr",)):
    """Every (name path, parser) of the CLI, subcommands of subcommands included."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _parsers(child, (*path, name))


def test_every_option_of_every_command_has_help_with_its_default():
    from asr.cli.main import build_parser

    missing = []
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
                continue
            name = f"{' '.join(path)} {action.option_strings[0] if action.option_strings else action.dest}"
            text = (action.help or "") % {**vars(action), "prog": parser.prog} if action.help else ""
            if not text.strip():
                missing.append(f"{name}: no help")
            elif action.default not in (None, False, [], "", argparse.SUPPRESS) and "default" not in text:
                missing.append(f"{name}: default {action.default!r} not shown")
    assert missing == []


def test_python_api_keeps_tensorflow_start_up_lines_off_stderr():
    """``import asr; asr.load()`` in a fresh process: TensorFlow's C++ start-up lines (absl's notice, the
    CPU-instructions line) go to /dev/null, as they do for the CLI; real errors would still show."""
    code = "import asr; m = asr.load(); print(type(m).__name__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Recognizer"
    assert result.stderr == ""

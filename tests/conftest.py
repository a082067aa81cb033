"""Shared fixtures: audio makers, a tiny spoken-digits corpus (espeak-ng), and
one tiny trained run that the training, CLI and API tests reuse.

The corpus is synthesised here with ``espeak-ng`` directly, so the suite does not
depend on ``asr.synth`` (tested on its own in ``test_synth.py``).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before anything imports TensorFlow

import json
import random
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
SAMPLE_RATE = 16000
DIGIT_WORDS = "zero one two three four five six seven eight nine oh".split()
# espeak-ng's built-in (non-MBROLA) English voices, with a few voice variants
VOICES = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us-nyc",
          "en-us+f3", "en-gb+m3", "en-us+f2"]

# The tiny model and schedule the shared run trains with (also used by test_training).
TINY_MODEL = [
    "features.n_mels=40",
    "model.conv_channels=[32]",
    "model.lstm_units=32",
    "model.lstm_layers=1",
    "model.dropout=0.0",
    "tokenizer.repeat_token=true",  # as the default recipe
]
TINY_EPOCHS = 8
TINY_TRAIN = [
    f"train.epochs={TINY_EPOCHS}",
    "train.batch_size=8",
    "train.learning_rate=0.005",
    "train.warmup_steps=10",
    "train.min_learning_rate=0.001",
    "train.early_stopping_patience=100",
    "train.log_every_steps=1000",
]
N_TRAIN, N_DEV, N_TEST = 64, 8, 8


# ----------------------------------------------------------------------------
# audio makers
# ----------------------------------------------------------------------------

def sine(seconds: float, sample_rate: int = SAMPLE_RATE, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_sine(path, seconds=0.5, sample_rate=SAMPLE_RATE, freq=440.0, amp=0.5, **sf_kwargs) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), sine(seconds, sample_rate, freq, amp), sample_rate, **sf_kwargs)
    return path


def espeak(text: str, voice: str = "en-us", speed: int = 160, pitch: int = 50,
           sample_rate: int = SAMPLE_RATE, tmp_dir: Path | None = None) -> np.ndarray:
    """Speak ``text`` with espeak-ng; float32 mono samples at ``sample_rate``."""
    import tempfile

    import librosa

    with tempfile.TemporaryDirectory(dir=tmp_dir) as tmp:
        raw = Path(tmp) / "raw.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(raw), text],
                       check=True, capture_output=True)
        audio, rate = sf.read(str(raw), dtype="float32")
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if rate != sample_rate:
        audio = librosa.resample(audio, orig_sr=rate, target_sr=sample_rate, res_type="soxr_hq")
    return audio.astype(np.float32)


def write_speech(path, text: str, **kwargs) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), espeak(text, **kwargs), SAMPLE_RATE, subtype="PCM_16")
    return path


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

def _digit_sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(DIGIT_WORDS) for _ in range(rng.randint(1, 3)))


def _write_manifest_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


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
            text = _digit_sentence(rng)
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
        _write_manifest_rows(root / f"{split}.jsonl", rows[split])
    bad = [
        {"audio_filepath": "wavs/does_not_exist.wav", "duration": 1.0, "text": "one two"},
        {"audio_filepath": rows["train"][0]["audio_filepath"], "duration": 1.0, "text": "привет мир"},
    ]
    _write_manifest_rows(root / "train_with_bad.jsonl", rows["train"][:3] + bad + rows["train"][3:])
    return types.SimpleNamespace(
        dir=root, train=root / "train.jsonl", dev=root / "dev.jsonl", test=root / "test.jsonl",
        train_with_bad=root / "train_with_bad.jsonl", rows=rows, cache=root / "feature_cache",
    )


def tiny_overrides(corpus, run_dir, train_manifest=None, extra=()) -> list[str]:
    """``--set`` strings for a tiny model trained on ``corpus`` into ``run_dir``."""
    return [
        "name=tiny",
        f"run_dir={run_dir}",
        f"data.train_manifest={train_manifest or corpus.train}",
        f"data.dev_manifest={corpus.dev}",
        f"data.test_manifest={corpus.test}",
        f"data.cache_dir={corpus.cache}",
        "data.num_workers=1",
        *TINY_MODEL,
        *TINY_TRAIN,
        *extra,
    ]


@pytest.fixture(scope="session")
def trained_run(corpus, tmp_path_factory):
    """One tiny model trained with ``asr.training.train`` on the corpus's
    ``train_with_bad`` manifest. Treat it as read-only: copy it before changing it.

    Attributes: ``run_dir``, ``metrics`` (what ``train`` returned), ``cfg``, ``overrides``.
    """
    from asr.config import load_config
    from asr.training import train

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

def run_cli(*args, timeout=300, cwd=None) -> subprocess.CompletedProcess:
    """``python -m asr ARGS`` in a subprocess, with the repository importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    return subprocess.run([sys.executable, "-m", "asr", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd or REPO, env=env)


@pytest.fixture
def cli():
    return run_cli


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst

"""Plain helpers shared by the tests (fixtures live in conftest.py): audio makers,
espeak-ng speech, the tiny corpus's and tiny run's settings, running the CLI, the
tiny export model, and the save-load round trip every custom Keras layer goes through.

Importable as ``helpers`` from every test folder (``pythonpath = ["tests"]`` in
pyproject.toml).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from asr.config import FeatureConfig

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


# ----------------------------------------------------------------------------
# the tiny corpus and the tiny run
# ----------------------------------------------------------------------------

def digit_sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(DIGIT_WORDS) for _ in range(rng.randint(1, 3)))


def write_manifest_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


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


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# ----------------------------------------------------------------------------
# streamed splits (data, training)
# ----------------------------------------------------------------------------

def cached_split(tmp_path, feats, labels):
    """A streamed ``Split`` whose cache entries hold ``feats`` as raw log-mel."""
    from asr.data.manifest import Utterance
    from asr.data.splits import Split
    from asr.data.splits import cached_split as stream

    utts = [Utterance(f"u{i}.wav", 1.0, "x") for i in range(len(feats))]
    return stream(Split(utts, feats, labels, []), tmp_path / "cache")


# ----------------------------------------------------------------------------
# the tiny export model (export, bench)
# ----------------------------------------------------------------------------

CHARACTERS = " 'abcdefghijklmnopqrstuvwxyz"
# win_length < n_fft exercises the centred window padding; n_mels small keeps it fast
FEATURES = FeatureConfig(n_mels=20, n_fft=512, win_length=400, hop_length=160)


def build_tiny_model():
    """Two masked convs with different strides (2 then 1), one BiLSTM of 8, perturbed weights."""
    import keras
    from keras import layers

    from asr.model.ctc import CTCModel, LengthMask, MaskedConv1D

    keras.utils.set_random_seed(0)
    features = keras.Input((None, FEATURES.n_mels), name="features")
    lengths = keras.Input((), dtype="int32", name="feature_lengths")
    x, n = MaskedConv1D(16, 3, 2, name="conv0")(features, lengths)
    x, n = MaskedConv1D(12, 3, 1, name="conv1")(x, n)
    mask = LengthMask(name="mask")(x, n)
    x = layers.Bidirectional(layers.LSTM(8, return_sequences=True), name="bilstm0")(x, mask=mask)
    encoder = keras.Model([features, lengths], [x, n], name="encoder")
    model = CTCModel(encoder, CHARACTERS, dataclasses.asdict(FEATURES), name="ctc_asr")
    # fresh biases are zero; perturbing everything gives non-blank outputs and a state worth keeping
    rng = np.random.default_rng(0)
    model.set_weights([w + rng.normal(0.0, 0.5, w.shape).astype(w.dtype) for w in model.get_weights()])
    return model


# ----------------------------------------------------------------------------
# the save-load round trip of a custom Keras layer (model/test_layers.py)
# ----------------------------------------------------------------------------

def _as_arrays(outputs) -> list[np.ndarray]:
    import keras

    return [np.asarray(keras.ops.convert_to_numpy(x)) for x in keras.tree.flatten(outputs)]


def _call(layer, inputs):
    return layer(inputs) if isinstance(inputs, dict) else layer(*inputs)


def assert_layer_round_trip(layer, inputs, tmp_path: Path, atol: float = 1e-6):
    """Check that ``layer`` (an ``asr`` Keras layer or model) survives its two saving paths.

    ``inputs``: a dict (one call argument, for a model with named inputs) or a
    list of arrays (positional call arguments), with a batch axis each.

    1. ``get_config`` → ``from_config`` gives an object of the same class with
       the same config;
    2. a model holding it (the layer itself when it is a ``keras.Model``) saved to
       ``.keras`` and loaded with ``safe_mode=True`` gives the same outputs
       (within ``atol``; integer and boolean outputs exactly).

    Returns the loaded object (the model itself, or the loaded wrapper's copy of
    the layer), for the caller's own checks.
    """
    import keras

    config = layer.get_config()
    clone = type(layer).from_config(copy.deepcopy(config))  # keras's deserialising pops nested configs
    assert type(clone) is type(layer)
    assert clone.get_config() == config

    if isinstance(layer, keras.Model):
        holder = layer
    else:
        def spec(name, array):
            array = np.asarray(array)
            return keras.Input(array.shape[1:], dtype=str(array.dtype), name=name)

        if isinstance(inputs, dict):
            symbolic = {name: spec(name, array) for name, array in inputs.items()}
        else:
            symbolic = [spec(f"input{i}", array) for i, array in enumerate(inputs)]
        holder = keras.Model(symbolic, _call(layer, symbolic), name="holder")
    expected = _as_arrays(holder(inputs))  # a model takes its inputs as one argument

    path = Path(tmp_path) / "round_trip.keras"
    holder.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    assert type(loaded) is type(holder)
    got = _as_arrays(loaded(inputs))
    assert len(got) == len(expected)
    for a, b in zip(expected, got):
        assert a.shape == b.shape and a.dtype == b.dtype
        if np.issubdtype(a.dtype, np.floating):
            np.testing.assert_allclose(b, a, atol=atol)
        else:
            np.testing.assert_array_equal(b, a)
    if holder is layer:
        return loaded
    (loaded_layer,) = [candidate for candidate in loaded.layers if candidate.name == layer.name]
    assert type(loaded_layer) is type(layer)
    return loaded_layer


# ----------------------------------------------------------------------------
# a server for one test (serving)
# ----------------------------------------------------------------------------

class Server:
    """uvicorn on a free loopback port, in a thread, for one test."""

    def __init__(self, app):
        import uvicorn  # here: only the server tests need it

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


def silent_wav(tmp_path, seconds=1.0) -> str:
    path = tmp_path / "a.wav"
    sf.write(path, np.zeros(int(seconds * SAMPLE_RATE), np.float32), SAMPLE_RATE)
    return str(path)

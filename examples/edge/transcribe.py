"""Transcribe WAV files on a device (a Raspberry Pi, say) with a model from `asr export`.

Needs only numpy, soundfile and ai-edge-litert; no TensorFlow, no asr package:

    pip install numpy soundfile ai-edge-litert
    python transcribe.py model.tflite speech.wav [more.wav ...]
    python transcribe.py model.tflite speech.wav --grammar lights.npz   # only the grammar's sentences

The model's settings come from the JSON file written beside it
(``model.tflite.json``): the sample rate, and the characters that the output ids
stand for (id 0 is the CTC blank, id i + 1 is ``characters[i]``, and with
``repeat_token`` true the next id means "the character before it again"). Files
at another rate are resampled (numpy's FFT) and several channels averaged; a
recording over 20 s is cut at its pauses, as ``listen.py`` cuts the microphone.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import soundfile as sf
from ai_edge_litert.interpreter import Interpreter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grammar_search  # noqa: E402  (beside this file: the grammar search, numpy only)


MAX_CONFIG_BYTES = 1 << 20  # a settings file is under 1 KB; read no more than this
LONG_SECONDS = 20.0  # longer recordings are cut at their pauses (the model trains on up to 20 s)


def read_config(model_path: str) -> dict:
    """The sidecar ``<model>.json``: ``characters``, ``feature_config`` (``sample_rate``...).

    Raises ValueError naming the file when it is missing, not JSON, or lacks those keys.
    """
    path = f"{model_path}.json"
    try:
        with open(path, "rb") as handle:
            config = json.loads(handle.read(MAX_CONFIG_BYTES).decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise ValueError(f"{path}: cannot read the model's settings ({reason})") from None
    features = config.get("feature_config") if isinstance(config, dict) else None
    rate = features.get("sample_rate") if isinstance(features, dict) else None
    if not isinstance(config.get("characters") if isinstance(config, dict) else None, str) \
            or type(rate) is not int or rate <= 0:
        raise ValueError(f"{path}: not the settings file of an `asr export` model "
                         "(needs characters and feature_config.sample_rate)")
    return config


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """``samples`` at ``rate`` Hz → ``target`` Hz, by the FFT (band-limited: no aliasing when
    going down), numpy only."""
    if rate == target or not len(samples):
        return samples
    n = int(round(len(samples) * target / rate))
    spectrum = np.fft.rfft(samples.astype(np.float64))
    keep = min(len(spectrum), n // 2 + 1)
    out = np.fft.irfft(spectrum[:keep], n) * (n / len(samples))
    return out.astype(np.float32)


def read_wav(path: str, sample_rate: int) -> np.ndarray:
    """Mono float32 samples ``[n]`` in [-1, 1] at ``sample_rate`` Hz (channels averaged, resampled)."""
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    return resample(audio.mean(axis=1), rate, sample_rate)


def greedy_decode(log_probs: np.ndarray, characters: str, repeat_token: bool = False) -> str:
    """Best-path CTC: the likeliest id per frame, repeats merged, blanks (id 0) dropped.

    With ``repeat_token``, id ``len(characters) + 1`` doubles the character before
    it (``d o <repeat> r`` is "door"), except after a space, at the start, or after
    another repeat token.
    """
    best = log_probs.argmax(axis=-1)
    keep = np.ones(best.shape, dtype=bool)
    keep[1:] = best[1:] != best[:-1]
    text, after_repeat = "", False
    for i in best[keep]:
        if i == 0:
            continue
        if i <= len(characters):
            text += characters[i - 1]
        elif repeat_token and not after_repeat and text and text[-1] != " ":
            text += text[-1]
        after_repeat = i > len(characters)
    return " ".join(text.split())


class Transcriber:
    """One TFLite interpreter; ``transcribe(samples [n]) → text``."""

    def __init__(self, model_path: str, num_threads: int = 1):
        self.config = read_config(model_path)
        self.interpreter = Interpreter(model_path=model_path, num_threads=num_threads)
        self.input = self.interpreter.get_input_details()[0]["index"]
        self.output = self.interpreter.get_output_details()[0]["index"]

    @property
    def sample_rate(self) -> int:
        return int(self.config["feature_config"]["sample_rate"])

    def transcribe(self, samples: np.ndarray, grammar=None) -> str:
        """The greedy transcript, or with ``grammar`` (a compiled grammar from ``asr grammar
        compile``, loaded by ``grammar_search.load_grammar``) the best grammar sentence."""
        log_probs = self.log_probs(samples)
        if grammar is not None:
            return " ".join(grammar_search.search(grammar, log_probs).words)
        return greedy_decode(log_probs, self.config["characters"], self.config.get("repeat_token") is True)

    def log_probs(self, samples: np.ndarray) -> np.ndarray:
        """Samples ``[n]`` → the model's log-probabilities ``[frames, vocabulary]``."""
        audio = np.ascontiguousarray(samples, dtype=np.float32)[None]  # [1, n]
        self.interpreter.resize_tensor_input(self.input, list(audio.shape))  # n changes per file
        self.interpreter.allocate_tensors()
        # the LSTM state survives invoke(): without this the second file is transcribed wrong
        self.interpreter.reset_all_variables()
        self.interpreter.set_tensor(self.input, audio)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output)[0]  # [frames, vocabulary]


def transcribe_long(transcriber: Transcriber, samples: np.ndarray, grammar=None) -> str:
    """A recording up to ``LONG_SECONDS`` whole; a longer one cut at its pauses
    (``listen.utterances``, the live loop's endpointing) and each part transcribed."""
    rate = transcriber.sample_rate
    if len(samples) <= LONG_SECONDS * rate:
        return transcriber.transcribe(samples, grammar)
    from listen import utterances  # beside this file; imported here: it imports this module too

    step = rate // 10
    parts = utterances((samples[i:i + step] for i in range(0, len(samples), step)), rate)
    texts = [transcriber.transcribe(part, grammar) for part in parts if len(part) >= rate // 20]
    return " ".join(t for t in texts if t)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a .tflite file from `asr export` (with its .json beside it)")
    parser.add_argument("wavs", nargs="+", help="audio files (any rate and channel count soundfile reads)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--grammar", help="a compiled grammar (`asr grammar compile FILE --model MODEL --out "
                        "g.npz`): print only sentences it accepts")
    args = parser.parse_args(argv)
    try:
        transcriber = Transcriber(args.model, args.threads)
        grammar = grammar_search.load_grammar(args.grammar) if args.grammar else None
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    status = 0
    for path in args.wavs:
        try:
            samples = read_wav(path, transcriber.sample_rate)
            text = transcribe_long(transcriber, samples, grammar)
        except (OSError, ValueError, RuntimeError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
            continue
        print(f"{path}\t{text}" if len(args.wavs) > 1 else text, flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())

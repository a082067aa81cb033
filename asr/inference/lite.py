"""Transcribing with an exported ``.tflite`` model on ai-edge-litert, without TensorFlow.

    >>> import asr
    >>> model = asr.load("exported/model.tflite")
    >>> model.transcribe("turn_on.wav")

The TFLite graph (``asr export``) takes one utterance's PCM ``[1, N]`` and
computes the log-mel front end itself, so its backend hands it samples, not
features. Everything else (audio loading and checks, decoding, long audio, the
file loop) is ``asr.inference.recognizer.Recognizer``'s, which composes this
backend with a decoder.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from asr.config import FeatureConfig, from_dict
from asr.core.errors import ASRError, ModelError, first_line
from asr.core.progress import progress
from asr.core.quiet import quiet_stderr
from asr.core.tflite_file import read_model_config
from asr.text import Tokenizer


class LiteModel:
    """A ``.tflite`` file from ``asr export`` in an ai-edge-litert interpreter,
    with the tokenizer and feature settings stored in the file.

    Args:
        path: the ``.tflite`` file.
        num_threads: interpreter CPU threads (None: the runtime's default).

    Call: ``samples [n]`` float32 at ``features.sample_rate`` → ``log_probs [T', V]``
    float32 (id 0 the CTC blank).
    """

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None):
        self.path = Path(path)
        config = read_model_config(self.path)
        try:
            self.tokenizer = Tokenizer(config["characters"], bool(config.get("repeat_token", False)))
            self.features = from_dict(FeatureConfig, config["feature_config"], "feature_config")  # checked
        except (KeyError, TypeError, ASRError) as exc:
            raise ModelError(f"{self.path}: unusable asr_config metadata ({exc})") from None
        try:
            from ai_edge_litert.interpreter import Interpreter  # lazily: only .tflite models need it
        except ImportError:
            raise ModelError(f"{self.path}: running .tflite models needs ai-edge-litert "
                             "(pip install ai-edge-litert)") from None
        try:
            with quiet_stderr():  # the runtime's INFO line about its CPU delegate
                self.interpreter = Interpreter(model_path=str(self.path), num_threads=num_threads)
                self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            reason = first_line(exc)
            raise ModelError(f"{self.path}: the TFLite runtime cannot load it ({reason[:160]})") from None
        inputs, outputs = self.interpreter.get_input_details(), self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1 or len(inputs[0]["shape_signature"]) != 2:
            raise ModelError(f"{self.path}: expected one input [1, N] and one output")
        self._input, self._output = inputs[0]["index"], outputs[0]["index"]
        self._samples = None  # the input length the tensors are allocated for
        self.time_reduction = int(config.get("time_reduction") or self._measured_time_reduction())

    def _measured_time_reduction(self) -> int:
        """Feature frames per output frame, for a file exported before the metadata
        recorded it: 256 feature frames of silence in, ``256 / r`` out."""
        frames = 256
        return frames // len(self(np.zeros(self.features.hop_length * (frames - 1), dtype=np.float32)))

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        audio = np.ascontiguousarray(samples, dtype=np.float32)[None]
        if audio.shape[1] != self._samples:
            self.interpreter.resize_tensor_input(self._input, list(audio.shape), strict=True)
            self.interpreter.allocate_tensors()
            self._samples = audio.shape[1]
        # the fused LSTM ops keep their state across invoke(): start each utterance from zero
        self.interpreter.reset_all_variables()
        self.interpreter.set_tensor(self._input, audio)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output)[0].copy()


class LiteBackend:
    """A ``LiteModel`` as a ``Recognizer``'s acoustic backend (see ``asr.inference.backends``).
    The graph computes its own log-mels, so its input is the checked samples.

    Args:
        model: a ``LiteModel``.
    """

    def __init__(self, model: LiteModel):
        self.model = model
        self.tokenizer: Tokenizer = model.tokenizer
        self.features: FeatureConfig = model.features
        self.time_reduction: int = model.time_reduction
        self.frame_seconds: float = self.features.frame_seconds(self.time_reduction)

    reads_split_features = False  # it reads the samples again and makes its own features

    def prepare(self, samples: np.ndarray) -> np.ndarray:
        """Checked samples ``[n]`` are the model's input as they are."""
        return samples

    def split_inputs(self, split, read: Callable[[str], np.ndarray]) -> list[np.ndarray]:
        """Each utterance's samples, read again with ``read(path)``: the graph makes its own features."""
        return [read(utt.audio_filepath) for utt in split.utterances]

    def forward(self, inputs: Sequence[np.ndarray], batch_size: int = 32,
                desc: str | None = None) -> list[np.ndarray]:
        """Per-utterance log-probabilities ``[T'_i, V]`` for samples ``[n_i]``, one
        utterance per invoke (the graph has batch size 1; ``batch_size`` is unused;
        ``desc`` labels a progress bar)."""
        return [self.model(samples) for samples in progress(inputs, desc, total=len(inputs), unit="utt")]

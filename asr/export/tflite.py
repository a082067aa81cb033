"""The TFLite export: builtins-only ``.tflite`` files (``DIR/model[.<quantization>].tflite``).

Each takes ``audio [1, N]`` raw PCM and gives ``log_probs [1, T', V]``, the
log-mel front end computed in-graph (``asr.features.graph``). Keras 3's BiLSTM
needs Flex ops in TFLite, so the weights (``asr.export.architecture``) are
copied into an equivalent ``tf_keras`` model at batch size 1, which the
converter turns into fused ``UNIDIRECTIONAL_SEQUENCE_LSTM`` ops; then it is
quantised if asked. The tokenizer characters and feature settings are stored in
the file's metadata (``asr.core.tflite_file``) and in a JSON sidecar
``<file>.json``. TensorFlow and tf_keras are imported only when a function needs them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from asr.audio.files import read_audio
from asr.config import FeatureConfig
from asr.core.atomic import atomic_path, atomic_write_text
from asr.core.errors import ASRError, ModelError, one_line
from asr.core.quiet import quiet_stderr
from asr.core.tflite_file import (
    builtin_operator_names,
    embed_metadata,
    operator_names,
    output_tensor_names,
    remove_lstm_cell_clip,
    restore_float_weights,
)
from asr.data.manifest import read_manifest
from asr.export.architecture import Architecture, read_architecture
from asr.features.graph import FrontEnd, log_mel_graph
from asr.text import Tokenizer

QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
METADATA_FORMAT = 1
FUSED_LSTM_OPS = ("UNIDIRECTIONAL_SEQUENCE_LSTM", "BIDIRECTIONAL_SEQUENCE_LSTM")
FORBIDDEN_TFLITE_OPS = ("WHILE", "CUSTOM", "DELEGATE")
FRONT_END_LAYER = "log_mel"  # the layer of the TFLite model holding the front end
NORM_SUFFIX = "_norm"  # the TFLite model's layer norms, kept float in the int8 file


def build_lite_model(arch: Architecture, front_end: FrontEnd):
    """The same network as a ``tf_keras`` functional model at batch size 1,
    front end included: ``audio [1, N]`` float32 → ``log_probs [1, T', V]``.

    One whole utterance per call, so the masks of the Keras model are no-ops and
    are left out.
    """
    import tensorflow as tf  # heavy: loaded only when exporting
    import tf_keras  # heavy: loaded only when exporting

    n_mels = front_end.config.n_mels
    if n_mels != arch.n_mels:
        raise ModelError(f"the model takes {arch.n_mels} mel bins but its feature config says {n_mels}")

    def featurize(audio):
        features, _ = log_mel_graph(audio, front_end)
        # a static [1, T, F] shape: without it the converter emits WHILE loops instead of fused LSTMs
        return tf.reshape(features, [1, -1, n_mels])

    audio = tf_keras.Input(shape=(None,), batch_size=1, dtype="float32", name="audio")
    x = tf_keras.layers.Lambda(featurize, name=FRONT_END_LAYER)(audio)
    layers = []
    for i, conv in enumerate(arch.convs):
        x = tf_keras.layers.ZeroPadding1D(conv.kernel_size // 2, name=f"conv{i}_pad")(x)
        layer = tf_keras.layers.Conv1D(conv.filters, conv.kernel_size, strides=conv.strides, padding="valid",
                                       activation=conv.activation, name=f"conv{i}")
        x = layer(x)
        layers.append((layer, conv.weights))
    reverse = tf_keras.layers.Lambda(lambda z: tf.reverse(z, axis=[1]), name="reverse_time")
    for i, spec in enumerate(arch.lstms):
        if spec.norm:
            x = tf_keras.layers.Lambda(_layer_norm(*spec.norm, spec.norm_epsilon), name=f"bilstm{i}{NORM_SUFFIX}")(x)
        # Bidirectional spelt out: the same outputs, and half the converter time of tf_keras.Bidirectional
        forward = tf_keras.layers.LSTM(spec.units, return_sequences=True, name=f"bilstm{i}_forward")
        backward = tf_keras.layers.LSTM(spec.units, return_sequences=True, name=f"bilstm{i}_backward")
        x = tf_keras.layers.Concatenate(name=f"bilstm{i}")([forward(x), reverse(backward(reverse(x)))])
        layers += [(forward, spec.forward), (backward, spec.backward)]
    head = tf_keras.layers.Dense(arch.vocab_size, name="ctc_head")
    x = head(x)
    layers.append((head, arch.head))
    log_probs = tf_keras.layers.Lambda(lambda z: tf.nn.log_softmax(z, axis=-1), name="log_probs")(x)
    lite = tf_keras.Model(audio, log_probs, name="asr_lite")
    for layer, weights in layers:
        layer.set_weights(weights)
    return lite


def _layer_norm(gamma: np.ndarray, beta: np.ndarray, epsilon: float) -> Callable:
    """Keras's LayerNormalization over the last axis (``x [1, T, C]``), spelt out:
    five builtin ops per frame. ``tf_keras``'s own layer converts too, but goes
    through a fused batch norm that adds reshapes, a transpose and shape ops."""
    import tensorflow as tf  # heavy: loaded only when exporting

    def norm(x):
        mean = tf.reduce_mean(x, axis=-1, keepdims=True)
        variance = tf.reduce_mean(tf.math.squared_difference(x, mean), axis=-1, keepdims=True)
        return (x - mean) * tf.math.rsqrt(variance + epsilon) * gamma + beta

    return norm


def _converter(lite_model):
    import tensorflow as tf  # heavy: loaded only when exporting

    converter = tf.lite.TFLiteConverter.from_keras_model(lite_model)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter


def _convert(convert: Callable[[], bytes], quantize: str) -> bytes:
    """Run a converter step quietly (its C++ progress lines and Python deprecation
    notices), its failure as a one-line ModelError."""
    try:
        with warnings.catch_warnings(), quiet_stderr():
            warnings.simplefilter("ignore")
            return bytes(convert())
    except Exception as exc:  # noqa: BLE001  (the converter raises many types, none of them public)
        raise ModelError(f"TFLite conversion ({quantize}) failed: {one_line(exc, 300)}") from None


def convert_tflite(lite_model, front_end: FrontEnd, quantize: str = "none",
                   calibration: Sequence[np.ndarray] = (), float_model: bytes | None = None) -> bytes:
    """Convert a ``build_lite_model`` model to a builtins-only TFLite flatbuffer.

    The log-mel front end stays float in every variant: int8 audio samples and
    an int8 power spectrum lose the quiet bins that the log makes count.

    Args:
        lite_model: from ``build_lite_model``.
        front_end: its front end's constants.
        quantize: ``none`` (float32) | ``float16`` (float16 weights) | ``dynamic``
            (int8 encoder weights, float activations) | ``int8`` (int8 encoder
            weights and activations, calibrated on ``calibration``; float input,
            front end, layer norms and output).
        calibration: float32 waveforms ``[n]`` for ``int8``.
        float_model: the ``none`` conversion when already made (saves converting again).

    Raises:
        ModelError: the converter fails.
    """
    import tensorflow as tf  # heavy: loaded only when exporting

    if quantize not in QUANTIZATIONS:
        raise ASRError(f"unknown quantization {quantize!r} ({' | '.join(QUANTIZATIONS)})")
    if quantize == "int8" and not len(calibration):
        raise ASRError("int8 quantization needs calibration audio (--calibration-manifest)")
    if quantize == "none":
        return remove_lstm_cell_clip(float_model or _convert(_converter(lite_model).convert, quantize))
    converter = _converter(lite_model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
        return remove_lstm_cell_clip(_convert(converter.convert, quantize))
    if quantize == "dynamic":
        # Dynamic-range quantization gives every large matmul int8 weights and quantizes its input
        # on the fly: for the DFT and the mel filters that is 8-bit audio and an 8-bit power
        # spectrum (see docs/EXPORT.md for the cost). The mode has no per-op exclusion, so the
        # front end's float weights are put back afterwards.
        quantized = remove_lstm_cell_clip(_convert(converter.convert, quantize))
        return restore_float_weights(quantized, [front_end.dft_real.T, front_end.dft_imag.T, front_end.mel.T])
    # int8: the converter's selective quantization (the debugger's denylist) keeps the front end and
    # the layer norms float (an int8 mean and variance cost the shipped model 0.8 point of WER);
    # the int8 LSTM keeps the converter's cell clip, from which its int16 cell-state scale is derived
    float_model = float_model or _convert(_converter(lite_model).convert, "none")
    converter.representative_dataset = lambda: ([np.asarray(a, np.float32)[None]] for a in calibration)
    float_layers = [FRONT_END_LAYER] + [layer.name for layer in lite_model.layers if layer.name.endswith(NORM_SUFFIX)]
    options = tf.lite.experimental.QuantizationDebugOptions(
        denylisted_nodes=output_tensor_names(float_model, tuple(f"{lite_model.name}/{name}/" for name in float_layers)))

    def quantize_selectively() -> bytes:
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=converter.representative_dataset, debug_options=options)
        return debugger.get_nondebug_quantized_model()

    return _convert(quantize_selectively, quantize)


def check_tflite_operators(operators: Sequence[str], name: str) -> None:
    """Refuse a TFLite model that needs Flex/custom ops or loops instead of fused LSTMs."""
    builtins = builtin_operator_names()
    bad = [op for op in operators if op.startswith("Flex") or op in FORBIDDEN_TFLITE_OPS or op not in builtins]
    if bad:
        raise ModelError(f"{name}: not builtins-only TFLite (found {', '.join(bad)})")
    if not any(op in FUSED_LSTM_OPS for op in operators):
        raise ModelError(f"{name}: the LSTMs were not converted to fused TFLite LSTM ops")


def lite_metadata(tokenizer: Tokenizer, feature_config: FeatureConfig, time_reduction: int, quantize: str,
                  source: str) -> dict:
    """What a ``.tflite`` file carries about itself (metadata entry and sidecar JSON);
    ``time_reduction`` is the model's own (``CTCModel.time_reduction``)."""
    output = "log_probs [1, T', V] float32; id 0 is the CTC blank, id i + 1 is characters[i]"
    if tokenizer.repeat_token:
        output += (f"; id {tokenizer.repeat_id} is the repeat token: the character before it again, "
                   "unless that is a space, the start of the text or another repeat token")
    return {
        "format": METADATA_FORMAT,
        "characters": tokenizer.characters,
        "repeat_token": tokenizer.repeat_token,
        "blank_id": 0,
        "feature_config": dataclasses.asdict(feature_config),
        "time_reduction": int(time_reduction),  # feature frames per output frame
        "quantization": quantize,
        "input": f"audio [1, N] float32 PCM, mono, {feature_config.sample_rate} Hz; resize N per utterance",
        "output": output,
        "reset_variables": "call reset_all_variables() before each utterance (the LSTM state persists)",
        "source": source,
    }


def tflite_file_name(quantize: str) -> str:
    """``model.tflite`` for float32, ``model.<quantize>.tflite`` otherwise."""
    return "model.tflite" if quantize == "none" else f"model.{quantize}.tflite"


def sidecar_path(tflite_path: str | os.PathLike) -> Path:
    """The JSON file written beside a ``.tflite`` file: ``<file>.json``."""
    return Path(f"{tflite_path}.json")


def calibration_audio(manifest: str | os.PathLike, sample_rate: int, count: int = 100,
                      seed: int = 0) -> list[np.ndarray]:
    """``count`` random utterances of a manifest as float32 waveforms, for int8 calibration."""
    utterances, _ = read_manifest(manifest, strict=False)
    if not utterances:
        raise ASRError(f"{manifest}: no usable utterances for calibration")
    chosen = random.Random(seed).sample(utterances, min(count, len(utterances)))
    out = []
    for utt in chosen:
        try:
            out.append(read_audio(utt.audio_filepath, sample_rate))
        except ASRError:
            continue  # a bad line is not worth failing an export for; enough others remain
    if not out:
        raise ASRError(f"{manifest}: none of the chosen calibration files could be read")
    return out


def _write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def export_tflite(model, out_dir: str | os.PathLike, quantize: Sequence[str] = ("none",),
                  calibration: Sequence[np.ndarray] = (), source: str = "",
                  progress: Callable[[str], None] = lambda step: None) -> dict[str, Path]:
    """Write one ``.tflite`` file (+ JSON sidecar) per quantization into ``out_dir``;
    ``progress`` is called with each file's name before it is converted (tens of seconds each).

    Returns:
        quantization → path of the ``.tflite`` file.
    """
    front_end = FrontEnd.from_config(model.features)
    lite_model = build_lite_model(read_architecture(model), front_end)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    float_model = None
    for mode in quantize:
        path = out_dir / tflite_file_name(mode)
        progress(f"TFLite {mode if mode != 'none' else 'float32'} → {path}")
        if float_model is None and mode in ("none", "int8"):
            float_model = _convert(_converter(lite_model).convert, "none")
        flatbuffer = convert_tflite(lite_model, front_end, mode, calibration, float_model)
        check_tflite_operators(operator_names(flatbuffer), str(path))
        info = lite_metadata(model.tokenizer, model.features, model.time_reduction, mode, source)
        _write_bytes(path, embed_metadata(flatbuffer, info))
        atomic_write_text(sidecar_path(path), json.dumps(info, indent=2) + "\n")
        written[mode] = path
    return written

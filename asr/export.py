"""Export a trained model for serving and for devices.

Two artefacts, both taking raw PCM and computing the log-mel front end in-graph
(``asr.graph_features``):

* a **SavedModel** for TF Serving (``DIR/saved_model/1/``): signature
  ``transcribe`` (``audio [B, N]`` zero-padded float32 + ``lengths [B]`` int32 →
  ``text [B]``, ``log_probs [B, T', V]``, ``output_lengths [B]``; greedy CTC
  decoding in-graph) and ``logits`` (``features [B, T, F]`` + ``lengths [B]`` →
  ``logits``, ``output_lengths``). It traces the trained Keras model itself, with
  cuDNN switched off, on the CPU.
* **TFLite** files (``DIR/model[.<quantization>].tflite``): ``audio [1, N]`` →
  ``log_probs [1, T', V]``, TFLite builtins only. Keras 3's BiLSTM needs Flex ops
  there, so the weights are copied into an equivalent ``tf_keras`` model at batch
  size 1, which the converter turns into fused ``UNIDIRECTIONAL_SEQUENCE_LSTM``
  ops. The tokenizer characters and feature settings are stored in the file's
  metadata (``asr.tflite_file``) and in a JSON sidecar ``<file>.json``.

The architecture is read from the loaded model's layers (each ``MaskedConv1D``'s
filters, kernel, stride and activation; each ``Bidirectional(LSTM)``; the
``ctc_head``), not from a config.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import random
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from asr.config import FeatureConfig
from asr.data import atomic_path, atomic_write_text
from asr.errors import ASRError, ModelError, one_line
from asr.graph_features import FrontEnd, log_mel_graph
from asr.quiet import quiet_stderr
from asr.text import Tokenizer
from asr.tflite_file import (
    builtin_operator_names,
    embed_metadata,
    operator_names,
    output_tensor_names,
    remove_lstm_cell_clip,
    restore_float_weights,
)

FORMATS = ("saved_model", "tflite")
QUANTIZATIONS = ("none", "float16", "dynamic", "int8")
SAVED_MODEL_VERSION = "1"  # TF Serving loads DIR/saved_model/<version>/
METADATA_FORMAT = 1
# ops that must not appear in an exported graph: GPU-only kernels
GPU_ONLY_OPS = ("CudnnRNN", "CudnnRNNV2", "CudnnRNNV3", "CudnnRNNBackprop")
FUSED_LSTM_OPS = ("UNIDIRECTIONAL_SEQUENCE_LSTM", "BIDIRECTIONAL_SEQUENCE_LSTM")
FORBIDDEN_TFLITE_OPS = ("WHILE", "CUSTOM", "DELEGATE")
_REPEAT_MARK = "\x01"  # the repeat token's piece in the in-graph greedy decoding (never in text)
FRONT_END_LAYER = "log_mel"  # the layer of the TFLite model holding the front end
NORM_SUFFIX = "_norm"  # the TFLite model's layer norms, kept float in the int8 file


@dataclass
class ConvSpec:
    """One ``MaskedConv1D``: explicit ``kernel_size // 2`` zero padding, then a valid strided conv."""

    filters: int
    kernel_size: int
    strides: int
    activation: str
    weights: list[np.ndarray]  # kernel [kernel_size, in, filters], bias [filters]


@dataclass
class BiLSTMSpec:
    """One ``Bidirectional(LSTM, merge_mode="concat")``; weights kernel, recurrent kernel, bias (gates i, f, c, o)."""

    units: int
    forward: list[np.ndarray]
    backward: list[np.ndarray]
    # the LayerNormalization of its input frames (``model.layer_norm``): gamma [in], beta [in]; empty if none
    norm: list[np.ndarray] = field(default_factory=list)
    norm_epsilon: float = 1e-3


@dataclass
class Architecture:
    """What the exporters rebuild: the layers in order and the head."""

    n_mels: int
    convs: list[ConvSpec] = field(default_factory=list)
    lstms: list[BiLSTMSpec] = field(default_factory=list)
    head: list[np.ndarray] = field(default_factory=list)  # kernel [2 * units, V], bias [V]

    @property
    def vocab_size(self) -> int:
        return int(self.head[1].shape[0])


def read_architecture(model) -> Architecture:
    """Read the encoder's layers and the CTC head of a loaded ``CTCModel``.

    Dropout and the length mask do nothing at inference on one whole utterance;
    a LayerNormalization right before a BiLSTM travels with that BiLSTM's spec;
    any other layer kind or place is refused, so a changed model cannot export silently wrong.
    """
    import keras

    from asr.model import LengthMask, MaskedConv1D

    arch = Architecture(n_mels=int(model.encoder.inputs[0].shape[-1]))
    norm = None  # a LayerNormalization waiting for the BiLSTM it feeds
    for layer in [*model.encoder.layers, None]:
        if norm is not None and not isinstance(layer, (keras.layers.Bidirectional, LengthMask)):
            raise ModelError(f"layer {norm.name}: a LayerNormalization is exported only right before a BiLSTM")
        if layer is None:
            break
        if isinstance(layer, keras.layers.LayerNormalization):
            if ([a % 3 for a in layer.axis] != [2] or not layer.center or not layer.scale
                    or getattr(layer, "rms_scaling", False)):
                raise ModelError(f"layer {layer.name}: only a LayerNormalization over the channels, "
                                 "with its scale and offset, is exported")
            norm = layer
        elif isinstance(layer, MaskedConv1D):
            if layer.conv.padding != "valid" or layer.pad != layer.kernel_size // 2:
                raise ModelError(f"layer {layer.name}: unexpected padding")
            arch.convs.append(ConvSpec(layer.filters, layer.kernel_size, layer.strides,
                                       keras.activations.serialize(layer.conv.activation),
                                       [np.asarray(w) for w in layer.conv.get_weights()]))
        elif isinstance(layer, keras.layers.Bidirectional):
            fwd, bwd = layer.forward_layer, layer.backward_layer
            if not isinstance(fwd, keras.layers.LSTM) or layer.merge_mode != "concat":
                raise ModelError(f"layer {layer.name}: only Bidirectional(LSTM) with concat is exported")
            for lstm in (fwd, bwd):
                cell = lstm.cell
                if (keras.activations.serialize(cell.activation) != "tanh"
                        or keras.activations.serialize(cell.recurrent_activation) != "sigmoid"
                        or not cell.use_bias or not lstm.return_sequences):
                    raise ModelError(f"layer {layer.name}: the fused TFLite LSTM needs tanh/sigmoid, "
                                     "a bias and return_sequences")
            spec = BiLSTMSpec(fwd.units, [np.asarray(w) for w in fwd.get_weights()],
                              [np.asarray(w) for w in bwd.get_weights()])
            if norm is not None:
                spec.norm, spec.norm_epsilon = [np.asarray(w) for w in norm.get_weights()], float(norm.epsilon)
                norm = None
            arch.lstms.append(spec)
        elif not isinstance(layer, (keras.layers.InputLayer, keras.layers.Dropout, LengthMask)):
            raise ModelError(f"layer {layer.name}: {type(layer).__name__} is not supported by export")
    head = model.get_layer("ctc_head")
    if keras.activations.serialize(head.activation) != "linear":
        raise ModelError("layer ctc_head: expected a linear Dense layer")
    arch.head = [np.asarray(w) for w in head.get_weights()]
    if arch.vocab_size != model.tokenizer.vocab_size:
        raise ModelError(f"ctc_head has {arch.vocab_size} outputs for a vocabulary of {model.tokenizer.vocab_size} "
                         f"({len(model.characters)} characters, the blank{', the repeat token' * model.repeat_token})")
    return arch


@contextlib.contextmanager
def _without_cudnn(model) -> Iterator[None]:
    """Make every LSTM of ``model`` take the generic kernel while tracing (no CudnnRNN op), then restore it."""
    import keras

    lstms = [layer for layer in model._flatten_layers(include_self=False, recursive=True)
             if isinstance(layer, keras.layers.LSTM)]
    saved = [lstm.use_cudnn for lstm in lstms]
    for lstm in lstms:
        lstm.use_cudnn = False
    try:
        yield
    finally:
        for lstm, value in zip(lstms, saved):
            lstm.use_cudnn = value


# ----------------------------------------------------------------------------
# SavedModel
# ----------------------------------------------------------------------------

def greedy_text_graph(scores, lengths, tokenizer: Tokenizer):
    """Greedy CTC decoding in TF ops, the same as ``asr.decoding.GreedyDecoder``.

    Args:
        scores: ``[B, T', V]`` logits or log-probabilities, blank id 0.
        lengths: ``[B]`` real frames.
        tokenizer: the model's tokenizer; id ``i + 1`` is ``characters[i]``, then
            the repeat token if it has one.

    Returns:
        ``[B]`` tf.string: argmax, repeats merged, blanks dropped, characters
        joined (repeat tokens expanded as ``Tokenizer.decode`` does), runs of
        spaces collapsed and the ends stripped.
    """
    import tensorflow as tf

    ids = tf.argmax(scores, axis=-1, output_type=tf.int32)
    previous = tf.pad(ids[:, :-1], [[0, 0], [1, 0]], constant_values=-1)
    keep = tf.sequence_mask(lengths, tf.shape(ids)[1]) & tf.not_equal(ids, previous) & tf.not_equal(ids, 0)
    pieces = ["", *tokenizer.characters] + ([_REPEAT_MARK] if tokenizer.repeat_token else [])
    text = tf.strings.reduce_join(tf.where(keep, tf.gather(tf.constant(pieces), ids), ""), axis=1)
    if tokenizer.repeat_token:  # the character before it again, unless a space, the start or another repeat
        text = tf.strings.regex_replace(text, f"([^ {_REPEAT_MARK}]){_REPEAT_MARK}", r"\1\1")
        text = tf.strings.regex_replace(text, _REPEAT_MARK, "")
    return tf.strings.strip(tf.strings.regex_replace(text, r"\s+", " "))


def export_saved_model(model, out_dir: str | os.PathLike) -> Path:
    """Write a TF Serving SavedModel of a ``CTCModel`` to ``out_dir/saved_model/1``.

    Signatures (``transcribe`` is also ``serving_default``):

    * ``transcribe``: ``audio [B, N]`` float32 PCM at the model's rate, zero-padded,
      ``lengths [B]`` int32 samples → ``text [B]`` string, ``log_probs [B, T', V]``
      float32, ``output_lengths [B]`` int32.
    * ``logits``: ``features [B, T, n_mels]`` float32 log-mels (as
      ``asr.features.log_mel``), ``lengths [B]`` int32 frames → ``logits [B, T', V]``,
      ``output_lengths [B]``.
    """
    import keras
    import tensorflow as tf

    front_end = FrontEnd.from_config(model.features)
    tokenizer = model.tokenizer
    n_mels = model.features.n_mels

    def forward(features, lengths):
        out = model({"features": features, "feature_lengths": lengths}, training=False)
        return out["logits"], out["lengths"]

    def transcribe(audio, lengths):
        features, frames = log_mel_graph(audio, front_end, lengths)
        logits, out_lengths = forward(features, frames)
        log_probs = tf.nn.log_softmax(logits, axis=-1)
        return {"text": greedy_text_graph(log_probs, out_lengths, tokenizer),
                "log_probs": log_probs, "output_lengths": out_lengths}

    def logits(features, lengths):
        scores, out_lengths = forward(features, lengths)
        return {"logits": scores, "output_lengths": out_lengths}

    path = Path(out_dir) / "saved_model" / SAVED_MODEL_VERSION
    with tf.device("/CPU:0"), _without_cudnn(model):  # CPU kernels only, whatever devices this machine has
        # no archive.track(model): the endpoints track the variables they use, and tracking the
        # model as well would save every weight twice (Keras variables and their TF values)
        archive = keras.export.ExportArchive()
        archive.add_endpoint("transcribe", transcribe, input_signature=[
            tf.TensorSpec((None, None), tf.float32, name="audio"),
            tf.TensorSpec((None,), tf.int32, name="lengths")])
        archive.add_endpoint("logits", logits, input_signature=[
            tf.TensorSpec((None, None, n_mels), tf.float32, name="features"),
            tf.TensorSpec((None,), tf.int32, name="lengths")])
        archive.write_out(str(path), verbose=False)
    found = sorted(saved_model_op_types(path) & set(GPU_ONLY_OPS))
    if found:
        raise ModelError(f"{path}: the exported graph holds GPU-only ops {found}")
    return path


def saved_model_op_types(path: str | os.PathLike) -> set[str]:
    """Every op type in a SavedModel's graphs and graph functions."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((Path(path) / "saved_model.pb").read_bytes())
    ops = set()
    for graph in proto.meta_graphs:
        ops.update(node.op for node in graph.graph_def.node)
        for function in graph.graph_def.library.function:
            ops.update(node.op for node in function.node_def)
    return ops


# ----------------------------------------------------------------------------
# TFLite
# ----------------------------------------------------------------------------

def build_lite_model(arch: Architecture, front_end: FrontEnd):
    """The same network as a ``tf_keras`` functional model at batch size 1,
    front end included: ``audio [1, N]`` float32 → ``log_probs [1, T', V]``.

    One whole utterance per call, so the masks of the Keras model are no-ops and
    are left out.
    """
    import tensorflow as tf
    import tf_keras

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
    import tensorflow as tf

    def norm(x):
        mean = tf.reduce_mean(x, axis=-1, keepdims=True)
        variance = tf.reduce_mean(tf.math.squared_difference(x, mean), axis=-1, keepdims=True)
        return (x - mean) * tf.math.rsqrt(variance + epsilon) * gamma + beta

    return norm


def _converter(lite_model):
    import tensorflow as tf

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
    import tensorflow as tf

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


def lite_metadata(tokenizer: Tokenizer, feature_config: FeatureConfig, quantize: str, source: str) -> dict:
    """What a ``.tflite`` file carries about itself (metadata entry and sidecar JSON)."""
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
    from asr.audio import read_audio
    from asr.data import read_manifest

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
                  calibration: Sequence[np.ndarray] = (), source: str = "") -> dict[str, Path]:
    """Write one ``.tflite`` file (+ JSON sidecar) per quantization into ``out_dir``.

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
        if float_model is None and mode in ("none", "int8"):
            float_model = _convert(_converter(lite_model).convert, "none")
        flatbuffer = convert_tflite(lite_model, front_end, mode, calibration, float_model)
        check_tflite_operators(operator_names(flatbuffer), str(path))
        info = lite_metadata(model.tokenizer, model.features, mode, source)
        _write_bytes(path, embed_metadata(flatbuffer, info))
        atomic_write_text(sidecar_path(path), json.dumps(info, indent=2) + "\n")
        written[mode] = path
    return written


@contextlib.contextmanager
def _quiet_tf_logs() -> Iterator[None]:
    """Keep TensorFlow's INFO lines ("Assets written to ...") off the terminal while saving."""
    loggers = [logging.getLogger(name) for name in ("tensorflow", "absl")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def export_model(model_path: str | os.PathLike | None, out_dir: str | os.PathLike,
                 formats: Sequence[str] = FORMATS, quantize: Sequence[str] = ("none",),
                 calibration_manifest: str | os.PathLike | None = None,
                 calibration_samples: int = 100) -> dict[str, Path]:
    """Export a trained ``.keras`` model (what ``asr export`` runs).

    Args:
        model_path: a ``.keras`` file or a folder holding ``model.keras``; None
            for the shipped model.
        out_dir: where to write ``saved_model/1/`` and the ``.tflite`` files.
        formats: any of ``saved_model``, ``tflite``.
        quantize: TFLite variants, any of ``none``, ``float16``, ``dynamic``, ``int8``.
        calibration_manifest: JSONL manifest whose audio calibrates ``int8``
            (e.g. the training manifest).
        calibration_samples: utterances drawn from it.

    Returns:
        ``{"saved_model": path, "tflite": path, "tflite.<quantize>": path, ...}``.
    """
    from asr.inference import load, resolve_model_path

    unknown = [f for f in formats if f not in FORMATS] + [q for q in quantize if q not in QUANTIZATIONS]
    if unknown or not formats:
        raise ASRError(f"export: unknown format or quantization {unknown} "
                       f"(formats: {', '.join(FORMATS)}; quantize: {', '.join(QUANTIZATIONS)})")
    if "tflite" in formats and "int8" in quantize and calibration_manifest is None:
        raise ASRError("export: int8 quantization needs --calibration-manifest (e.g. the training manifest)")
    source = resolve_model_path(model_path)
    if source.suffix != ".keras":
        raise ModelError(f"{source}: export needs the trained .keras model")
    from asr.model import float32_copy

    # a checkpoint of a mixed-precision run computes in float16/bfloat16: export its float32 twin
    model = float32_copy(load(source).model)
    written: dict[str, Path] = {}
    with _quiet_tf_logs():
        if "saved_model" in formats:
            written["saved_model"] = export_saved_model(model, out_dir)
        if "tflite" in formats:
            calibration = []
            if "int8" in quantize:
                calibration = calibration_audio(calibration_manifest, model.features.sample_rate,
                                                calibration_samples)
            for mode, path in export_tflite(model, out_dir, quantize, calibration, source=_display(source)).items():
                written["tflite" if mode == "none" else f"tflite.{mode}"] = path
    return written


def _display(path: Path) -> str:
    """``path`` relative to the working directory when inside it (no machine paths in shipped files)."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def waveform_batch(waveforms: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Zero-pad waveforms ``[n_i]`` into the ``transcribe`` signature's ``audio [B, N]`` and ``lengths [B]``."""
    lengths = np.array([len(w) for w in waveforms], dtype=np.int32)
    audio = np.zeros((len(waveforms), int(lengths.max())), dtype=np.float32)
    for i, w in enumerate(waveforms):
        audio[i, : len(w)] = w
    return audio, lengths

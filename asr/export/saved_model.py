"""The TF Serving SavedModel export (``DIR/saved_model/1/``).

It takes raw PCM and computes the log-mel front end in-graph
(``asr.features.graph``). Signature ``transcribe`` (``audio [B, N]``
zero-padded float32 + ``lengths [B]`` int32 → ``text [B]``, ``log_probs [B, T', V]``,
``output_lengths [B]``; greedy CTC decoding in-graph) and ``logits``
(``features [B, T, F]`` + ``lengths [B]`` → ``logits``, ``output_lengths``). It
traces the trained Keras model itself, with cuDNN switched off, on the CPU.
TensorFlow and Keras are imported only when a function needs them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from asr.core.errors import ModelError
from asr.features.graph import FrontEnd, log_mel_graph
from asr.text import Tokenizer

SAVED_MODEL_VERSION = "1"  # TF Serving loads DIR/saved_model/<version>/
# ops that must not appear in an exported graph: GPU-only kernels
GPU_ONLY_OPS = ("CudnnRNN", "CudnnRNNV2", "CudnnRNNV3", "CudnnRNNBackprop")
_REPEAT_MARK = "\x01"  # the repeat token's piece in the in-graph greedy decoding (never in text)


@contextlib.contextmanager
def _without_cudnn(model) -> Iterator[None]:
    """Make every LSTM of ``model`` take the generic kernel while tracing (no CudnnRNN op), then restore it."""
    import keras  # heavy: loaded only when exporting

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


def greedy_text_graph(scores, lengths, tokenizer: Tokenizer):
    """Greedy CTC decoding in TF ops, the same as ``asr.decoding.decoders.GreedyDecoder``.

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
    import tensorflow as tf  # heavy: loaded only when exporting

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
      ``asr.features.logmel.log_mel``), ``lengths [B]`` int32 frames → ``logits [B, T', V]``,
      ``output_lengths [B]``.
    """
    import keras  # heavy: loaded only when exporting
    import tensorflow as tf  # heavy: loaded only when exporting

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
    from tensorflow.core.protobuf import saved_model_pb2  # heavy: loaded only when exporting

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((Path(path) / "saved_model.pb").read_bytes())
    ops = set()
    for graph in proto.meta_graphs:
        ops.update(node.op for node in graph.graph_def.node)
        for function in graph.graph_def.library.function:
            ops.update(node.op for node in function.node_def)
    return ops


def waveform_batch(waveforms: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Zero-pad waveforms ``[n_i]`` into the ``transcribe`` signature's ``audio [B, N]`` and ``lengths [B]``."""
    lengths = np.array([len(w) for w in waveforms], dtype=np.int32)
    audio = np.zeros((len(waveforms), int(lengths.max())), dtype=np.float32)
    for i, w in enumerate(waveforms):
        audio[i, : len(w)] = w
    return audio, lengths

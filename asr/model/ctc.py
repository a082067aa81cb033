"""The acoustic model: an encoder (strided conv front end + BiLSTM stack) and a
CTC head, with the CTC loss in ``compute_loss``.

Shapes: B batch, T feature frames, F mel bins, T' encoder frames (T divided by
the time reduction), V vocabulary size with the blank.

Every batch carries its true lengths. The conv layers zero what lies past a
sequence's end and the LSTMs take a right-padded mask, so padding never changes
a real frame's output in either direction.

Mixed precision (``train.precision``) is a dtype policy given to each encoder
layer: variables stay float32, the encoder computes in float16 or bfloat16, and
the CTC head and the loss compute in float32. ``float32_copy`` turns such a
model into a plain float32 one for inference and export.
"""

from __future__ import annotations

import copy
import dataclasses

import keras
from keras import layers, ops

from asr.config import FeatureConfig, ModelConfig
from asr.model.replicas import reducible_across_workers, replica_mean, replica_share
from asr.text import Tokenizer

PACKAGE = "asr"


def sequence_mask(x, lengths):
    """Boolean ``[B, T]`` mask of ``x [B, T, ...]``, True on the first ``lengths[b]`` frames."""
    steps = ops.arange(ops.shape(x)[1], dtype="int32")
    return ops.expand_dims(steps, 0) < ops.expand_dims(ops.cast(lengths, "int32"), 1)


@keras.saving.register_keras_serializable(package=PACKAGE)
class LengthMask(layers.Layer):
    """``(x [B, T, C], lengths [B])`` → boolean mask ``[B, T]``, True on real frames."""

    def call(self, x, lengths):
        return sequence_mask(x, lengths)

    def compute_output_spec(self, x, lengths):
        return keras.KerasTensor(x.shape[:2], dtype="bool")


@keras.saving.register_keras_serializable(package=PACKAGE)
class MaskedConv1D(layers.Layer):
    """Strided 1-D convolution that ignores padding.

    Inputs past each sequence's length are zeroed, the sequence is padded by
    ``kernel_size // 2`` zeros on both sides explicitly (TF's ``same`` padding
    shifts with the padded length), and outputs past the new length are zeroed.

    Args:
        filters: output channels.
        kernel_size: frames.
        strides: time reduction factor.
        activation: Keras activation name.

    Call: ``(x [B, T, C], lengths [B] int32)`` → ``(y [B, T', filters], lengths' [B])``
    with ``lengths' = (lengths - 1) // strides + 1`` for odd kernels.
    """

    def __init__(self, filters: int, kernel_size: int, strides: int = 1, activation: str = "relu", **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.activation = activation
        self.pad = kernel_size // 2
        # trainable passed on: a frozen layer (train.freeze_blocks) must load frozen, or a resumed
        # run's optimizer would find more variables than it saved
        self.conv = layers.Conv1D(filters, kernel_size, strides=strides, padding="valid",
                                  activation=activation, name="conv", dtype=self.dtype_policy,
                                  trainable=self.trainable)

    def build(self, x_shape, lengths_shape=None):
        self.conv.build((x_shape[0], None, x_shape[-1]))

    def output_lengths(self, lengths):
        return (lengths + 2 * self.pad - self.kernel_size) // self.strides + 1

    def call(self, x, lengths):
        lengths = ops.cast(lengths, "int32")
        x = x * ops.cast(sequence_mask(x, lengths)[..., None], x.dtype)
        x = ops.pad(x, [[0, 0], [self.pad, self.pad], [0, 0]])
        y = self.conv(x)
        out_lengths = self.output_lengths(lengths)
        y = y * ops.cast(sequence_mask(y, out_lengths)[..., None], y.dtype)
        return y, out_lengths

    def compute_output_spec(self, x, lengths):
        steps = x.shape[1]
        if steps is not None:
            steps = (steps + 2 * self.pad - self.kernel_size) // self.strides + 1
        return (keras.KerasTensor((x.shape[0], steps, self.filters), dtype=self.compute_dtype),
                keras.KerasTensor(lengths.shape, dtype="int32"))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "activation": self.activation}


def build_encoder(cfg: ModelConfig, n_mels: int, name: str = "encoder", precision: str = "float32") -> keras.Model:
    """The encoder as a functional model.

    Inputs: ``features [B, T, n_mels]`` float32, ``feature_lengths [B]`` int32.
    Outputs: ``(encoded [B, T', 2 * lstm_units], encoded_lengths [B])``, encoded
    in the ``precision`` policy's compute dtype.

    Args:
        precision: the Keras dtype policy of every layer (``float32``,
            ``mixed_float16``, ``mixed_bfloat16``): passed to each layer rather
            than set globally, so building a model changes nothing else.
    """
    features = keras.Input((None, n_mels), name="features")
    lengths = keras.Input((), dtype="int32", name="feature_lengths")
    x, x_lengths = features, lengths
    for i, (channels, stride) in enumerate(zip(cfg.conv_channels, cfg.conv_strides)):
        x, x_lengths = MaskedConv1D(channels, cfg.conv_kernel, stride, name=f"conv{i}", dtype=precision)(x, x_lengths)
        x = layers.Dropout(cfg.dropout, name=f"conv{i}_dropout", dtype=precision)(x)
    mask = LengthMask(name="mask", dtype=precision)(x, x_lengths)
    for i in range(cfg.lstm_layers):
        # cuDNN conditions: tanh/sigmoid, no recurrent dropout, unroll off, bias on, right-padded mask
        # (cuDNN takes float16 and bfloat16 inputs too, so mixed precision keeps it).
        if cfg.layer_norm:
            x = layers.LayerNormalization(name=f"bilstm{i}_norm", dtype=precision)(x)
        lstm = layers.LSTM(cfg.lstm_units, return_sequences=True, use_cudnn="auto", name=f"lstm{i}", dtype=precision)
        x = layers.Bidirectional(lstm, name=f"bilstm{i}", dtype=precision)(x, mask=mask)
        x = layers.Dropout(cfg.dropout, name=f"bilstm{i}_dropout", dtype=precision)(x)
    return keras.Model([features, lengths], [x, x_lengths], name=name)


@keras.saving.register_keras_serializable(package=PACKAGE)
class CTCModel(keras.Model):
    """Encoder + CTC head (a Dense layer to ``V`` logits, blank at id 0).

    The tokenizer's characters and the feature settings are constructor
    arguments, so they are saved inside every ``.keras`` file.

    Args:
        encoder: a model from ``build_encoder``.
        characters: the tokenizer alphabet (without the blank).
        feature_config: ``FeatureConfig`` fields as a dict.
        repeat_token: the tokenizer has a repeat token (``asr.text.Tokenizer``).

    Call: ``{"features": [B, T, F], "feature_lengths": [B]}`` →
    ``{"logits": [B, T', V], "lengths": [B]}``.
    """

    def __init__(self, encoder: keras.Model, characters: str, feature_config: dict, repeat_token: bool = False,
                 **kwargs):
        features = keras.Input((None, encoder.inputs[0].shape[-1]), name="features")
        lengths = keras.Input((), dtype="int32", name="feature_lengths")
        encoded, encoded_lengths = encoder([features, lengths])
        vocab_size = Tokenizer(characters, repeat_token).vocab_size
        # float32 whatever the encoder's precision: the softmax inside CTC is unstable in float16
        logits = layers.Dense(vocab_size, name="ctc_head", dtype="float32")(encoded)
        super().__init__(
            inputs={"features": features, "feature_lengths": lengths},
            outputs={"logits": logits, "lengths": encoded_lengths},
            **kwargs,
        )
        self.encoder = encoder
        self.characters = characters
        self.repeat_token = bool(repeat_token)
        self.feature_config = dict(feature_config)

    @property
    def tokenizer(self) -> Tokenizer:
        return Tokenizer(self.characters, self.repeat_token)

    @property
    def features(self) -> FeatureConfig:
        return FeatureConfig(**self.feature_config)

    @property
    def time_reduction(self) -> int:
        """Feature frames per output frame: the product of the encoder's conv strides,
        which are saved with its layers, so a loaded model knows its own."""
        reduction = 1
        for layer in self.encoder.layers:
            reduction *= int(getattr(layer, "strides", 1))
        return reduction

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Mean CTC loss over the batch, using the true label and output lengths.

        ``y``: ``{"labels": [B, L] int32 (padded with 0), "label_lengths": [B]}``.

        Under a ``tf.distribute`` strategy ``B`` is this replica's part of the
        global batch, and the result is its share of the global mean
        (``asr.model.replicas.replica_mean``): the replicas' gradients are summed.
        """
        per_utterance = ctc_loss(y["labels"], y["label_lengths"], y_pred["logits"], y_pred["lengths"])
        loss = replica_mean(per_utterance)
        if self.losses:  # the same on every replica
            loss = loss + replica_share(ops.cast(ops.sum(self.losses), loss.dtype))
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Keras's step logs (the running loss), shaped so that a multi-worker run can reduce them."""
        return reducible_across_workers(super().compute_metrics(x, y, y_pred, sample_weight))

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Under a tf.distribute strategy Keras 3 reads a batch here to build the model symbolically:
        # a pass over the training data that shifts every epoch's shuffle by one, and that fails under
        # MultiWorkerMirroredStrategy with dict batches (keras-team/keras#20329). A CTCModel is built
        # when constructed and has no compiled loss or metrics: only the optimizer is left, which
        # needs no batch. (Loss curves matching one device's, tests/training/test_distribute.py, check this.)
        super()._maybe_symbolic_build(iterator=None, data_batch=data_batch)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "characters": self.characters,
            "repeat_token": self.repeat_token,
            "feature_config": self.feature_config,
        }

    @classmethod
    def from_config(cls, config):
        config = copy.deepcopy(config)  # deserializing the encoder pops keys from its nested config
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)


def ctc_loss(labels, label_lengths, logits, logit_lengths):
    """Per-utterance CTC negative log-likelihood, blank at id 0.

    ``keras.ops.ctc_loss`` on every backend; on TensorFlow the same loss through
    TF's fused ``CTCLoss`` kernel (``tf_ctc_loss``), which is about ten times
    faster on a CPU.

    Args:
        labels: ``[B, L]`` int ids, padded past ``label_lengths``.
        label_lengths: ``[B]``.
        logits: ``[B, T', V]`` unnormalised scores.
        logit_lengths: ``[B]`` true frame counts of ``logits``.

    Returns:
        ``[B]`` float losses (nats).
    """
    if keras.backend.backend() == "tensorflow":
        return tf_ctc_loss(labels, label_lengths, logits, logit_lengths)
    return ops.ctc_loss(
        ops.cast(labels, "int32"),
        ops.cast(logits, "float32"),
        ops.cast(label_lengths, "int32"),
        ops.cast(logit_lengths, "int32"),
        mask_index=0,
    )


def tf_ctc_loss(labels, label_lengths, logits, logit_lengths):
    """``ctc_loss`` with TensorFlow's ``CTCLoss`` kernel: the same values and gradients.

    ``keras.ops.ctc_loss`` hands dense labels to ``tf.nn.ctc_loss``, which then
    runs a ``tf.scan`` implementation, about ten times slower on a CPU than the
    fused kernel that sparse labels take. The loss runs on the CPU on every
    machine: on a GPU, TensorFlow would swap in cuDNN's CTC, which refuses
    label sequences over 256 (a long LibriSpeech utterance has more). A label
    sequence that cannot fit its frames is an error here rather than a huge
    loss; the data pipeline drops those (``asr.data.splits.min_frames_for``).
    """
    import tensorflow as tf  # lazily: `import asr` and the TFLite path never load TensorFlow

    labels = tf.cast(labels, tf.int32)
    real = tf.where(tf.sequence_mask(label_lengths, tf.shape(labels)[1]))
    sparse = tf.SparseTensor(real, tf.gather_nd(labels, real), tf.shape(labels, out_type=tf.int64))
    with tf.device("/CPU:0"):
        return tf.nn.ctc_loss(sparse, tf.cast(logits, tf.float32), None, tf.cast(logit_lengths, tf.int32),
                              logits_time_major=False, blank_index=0)


def build_model(model_cfg: ModelConfig, feature_cfg: FeatureConfig, tokenizer: Tokenizer,
                precision: str = "float32") -> CTCModel:
    """Encoder + CTC head from the config, carrying its tokenizer and feature settings.

    Args:
        precision: the encoder's dtype policy (see ``build_encoder``); the head is float32.
    """
    encoder = build_encoder(model_cfg, feature_cfg.n_mels, precision=precision)
    return CTCModel(encoder, tokenizer.characters, dataclasses.asdict(feature_cfg), tokenizer.repeat_token,
                    name="ctc_asr")


def precision_of(model: CTCModel) -> str:
    """The dtype policy a model's encoder was built with: ``float32``, ``mixed_float16``..."""
    names = {layer.dtype_policy.name for layer in model.encoder.layers
             if not isinstance(layer, layers.InputLayer)}
    return names.pop() if len(names) == 1 else "float32"


def _float32_policies(config):
    """``config`` (a nested Keras config) with every mixed dtype policy replaced by float32."""
    if isinstance(config, dict):
        if config.get("class_name") == "DTypePolicy" and str(config["config"]["name"]).startswith("mixed_"):
            return "float32"
        return {key: _float32_policies(value) for key, value in config.items()}
    if isinstance(config, list):
        return [_float32_policies(value) for value in config]
    return config


def float32_copy(model: CTCModel) -> CTCModel:
    """A copy of ``model`` computing in float32 throughout, with its weights (no optimizer).

    Mixed-precision variables are float32 already, so nothing is rounded: the copy
    is what a float32 run with the same weights would be. Inference on a CPU and
    export (SavedModel, TFLite) use it.
    """
    clean = CTCModel.from_config(_float32_policies(model.get_config()))
    clean.set_weights(model.get_weights())
    return clean

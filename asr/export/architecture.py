"""What the exporters rebuild: the layers of a trained ``CTCModel``, read from the model itself.

``read_architecture`` reads each ``MaskedConv1D``'s filters, kernel, stride and
activation, each ``Bidirectional(LSTM)`` (with the ``LayerNormalization`` before
it, if any) and the ``ctc_head``, with their weights, from the loaded model's
layers, not from a config. Keras is imported only when a model is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from asr.core.errors import ModelError


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


def _bilstm_spec(layer, norm) -> BiLSTMSpec:
    """The spec of a ``Bidirectional(LSTM)`` layer, with the ``LayerNormalization``
    ``norm`` that feeds it (or None); raises for what the fused TFLite LSTM cannot do."""
    import keras  # heavy: loaded only when exporting

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
    return spec


def read_architecture(model) -> Architecture:
    """Read the encoder's layers and the CTC head of a loaded ``CTCModel``.

    Dropout and the length mask do nothing at inference on one whole utterance;
    a LayerNormalization right before a BiLSTM travels with that BiLSTM's spec;
    any other layer kind or place is refused, so a changed model cannot export silently wrong.
    """
    import keras  # heavy: loaded only when exporting

    from asr.model.ctc import LengthMask, MaskedConv1D  # heavy: loaded only when exporting

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
            arch.lstms.append(_bilstm_spec(layer, norm))
            norm = None
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

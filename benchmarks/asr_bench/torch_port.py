"""The acoustic model written directly in PyTorch, for the benchmark (``asr bench``).

The same network as ``asr.model``: per conv layer, inputs past each sequence's
length zeroed, ``kernel_size // 2`` zeros padded on both sides, a valid strided
``Conv1d`` and its activation, outputs past the new length zeroed; then one
``nn.LSTM(bidirectional=True)`` per BiLSTM layer, each after an
``nn.LayerNorm`` of its input frames when the model has them (packed sequences, so padding
never reaches a real frame in either direction), dropout after every layer as
in Keras, and a linear CTC head. The loss is the mean over the batch of the
per-utterance CTC negative log-likelihood, blank id 0 (``asr.model.ctc.ctc_loss``).

Weights come from ``asr.export.architecture.read_architecture`` of a Keras ``CTCModel``, so
a trained model runs here unchanged: Keras's conv kernel ``[k, in, out]``
becomes ``[out, in, k]``; an LSTM's kernel ``[in, 4u]``, recurrent kernel
``[u, 4u]`` and bias ``[4u]`` (gates i, f, c, o, the order PyTorch uses) become
``weight_ih [4u, in]``, ``weight_hh [4u, u]``, ``bias_ih`` and a zero ``bias_hh``.

Importing this module imports torch; ``asr_bench`` imports it only when torch
is installed (the ``bench`` extra).

Shapes: B batch, T feature frames, F mel bins, T' encoder frames, V vocabulary
size with the blank.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from asr.core.errors import ModelError

ACTIVATIONS = {"relu": F.relu, "linear": lambda x: x}


def _mask(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``[B, T, 1]`` float mask of ``x [B, T, C]``, 1 on the first ``lengths[b]`` frames."""
    steps = torch.arange(x.shape[1], device=x.device)
    return (steps[None, :] < lengths[:, None]).to(x.dtype)[..., None]


class MaskedConv1d(nn.Module):
    """``asr.model.ctc.MaskedConv1D``: ``(x [B, T, C], lengths [B])`` → ``(y [B, T', filters], lengths' [B])``."""

    def __init__(self, in_channels: int, filters: int, kernel_size: int, stride: int, activation: str = "relu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ModelError(f"torch port: activation {activation!r} is not supported ({', '.join(ACTIVATIONS)})")
        self.pad = kernel_size // 2
        self.kernel_size, self.stride = kernel_size, stride
        self.activation = ACTIVATIONS[activation]
        self.conv = nn.Conv1d(in_channels, filters, kernel_size, stride=stride)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x * _mask(x, lengths)
        y = self.activation(self.conv(F.pad(x.transpose(1, 2), (self.pad, self.pad)))).transpose(1, 2)
        lengths = torch.div(lengths + 2 * self.pad - self.kernel_size, self.stride, rounding_mode="floor") + 1
        return y * _mask(y, lengths), lengths


class TorchCTCModel(nn.Module):
    """Conv front end + BiLSTM stack + linear CTC head.

    Args:
        n_mels: input features per frame.
        convs: per conv layer ``(filters, kernel_size, stride, activation)``.
        lstm_units: per BiLSTM layer, units per direction.
        vocab_size: outputs, blank included.
        dropout: after every conv and BiLSTM layer, while training.
        norm_epsilons: per BiLSTM layer, the epsilon of the ``nn.LayerNorm`` of
            its input frames, or None for no norm (None: no norms at all).

    Call: ``(features [B, T, F] float32, lengths [B] int64)`` →
    ``(logits [B, T', V], lengths [B])``.
    """

    def __init__(self, n_mels: int, convs: list[tuple[int, int, int, str]], lstm_units: list[int],
                 vocab_size: int, dropout: float = 0.0, norm_epsilons: list[float | None] | None = None):
        super().__init__()
        self.convs = nn.ModuleList()
        channels = n_mels
        for filters, kernel_size, stride, activation in convs:
            self.convs.append(MaskedConv1d(channels, filters, kernel_size, stride, activation))
            channels = filters
        self.lstms, self.norms = nn.ModuleList(), nn.ModuleList()
        for units, epsilon in zip(lstm_units, norm_epsilons or [None] * len(lstm_units)):
            self.norms.append(nn.Identity() if epsilon is None else nn.LayerNorm(channels, eps=epsilon))
            self.lstms.append(nn.LSTM(channels, units, batch_first=True, bidirectional=True))
            channels = 2 * units
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(channels, vocab_size)

    @classmethod
    def from_architecture(cls, arch, dropout: float = 0.0) -> TorchCTCModel:
        """The model of an ``asr.export.architecture.Architecture`` with its weights."""
        convs = [(c.filters, c.kernel_size, c.strides, c.activation) for c in arch.convs]
        model = cls(arch.n_mels, convs, [s.units for s in arch.lstms], arch.vocab_size, dropout,
                    [s.norm_epsilon if s.norm else None for s in arch.lstms])
        model.load_keras_weights(arch)
        return model

    @torch.no_grad()
    def load_keras_weights(self, arch) -> None:
        """Copy the weights of an ``asr.export.architecture.Architecture`` (Keras layouts) into this model."""
        def put(param: torch.Tensor, value: np.ndarray) -> None:
            if tuple(param.shape) != value.shape:
                raise ModelError(f"torch port: weight shape {value.shape} does not fit {tuple(param.shape)}")
            param.copy_(torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)))

        for layer, spec in zip(self.convs, arch.convs):
            put(layer.conv.weight, spec.weights[0].transpose(2, 1, 0))
            put(layer.conv.bias, spec.weights[1])
        for lstm, norm, spec in zip(self.lstms, self.norms, arch.lstms):
            if spec.norm:
                put(norm.weight, spec.norm[0])
                put(norm.bias, spec.norm[1])
            for suffix, (kernel, recurrent, bias) in (("", spec.forward), ("_reverse", spec.backward)):
                put(getattr(lstm, f"weight_ih_l0{suffix}"), kernel.T)
                put(getattr(lstm, f"weight_hh_l0{suffix}"), recurrent.T)
                put(getattr(lstm, f"bias_ih_l0{suffix}"), bias)
                put(getattr(lstm, f"bias_hh_l0{suffix}"), np.zeros_like(bias))
        put(self.head.weight, arch.head[0].T)
        put(self.head.bias, arch.head[1])

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = features
        for conv in self.convs:
            x, lengths = conv(x, lengths)
            x = self.dropout(x)
        steps = x.shape[1]
        if bool((lengths == steps).all()):  # no padding (batch 1): no packing needed
            for lstm, norm in zip(self.lstms, self.norms):
                x = self.dropout(lstm(norm(x))[0])
        else:
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            for lstm, norm in zip(self.lstms, self.norms):
                packed = PackedSequence(norm(packed.data), packed.batch_sizes, packed.sorted_indices,
                                        packed.unsorted_indices)  # per frame, so the packed frames will do
                out = lstm(packed)[0]
                packed = PackedSequence(self.dropout(out.data), out.batch_sizes, out.sorted_indices,
                                        out.unsorted_indices)
            x = pad_packed_sequence(packed, batch_first=True, total_length=steps)[0]
        return self.head(x), lengths


def ctc_loss(logits: torch.Tensor, logit_lengths: torch.Tensor, labels: torch.Tensor,
             label_lengths: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of the per-utterance CTC loss (nats), blank id 0, as ``CTCModel.compute_loss``.

    Args:
        logits: ``[B, T', V]``; logit_lengths ``[B]``; labels ``[B, L]`` padded; label_lengths ``[B]``.
    """
    log_probs = F.log_softmax(logits, dim=-1).transpose(0, 1)  # [T', B, V]
    per_utterance = F.ctc_loss(log_probs, labels, logit_lengths, label_lengths, blank=0, reduction="none")
    return per_utterance.mean()


def clip_each_gradient(model: nn.Module, clipnorm: float) -> None:
    """Scale each parameter's gradient to norm at most ``clipnorm``, as Keras's ``clipnorm`` does
    (per variable, not the global norm)."""
    for param in model.parameters():
        if param.grad is not None:
            nn.utils.clip_grad_norm_([param], clipnorm)

"""Log-mel features in TensorFlow ops: the numbers of ``asr.features.logmel.log_mel``,
computed inside an exported graph (SavedModel and TFLite).

librosa's own window and mel filters are taken at export time and embedded as
constants, so the graph follows librosa by construction. The ops are all TFLite
builtins: PAD (centre padding), ``tf.signal.frame`` (GATHER/RESHAPE), the
windowed DFT as two matmuls, square-add, the mel matmul, LOG and means.

Shapes: B batch, N samples, T frames, K = n_fft // 2 + 1 frequency bins, F mel bins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from asr.config import FeatureConfig
from asr.features.logmel import NORM_EPSILON


@dataclass(frozen=True)
class FrontEnd:
    """The constants of the log-mel front end, from librosa.

    Attributes:
        config: the feature settings.
        dft_real: ``[n_fft, K]`` float32, window × cos (the window zero-padded to
            ``n_fft`` around the centre, as librosa does).
        dft_imag: ``[n_fft, K]`` float32, window × −sin.
        mel: ``[K, F]`` float32, librosa's slaney mel filters (transposed).
    """

    config: FeatureConfig
    dft_real: np.ndarray
    dft_imag: np.ndarray
    mel: np.ndarray

    @classmethod
    def from_config(cls, cfg: FeatureConfig) -> FrontEnd:
        """Build the constants for ``cfg`` with librosa (export time only)."""
        import librosa  # lazily: librosa (numba) takes seconds to load

        window = librosa.filters.get_window(cfg.window, cfg.win_length, fftbins=True)
        window = librosa.util.pad_center(window, size=cfg.n_fft).astype(np.float64)
        n = np.arange(cfg.n_fft)[:, None]
        k = np.arange(cfg.n_fft // 2 + 1)[None, :]
        angle = 2.0 * np.pi * n * k / cfg.n_fft
        # the same keyword arguments melspectrogram hands to filters.mel
        mel = librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels,
                                  fmin=cfg.fmin, fmax=cfg.fmax)
        return cls(
            config=cfg,
            dft_real=(window[:, None] * np.cos(angle)).astype(np.float32),
            dft_imag=(window[:, None] * -np.sin(angle)).astype(np.float32),
            mel=np.ascontiguousarray(mel.T, dtype=np.float32),
        )


def frame_lengths(sample_lengths, cfg: FeatureConfig):
    """Frames of centred framing: ``1 + (n + 2 * (n_fft // 2) - n_fft) // hop``
    (``1 + n // hop`` for an even ``n_fft``). Works on ints, numpy and TF tensors."""
    pad = cfg.n_fft // 2
    return (sample_lengths + 2 * pad - cfg.n_fft) // cfg.hop_length + 1


def normalize_frames(feats, mode: str, axis: int, frame_mask=None, frame_count=None):
    """``FeatureConfig.normalize`` in TF ops, as ``asr.features.logmel.normalize``
    does in numpy: for ``"utterance"``, per mel bin, subtract the mean over the
    frames (``axis``) and divide by their standard deviation (+``NORM_EPSILON``);
    ``"none"`` returns ``feats`` as they are.

    Args:
        feats: ``[T, F]`` (axis 0) or ``[B, T, F]`` (axis 1).
        mode: ``FeatureConfig.normalize``.
        axis: the frame axis.
        frame_mask: ``[B, T, 1]`` 1.0 on real frames, 0.0 on padding, with
            ``frame_count`` ``[B, 1, 1]`` real frames; None when every frame is real.
    """
    import tensorflow as tf  # lazily: `import asr` and the TFLite path never load TensorFlow

    if mode == "none":  # the config refuses any mode but these two
        return feats
    if frame_mask is None:
        mean = tf.reduce_mean(feats, axis=axis, keepdims=True)
        centred = feats - mean
        std = tf.sqrt(tf.reduce_mean(centred * centred, axis=axis, keepdims=True))
        return centred / (std + NORM_EPSILON)
    mean = tf.reduce_sum(feats * frame_mask, axis=axis, keepdims=True) / frame_count
    centred = (feats - mean) * frame_mask
    std = tf.sqrt(tf.reduce_sum(centred * centred, axis=axis, keepdims=True) / frame_count)
    return centred / (std + NORM_EPSILON)


def log_mel_graph(waveforms, front_end: FrontEnd, lengths=None):
    """Log-mel features of a batch of zero-padded waveforms, in TF ops.

    Args:
        waveforms: ``[B, N]`` float32 samples at ``front_end.config.sample_rate``.
        front_end: the librosa constants.
        lengths: ``[B]`` int32 true sample counts; None when every row is one
            whole utterance (the TFLite graph: batch 1, no padding).

    Returns:
        ``(features [B, T, F] float32, frames [B] int32)``. Each utterance is
        normalised over its own true frames; frames past its end are zero.
    """
    import tensorflow as tf  # lazily: `import asr` and the TFLite path never load TensorFlow

    cfg = front_end.config
    pad = cfg.n_fft // 2
    if lengths is not None:
        lengths = tf.cast(lengths, tf.int32)
        # samples past the end are zeroed, so padding reads as librosa's constant padding
        sample_mask = tf.sequence_mask(lengths, tf.shape(waveforms)[1], dtype=waveforms.dtype)
        waveforms = waveforms * sample_mask
    padded = tf.pad(waveforms, [[0, 0], [pad, pad]])
    frames = tf.signal.frame(padded, cfg.n_fft, cfg.hop_length)  # [B, T, n_fft]
    real = tf.matmul(frames, front_end.dft_real)
    imag = tf.matmul(frames, front_end.dft_imag)
    power = real * real + imag * imag  # [B, T, K]
    feats = tf.math.log(tf.matmul(power, front_end.mel) + cfg.log_floor)  # [B, T, F]
    if lengths is None:
        n_frames = tf.fill(tf.shape(feats)[:1], tf.shape(feats)[1])
        return normalize_frames(feats, cfg.normalize, axis=1), n_frames
    n_frames = frame_lengths(lengths, cfg)
    mask = tf.sequence_mask(n_frames, tf.shape(feats)[1], dtype=feats.dtype)[:, :, None]  # [B, T, 1]
    count = tf.cast(n_frames, feats.dtype)[:, None, None]
    feats = normalize_frames(feats, cfg.normalize, axis=1, frame_mask=mask, frame_count=count)
    return feats * mask, n_frames

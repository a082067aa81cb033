"""The Keras acoustic backend: a trained ``CTCModel`` that turns audio into
per-frame scores. A ``Recognizer`` composes a backend with a decoder.

Every backend (this one and ``asr.inference.lite.LiteBackend``) offers:

* ``tokenizer``, ``features`` (``FeatureConfig``), ``time_reduction`` and
  ``frame_seconds`` (seconds of audio per output frame);
* ``prepare(samples [n]) → input``: what the backend runs on for one utterance
  (log-mel features ``[T, F]`` here, the samples themselves for TFLite);
* ``split_inputs(split, read)``: the inputs of a loaded ``Split``'s utterances
  (here its features, already computed from the cache), and ``reads_split_features``,
  whether those come from the split (evaluation's clock counts them) or are read again;
* ``forward(inputs, batch_size, desc) → [scores [T'_i, V]]``: logits or
  log-probabilities, which every decoder accepts (blank id 0).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from asr.config import FeatureConfig
from asr.core.progress import progress
from asr.data.batching import bucketed_batches, pad_batch
from asr.features.logmel import log_mel
from asr.text import Tokenizer


class KerasBackend:
    """A ``CTCModel`` on log-mel features ``[T, F]``, batched by length.

    Args:
        model: a ``CTCModel`` (``asr.model.ctc``).
    """

    def __init__(self, model):
        self.model = model
        self.tokenizer: Tokenizer = model.tokenizer
        self.features: FeatureConfig = model.features
        self.time_reduction: int = model.time_reduction
        self.frame_seconds: float = self.features.frame_seconds(self.time_reduction)
        self._forward = _traced_forward(model)

    reads_split_features = True  # its inputs are the split's cached log-mels
    runs_batches = True  # forward runs many inputs per pass (the server batches requests: asr.serving.batcher)

    def prepare(self, samples: np.ndarray) -> np.ndarray:
        """Checked samples ``[n]`` → normalised log-mel features ``[frames, n_mels]``."""
        return log_mel(samples, self.features)

    def split_inputs(self, split, read: Callable[[str], np.ndarray]) -> list[np.ndarray]:
        """A ``Split`` loaded with this model's features holds its inputs already (``read`` is unused)."""
        return list(split.features)

    def forward(self, inputs: Sequence[np.ndarray], batch_size: int = 32,
                desc: str | None = None) -> list[np.ndarray]:
        """Per-utterance logits ``[T'_i, V]`` for features ``[T_i, F]``, in length-bucketed
        batches (``desc``: the label of a progress bar over the batches; None: no bar)."""
        out: list = [None] * len(inputs)
        batches = bucketed_batches([f.shape[0] for f in inputs], batch_size)
        for batch in progress(batches, desc, unit="batch"):
            x, _ = pad_batch([inputs[i] for i in batch])
            pred = self._forward(x)
            logits, lengths = np.asarray(pred["logits"]), np.asarray(pred["lengths"])
            for row, i in enumerate(batch):
                out[i] = logits[row, : lengths[row]]
        return out


def _traced_forward(model):
    """One traced graph for every batch shape on TensorFlow; Keras's predict elsewhere."""
    import keras  # here, not at the top: a TFLite-only install runs the rest of inference without it

    if keras.backend.backend() != "tensorflow":
        return model.predict_on_batch
    import tensorflow as tf  # lazily: `import asr` and the TFLite path never load TensorFlow

    n_mels = model.features.n_mels
    signature = [{"features": tf.TensorSpec((None, None, n_mels), tf.float32),
                  "feature_lengths": tf.TensorSpec((None,), tf.int32)}]
    # No autograph (nothing to convert): it parses source with Python's ast module, which on
    # CPython 3.11 can fail (SystemError: AST constructor recursion depth mismatch, gh-106905)
    # while a tf.data thread parses .npy headers, as the next epoch's prefetch does when training
    # traces this at its first epoch's end.
    return tf.function(lambda x: model(x, training=False), input_signature=signature, autograph=False)

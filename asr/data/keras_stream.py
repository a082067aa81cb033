"""The training input pipeline on Keras's backends other than TensorFlow: an
``EpochPlan`` as a ``keras.utils.PyDataset``, which ``model.fit`` reads with
worker threads ahead of the model (``asr.data.batching.training_dataset``
chooses it). No TensorFlow is needed."""

from __future__ import annotations

import keras

from asr.data.batching import EpochPlan

WORKERS = 2  # threads reading and augmenting ahead of the model (numpy releases the GIL in its larger ops)
# JAX compiles the training step once per batch shape: frames and labels padded to a multiple of this
# come in a few dozen shapes instead of one per batch (the padding is masked: the loss is unchanged)
JAX_PAD_MULTIPLE = 32


class KerasBatches(keras.utils.PyDataset):
    """``plan``'s epochs as a ``PyDataset``: item ``k`` is batch ``k`` of the current
    epoch, as ``pad_batch``'s ``(x, y)`` (on JAX padded to ``JAX_PAD_MULTIPLE``); the epoch
    advances when Keras ends one.

    The batches of an epoch are fixed before Keras's workers start reading it
    (here, then in ``on_epoch_end``), so the threads never see a half-changed plan.
    """

    def __init__(self, plan: EpochPlan, workers: int = WORKERS, pad_multiple: int | None = None):
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=2 * workers)
        self.plan = plan
        self.pad_multiple = pad_multiple or (JAX_PAD_MULTIPLE if keras.backend.backend() == "jax" else 1)
        self.epoch = 0
        self._batches = plan.batches(0)

    @property
    def num_batches(self) -> int:
        return self.plan.steps

    def __len__(self) -> int:
        return self.plan.steps

    def cardinality(self) -> int:
        """Batches per epoch (the name ``tf.data`` gives it)."""
        return self.plan.steps

    def __getitem__(self, k: int):
        return self.plan.batch(self._batches[k], self.epoch, self.pad_multiple)

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._batches = self.plan.batches(self.epoch)

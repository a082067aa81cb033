"""The PyTorch side of the training rows: one pass of the PyTorch port
(``asr_bench.torch_port``) over given batches, trained as Keras trains the model."""

from __future__ import annotations

from collections.abc import Callable

from asr.data.batching import pad_batch
from asr_bench.rows import missing_dependency

KERAS_ADAM_EPSILON = 1e-7  # keras.optimizers.Adam's default (PyTorch's is 1e-8)


def torch_trainer(arch, cfg, split) -> Callable[[list[list[int]]], float] | str:
    """A function training the PyTorch port for one pass over the given batches
    (lists of ``split`` indices; returns the last loss), or the reason it cannot be made.

    The port starts from ``arch``'s weights; Adam with the recipe's peak learning
    rate (constant: the schedule costs nothing measurable) and Keras's epsilon;
    each weight's gradient clipped to ``cfg.train.clipnorm`` as Keras's ``clipnorm`` does.
    """
    missing = missing_dependency("torch")
    if missing:
        return missing
    # torch (the optional bench extra, and heavy): imported only once it is known to be there
    import torch

    from asr_bench.torch_port import TorchCTCModel, clip_each_gradient, ctc_loss

    model = TorchCTCModel.from_architecture(arch, cfg.model.dropout).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.learning_rate, eps=KERAS_ADAM_EPSILON)

    def train_pass(batches: list[list[int]]) -> float:
        loss = torch.zeros(())
        for batch in batches:
            x, y = pad_batch([split.features[i] for i in batch], [split.labels[i] for i in batch])
            optimizer.zero_grad(set_to_none=True)
            logits, lengths = model(torch.from_numpy(x["features"]), torch.from_numpy(x["feature_lengths"]).long())
            loss = ctc_loss(logits, lengths, torch.from_numpy(y["labels"]).long(),
                            torch.from_numpy(y["label_lengths"]).long())
            loss.backward()
            clip_each_gradient(model, cfg.train.clipnorm)
            optimizer.step()
        return float(loss.detach())

    return train_pass

"""The PyTorch rows, ``train.torch`` and ``rtf.torch``, each run in a spawned process that never
imports TensorFlow.

Why apart: the CUDA builds of torch that ``pip install 'asr[bench]'`` brings ship triton, whose
LLVM aborts a process that has loaded TensorFlow (both training rows used to fail with
``BrokenProcessPool``). The TensorFlow processes hand over what is needed, pickled: the
initial weights and the batch order (``TorchJob``), or the clip and Keras's log-probabilities.
"""

from __future__ import annotations

from asr_bench.measure import LOG_PROB_TOLERANCE, log_softmax, max_difference, timed_runs
from asr_bench.rows import FAILED, MEASURED, SKIPPED, make_row, missing_dependency
from asr_bench.runtimes import LOG_MEL_IN, RTF_UNIT, Clip, rtf_row
from asr_bench.torch_train import torch_trainer
from asr_bench.training import UNIT, Side, TorchJob


def train_torch_row(job: TorchJob | None, keras_error: str | None, threads: int) -> dict:
    """Row ``train.torch``: the port trained on ``job.passes`` (the first untimed), Keras's batches
    in Keras's order from Keras's initial weights; ``failed`` when there is no job."""
    if job is None:
        return make_row("train.torch", FAILED, threads, UNIT, reason=keras_error or "no Keras run to repeat")
    trainer = torch_trainer(job.arch, job.config, job.split)
    if isinstance(trainer, str):
        return make_row("train.torch", SKIPPED, threads, UNIT, reason=trainer)
    side, last_loss = Side(), None
    for repeat, batches in enumerate(job.passes):
        loss = side.attempt(lambda b=batches: trainer(b), job.split.audio_seconds, timed=repeat > 0)
        last_loss = loss if loss is not None else last_loss
    if side.error is not None:
        return make_row("train.torch", FAILED, threads, UNIT, reason=side.error)
    return make_row("train.torch", MEASURED, threads, UNIT, side.runs, **job.common, last_loss=last_loss,
                    note="same batches in the same order as Keras; Adam, constant peak learning rate, "
                         "per-weight gradient clipping; run after the Keras passes, in a process of its own")


def rtf_torch(arch, clip: Clip, repeats: int, threads: int = 1) -> dict:
    """Row ``rtf.torch``: the PyTorch port with ``arch``'s weights, eval mode, ``torch.inference_mode``,
    ``threads`` threads (1 in the table); its log-probabilities must match Keras's within
    ``LOG_PROB_TOLERANCE``."""
    missing = missing_dependency("torch")
    if missing:
        return make_row("rtf.torch", SKIPPED, 1, RTF_UNIT, reason=missing)
    # torch (the optional bench extra, heavy): imported once known to be there; torch_port imports it too
    import torch

    from asr_bench.torch_port import TorchCTCModel

    torch.set_num_threads(threads)
    model = TorchCTCModel.from_architecture(arch).eval()
    features = torch.from_numpy(clip.features[None])
    lengths = torch.tensor([clip.features.shape[0]])

    def run():
        with torch.inference_mode():
            return model(features, lengths)[0]

    times = timed_runs(run, repeats)
    log_probs = log_softmax(run()[0].numpy())
    diff = max_difference(log_probs, clip.reference)
    row = rtf_row("rtf.torch", times, clip, LOG_MEL_IN, log_probs, parity_tolerance=LOG_PROB_TOLERANCE,
                  parity_ok=diff <= LOG_PROB_TOLERANCE)
    if diff > LOG_PROB_TOLERANCE:
        row.update(status=FAILED, reason=f"the port differs from Keras by {diff:.3g} in log-probability "
                                         f"(tolerance {LOG_PROB_TOLERANCE:g})")
    return row

"""Running the benchmark (``run_bench``): each section in a fresh spawned process (TensorFlow
fixes its thread pools when it starts): Keras's training, then PyTorch's in a process that never
loads TensorFlow (triton, in CUDA builds of torch, aborts one that has), the one-thread rows, then
``rtf.torch`` likewise apart; then the GFLOP/s rows and the goals, written by ``asr_bench.report``."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import multiprocessing
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

from asr.config import load_config
from asr.core.errors import ASRError
from asr.core.quiet import quiet_stderr
from asr.inference.loading import resolve_model_path
from asr_bench.cpu import machine_info, used_peak
from asr_bench.flops import gflops_rows
from asr_bench.goals import evaluate_goals
from asr_bench.one_thread import OneThreadResult, one_thread_rows
from asr_bench.options import BenchOptions
from asr_bench.report import write_results
from asr_bench.rows import FAILED, ROWS, make_row, missing_dependency, reason_of
from asr_bench.torch_side import rtf_torch, train_torch_row
from asr_bench.training import training_rows

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
TENSORFLOW_SECTIONS = {"training": training_rows, "one_thread": one_thread_rows}
TORCH_SECTIONS = {"torch_training": train_torch_row, "torch_one_thread": rtf_torch}


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables inside the block (a spawned process inherits them), then restore them."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _section_process(section: str, threads: int, *args):
    """Entry of a spawned process: fix its framework's thread count, then run one section.
    A TensorFlow section never imports torch, and a torch section never imports TensorFlow."""
    if section in TENSORFLOW_SECTIONS:
        with quiet_stderr():  # TensorFlow's C++ start-up lines
            import tensorflow as tf  # heavy: imported in the spawned process only, never in the parent
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
        return TENSORFLOW_SECTIONS[section](*args, threads)
    if "tensorflow" in sys.modules:  # the clash this process exists to avoid: say so rather than abort
        raise ASRError(f"bench: the {section} process loaded TensorFlow before torch")
    if missing_dependency("torch") is None:
        import torch  # the optional bench extra (heavy): imported once known to be there

        torch.set_num_threads(threads)
        with contextlib.suppress(RuntimeError):  # allowed once, before any parallel work
            torch.set_num_interop_threads(threads)
    return TORCH_SECTIONS[section](*args, threads)


def run_section(section: str, threads: int, *args):
    """Run ``section`` of ``TENSORFLOW_SECTIONS`` or ``TORCH_SECTIONS`` on ``args`` and ``threads`` in a
    fresh spawned process whose frameworks use ``threads`` threads."""
    env = {key: str(threads) for key in THREAD_VARIABLES}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"))
    with _environment(env), ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_section_process, section, threads, *args).result()


def _failed_rows(prefixes: tuple[str, ...], threads: int, reason: str) -> list[dict]:
    """A ``failed`` row, with ``reason``, for every row id starting with one of ``prefixes``."""
    return [make_row(r, FAILED, threads, reason=reason) for r in ROWS if r.startswith(prefixes)]


def _training(opts: BenchOptions) -> list[dict]:
    """Rows ``train.keras`` and ``train.torch``, each framework in a process of its own."""
    job, keras_error = None, None
    try:
        keras_row, job = run_section("training", opts.threads, opts)
    except Exception as exc:  # noqa: BLE001  (a crashed section is recorded, the rest still runs)
        keras_error = f"training process: {reason_of(exc)}"
        keras_row = make_row("train.keras", FAILED, opts.threads, reason=keras_error)
    try:
        torch_row = run_section("torch_training", opts.threads, job, keras_error)
    except Exception as exc:  # noqa: BLE001
        torch_row = make_row("train.torch", FAILED, opts.threads, reason=f"PyTorch process: {reason_of(exc)}")
    return [keras_row, torch_row]


def _run_sections(opts: BenchOptions) -> tuple[list[dict], OneThreadResult | None]:
    """The training and one-thread rows, and the one-thread result (None when its process crashed)."""
    rows = _training(opts)
    one_thread = None
    try:
        one_thread = run_section("one_thread", 1, opts)
        rows += one_thread.rows
    except Exception as exc:  # noqa: BLE001
        rows += _failed_rows(("rtf.", "features."), 1, f"one-thread process: {reason_of(exc)}")
        return rows, None
    try:
        rows.append(run_section("torch_one_thread", 1, one_thread.arch, one_thread.clip, opts.repeats))
    except Exception as exc:  # noqa: BLE001
        rows.append(make_row("rtf.torch", FAILED, 1, reason=f"PyTorch process: {reason_of(exc)}"))
    return rows, one_thread


def run_bench(out_dir: str | os.PathLike = "benchmarks", **options) -> dict:
    """Run every benchmark row and write ``out_dir/results.json`` and ``out_dir/RESULTS.md``.

    Args:
        out_dir: where the two files go.
        **options: ``BenchOptions`` fields.

    Returns:
        The ``results.json`` contents: ``machine``, ``settings``, ``flops``,
        ``rows`` (every id of ``ROWS``, in order), ``goals``.
    """
    opts = BenchOptions(**options).resolved()
    load_config(opts.config, opts.overrides)  # a bad recipe fails here, in one line
    if resolve_model_path(opts.model).suffix != ".keras":
        raise ASRError(f"{opts.model}: the benchmark needs a trained .keras model")
    started = datetime.datetime.now(datetime.timezone.utc)
    load_start = os.getloadavg()
    machine = machine_info(opts.cpu_mhz)
    rows, one_thread = _run_sections(opts)
    flops = one_thread.flops if one_thread else None
    peak = used_peak(machine["peak"], one_thread.matmul_gflops if one_thread else None)
    rtf = {row["id"]: row for row in rows if row["section"] == "rtf"}
    rows += gflops_rows(rtf, flops, peak, one_thread.clip_seconds if one_thread else opts.clip_seconds)
    order = list(ROWS)
    rows.sort(key=lambda row: order.index(row["id"]))
    for row in rows:
        row["machine"] = machine["label"]
    results = {
        "format": 1,
        "written": started.isoformat(timespec="seconds"),
        "seconds": round((datetime.datetime.now(datetime.timezone.utc) - started).total_seconds(), 1),
        "load_average": {"start": load_start[0], "end": os.getloadavg()[0]},
        "settings": dataclasses.asdict(opts),
        "machine": machine,
        "flops": dataclasses.asdict(flops) if flops else None,
        "rows": rows,
        "goals": evaluate_goals(rows, peak),
    }
    write_results(results, out_dir)
    return results

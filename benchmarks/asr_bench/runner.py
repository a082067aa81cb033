"""Running the benchmark (``run_bench``): the training rows and the one-thread rows each in
a fresh spawned process (TensorFlow fixes its thread pools when it starts), then the
GFLOP/s rows and the goals from their results, written by ``asr_bench.report``."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import multiprocessing
import os
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
from asr_bench.training import training_rows

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
SECTION_FUNCTIONS = {"training": training_rows, "one_thread": one_thread_rows}


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


def _section_process(section: str, opts: BenchOptions, threads: int):
    """Entry of a spawned process: fix every framework's thread count, then run one section."""
    with quiet_stderr():  # TensorFlow's C++ start-up lines
        import tensorflow as tf  # heavy: imported in the spawned process only, never in the parent
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    if missing_dependency("torch") is None:
        import torch  # the optional bench extra (heavy): imported once known to be there

        torch.set_num_threads(threads)
        with contextlib.suppress(RuntimeError):  # allowed once, before any parallel work
            torch.set_num_interop_threads(threads)
    return SECTION_FUNCTIONS[section](opts, threads)


def run_section(section: str, opts: BenchOptions, threads: int):
    """Run ``training`` or ``one_thread`` in a fresh spawned process using ``threads`` threads."""
    env = {key: str(threads) for key in THREAD_VARIABLES}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"))
    with _environment(env), ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_section_process, section, opts, threads).result()


def _failed_rows(prefixes: tuple[str, ...], threads: int, reason: str) -> list[dict]:
    """A ``failed`` row, with ``reason``, for every row id starting with one of ``prefixes``."""
    return [make_row(r, FAILED, threads, reason=reason) for r in ROWS if r.startswith(prefixes)]


def _run_sections(opts: BenchOptions) -> tuple[list[dict], OneThreadResult | None]:
    """The training and one-thread rows, and the one-thread result (None when its process crashed)."""
    rows: list[dict] = []
    try:
        rows += run_section("training", opts, opts.threads)
    except Exception as exc:  # noqa: BLE001  (a crashed section is recorded, the rest still runs)
        rows += _failed_rows(("train.",), opts.threads, f"training process: {reason_of(exc)}")
    one_thread = None
    try:
        one_thread = run_section("one_thread", opts, 1)
        rows += one_thread.rows
    except Exception as exc:  # noqa: BLE001
        rows += _failed_rows(("rtf.", "features."), 1, f"one-thread process: {reason_of(exc)}")
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

"""The machine: its CPU, cores and library versions, the single-core float32 peak
computed from them, and a measured one-thread matmul beside that peak."""

from __future__ import annotations

import dataclasses
import os
import platform
import subprocess
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from asr_bench.measure import timed_runs

FMA_UNITS = 2  # per core: see single_core_peak
MATMUL_SIZE = 1024  # the float32 matmul that checks the peak: [n, n] @ [n, n]
VERSIONED = ("tensorflow", "keras", "tf_keras", "ai-edge-litert", "torch", "onnxruntime", "tf2onnx", "onnx",
             "librosa", "numpy")


@dataclass(frozen=True)
class CpuInfo:
    """The first processor of ``/proc/cpuinfo``.

    Attributes:
        model_name: ``model name`` (else ``platform.processor()``, else ``"unknown CPU"``).
        vendor: ``vendor_id``; empty when unknown.
        family: ``cpu family``; None when unknown.
        model: ``model`` (the model number); None when unknown.
        mhz: ``cpu MHz``; None when unknown.
        flags: ``flags``, sorted.
    """

    model_name: str
    vendor: str
    family: int | None
    model: int | None
    mhz: float | None
    flags: tuple[str, ...]


@dataclass(frozen=True)
class Peak:
    """The single-core float32 peak and how it was computed (``single_core_peak``).

    Attributes:
        gflops: peak GFLOP/s; None without a clock.
        mhz: the clock used; None when unknown.
        clock_source: where the clock came from.
        vector_bits: the widest float vector the flags allow (512, 256 or 128).
        datapath_bits: the width the core executes in one pass.
        fma_units: FMA units per core (assumed).
        flops_per_cycle: float32 FLOPs per cycle.
        how: the computation, in words.
    """

    gflops: float | None
    mhz: float | None
    clock_source: str
    vector_bits: int
    datapath_bits: int
    fma_units: int
    flops_per_cycle: int
    how: str


def read_cpuinfo(text: str | None = None) -> CpuInfo:
    """The first processor of ``/proc/cpuinfo`` (or ``text``); empty fields where unknown."""
    if text is None:
        try:
            text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
    fields: dict[str, str] = {}
    for line in text.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())

    def number(key: str, kind=int):
        try:
            return kind(fields[key])
        except (KeyError, ValueError):
            return None

    return CpuInfo(model_name=fields.get("model name") or platform.processor() or "unknown CPU",
                   vendor=fields.get("vendor_id", ""), family=number("cpu family"), model=number("model"),
                   mhz=number("cpu MHz", float), flags=tuple(sorted(fields.get("flags", "").split())))


def lscpu_max_mhz() -> float | None:
    """``CPU max MHz`` from ``lscpu``, or None when it is not reported (virtual machines often do not)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "CPU max MHz":
            try:
                return float(value)
            except ValueError:
                return None
    return None


def usable_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def single_core_peak(cpu: CpuInfo, max_mhz: float | None = None, fma_units: int = FMA_UNITS,
                     given_mhz: float | None = None) -> Peak:
    """Peak float32 FLOP/s of one core: clock × FMA units × float32 lanes × 2.

    The vector width comes from the flags (``avx512f``: 512 bits; ``avx2`` or
    ``avx``: 256; else 128). AMD cores up to family 25 (Zen 4) execute a 512-bit
    instruction on 256-bit units in two passes, so their width counts as 256.
    ``fma_units`` is an assumption, not read from the machine: 2 per core holds
    for Intel server cores since Skylake-SP and AMD Zen 2 to Zen 5 (some Intel
    client and low-end server cores have one 512-bit unit). Without the ``fma``
    flag the count is the same, from separate add and multiply units. The clock
    is ``given_mhz`` when given, else ``lscpu``'s ``CPU max MHz`` when reported
    (``max_mhz``), else ``/proc/cpuinfo``'s ``cpu MHz`` (under a hypervisor
    usually the nominal clock: a higher turbo clock would raise the peak).

    Args:
        cpu: from ``read_cpuinfo``.
        max_mhz: from ``lscpu_max_mhz``.
        fma_units: FMA units per core.
        given_mhz: a clock the user states (``--cpu-mhz``).
    """
    flags = set(cpu.flags)
    vector_bits = 512 if "avx512f" in flags else 256 if flags & {"avx2", "avx"} else 128
    datapath_bits = vector_bits
    if vector_bits == 512 and cpu.vendor == "AuthenticAMD" and (cpu.family or 0) <= 25:
        datapath_bits = 256
    flops_per_cycle = fma_units * (datapath_bits // 32) * 2
    if given_mhz:
        mhz, source = given_mhz, "given with --cpu-mhz"
    elif max_mhz:
        mhz, source = max_mhz, "lscpu 'CPU max MHz'"
    else:
        mhz, source = cpu.mhz, "/proc/cpuinfo 'cpu MHz'"
    gflops = mhz * 1e-3 * flops_per_cycle if mhz else None
    how = (f"{mhz or 0:.0f} MHz ({source}) × {fma_units} FMA units (assumed) × {datapath_bits // 32} float32 "
           f"lanes ({vector_bits}-bit vectors" + (", run as two 256-bit halves on this AMD family"
                                                   if datapath_bits != vector_bits else "")
           + ") × 2 FLOPs per FMA")
    return Peak(gflops, mhz, source, vector_bits, datapath_bits, fma_units, flops_per_cycle, how)


def machine_info(cpu_mhz: float | None = None) -> dict:
    """The machine as ``results.json`` records it: ``cpu``, ``vendor``, ``family``, ``model``,
    ``cores``, ``usable_cores``, ``vector_flags``, ``label``, ``peak`` (a ``Peak`` as a dict, to which
    ``used_peak`` adds two keys; ``cpu_mhz``: see ``single_core_peak``), ``python`` and ``versions``."""
    cpu = read_cpuinfo()
    versions = {}
    for package in VERSIONED:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    cores = os.cpu_count() or 1
    return {"cpu": cpu.model_name, "vendor": cpu.vendor, "family": cpu.family, "model": cpu.model,
            "cores": cores, "usable_cores": usable_cores(),
            "vector_flags": [f for f in ("avx512f", "avx2", "avx", "fma") if f in cpu.flags],
            "label": f"{cpu.model_name}, {cores} cores",
            "peak": dataclasses.asdict(single_core_peak(cpu, lscpu_max_mhz(), given_mhz=cpu_mhz)),
            "python": platform.python_version(), "versions": versions}


def matmul_gflops(repeats: int, size: int = MATMUL_SIZE) -> float:
    """GFLOP/s of the best of ``repeats`` float32 ``[size, size] @ [size, size]`` numpy
    matmuls (its BLAS, on the threads of this process): an attainable figure beside the computed peak."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size)).astype(np.float32) for _ in range(2))
    return 2 * size ** 3 / min(timed_runs(lambda: a @ b, repeats)) / 1e9


def used_peak(peak: dict, matmul: float | None) -> float | None:
    """The peak the GFLOP/s rows and the goal divide by: the larger of the computed
    ``peak["gflops"]`` and the measured one-thread ``matmul`` GFLOP/s (a core that
    runs a matmul faster than the computed peak runs faster than the clock read).
    Both are recorded in ``peak`` (the machine's ``peak`` dict: ``matmul_gflops_one_thread``,
    ``used_gflops``)."""
    known = [value for value in (peak.get("gflops"), matmul) if value]
    peak["matmul_gflops_one_thread"] = matmul
    peak["used_gflops"] = max(known) if known else None
    return peak["used_gflops"]

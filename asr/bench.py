"""Benchmarks (``asr bench``): training throughput against PyTorch, batch-1
single-thread speed of every runtime, achieved GFLOP/s against the CPU's
single-core peak, and feature extraction speed. Writes ``results.json`` and a
Markdown table ``RESULTS.md``.

Rows (ids in ``ROWS``):

* ``train.*`` — training throughput, audio seconds per wall second, of the
  recipe's architecture (``--config``) on this CPU: Keras's ``model.fit`` over
  ``asr.data.training_dataset`` (the training path, augmentation off) against the
  same architecture in PyTorch (``asr.torch_port``: same convs, ``nn.LSTM``
  bidirectional, CTC loss, Adam, per-weight gradient clipping), starting from
  the same initial weights, on the same batches in the same order, with the same
  thread count, alternating one pass of each per repeat. Batches are synthetic
  (random log-mels and labels of the recipe's shapes) unless ``--manifest``
  gives real utterances.
* ``rtf.*`` — batch 1, one thread, one clip (10 s by default): real-time factor
  (wall seconds per audio second) of the Keras model's traced call, the
  SavedModel, our TFLite float32 and int8 files, the file of Keras 3's own
  ``model.export(format="litert")``, ONNX Runtime on a tf2onnx conversion of the
  TFLite graph, and the PyTorch port; each with its max |Δ log-probability|
  against Keras.
* ``gflops.*`` — FLOPs of the run (``count_flops``) per second of each float
  ``rtf`` row, against ``single_core_peak``.
* ``features.*`` — log-mel extraction, × real time, one thread: librosa
  (``asr.features.log_mel``) and the in-graph front end (``asr.graph_features``).

Each row is ``measured`` (median and spread over the repeats), ``skipped`` (an
optional dependency of the ``bench`` extra is missing) or ``failed`` (the tool
failed; the reason is its one-line error). The training rows and the one-thread
rows run in two spawned processes, because TensorFlow fixes its thread pools
when it starts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import importlib
import io
import json
import logging
import os
import platform
import statistics
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from asr.config import FeatureConfig
from asr.errors import ASRError, first_line

RESULTS_JSON = "results.json"
RESULTS_MD = "RESULTS.md"
MEASURED, SKIPPED, FAILED = "measured", "skipped", "failed"
MET, MISSED, UNKNOWN = "met", "missed", "unknown"

ROWS = {
    "train.keras": "Keras 3 / TensorFlow `model.fit` (the training path)",
    "train.torch": "PyTorch: the same architecture (`asr.torch_port`)",
    "rtf.keras": "Keras model, traced call (`Recognizer.logits`)",
    "rtf.saved_model": "SavedModel `transcribe` signature",
    "rtf.tflite_float32": "our TFLite float32 (ai-edge-litert)",
    "rtf.tflite_int8": "our TFLite int8 (ai-edge-litert)",
    "rtf.keras_litert": "Keras 3 `model.export(format=\"litert\")`",
    "rtf.onnxruntime": "ONNX Runtime on a tf2onnx conversion",
    "rtf.torch": "PyTorch port, eval mode",
    "gflops.keras": "Keras model, traced call",
    "gflops.saved_model": "SavedModel `transcribe`",
    "gflops.tflite_float32": "our TFLite float32",
    "gflops.onnxruntime": "ONNX Runtime",
    "gflops.torch": "PyTorch port",
    "features.librosa": "librosa (`asr.features.log_mel`)",
    "features.graph": "in-graph TF ops (`asr.graph_features`)",
}
SECTIONS = {
    "train": "a. Training throughput",
    "rtf": "b. Batch 1, one thread",
    "gflops": "c. Achieved GFLOP/s (batch 1, one thread)",
    "features": "d. Feature extraction (one thread)",
}
# the bench extra (pyproject.toml): a row needing one that is missing is skipped
BENCH_EXTRA = {"torch": "torch", "onnxruntime": "onnxruntime", "tf2onnx": "tf2onnx"}

QUICK = {"repeats": 1, "clip_seconds": 2.0, "train_batches": 2, "batch_size": 4}
FMA_UNITS = 2  # per core: see single_core_peak
LSTM_ELEMENTWISE = 17  # FLOPs per unit per step per direction besides the matmuls: see count_flops
LOG_PROB_TOLERANCE = 1e-3  # max |Δ log-probability| of a float port against Keras
KERAS_ADAM_EPSILON = 1e-7  # keras.optimizers.Adam's default (PyTorch's is 1e-8)
ONNX_OPSET = 17
CHARACTERS_PER_SECOND = 13.0  # synthetic transcript lengths (the commands corpus: about 13)
SYNTHETIC_DURATIONS = (0.8, 3.4)  # seconds, uniform: mean 2.1 s, as the commands training set
MATMUL_SIZE = 1024  # the float32 matmul that checks the peak: [n, n] @ [n, n]
LOG_MEL_IN = "log-mels in (librosa, computed outside the timing)"
PCM_IN = "PCM in (front end in the graph)"


@dataclass
class BenchOptions:
    """What ``run_bench`` measures.

    Attributes:
        model: the trained ``.keras`` model (or a folder holding one) for the
            batch-1 rows; None for the shipped model.
        config: the recipe whose architecture and batch size the training rows use.
        overrides: ``section.key=value`` strings applied to it.
        repeats: timed runs per row (after one warm-up run).
        clip_seconds: length of the batch-1 clip (synthetic speech-like audio).
        train_batches: batches per training pass.
        batch_size: utterances per batch (default: the recipe's).
        threads: training threads for both frameworks (default: every usable core).
        manifest: train on these utterances (features through the cache) instead
            of synthetic batches.
        calibration_manifest: audio calibrating the int8 TFLite file (default:
            synthetic clips; the int8 file's speed is what is measured).
        quick: 1 repeat, a 2 s clip, 2 training batches of 4 (tests, CI).
        cpu_mhz: the clock for the single-core peak (default: ``lscpu``'s max, else ``/proc/cpuinfo``).
        note: a line written under the title of ``RESULTS.md`` (e.g. the machine's state).
    """

    model: str | None = None
    config: str = "configs/commands.yaml"
    overrides: list[str] = field(default_factory=list)
    repeats: int = 7
    clip_seconds: float = 10.0
    train_batches: int = 8
    batch_size: int | None = None
    threads: int | None = None
    manifest: str | None = None
    calibration_manifest: str | None = None
    quick: bool = False
    cpu_mhz: float | None = None
    note: str = ""

    def resolved(self) -> BenchOptions:
        """The options with ``quick`` applied and the thread count filled in; refuses bad values."""
        opts = dataclasses.replace(self, **QUICK) if self.quick else dataclasses.replace(self)
        if opts.threads is None:
            opts.threads = usable_cores()
        for name in ("repeats", "train_batches", "threads"):
            if getattr(opts, name) < 1:
                raise ASRError(f"bench: {name} must be at least 1, got {getattr(opts, name)}")
        if opts.batch_size is not None and opts.batch_size < 1:
            raise ASRError(f"bench: batch_size must be at least 1, got {opts.batch_size}")
        for name in ("clip_seconds", "cpu_mhz"):
            value = getattr(opts, name)
            if value is not None and not value > 0:
                raise ASRError(f"bench: {name} must be positive, got {value}")
        return opts


# ----------------------------------------------------------------------------
# rows and statistics
# ----------------------------------------------------------------------------

def spread(values: Sequence[float]) -> dict:
    """Median, min, max and quartiles (inclusive method) of repeated measurements."""
    values = sorted(float(v) for v in values)
    if not values:
        raise ValueError("no measurements")
    q1, q3 = (statistics.quantiles(values, n=4, method="inclusive")[::2] if len(values) > 1
              else (values[0], values[0]))
    return {"median": statistics.median(values), "min": values[0], "max": values[-1], "q1": q1, "q3": q3,
            "n": len(values)}


def make_row(row_id: str, status: str, threads: int, unit: str = "", runs: Sequence[float] = (),
             reason: str = "", **extra) -> dict:
    """One result row: ``measured`` with ``runs`` (their ``spread`` added), or
    ``skipped``/``failed`` with a one-line ``reason``. ``extra`` keys are kept."""
    if row_id not in ROWS:
        raise ValueError(f"unknown bench row {row_id!r}")
    row = {"id": row_id, "section": row_id.split(".")[0], "title": ROWS[row_id], "status": status,
           "threads": threads, "unit": unit}
    if status == MEASURED:
        row.update(spread(runs), runs=[float(v) for v in runs])
    else:
        row["reason"] = reason
    row.update(extra)
    return row


def missing_dependency(*modules: str) -> str | None:
    """``"<module> not installed"`` for the first of ``modules`` that cannot be imported, else None."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            return f"{BENCH_EXTRA.get(name, name)} not installed (pip install 'asr[bench]')"
    return None


def reason_of(exc: BaseException, limit: int = 240) -> str:
    """An exception as one short line: its type and the first line of its message."""
    text = " ".join(first_line(exc).split())
    return f"{type(exc).__name__}: {text}"[:limit]


def timed_runs(run: Callable[[], object], repeats: int) -> list[float]:
    """Wall seconds of ``repeats`` calls of ``run`` after one untimed warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Log-probabilities over the last axis."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return (x - np.log(np.exp(x).sum(axis=-1, keepdims=True))).astype(np.float32)


def max_difference(log_probs: np.ndarray, reference: np.ndarray) -> float:
    """Max |Δ| between two ``[T', V]`` log-probability arrays; an ``ASRError`` when their shapes differ."""
    log_probs = np.asarray(log_probs)
    if log_probs.shape != reference.shape:
        raise ASRError(f"output shape {log_probs.shape} differs from Keras's {reference.shape}")
    return float(np.abs(log_probs - reference).max())


# ----------------------------------------------------------------------------
# the machine: CPU, peak, FLOPs
# ----------------------------------------------------------------------------

def read_cpuinfo(text: str | None = None) -> dict:
    """The first processor of ``/proc/cpuinfo`` (or ``text``): model name, vendor,
    family, model number, clock (MHz) and flags; empty fields where unknown."""
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

    return {"model_name": fields.get("model name") or platform.processor() or "unknown CPU",
            "vendor": fields.get("vendor_id", ""), "family": number("cpu family"), "model": number("model"),
            "mhz": number("cpu MHz", float), "flags": sorted(fields.get("flags", "").split())}


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


def single_core_peak(cpu: dict, max_mhz: float | None = None, fma_units: int = FMA_UNITS,
                     given_mhz: float | None = None) -> dict:
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

    Returns:
        ``{"gflops", "mhz", "clock_source", "vector_bits", "datapath_bits",
        "fma_units", "flops_per_cycle", "how"}``; ``gflops`` None without a clock.
    """
    flags = set(cpu.get("flags", ()))
    vector_bits = 512 if "avx512f" in flags else 256 if flags & {"avx2", "avx"} else 128
    datapath_bits = vector_bits
    if vector_bits == 512 and cpu.get("vendor") == "AuthenticAMD" and (cpu.get("family") or 0) <= 25:
        datapath_bits = 256
    flops_per_cycle = fma_units * (datapath_bits // 32) * 2
    if given_mhz:
        mhz, source = given_mhz, "given with --cpu-mhz"
    elif max_mhz:
        mhz, source = max_mhz, "lscpu 'CPU max MHz'"
    else:
        mhz, source = cpu.get("mhz"), "/proc/cpuinfo 'cpu MHz'"
    gflops = mhz * 1e-3 * flops_per_cycle if mhz else None
    how = (f"{mhz or 0:.0f} MHz ({source}) × {fma_units} FMA units (assumed) × {datapath_bits // 32} float32 "
           f"lanes ({vector_bits}-bit vectors" + (", run as two 256-bit halves on this AMD family"
                                                   if datapath_bits != vector_bits else "")
           + ") × 2 FLOPs per FMA")
    return {"gflops": gflops, "mhz": mhz, "clock_source": source, "vector_bits": vector_bits,
            "datapath_bits": datapath_bits, "fma_units": fma_units, "flops_per_cycle": flops_per_cycle, "how": how}


def machine_info(cpu_mhz: float | None = None) -> dict:
    """The CPU, its cores, the single-core peak (``cpu_mhz``: see ``single_core_peak``) and the library versions."""
    from importlib.metadata import PackageNotFoundError, version

    cpu = read_cpuinfo()
    versions = {}
    for package in ("tensorflow", "keras", "tf_keras", "ai-edge-litert", "torch", "onnxruntime", "tf2onnx",
                    "onnx", "librosa", "numpy"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    cores = os.cpu_count() or 1
    return {"cpu": cpu["model_name"], "vendor": cpu["vendor"], "family": cpu["family"], "model": cpu["model"],
            "cores": cores, "usable_cores": usable_cores(),
            "vector_flags": [f for f in ("avx512f", "avx2", "avx", "fma") if f in cpu["flags"]],
            "label": f"{cpu['model_name']}, {cores} cores",
            "peak": single_core_peak(cpu, lscpu_max_mhz(), given_mhz=cpu_mhz),
            "python": platform.python_version(), "versions": versions}


def count_flops(arch, features: FeatureConfig, seconds: float) -> dict:
    """Floating-point operations of one clip, from the layer shapes.

    Model (``asr.export.Architecture``: the weight shapes give each layer's
    input and output sizes), per output frame of the layer:

    * conv: ``2·k·C_in·C_out`` (padding frames included, bias and activation not counted);
    * LSTM, per step and direction: ``2·4·(in + units)·units`` for the two
      matmuls, plus ``LSTM_ELEMENTWISE·units`` = 17: 4 bias adds, 4 adds of the
      input and recurrent parts, 5 activations (3 sigmoid, 2 tanh; one FLOP
      each), 3 for ``c = f·c + i·g`` and 1 for ``h = o·tanh(c)``;
    * dense head: ``2·in·V``.

    Front end (``asr.graph_features``), per feature frame: the DFT as two
    matmuls ``2·2·n_fft·K``, power ``3·K``, mel ``2·K·F``, log ``F`` (K = n_fft // 2 + 1);
    the normalisation is not counted.

    Returns:
        ``{"seconds", "frames", "encoder_frames", "layers": {name: FLOPs},
        "model", "front_end", "model_per_audio_second", "front_end_per_audio_second"}``.
    """
    from asr.graph_features import frame_lengths

    samples = int(round(seconds * features.sample_rate))
    frames = int(frame_lengths(samples, features))
    layers: dict[str, int] = {}
    steps = frames
    for i, conv in enumerate(arch.convs):
        k, c_in, c_out = conv.weights[0].shape
        steps = (steps + 2 * (k // 2) - k) // conv.strides + 1
        layers[f"conv{i}"] = 2 * k * c_in * c_out * steps
    for i, spec in enumerate(arch.lstms):
        inputs, units = spec.forward[0].shape[0], spec.units
        per_step = 2 * 4 * (inputs + units) * units + LSTM_ELEMENTWISE * units
        layers[f"bilstm{i}"] = 2 * steps * per_step
    head_in, vocab = arch.head[0].shape
    layers["ctc_head"] = 2 * head_in * vocab * steps
    bins, mels = features.n_fft // 2 + 1, features.n_mels
    front_end = frames * (4 * features.n_fft * bins + 3 * bins + 2 * bins * mels + mels)
    model = sum(layers.values())
    return {"seconds": seconds, "frames": frames, "encoder_frames": steps, "layers": layers, "model": model,
            "front_end": front_end, "model_per_audio_second": model / seconds,
            "front_end_per_audio_second": front_end / seconds}


# ----------------------------------------------------------------------------
# inputs: synthetic speech-like audio and training batches
# ----------------------------------------------------------------------------

def speechlike(seconds: float, sample_rate: int, seed: int = 0) -> np.ndarray:
    """A voiced, amplitude-modulated harmonic signal with a little noise: float32 ``[n]`` in [-0.5, 0.5]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    f0 = rng.uniform(100, 180) + 40 * np.sin(2 * np.pi * rng.uniform(1, 3) * t)
    phase = 2 * np.pi * np.cumsum(f0) / sample_rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(2, 5) * t + rng.uniform(0, 6)))
    x = voiced * envelope + 0.05 * rng.normal(size=t.size)
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def synthetic_split(count: int, features: FeatureConfig, vocab_size: int, time_reduction: int, seed: int = 0):
    """``count`` utterances of random per-utterance-normalised log-mels and random labels
    (``asr.data.Split``): durations uniform in ``SYNTHETIC_DURATIONS``, about
    ``CHARACTERS_PER_SECOND`` labels a second, never more than CTC can emit."""
    from asr.data import Split, Utterance, min_frames_for
    from asr.graph_features import frame_lengths

    rng = np.random.default_rng(seed)
    split = Split([], [], [], [])
    for i in range(count):
        duration = float(rng.uniform(*SYNTHETIC_DURATIONS))
        frames = int(frame_lengths(int(duration * features.sample_rate), features))
        budget = -(-frames // time_reduction)
        labels = rng.integers(1, vocab_size, size=max(1, int(duration * CHARACTERS_PER_SECOND))).tolist()
        while len(labels) > 1 and min_frames_for(labels) > budget:
            labels.pop()
        split.utterances.append(Utterance(f"<synthetic {i}>", duration, ""))
        split.features.append(rng.standard_normal((frames, features.n_mels)).astype(np.float32))
        split.labels.append(labels)
    return split


def _training_split(cfg, tokenizer, count: int, manifest: str | None):
    """``(split, description)``: ``count`` utterances of ``manifest`` (a seeded draw), or synthetic ones."""
    if manifest is None:
        split = synthetic_split(count, cfg.features, tokenizer.vocab_size, cfg.model.time_reduction, cfg.train.seed)
        low, high = SYNTHETIC_DURATIONS
        return split, (f"synthetic: random log-mels and labels, durations uniform in [{low}, {high}] s, "
                       f"{CHARACTERS_PER_SECOND:g} labels/s")
    from asr.data import Split, load_split

    full = load_split(manifest, cfg.data, cfg.features, tokenizer, cfg.model.time_reduction)
    if not len(full):
        raise ASRError(f"{manifest}: no usable utterances")
    chosen = np.random.default_rng(cfg.train.seed).permutation(len(full))[:count]
    split = Split([full.utterances[i] for i in chosen], [full.features[i] for i in chosen],
                  [full.labels[i] for i in chosen], [])
    return split, f"real: {len(split)} utterances of {manifest}"


# ----------------------------------------------------------------------------
# a. training throughput
# ----------------------------------------------------------------------------

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
    import torch

    from asr.data import pad_batch
    from asr.torch_port import TorchCTCModel, clip_each_gradient, ctc_loss

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


def training_rows(opts: BenchOptions, threads: int) -> list[dict]:
    """Rows ``train.keras`` and ``train.torch`` (run in a process whose frameworks use ``threads``)."""
    import keras

    from asr.config import load_config
    from asr.data import bucketed_batches, cached_split, training_dataset
    from asr.export import read_architecture
    from asr.model import build_model
    from asr.text import Tokenizer
    from asr.training import _optimizer

    cfg = load_config(opts.config, opts.overrides)
    batch_size = opts.batch_size or cfg.train.batch_size
    tokenizer = Tokenizer(repeat_token=cfg.tokenizer.repeat_token)
    split, data = _training_split(cfg, tokenizer, opts.train_batches * batch_size, opts.manifest)
    keras.utils.set_random_seed(cfg.train.seed)
    model = build_model(cfg.model, cfg.features, tokenizer)
    n_batches = -(-len(split) // batch_size)
    model.compile(optimizer=_optimizer(cfg, n_batches))
    arch = read_architecture(model)  # the initial weights: the port starts from the same ones
    record: list[list[int]] = []  # the dataset writes each pass's batches here
    folder = tempfile.mkdtemp(prefix="asr-bench-cache-")  # training streams from a cache, as asr train does
    # the split's features are final already: read them back unchanged, so both frameworks see the same numbers
    dataset = training_dataset(cached_split(split, folder), batch_size, cfg.train.seed,
                               dataclasses.replace(cfg.features, normalize="none"), record=record,
                               length_jitter=cfg.train.length_jitter)
    trainer = torch_trainer(arch, cfg, split)
    common = {"batches": n_batches, "batch_size": batch_size, "audio_seconds_per_pass": split.audio_seconds,
              "data": data, "architecture": dataclasses.asdict(cfg.model), "parameters": int(model.count_params())}

    def keras_pass() -> list[list[int]]:
        model.fit(dataset, epochs=1, verbose=0, shuffle=False)
        return [list(batch) for batch in record]

    fixed_order = bucketed_batches([f.shape[0] for f in split.features], batch_size)
    keras_runs: list[float] = []
    torch_runs: list[float] = []
    keras_error = None
    torch_error = trainer if isinstance(trainer, str) else None
    losses = {}
    for repeat in range(opts.repeats + 1):  # pass 0 is the warm-up (Keras traces its train step)
        batches = fixed_order
        if keras_error is None:
            try:
                start = time.perf_counter()
                batches = keras_pass()
                seconds = time.perf_counter() - start
                if repeat:
                    keras_runs.append(split.audio_seconds / seconds)
            except Exception as exc:  # noqa: BLE001  (any failure of the tool is recorded)
                keras_error = reason_of(exc)
        if torch_error is None:
            try:
                start = time.perf_counter()
                losses["torch"] = trainer(batches)
                seconds = time.perf_counter() - start
                if repeat:
                    torch_runs.append(split.audio_seconds / seconds)
            except Exception as exc:  # noqa: BLE001
                torch_error = reason_of(exc)
    unit = "audio s / wall s"
    keras_row = (make_row("train.keras", MEASURED, threads, unit, keras_runs, **common,
                          note="Adam with the recipe's warm-up/cosine schedule and clipnorm; no augmentation")
                 if keras_error is None else make_row("train.keras", FAILED, threads, unit, reason=keras_error))
    if isinstance(trainer, str):
        torch_row = make_row("train.torch", SKIPPED, threads, unit, reason=trainer)
    elif torch_error is not None:
        torch_row = make_row("train.torch", FAILED, threads, unit, reason=torch_error)
    else:
        torch_row = make_row("train.torch", MEASURED, threads, unit, torch_runs, **common,
                             last_loss=losses.get("torch"),
                             note="same batches in the same order as Keras; Adam, constant peak learning rate, "
                                  "per-weight gradient clipping")
    shutil.rmtree(folder, ignore_errors=True)
    return [keras_row, torch_row]


# ----------------------------------------------------------------------------
# b. batch 1, one thread
# ----------------------------------------------------------------------------

@dataclass
class Clip:
    """The batch-1 input and the Keras reference for it.

    Attributes:
        samples: ``[n]`` float32 PCM at the model's rate.
        seconds: its duration.
        features: ``[T, F]`` librosa log-mels of it.
        reference: ``[T', V]`` Keras log-probabilities (log-softmax of its logits).
    """

    samples: np.ndarray
    seconds: float
    features: np.ndarray
    reference: np.ndarray


def _rtf_row(row_id: str, times: Sequence[float], clip: Clip, scope: str, log_probs: np.ndarray | None,
             **extra) -> dict:
    """A measured ``rtf`` row: runs as real-time factors, with the max |Δ log-prob| against Keras."""
    row = make_row(row_id, MEASURED, 1, "RTF (wall s / audio s)", [t / clip.seconds for t in times],
                   scope=scope, **extra)
    row["ms_median"] = 1e3 * row["median"] * clip.seconds
    if log_probs is not None:
        row["max_abs_log_prob_diff_vs_keras"] = max_difference(log_probs, clip.reference)
    return row


def _attempt(row_id: str, measure: Callable[[], dict], unit: str = "RTF (wall s / audio s)") -> dict:
    """``measure()``, or a ``failed`` row with the exception's one-line reason."""
    try:
        return measure()
    except Exception as exc:  # noqa: BLE001  (a tool's failure is a result, recorded as the row)
        return make_row(row_id, FAILED, 1, unit, reason=reason_of(exc))



def rtf_keras(recognizer, clip: Clip, repeats: int) -> dict:
    """The Keras model's traced ``tf.function`` (``Recognizer.logits``) on the clip's log-mels."""
    times = timed_runs(lambda: recognizer.logits([clip.features]), repeats)
    return _rtf_row("rtf.keras", times, clip, LOG_MEL_IN, clip.reference, note="the reference")


def rtf_saved_model(model, clip: Clip, work: Path, repeats: int) -> dict:
    """``export_saved_model``, loaded back, its ``transcribe`` signature (PCM → text and log-probs)."""
    import tensorflow as tf

    from asr.export import _quiet_tf_logs, export_saved_model

    with _quiet_tf_logs():
        path = export_saved_model(model, work)
    transcribe = tf.saved_model.load(str(path)).signatures["transcribe"]
    audio, lengths = tf.constant(clip.samples[None]), tf.constant([len(clip.samples)], tf.int32)
    times = timed_runs(lambda: transcribe(audio=audio, lengths=lengths)["log_probs"].numpy(), repeats)
    log_probs = transcribe(audio=audio, lengths=lengths)["log_probs"].numpy()[0]
    return _rtf_row("rtf.saved_model", times, clip, PCM_IN + ", greedy decoding in the graph", log_probs)


def export_tflite_variants(model, work: Path, calibration: Sequence[np.ndarray]) -> dict[str, Path | Exception]:
    """Our float32 (``none``) and int8 files by ``asr.export.export_tflite``: converted together (the
    float conversion made once), else one at a time so that one failing leaves the other; a failure
    is kept as its exception."""
    from asr.export import _quiet_tf_logs, export_tflite

    modes = ("none", "int8")
    with _quiet_tf_logs():
        try:
            return dict(export_tflite(model, work, modes, calibration))
        except Exception:  # noqa: BLE001  (retried one variant at a time, below)
            pass
        out: dict[str, Path | Exception] = {}
        for mode in modes:
            try:
                out[mode] = export_tflite(model, work / mode, [mode], calibration)[mode]
            except Exception as exc:  # noqa: BLE001  (the row records it)
                out[mode] = exc
        return out


def rtf_tflite(row_id: str, path: Path | Exception, clip: Clip, repeats: int) -> dict:
    """An exported ``.tflite`` file (or the exception its export raised) run by ``asr.lite.LiteModel``
    with one thread, its LSTM variables reset before every invoke."""
    from asr.lite import LiteModel

    if isinstance(path, Exception):
        raise path
    lite = LiteModel(path, num_threads=1)
    times = timed_runs(lambda: lite(clip.samples), repeats)
    return _rtf_row(row_id, times, clip, PCM_IN, lite(clip.samples), bytes=path.stat().st_size)


def rtf_keras_litert(model, clip: Clip, work: Path, repeats: int) -> dict:
    """Keras 3's own ``model.export(format="litert")``, run by ai-edge-litert, else by
    ``tf.lite.Interpreter``; ``failed`` with both runtimes' reasons when neither can."""
    from asr.quiet import quiet_stderr
    from asr.tflite_file import operator_names

    path = work / "keras_litert.tflite"
    with contextlib.redirect_stdout(io.StringIO()), quiet_stderr(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.export(str(path), format="litert")
    flex = sorted({op for op in operator_names(path.read_bytes()) if op.startswith("Flex")})
    reasons = []
    for runtime in ("ai-edge-litert", "tf.lite.Interpreter"):
        try:
            invoke = _litert_invoker(path, runtime, clip.features)
        except Exception as exc:  # noqa: BLE001  (the runtime's refusal is the result)
            reasons.append(f"{runtime}: {_first_sentence(first_line(exc))}")
            continue
        times = timed_runs(invoke, repeats)
        return _rtf_row("rtf.keras_litert", times, clip, LOG_MEL_IN, None, runtime=runtime, flex_ops=flex)
    needs = f"needs Flex ops {', '.join(flex)}; " if flex else ""
    return make_row("rtf.keras_litert", FAILED, 1, "RTF (wall s / audio s)", reason=needs + "; ".join(reasons),
                    scope=LOG_MEL_IN, flex_ops=flex, bytes=path.stat().st_size)


def _first_sentence(text: str) -> str:
    return text.split(". ")[0].strip().rstrip(".")


def _litert_invoker(path: Path, runtime: str, features: np.ndarray) -> Callable[[], object]:
    """Load a Keras-exported ``.tflite`` (inputs: features ``[1, T, F]`` and lengths ``[1]``) and return one invoke."""
    from asr.quiet import quiet_stderr

    with quiet_stderr(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if runtime == "ai-edge-litert":
            from ai_edge_litert.interpreter import Interpreter
        else:
            from tensorflow.lite.python.interpreter import Interpreter
        interpreter = Interpreter(model_path=str(path), num_threads=1)
        inputs = interpreter.get_input_details()
        for detail in inputs:
            shape = [1, *features.shape] if len(detail["shape_signature"]) == 3 else [1]
            interpreter.resize_tensor_input(detail["index"], shape)
        interpreter.allocate_tensors()

    def invoke():
        interpreter.reset_all_variables()
        for detail in inputs:
            value = features[None] if len(detail["shape_signature"]) == 3 else np.array([len(features)])
            interpreter.set_tensor(detail["index"], value.astype(detail["dtype"]))
        interpreter.invoke()

    invoke()  # a runtime that loads but cannot run fails here
    return invoke


def rtf_onnxruntime(model, clip: Clip, repeats: int) -> dict:
    """ONNX Runtime (one thread) on tf2onnx's conversion of the graph our TFLite files come
    from (``asr.export.build_lite_model``: front end, convs, LSTMs, head, log-softmax)."""
    missing = missing_dependency("onnxruntime", "tf2onnx")
    if missing:
        return make_row("rtf.onnxruntime", SKIPPED, 1, "RTF (wall s / audio s)", reason=missing)
    import onnxruntime
    import tensorflow as tf
    import tf2onnx

    from asr.export import build_lite_model, read_architecture
    from asr.graph_features import FrontEnd
    from asr.quiet import quiet_stderr

    lite_model = build_lite_model(read_architecture(model), FrontEnd.from_config(model.features))
    signature = [tf.TensorSpec((1, None), tf.float32, name="audio")]
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    with quiet_stderr(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proto, _ = tf2onnx.convert.from_function(tf.function(lambda audio: lite_model(audio)),
                                                 input_signature=signature, opset=ONNX_OPSET)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    session = onnxruntime.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    feed = {name: clip.samples[None]}
    times = timed_runs(lambda: session.run(None, feed), repeats)
    ops = sorted({node.op_type for node in proto.graph.node})
    return _rtf_row("rtf.onnxruntime", times, clip, PCM_IN, session.run(None, feed)[0][0], opset=ONNX_OPSET,
                    fused_lstm="LSTM" in ops, onnx_ops=ops)


def rtf_torch(arch, clip: Clip, repeats: int) -> dict:
    """The PyTorch port with ``arch``'s weights, eval mode, ``torch.inference_mode``, one thread;
    its log-probabilities must match Keras within ``LOG_PROB_TOLERANCE``."""
    missing = missing_dependency("torch")
    if missing:
        return make_row("rtf.torch", SKIPPED, 1, "RTF (wall s / audio s)", reason=missing)
    import torch

    from asr.torch_port import TorchCTCModel

    torch.set_num_threads(1)
    model = TorchCTCModel.from_architecture(arch).eval()
    features = torch.from_numpy(clip.features[None])
    lengths = torch.tensor([clip.features.shape[0]])

    def run():
        with torch.inference_mode():
            return model(features, lengths)[0]

    times = timed_runs(run, repeats)
    log_probs = log_softmax(run()[0].numpy())
    diff = max_difference(log_probs, clip.reference)
    row = _rtf_row("rtf.torch", times, clip, LOG_MEL_IN, log_probs, parity_tolerance=LOG_PROB_TOLERANCE,
                   parity_ok=diff <= LOG_PROB_TOLERANCE)
    if diff > LOG_PROB_TOLERANCE:
        row.update(status=FAILED, reason=f"the port differs from Keras by {diff:.3g} in log-probability "
                                         f"(tolerance {LOG_PROB_TOLERANCE:g})")
    return row


# ----------------------------------------------------------------------------
# d. features
# ----------------------------------------------------------------------------

def feature_rows(features: FeatureConfig, clip: Clip, repeats: int) -> list[dict]:
    """``features.librosa`` and ``features.graph``: × real time on the clip, one thread."""
    unit = "× real time"

    def librosa_row() -> dict:
        from asr.features import log_mel

        times = timed_runs(lambda: log_mel(clip.samples, features), repeats)
        return make_row("features.librosa", MEASURED, 1, unit, [clip.seconds / t for t in times],
                        ms_median=1e3 * statistics.median(times))

    def graph_row() -> dict:
        import tensorflow as tf

        from asr.graph_features import FrontEnd, log_mel_graph

        front_end = FrontEnd.from_config(features)
        graph = tf.function(lambda audio: log_mel_graph(audio, front_end)[0],
                            input_signature=[tf.TensorSpec((1, None), tf.float32)])
        audio = tf.constant(clip.samples[None])
        times = timed_runs(lambda: graph(audio).numpy(), repeats)
        return make_row("features.graph", MEASURED, 1, unit, [clip.seconds / t for t in times],
                        ms_median=1e3 * statistics.median(times), note="a traced tf.function")

    return [_attempt("features.librosa", librosa_row, unit), _attempt("features.graph", graph_row, unit)]


def one_thread_rows(opts: BenchOptions, threads: int = 1) -> dict:
    """The ``rtf`` and ``features`` rows and the clip's FLOP count (run in a one-thread process).

    Returns:
        ``{"rows": [...], "flops": count_flops(...), "clip_seconds": s}``.
    """
    from asr.export import calibration_audio, read_architecture
    from asr.features import log_mel
    from asr.inference import load

    recognizer = load(opts.model)
    model, features = recognizer.model, recognizer.features
    samples = speechlike(opts.clip_seconds, features.sample_rate, seed=0)
    feats = log_mel(samples, features)
    clip = Clip(samples, len(samples) / features.sample_rate, feats, log_softmax(recognizer.logits([feats])[0]))
    arch = read_architecture(model)
    if opts.calibration_manifest:
        calibration = calibration_audio(opts.calibration_manifest, features.sample_rate, 100)
    else:
        calibration = [speechlike(2.0, features.sample_rate, seed) for seed in range(1, 9)]
    repeats = opts.repeats
    rows = []
    with tempfile.TemporaryDirectory(prefix="asr-bench-") as tmp:
        work = Path(tmp)
        rows.append(_attempt("rtf.keras", lambda: rtf_keras(recognizer, clip, repeats)))
        rows.append(_attempt("rtf.saved_model", lambda: rtf_saved_model(model, clip, work, repeats)))
        lite = export_tflite_variants(model, work / "tflite", calibration)
        rows.append(_attempt("rtf.tflite_float32", lambda: rtf_tflite("rtf.tflite_float32", lite["none"], clip,
                                                                      repeats)))
        int8 = _attempt("rtf.tflite_int8", lambda: rtf_tflite("rtf.tflite_int8", lite["int8"], clip, repeats))
        int8["calibration"] = opts.calibration_manifest or "8 synthetic 2 s clips (speed is what is measured)"
        rows.append(int8)
        rows.append(_attempt("rtf.keras_litert", lambda: rtf_keras_litert(model, clip, work, repeats)))
        rows.append(_attempt("rtf.onnxruntime", lambda: rtf_onnxruntime(model, clip, repeats)))
        rows.append(_attempt("rtf.torch", lambda: rtf_torch(arch, clip, repeats)))
    rows += feature_rows(features, clip, repeats)
    return {"rows": rows, "flops": count_flops(arch, features, clip.seconds), "clip_seconds": clip.seconds,
            "matmul_gflops": matmul_gflops(max(3, repeats))}


def used_peak(peak: dict, matmul: float | None) -> float | None:
    """The peak the GFLOP/s rows and the goal divide by: the larger of the computed
    ``peak["gflops"]`` and the measured one-thread ``matmul`` GFLOP/s (a core that
    runs a matmul faster than the computed peak runs faster than the clock read).
    Both are recorded in ``peak`` (``matmul_gflops_one_thread``, ``used_gflops``)."""
    known = [value for value in (peak.get("gflops"), matmul) if value]
    peak["matmul_gflops_one_thread"] = matmul
    peak["used_gflops"] = max(known) if known else None
    return peak["used_gflops"]


def matmul_gflops(repeats: int, size: int = MATMUL_SIZE) -> float:
    """GFLOP/s of the best of ``repeats`` float32 ``[size, size] @ [size, size]`` numpy
    matmuls (its BLAS, on the threads of this process): an attainable figure beside the computed peak."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((size, size)).astype(np.float32) for _ in range(2))
    return 2 * size ** 3 / min(timed_runs(lambda: a @ b, repeats)) / 1e9


# ----------------------------------------------------------------------------
# c. GFLOP/s, goals
# ----------------------------------------------------------------------------

def gflops_rows(rtf: dict[str, dict], flops: dict | None, peak_gflops: float | None, clip_seconds: float) -> list[dict]:
    """One ``gflops`` row per float ``rtf`` row: the clip's FLOPs (the front end's
    included where the row's input is PCM) over each run's time."""
    rows = []
    unit = "GFLOP/s"
    for name in ("keras", "saved_model", "tflite_float32", "onnxruntime", "torch"):
        row_id, source = f"gflops.{name}", rtf.get(f"rtf.{name}")
        if source is None or flops is None:
            rows.append(make_row(row_id, FAILED, 1, unit, reason="the one-thread process gave no result"))
            continue
        if source["status"] != MEASURED:
            rows.append(make_row(row_id, source["status"], 1, unit,
                                 reason=f"rtf.{name} {source['status']}: {source.get('reason', '')}"))
            continue
        count = flops["model"] + (flops["front_end"] if source.get("scope", "").startswith("PCM") else 0)
        runs = [count / (r * clip_seconds) / 1e9 for r in source["runs"]]
        row = make_row(row_id, MEASURED, 1, unit, runs, flops_per_clip=count,
                       counts="model + front end" if count != flops["model"] else "model")
        if peak_gflops:
            row["fraction_of_peak"] = row["median"] / peak_gflops
        rows.append(row)
    return rows


GOALS = (
    # (id, text, numerator row, denominator row, target ratio, how the ratio is formed)
    ("training", "training throughput ≥ PyTorch's", "train.keras", "train.torch", 1.0,
     "Keras audio-s/s ÷ PyTorch audio-s/s"),
    ("tflite_vs_keras", "TFLite float32 ≥ 2× faster than the Keras model's TF graph (batch 1, one thread)",
     "rtf.keras", "rtf.tflite_float32", 2.0, "Keras time ÷ TFLite time (TFLite's includes its front end, Keras's not)"),
    ("tflite_vs_onnx", "TFLite float32 no slower than ONNX Runtime (batch 1, one thread)",
     "rtf.onnxruntime", "rtf.tflite_float32", 1.0, "ONNX Runtime time ÷ TFLite time (same graph)"),
    ("peak", "acoustic model ≥ 40 % of single-core peak at batch 1 (TFLite float32)",
     "gflops.tflite_float32", None, 0.40, "achieved GFLOP/s ÷ peak GFLOP/s"),
)


def evaluate_goals(rows: Sequence[dict], peak_gflops: float | None) -> list[dict]:
    """Each goal of ``GOALS`` as met / missed (with the measured ratio) or unknown (with why)."""
    by_id = {row["id"]: row for row in rows}
    out = []
    for goal_id, text, top, bottom, target, how in GOALS:
        goal = {"id": goal_id, "goal": text, "target": target, "ratio_of": how}
        needed = [r for r in (top, bottom) if r is not None]
        unmeasured = [r for r in needed if by_id.get(r, {}).get("status") != MEASURED]
        if unmeasured:
            goal.update(status=UNKNOWN, ratio=None, why=f"{unmeasured[0]} not measured")
        elif bottom is None and not peak_gflops:
            goal.update(status=UNKNOWN, ratio=None, why="no single-core peak (CPU clock unknown)")
        else:
            ratio = by_id[top]["median"] / (by_id[bottom]["median"] if bottom else peak_gflops)
            goal.update(status=MET if ratio >= target else MISSED, ratio=ratio)
        out.append(goal)
    return out


# ----------------------------------------------------------------------------
# running it
# ----------------------------------------------------------------------------

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
SECTION_FUNCTIONS = {"training": "training_rows", "one_thread": "one_thread_rows"}


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
    from asr.quiet import quiet_stderr

    with quiet_stderr():  # TensorFlow's C++ start-up lines
        import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    if missing_dependency("torch") is None:
        import torch

        torch.set_num_threads(threads)
        with contextlib.suppress(RuntimeError):  # allowed once, before any parallel work
            torch.set_num_interop_threads(threads)
    return globals()[SECTION_FUNCTIONS[section]](opts, threads)


def run_section(section: str, opts: BenchOptions, threads: int):
    """Run ``training`` or ``one_thread`` in a fresh spawned process using ``threads`` threads."""
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing

    env = {key: str(threads) for key in THREAD_VARIABLES}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3"))
    with _environment(env), ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_section_process, section, opts, threads).result()


def run_bench(out_dir: str | os.PathLike = "benchmarks", **options) -> dict:
    """Run every benchmark row and write ``out_dir/results.json`` and ``out_dir/RESULTS.md``.

    Args:
        out_dir: where the two files go.
        **options: ``BenchOptions`` fields.

    Returns:
        The ``results.json`` contents: ``machine``, ``settings``, ``flops``,
        ``rows`` (every id of ``ROWS``, in order), ``goals``.
    """
    from asr.config import load_config
    from asr.inference import resolve_model_path

    opts = BenchOptions(**options).resolved()
    load_config(opts.config, opts.overrides)  # a bad recipe fails here, in one line
    if resolve_model_path(opts.model).suffix != ".keras":
        raise ASRError(f"{opts.model}: the benchmark needs a trained .keras model")
    started = datetime.datetime.now(datetime.timezone.utc)
    load_start = os.getloadavg()
    machine = machine_info(opts.cpu_mhz)
    rows: list[dict] = []
    try:
        rows += run_section("training", opts, opts.threads)
    except Exception as exc:  # noqa: BLE001  (a crashed section is recorded, the rest still runs)
        rows += [make_row(r, FAILED, opts.threads, reason=f"training process: {reason_of(exc)}")
                 for r in ROWS if r.startswith("train.")]
    one_thread: dict = {}
    try:
        one_thread = run_section("one_thread", opts, 1)
        rows += one_thread["rows"]
    except Exception as exc:  # noqa: BLE001
        rows += [make_row(r, FAILED, 1, reason=f"one-thread process: {reason_of(exc)}")
                 for r in ROWS if r.startswith(("rtf.", "features."))]
    peak = used_peak(machine["peak"], one_thread.get("matmul_gflops"))
    rtf = {row["id"]: row for row in rows if row["section"] == "rtf"}
    rows += gflops_rows(rtf, one_thread.get("flops"), peak, one_thread.get("clip_seconds", opts.clip_seconds))
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
        "flops": one_thread.get("flops"),
        "rows": rows,
        "goals": evaluate_goals(rows, peak),
    }
    write_results(results, out_dir)
    return results


def write_results(results: dict, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """``results.json`` and ``RESULTS.md`` in ``out_dir``, each written atomically."""
    from asr.data import atomic_write_text

    out_dir = Path(out_dir)
    json_path, md_path = out_dir / RESULTS_JSON, out_dir / RESULTS_MD
    atomic_write_text(json_path, json.dumps(_finite(results), indent=2, allow_nan=False, default=_json_default) + "\n")
    atomic_write_text(md_path, render_markdown(results))
    return json_path, md_path


def _finite(value):
    """``value`` with every NaN or infinite float replaced by None (JSON has neither)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (float, np.floating)) and not np.isfinite(value):
        return None
    return value


def _json_default(value):
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# ----------------------------------------------------------------------------
# RESULTS.md
# ----------------------------------------------------------------------------

def _number(x: float | None, digits: int = 3) -> str:
    """``x`` with ``digits`` significant digits, thousands separated when large."""
    if x is None:
        return "—"
    if x == 0 or not np.isfinite(x):
        return str(x)
    magnitude = int(np.floor(np.log10(abs(x))))
    decimals = max(0, digits - 1 - magnitude)
    return f"{x:,.{decimals}f}"


def _matmul_check(peak: dict) -> str:
    """Sentences comparing the measured one-thread matmul with the computed peak, and naming the peak used."""
    measured = peak.get("matmul_gflops_one_thread")
    if not measured:
        return ""
    text = (f" Check: a float32 {MATMUL_SIZE}³ numpy matmul on one thread reaches {_number(measured)} GFLOP/s"
            + (f" ({100 * measured / peak['gflops']:.0f} % of it)" if peak["gflops"] else "") + ".")
    if peak["gflops"] and measured > peak["gflops"]:
        text += (" That is above the computed peak, so the core runs faster than the clock read (a turbo clock "
                 "the virtual machine does not report; `--cpu-mhz` sets it): the GFLOP/s table and the goal use "
                 f"the measured matmul, {_number(measured)} GFLOP/s, as the peak instead.")
    return text


def _status(row: dict) -> str:
    return row["status"] if row["status"] == MEASURED else f"**{row['status']}**: {row.get('reason', '')}"


def _value_cells(row: dict, scale: float = 1.0) -> list[str]:
    """Median, min – max and IQR cells, or three dashes."""
    if row["status"] != MEASURED:
        return ["—", "—", "—"]
    return [_number(row["median"] * scale), f"{_number(row['min'] * scale)} – {_number(row['max'] * scale)}",
            f"{_number(row['q1'] * scale)} – {_number(row['q3'] * scale)}"]


def _table(header: list[str], lines: list[list[str]]) -> list[str]:
    clean = [[cell.replace("|", "\\|").replace("\n", " ") for cell in line] for line in lines]
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(c) + " |"
                                                                              for c in clean]


def render_markdown(results: dict) -> str:
    """``RESULTS.md``: the machine, the goals, one table per section, and how each row was measured."""
    machine, settings = results["machine"], results["settings"]
    peak = machine["peak"]
    rows = {row["id"]: row for row in results["rows"]}
    out = ["# Benchmarks", "",
           f"Written by `asr bench` on {results['written']} in {results['seconds']:.0f} s; every figure is in "
           f"`{RESULTS_JSON}` beside this file.", ""]
    if settings.get("note"):
        out += [f"**Note:** {settings['note']}", ""]
    if settings.get("quick"):
        out += ["**Quick run** (`--quick`: 1 repeat, short clip, 2 small training batches): a smoke test, "
                "not a measurement.", ""]
    peak_text = f"{_number(peak['gflops'])} GFLOP/s" if peak["gflops"] else "unknown"
    out += [f"**Machine:** {machine['cpu']} (vendor {machine['vendor'] or '?'}, family {machine['family']}, "
            f"model {machine['model']}), {machine['cores']} cores ({machine['usable_cores']} usable), "
            f"vector flags {', '.join(machine['vector_flags']) or 'none'}; load average "
            f"{results['load_average']['start']:.2f} at the start, {results['load_average']['end']:.2f} at the end.",
            "",
            f"**Single-core float32 peak:** {peak_text} = {peak['how']}.{_matmul_check(peak)}", "",
            f"**Settings:** {settings['repeats']} timed repeats per row after one warm-up; median and spread "
            f"(min – max, interquartile range) over them. Training: {settings['threads']} threads for both "
            f"frameworks; batch-1 rows: one thread, a {settings['clip_seconds']:g} s synthetic speech-like clip.",
            "", "## Goals", ""]
    goal_lines = []
    for goal in results["goals"]:
        measured = (f"{_number(goal['ratio'])} (target ≥ {_number(goal['target'])}; {goal['ratio_of']})"
                    if goal["ratio"] is not None else goal.get("why", ""))
        goal_lines.append([goal["goal"], f"**{goal['status']}**", measured])
    out += _table(["goal", "status", "measured ratio"], goal_lines)

    def section_rows(prefix: str) -> list[dict]:
        return [row for row_id, row in rows.items() if row_id.startswith(prefix + ".")]

    out += ["", f"## {SECTIONS['train']}", ""]
    lines = []
    for row in section_rows("train"):
        lines.append([row["title"], row["machine"], str(row["threads"]), _status(row), *_value_cells(row),
                      row.get("note", "")])
    out += _table(["row", "machine", "threads", "status", "audio s / wall s (median)", "min – max", "IQR",
                   "notes"], lines)
    train = next((r for r in section_rows("train") if r["status"] == MEASURED), None)
    if train:
        arch = train["architecture"]
        out += ["", f"Architecture (`{settings['config']}`): conv channels {arch['conv_channels']}, kernel "
                f"{arch['conv_kernel']}, time reduction {arch['time_reduction']}, {arch['lstm_layers']} BiLSTM "
                f"layers of {arch['lstm_units']}, dropout {arch['dropout']}; {train['parameters']:,} parameters. "
                f"Each pass: {train['batches']} batches of {train['batch_size']}, "
                f"{train['audio_seconds_per_pass']:.0f} s of audio; batches {train['data']}."]

    out += ["", f"## {SECTIONS['rtf']} ({settings['clip_seconds']:g} s clip)", ""]
    lines = []
    for row in section_rows("rtf"):
        diff = row.get("max_abs_log_prob_diff_vs_keras")
        diff_text = "reference" if row["id"] == "rtf.keras" else "—" if diff is None else _number(diff, 2)
        scope = row.get("scope", "") + (f"; int8 calibrated on {row['calibration']}" if "calibration" in row else "")
        lines.append([row["title"], scope, row["machine"], str(row["threads"]), _status(row),
                      *_value_cells(row), _number(row.get("ms_median")), diff_text])
    out += _table(["row", "input", "machine", "threads", "status", "RTF (median)", "min – max", "IQR",
                   "ms per clip (median)", "max |Δ log-prob| vs Keras"], lines)

    flops = results.get("flops")
    out += ["", f"## {SECTIONS['gflops']}", ""]
    if flops:
        layers = ", ".join(f"{name} {_number(n / flops['seconds'] / 1e6)}" for name, n in flops["layers"].items())
        out += [f"FLOPs per audio second (`asr.bench.count_flops`, from the layer shapes): model "
                f"{_number(flops['model_per_audio_second'] / 1e6)} M ({layers} M), front end "
                f"{_number(flops['front_end_per_audio_second'] / 1e6)} M. Rows whose input is PCM count both.", ""]
    lines = []
    for row in section_rows("gflops"):
        fraction = row.get("fraction_of_peak")
        lines.append([row["title"], row["machine"], str(row["threads"]), _status(row), *_value_cells(row),
                      row.get("counts", ""), "—" if fraction is None else f"{100 * fraction:.1f} %"])
    out += _table(["row", "machine", "threads", "status", "GFLOP/s (median)", "min – max", "IQR", "FLOPs counted",
                   "of single-core peak"], lines)

    out += ["", f"## {SECTIONS['features']}", ""]
    lines = [[row["title"], row["machine"], str(row["threads"]), _status(row), *_value_cells(row),
              _number(row.get("ms_median"))] for row in section_rows("features")]
    out += _table(["row", "machine", "threads", "status", "× real time (median)", "min – max", "IQR",
                   "ms per clip (median)"], lines)
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v)
    out += ["", "## How", "",
            "* Training: both frameworks start from the same initial weights and see the same batches in the same "
            "order, one pass of each alternately per repeat (pass 0, a warm-up, is not timed). Keras runs "
            "`model.fit` on `asr.data.training_dataset` without augmentation, compiled as `asr train` compiles it "
            "(no XLA on a CPU); PyTorch runs `asr.torch_port` (packed `nn.LSTM`s, `F.ctc_loss`, Adam). PyTorch's "
            "CPU kernels run OpenMP parallel regions, which wait for every thread: when other processes hold the "
            "cores (see the load average), its multi-thread row suffers far more than TensorFlow's.",
            "* Batch 1: each runtime is timed on the same clip after one warm-up call. Rows marked *log-mels in* "
            "exclude the librosa features (their cost is in section d); *PCM in* rows compute them in the graph. "
            "TFLite resets the LSTM variables before every invoke (`asr.lite.LiteModel`). ONNX Runtime runs "
            "tf2onnx's conversion of the TFLite source graph (`asr.export.build_lite_model`). The PyTorch port "
            f"must match Keras within {LOG_PROB_TOLERANCE:g} in log-probability, or its row fails.",
            "* A row needing a missing optional dependency (`pip install 'asr[bench]'`: torch, onnxruntime, "
            "tf2onnx) is *skipped*; a row whose tool fails is *failed* with the tool's one-line reason.",
            f"* Versions: Python {machine['python']}, {versions}.", ""]
    return "\n".join(out)

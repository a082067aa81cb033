"""Writing the results: ``results.json`` (every figure) and ``RESULTS.md`` (the machine,
the goals, one table per section, and how each row was measured)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from asr.core.atomic import atomic_write_text
from asr_bench.cpu import MATMUL_SIZE
from asr_bench.measure import LOG_PROB_TOLERANCE
from asr_bench.rows import MEASURED, SECTIONS

RESULTS_JSON = "results.json"
RESULTS_MD = "RESULTS.md"


def write_results(results: dict, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """``results.json`` and ``RESULTS.md`` in ``out_dir``, each written atomically."""
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


def _row_cells(row: dict) -> list[str]:
    """The cells every section's table starts with: title, machine, threads, status."""
    return [row["title"], row["machine"], str(row["threads"]), _status(row)]


def render_markdown(results: dict) -> str:
    """``RESULTS.md``: the machine, the goals, one table per section, and how each row was measured."""
    settings = results["settings"]
    rows = {row["id"]: row for row in results["rows"]}

    def section_rows(prefix: str) -> list[dict]:
        return [row for row_id, row in rows.items() if row_id.startswith(prefix + ".")]

    out = _header(results) + _goals(results["goals"])
    out += _training(section_rows("train"), settings)
    out += _batch_one(section_rows("rtf"), settings)
    out += _gflops(section_rows("gflops"), results.get("flops"))
    out += _features(section_rows("features"))
    out += _how(results["machine"])
    return "\n".join(out)


def _header(results: dict) -> list[str]:
    """The title, the note, the quick-run warning, the machine, its peak and the settings."""
    machine, settings = results["machine"], results["settings"]
    peak = machine["peak"]
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
            f"frameworks; batch-1 rows: one thread, a {settings['clip_seconds']:g} s synthetic speech-like clip."]
    return out


def _goals(goals: list[dict]) -> list[str]:
    goal_lines = []
    for goal in goals:
        measured = (f"{_number(goal['ratio'])} (target ≥ {_number(goal['target'])}; {goal['ratio_of']})"
                    if goal["ratio"] is not None else goal.get("why", ""))
        goal_lines.append([goal["goal"], f"**{goal['status']}**", measured])
    return ["", "## Goals", ""] + _table(["goal", "status", "measured ratio"], goal_lines)


def _training(rows: list[dict], settings: dict) -> list[str]:
    """Section a's table and, from its first measured row, the architecture and the passes."""
    lines = [[*_row_cells(row), *_value_cells(row), row.get("note", "")] for row in rows]
    out = ["", f"## {SECTIONS['train']}", ""]
    out += _table(["row", "machine", "threads", "status", "audio s / wall s (median)", "min – max", "IQR",
                   "notes"], lines)
    train = next((r for r in rows if r["status"] == MEASURED), None)
    if train:
        arch = train["architecture"]
        out += ["", f"Architecture (`{settings['config']}`): conv channels {arch['conv_channels']}, kernel "
                f"{arch['conv_kernel']}, time reduction {arch['time_reduction']}, {arch['lstm_layers']} BiLSTM "
                f"layers of {arch['lstm_units']}, dropout {arch['dropout']}; {train['parameters']:,} parameters. "
                f"Each pass: {train['batches']} batches of {train['batch_size']}, "
                f"{train['audio_seconds_per_pass']:.0f} s of audio; batches {train['data']}."]
    return out


def _batch_one(rows: list[dict], settings: dict) -> list[str]:
    """Section b's table."""
    lines = []
    for row in rows:
        diff = row.get("max_abs_log_prob_diff_vs_keras")
        diff_text = "reference" if row["id"] == "rtf.keras" else "—" if diff is None else _number(diff, 2)
        scope = row.get("scope", "") + (f"; int8 calibrated on {row['calibration']}" if "calibration" in row else "")
        lines.append([row["title"], scope, row["machine"], str(row["threads"]), _status(row),
                      *_value_cells(row), _number(row.get("ms_median")), diff_text])
    return ["", f"## {SECTIONS['rtf']} ({settings['clip_seconds']:g} s clip)", ""] + _table(
        ["row", "input", "machine", "threads", "status", "RTF (median)", "min – max", "IQR",
         "ms per clip (median)", "max |Δ log-prob| vs Keras"], lines)


def _gflops(rows: list[dict], flops: dict | None) -> list[str]:
    """Section c: the FLOP count per audio second, then the table."""
    out = ["", f"## {SECTIONS['gflops']}", ""]
    if flops:
        layers = ", ".join(f"{name} {_number(n / flops['seconds'] / 1e6)}" for name, n in flops["layers"].items())
        out += [f"FLOPs per audio second (`asr_bench.flops.count_flops`, from the layer shapes): model "
                f"{_number(flops['model_per_audio_second'] / 1e6)} M ({layers} M), front end "
                f"{_number(flops['front_end_per_audio_second'] / 1e6)} M. Rows whose input is PCM count both.", ""]
    lines = []
    for row in rows:
        fraction = row.get("fraction_of_peak")
        lines.append([*_row_cells(row), *_value_cells(row), row.get("counts", ""),
                      "—" if fraction is None else f"{100 * fraction:.1f} %"])
    return out + _table(["row", "machine", "threads", "status", "GFLOP/s (median)", "min – max", "IQR",
                         "FLOPs counted", "of single-core peak"], lines)


def _features(rows: list[dict]) -> list[str]:
    """Section d's table."""
    lines = [[*_row_cells(row), *_value_cells(row), _number(row.get("ms_median"))] for row in rows]
    return ["", f"## {SECTIONS['features']}", ""] + _table(
        ["row", "machine", "threads", "status", "× real time (median)", "min – max", "IQR",
         "ms per clip (median)"], lines)


def _how(machine: dict) -> list[str]:
    """How each row was measured, and the versions."""
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v)
    return [
        "", "## How", "",
        "* Training: both frameworks start from the same initial weights and see the same batches in the same "
        "order, one pass of each alternately per repeat (pass 0, a warm-up, is not timed). Keras runs "
        "`model.fit` on `asr.data.batching.training_dataset` without augmentation, compiled as `asr train` compiles "
        "it (no XLA on a CPU); PyTorch runs `asr_bench.torch_port` (packed `nn.LSTM`s, `F.ctc_loss`, Adam). PyTorch's "
        "CPU kernels run OpenMP parallel regions, which wait for every thread: when other processes hold the "
        "cores (see the load average), its multi-thread row suffers far more than TensorFlow's.",
        "* Batch 1: each runtime is timed on the same clip after one warm-up call. Rows marked *log-mels in* "
        "exclude the librosa features (their cost is in section d); *PCM in* rows compute them in the graph. "
        "TFLite resets the LSTM variables before every invoke (`asr.inference.lite.LiteModel`). ONNX Runtime runs "
        "tf2onnx's conversion of the TFLite source graph (`asr.export.tflite.build_lite_model`). The PyTorch port "
        f"must match Keras within {LOG_PROB_TOLERANCE:g} in log-probability, or its row fails.",
        "* A row needing a missing optional dependency (`pip install 'asr[bench]'`: torch, onnxruntime, "
        "tf2onnx) is *skipped*; a row whose tool fails is *failed* with the tool's one-line reason.",
        f"* Versions: Python {machine['python']}, {versions}.", ""]

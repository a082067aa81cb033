"""The benchmark (issue 5): the FLOP counter and the peak against hand computations,
goals and the Markdown table, skipped rows when an optional dependency is
missing, the PyTorch port against Keras, and one ``--quick`` run of the whole
thing on a tiny model.

torch, onnxruntime and tf2onnx (the ``bench`` extra) are optional: CI installs
only the ``test`` extra. The quick run expects their rows *measured* when they
are importable here and *skipped* when not, and says which it checked; the
torch-port test is skipped (with the reason in pytest's summary) without torch.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys

import numpy as np
import pytest
from helpers import REPO, TINY_MODEL

from asr.config import FeatureConfig
from asr.core.errors import ASRError
from asr.export.architecture import Architecture, BiLSTMSpec, ConvSpec
from asr_bench.cpu import machine_info, read_cpuinfo, single_core_peak, usable_cores, used_peak
from asr_bench.flops import count_flops
from asr_bench.goals import GOALS, evaluate_goals
from asr_bench.options import BenchOptions
from asr_bench.report import RESULTS_JSON, RESULTS_MD, render_markdown
from asr_bench.rows import FAILED, MEASURED, ROWS, SKIPPED, make_row
from asr_bench.runner import run_bench
from asr_bench.runtimes import rtf_onnxruntime
from asr_bench.torch_side import rtf_torch
from asr_bench.torch_train import torch_trainer


def importable(name: str) -> bool:
    """Whether ``import name`` would find a module (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # a finder that refuses it
        return False


def zeros_architecture() -> Architecture:
    """n_mels 4 → conv 6 (k 3, stride 2) → conv 6 (k 5, stride 1) → BiLSTM 5 → head 7: weights of the right shapes."""
    z = np.zeros
    arch = Architecture(n_mels=4)
    arch.convs.append(ConvSpec(6, 3, 2, "relu", [z((3, 4, 6)), z(6)]))
    arch.convs.append(ConvSpec(6, 5, 1, "relu", [z((5, 6, 6)), z(6)]))
    lstm = [z((6, 20)), z((5, 20)), z(20)]
    arch.lstms.append(BiLSTMSpec(5, lstm, lstm))
    arch.head = [z((10, 7)), z(7)]
    return arch


def test_count_flops_matches_a_hand_computation():
    features = FeatureConfig(n_mels=4)  # 16 kHz, n_fft 400, hop 160
    flops = count_flops(zeros_architecture(), features, seconds=1.0)
    # 16000 samples: 1 + 16000 // 160 = 101 frames; conv0: (101 + 2 - 3) // 2 + 1 = 51; conv1: (51 + 4 - 5) + 1 = 51
    assert flops.frames == 101 and flops.encoder_frames == 51
    assert flops.layers == {
        "conv0": 2 * 3 * 4 * 6 * 51,  # 7,344
        "conv1": 2 * 5 * 6 * 6 * 51,  # 18,360
        "bilstm0": 2 * 51 * (2 * 4 * (6 + 5) * 5 + 17 * 5),  # 2 directions × 51 steps × 525 = 53,550
        "ctc_head": 2 * 10 * 7 * 51,  # 7,140
    }
    assert flops.model == 7344 + 18360 + 53550 + 7140 == 86394
    # per frame: DFT 4·400·201 = 321,600, power 603, mel 2·201·4 = 1,608, log 4
    assert flops.front_end == 101 * 323815
    half = count_flops(zeros_architecture(), features, seconds=0.5)
    assert half.frames == 51 and half.model_per_audio_second == half.model / 0.5


CPUINFO = """processor\t: 0
vendor_id\t: {vendor}
cpu family\t: {family}
model\t\t: 17
model name\t: Test CPU
cpu MHz\t\t: {mhz}
flags\t\t: fpu sse sse2 {flags}

processor\t: 1
vendor_id\t: ignored
"""


@pytest.mark.parametrize("vendor,family,flags,mhz,max_mhz,expected", [
    ("GenuineIntel", 6, "avx avx2 fma avx512f", 2000.0, None, 2.0 * 2 * 16 * 2),  # 2 × 512-bit FMA units
    ("AuthenticAMD", 25, "avx avx2 fma avx512f", 2596.0, None, 2.596 * 2 * 8 * 2),  # Zen 4: two 256-bit halves
    ("AuthenticAMD", 26, "avx avx2 fma avx512f", 2500.0, None, 2.5 * 2 * 16 * 2),  # Zen 5: full 512 bits
    ("GenuineIntel", 6, "avx avx2 fma", 3000.0, 3500.0, 3.5 * 2 * 8 * 2),  # lscpu's max clock wins
    ("GenuineIntel", 6, "sse4_2", 1000.0, None, 1.0 * 2 * 4 * 2),
])
def test_single_core_peak(vendor, family, flags, mhz, max_mhz, expected):
    cpu = read_cpuinfo(CPUINFO.format(vendor=vendor, family=family, flags=flags, mhz=mhz))
    assert cpu.model_name == "Test CPU" and cpu.vendor == vendor and cpu.family == family
    peak = single_core_peak(cpu, max_mhz)
    assert peak.gflops == pytest.approx(expected)
    assert peak.fma_units == 2 and "assumed" in peak.how
    assert single_core_peak(cpu, max_mhz, given_mhz=1000.0).gflops == pytest.approx(
        expected / (max_mhz or mhz) * 1000.0)


def fake_results(rows: list[dict], peak: float | None = 100.0) -> dict:
    """A results dict around ``rows``, as ``run_bench`` assembles it."""
    machine = machine_info()
    machine["peak"]["gflops"] = peak
    for row in rows:
        row["machine"] = machine["label"]
    return {"format": 1, "written": "2026-01-01T00:00:00+00:00", "seconds": 1.0,
            "load_average": {"start": 0.0, "end": 0.0},
            "settings": dataclasses.asdict(BenchOptions().resolved()), "machine": machine, "flops": None,
            "rows": rows, "goals": evaluate_goals(rows, peak)}


def test_goals_ratios_and_statuses():
    unit = "x"
    rows = [make_row("train.keras", MEASURED, 2, unit, [90.0, 100.0, 110.0]),
            make_row("train.torch", MEASURED, 2, unit, [200.0]),
            make_row("rtf.keras", MEASURED, 1, unit, [0.004]),
            make_row("rtf.tflite_float32", MEASURED, 1, unit, [0.001]),
            make_row("rtf.onnxruntime", FAILED, 1, unit, reason="tf2onnx: boom"),
            make_row("gflops.tflite_float32", MEASURED, 1, unit, [30.0, 50.0])]
    goals = {g["id"]: g for g in evaluate_goals(rows, peak_gflops=100.0)}
    assert goals["training"]["status"] == "missed" and goals["training"]["ratio"] == pytest.approx(0.5)
    assert goals["tflite_vs_keras"]["status"] == "met" and goals["tflite_vs_keras"]["ratio"] == pytest.approx(4.0)
    assert goals["tflite_vs_onnx"]["status"] == "unknown" and "rtf.onnxruntime" in goals["tflite_vs_onnx"]["why"]
    assert goals["peak"]["status"] == "met" and goals["peak"]["ratio"] == pytest.approx(0.40)
    assert evaluate_goals(rows, peak_gflops=None)[3]["status"] == "unknown"
    assert rows[0]["median"] == 100.0 and rows[0]["min"] == 90.0 and rows[0]["max"] == 110.0
    assert (rows[0]["q1"], rows[0]["q3"]) == (95.0, 105.0)


def test_used_peak_is_never_below_a_measured_matmul():
    peak = {"gflops": 83.0}
    assert used_peak(peak, 99.5) == 99.5 and peak["matmul_gflops_one_thread"] == 99.5
    assert used_peak({"gflops": 83.0}, 50.0) == 83.0
    assert used_peak({"gflops": None}, 50.0) == 50.0
    assert used_peak({"gflops": None}, None) is None


def test_missing_dependencies_give_skipped_rows(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    monkeypatch.setitem(sys.modules, "tf2onnx", None)
    torch_row = rtf_torch(arch=None, clip=None, repeats=1)
    onnx_row = rtf_onnxruntime(model=None, clip=None, repeats=1)
    trainer = torch_trainer(None, None, None)
    assert torch_row["status"] == SKIPPED and torch_row["reason"].startswith("torch not installed")
    assert onnx_row["status"] == SKIPPED and onnx_row["reason"].startswith("onnxruntime not installed")
    assert trainer == torch_row["reason"]
    train_row = make_row("train.torch", SKIPPED, 2, reason=trainer)
    text = render_markdown(fake_results([train_row, torch_row, onnx_row]))
    assert text.count("**skipped**: torch not installed (pip install 'asr[bench]')") == 2
    assert "**skipped**: onnxruntime not installed" in text
    # goals that need a skipped row are unknown, never met
    assert "| training throughput ≥ PyTorch's | **unknown** | train.keras not measured |" in text


def test_pytorch_sections_run_in_a_process_without_tensorflow():
    """CUDA builds of torch ship triton, whose LLVM aborts a process that has loaded TensorFlow: the
    PyTorch rows run in their own spawned process, which refuses to start once TensorFlow is in it."""
    from asr_bench.runner import run_section

    row = run_section("torch_training", 1, None, "training process: the Keras side crashed")
    assert row["id"] == "train.torch" and row["status"] == FAILED
    assert row["reason"] == "training process: the Keras side crashed"


def test_options_are_checked_in_one_line(cli, tmp_path):
    with pytest.raises(ASRError, match="repeats must be at least 1"):
        run_bench(tmp_path, repeats=0)
    result = cli("bench", "--clip-seconds", "0", "--out", tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip() == "asr: error: bench: clip_seconds must be positive, got 0.0"
    assert not (tmp_path / RESULTS_JSON).exists()


def layer_normed_model():
    """A ``build_model`` model with ``model.layer_norm`` and perturbed weights (gamma and beta away from 1 and 0)."""
    from helpers import CHARACTERS, FEATURES

    from asr.config import ModelConfig
    from asr.model.ctc import build_model
    from asr.text import Tokenizer

    model = build_model(ModelConfig(conv_channels=[16, 12], conv_kernel=3, time_reduction=2, lstm_units=8,
                                    lstm_layers=2, layer_norm=True), FEATURES, Tokenizer(CHARACTERS))
    rng = np.random.default_rng(0)
    model.set_weights([w + rng.normal(0.0, 0.5, w.shape).astype(w.dtype) for w in model.get_weights()])
    return model


@pytest.mark.parametrize("layer_norm", [False, True], ids=["tiny", "layer-norm"])
@pytest.mark.needs_torch  # the bench extra: without it the port is not checked
def test_torch_port_matches_keras_outputs_and_ctc_loss(layer_norm):
    import torch
    from helpers import FEATURES, build_tiny_model

    from asr.data.batching import pad_batch
    from asr.export.architecture import read_architecture
    from asr_bench.torch_port import TorchCTCModel, ctc_loss

    model = layer_normed_model() if layer_norm else build_tiny_model()
    port = TorchCTCModel.from_architecture(read_architecture(model)).eval()
    rng = np.random.default_rng(0)
    features = [rng.standard_normal((n, FEATURES.n_mels)).astype(np.float32) for n in (37, 20)]  # padded batch
    labels = [[3, 4, 4, 5], [7, 2]]
    x, y = pad_batch(features, labels)
    keras_out = model(x, training=False)
    with torch.no_grad():
        logits, lengths = port(torch.from_numpy(x["features"]), torch.from_numpy(x["feature_lengths"]).long())
    assert lengths.tolist() == np.asarray(keras_out["lengths"]).tolist() == [19, 10]
    for b, n in enumerate(lengths.tolist()):
        assert np.abs(logits[b, :n].numpy() - np.asarray(keras_out["logits"])[b, :n]).max() < 1e-4
    keras_loss = float(model.compute_loss(y=y, y_pred=keras_out))
    torch_loss = float(ctc_loss(logits, lengths, torch.from_numpy(y["labels"]).long(),
                                torch.from_numpy(y["label_lengths"]).long()))
    assert torch_loss == pytest.approx(keras_loss, rel=1e-4)


def test_quick_run_writes_every_row(tmp_path):
    """``run_bench(quick=True)`` on a tiny model and a tiny recipe: every row present, each with the
    status this environment calls for, and both files written."""
    from helpers import build_tiny_model

    model_path = tmp_path / "tiny.keras"
    build_tiny_model().save(model_path)
    have = {name: importable(name) for name in ("torch", "onnxruntime", "tf2onnx")}
    print(f"optional dependencies found here (their rows must be measured, else skipped): {have}")
    results = run_bench(tmp_path / "out", model=str(model_path), config=str(REPO / "configs/commands.yaml"),
                              overrides=[*TINY_MODEL, "model.time_reduction=2"], quick=True, note="test run")
    rows = {row["id"]: row for row in results["rows"]}
    assert [row["id"] for row in results["rows"]] == list(ROWS)
    torch_status = MEASURED if have["torch"] else SKIPPED
    onnx_status = MEASURED if have["onnxruntime"] and have["tf2onnx"] else SKIPPED
    expected = {
        "train.keras": MEASURED, "train.torch": torch_status,
        "rtf.keras": MEASURED, "rtf.saved_model": MEASURED, "rtf.tflite_float32": MEASURED,
        "rtf.tflite_dynamic": MEASURED, "rtf.tflite_int8": MEASURED, "rtf.keras_litert": FAILED,
        "rtf.onnxruntime": onnx_status, "rtf.torch": torch_status,
        "gflops.keras": MEASURED, "gflops.saved_model": MEASURED, "gflops.tflite_float32": MEASURED,
        "gflops.onnxruntime": onnx_status, "gflops.torch": torch_status,
        "features.librosa": MEASURED, "features.graph": MEASURED,
    }
    assert {k: (r["status"], r.get("reason")) for k, r in rows.items() if r["status"] != expected[k]} == {}
    assert "Flex" in rows["rtf.keras_litert"]["reason"]  # Keras's own LiteRT file needs Flex ops
    for row in rows.values():
        assert row["machine"] and row["threads"] >= 1
        if row["status"] == MEASURED:
            assert len(row["runs"]) == 1 and row["min"] <= row["median"] <= row["max"] and row["median"] > 0
        else:
            assert row["reason"]
    for row_id in ("rtf.saved_model", "rtf.tflite_float32", "rtf.onnxruntime", "rtf.torch"):
        if rows[row_id]["status"] == MEASURED:
            assert rows[row_id]["max_abs_log_prob_diff_vs_keras"] < 1e-3, row_id
    assert rows["rtf.keras"]["threads"] == 1 and rows["train.keras"]["threads"] == usable_cores()
    assert rows["train.keras"]["batches"] == 2 and rows["train.keras"]["batch_size"] == 4
    assert [g["id"] for g in results["goals"]] == [g.id for g in GOALS]
    assert all(g["status"] in ("met", "missed", "unknown") for g in results["goals"])
    assert (results["goals"][0]["status"] == "unknown") == (not have["torch"])

    on_disk = json.loads((tmp_path / "out" / RESULTS_JSON).read_text(encoding="utf-8"))
    assert on_disk["rows"] == json.loads(json.dumps(results["rows"]))
    text = (tmp_path / "out" / RESULTS_MD).read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks") and "**Note:** test run" in text and "**Quick run**" in text
    for title in ROWS.values():
        assert title in text
    table_lines = [line for line in text.splitlines() if line.startswith("|")]
    assert all(line.endswith("|") for line in table_lines)


def test_bench_writes_outside_the_repository_unless_told():
    from asr.cli.main import build_parser

    assert build_parser().parse_args(["bench"]).out_dir == "runs/bench"  # git-ignored, not benchmarks/
    assert build_parser().parse_args(["bench", "--out", "benchmarks"]).out_dir == "benchmarks"


@pytest.mark.parametrize("frames", [37, 100, 101, 523])
def test_chunked_encoder_pieces_stitch_back_to_the_whole(frames):
    """The chunking experiment of benchmarks/tflite_profile.py: a frame-wise 'model' (every 4th frame)
    run on overlapping pieces and stitched back gives exactly the whole utterance's output."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from tflite_profile import chunk_pieces, padded_batch, stitch

    feats = np.arange(frames * 2, dtype=np.float32).reshape(frames, 2)
    pieces, starts = chunk_pieces(feats, chunk=40, overlap=8)
    assert starts[0] == 0 and starts[-1] + len(pieces[-1]) == frames and all(len(p) <= 40 for p in pieces)
    assert padded_batch(pieces, 40).shape == (len(pieces), 40, 2)
    stitched = stitch([p[::4] for p in pieces], starts, frames, reduction=4)
    np.testing.assert_array_equal(stitched, feats[::4])

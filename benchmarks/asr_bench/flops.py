"""FLOP counting: the floating-point operations of one clip through the model and
the front end, from the layer shapes, and the achieved GFLOP/s rows (section c)
made from the timed batch-1 rows."""

from __future__ import annotations

from dataclasses import dataclass

from asr.config import FeatureConfig
from asr.features.graph import frame_lengths
from asr_bench.rows import FAILED, MEASURED, make_row

LSTM_ELEMENTWISE = 17  # FLOPs per unit per step per direction besides the matmuls: see count_flops
FLOAT_RUNTIMES = ("keras", "saved_model", "tflite_float32", "onnxruntime", "torch")  # rows with a gflops row


@dataclass(frozen=True)
class FlopCount:
    """FLOPs of one clip (``count_flops``); ``results.json`` records it as a dict under ``flops``.

    Attributes:
        seconds: the clip's duration.
        frames: its feature frames.
        encoder_frames: frames after the convs' time reduction.
        layers: FLOPs of each model layer, by name (``conv0``…, ``bilstm0``…, ``ctc_head``).
        model: their sum.
        front_end: FLOPs of the in-graph log-mel front end.
        model_per_audio_second: ``model / seconds``.
        front_end_per_audio_second: ``front_end / seconds``.
    """

    seconds: float
    frames: int
    encoder_frames: int
    layers: dict[str, int]
    model: int
    front_end: int
    model_per_audio_second: float
    front_end_per_audio_second: float


def count_flops(arch, features: FeatureConfig, seconds: float) -> FlopCount:
    """Floating-point operations of one clip, from the layer shapes.

    Model (``asr.export.architecture.Architecture``: the weight shapes give each layer's
    input and output sizes), per output frame of the layer:

    * conv: ``2·k·C_in·C_out`` (padding frames included, bias and activation not counted);
    * LSTM, per step and direction: ``2·4·(in + units)·units`` for the two
      matmuls, plus ``LSTM_ELEMENTWISE·units`` = 17: 4 bias adds, 4 adds of the
      input and recurrent parts, 5 activations (3 sigmoid, 2 tanh; one FLOP
      each), 3 for ``c = f·c + i·g`` and 1 for ``h = o·tanh(c)``;
    * dense head: ``2·in·V``.

    Front end (``asr.features.graph``), per feature frame: the DFT as two
    matmuls ``2·2·n_fft·K``, power ``3·K``, mel ``2·K·F``, log ``F`` (K = n_fft // 2 + 1);
    the normalisation is not counted.
    """
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
    return FlopCount(seconds=seconds, frames=frames, encoder_frames=steps, layers=layers, model=model,
                     front_end=front_end, model_per_audio_second=model / seconds,
                     front_end_per_audio_second=front_end / seconds)


def gflops_rows(rtf: dict[str, dict], flops: FlopCount | None, peak_gflops: float | None,
                clip_seconds: float) -> list[dict]:
    """One ``gflops`` row per float ``rtf`` row: the clip's FLOPs (the front end's
    included where the row's input is PCM) over each run's time."""
    rows = []
    unit = "GFLOP/s"
    for name in FLOAT_RUNTIMES:
        row_id, source = f"gflops.{name}", rtf.get(f"rtf.{name}")
        if source is None or flops is None:
            rows.append(make_row(row_id, FAILED, 1, unit, reason="the one-thread process gave no result"))
            continue
        if source["status"] != MEASURED:
            rows.append(make_row(row_id, source["status"], 1, unit,
                                 reason=f"rtf.{name} {source['status']}: {source.get('reason', '')}"))
            continue
        count = flops.model + (flops.front_end if source.get("scope", "").startswith("PCM") else 0)
        runs = [count / (r * clip_seconds) / 1e9 for r in source["runs"]]
        row = make_row(row_id, MEASURED, 1, unit, runs, flops_per_clip=count,
                       counts="model + front end" if count != flops.model else "model")
        if peak_gflops:
            row["fraction_of_peak"] = row["median"] / peak_gflops
        rows.append(row)
    return rows

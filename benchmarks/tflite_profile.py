"""Where the TFLite time goes, stage by stage, and what changes it (docs/EXPORT.md, "Speed").

    python benchmarks/tflite_profile.py [--model MODEL] [--out benchmarks/tflite_profile.json]

The Python LiteRT interpreter has no op profiler, so the time is split by prefix
models: the exported network cut after the front end, after each convolution, after
each BiLSTM and at the output, each converted as ``asr export`` converts it (float32,
dynamic range, int8 calibrated on ``--calibration-manifest``'s real corpus audio) and
timed at batch 1, one thread, on one ``--clip-seconds`` clip (median of ``--repeats``
runs after a warm-up). A stage's time is its prefix's time minus the previous one's.

Then the full float32 file with LiteRT's default XNNPACK delegate against the
builtin kernels alone, and the encoder run on the clip as overlapping chunks stacked in
the batch dimension (log-mels in, so the front end is not counted): time, and what the
chunking costs in WER on ``--eval-manifest`` (Keras, greedy; each chunk's overlap
discarded when the logits are stitched back together).

Prints the tables and writes one JSON object to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # asr_bench, when run from a plain checkout


def median_ms(run, repeats: int) -> float:
    """Median wall milliseconds of ``repeats`` calls of ``run`` after one warm-up call."""
    from asr_bench.measure import timed_runs

    return 1e3 * statistics.median(timed_runs(run, repeats))


def lite_runner(content: bytes, inputs: np.ndarray, no_delegate: bool = False):
    """A function running the flatbuffer once on ``inputs`` (batch already in its shape), one thread."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES if no_delegate else OpResolverType.AUTO
    interpreter = Interpreter(model_content=content, num_threads=1, experimental_op_resolver_type=resolver)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, list(inputs.shape))
    interpreter.allocate_tensors()

    def run():
        interpreter.reset_all_variables()
        interpreter.set_tensor(index, inputs)
        interpreter.invoke()

    return run


def stage_names(lite) -> list[str]:
    """The layers after which the network is cut: front end, each conv, each BiLSTM, the output."""
    from asr.export.tflite import FRONT_END_LAYER

    names = [layer.name for layer in lite.layers]
    cuts = [FRONT_END_LAYER] + [n for n in names if n.startswith("conv") and not n.endswith("_pad")]
    return cuts + [n for n in names if n.startswith("bilstm") and n[6:].isdigit()] + [lite.layers[-1].name]


def prefix_profile(lite, front_end, calibration, samples: np.ndarray, repeats: int) -> list[dict]:
    """Per cut and quantization: the prefix's ops and median ms; the stage's own ms by difference."""
    import tf_keras

    from asr.core.tflite_file import operator_names
    from asr.export.tflite import QUANTIZATIONS, convert_tflite

    rows, previous = [], {}
    for name in stage_names(lite):
        prefix = tf_keras.Model(lite.input, lite.get_layer(name).output, name=lite.name)  # int8 denylist: same name
        row = {"stage": name, "ms": {}, "stage_ms": {}}
        for mode in ("none", "dynamic", "int8"):
            assert mode in QUANTIZATIONS
            content = convert_tflite(prefix, front_end, mode, calibration)
            if mode == "none":
                row["ops"] = sorted(set(operator_names(content)))
            row["ms"][mode] = round(median_ms(lite_runner(content, samples[None]), repeats), 2)
            row["stage_ms"][mode] = round(row["ms"][mode] - previous.get(mode, 0.0), 2)
            previous[mode] = row["ms"][mode]
        rows.append(row)
        print(f"{name:16s} " + "  ".join(f"{m}: {row['ms'][m]:7.2f} ms (+{row['stage_ms'][m]:6.2f})"
                                        for m in row["ms"]), flush=True)
    return rows


def chunk_pieces(feats: np.ndarray, chunk: int, overlap: int) -> tuple[list[np.ndarray], list[int]]:
    """``feats [T, F]`` cut into pieces of ``chunk`` frames (the last may be shorter) starting every
    ``chunk - 2 * overlap`` frames, so that each cut is ``overlap`` frames inside its neighbours; and their starts."""
    step = chunk - 2 * overlap
    starts = [0]
    while starts[-1] + chunk < len(feats):
        starts.append(starts[-1] + step)
    return [feats[s:s + chunk] for s in starts], starts


def padded_batch(pieces: list[np.ndarray], chunk: int) -> np.ndarray:
    """Pieces → ``[B, chunk, F]``, zero-padded at the end (a static shape for the TFLite encoder)."""
    batch = np.zeros((len(pieces), chunk, pieces[0].shape[1]), np.float32)
    for b, piece in enumerate(pieces):
        batch[b, :len(piece)] = piece
    return batch


def stitch(logits: list[np.ndarray], starts: list[int], frames: int, reduction: int) -> np.ndarray:
    """Per-piece outputs ``[ceil(len_b / r), V]`` → ``[ceil(frames / r), V]``: each output frame taken from
    the piece in which it lies farthest from a cut (an utterance's own ends are not cuts)."""
    if any(s % reduction for s in starts):
        raise ValueError(f"piece starts {starts} are not multiples of the time reduction {reduction}")
    out = np.zeros((-(-frames // reduction), logits[0].shape[-1]), np.float32)
    for t in range(len(out)):
        frame, best, where = t * reduction, -1.0, None
        for b, s in enumerate(starts):
            end = s + len(logits[b]) * reduction
            if s <= frame < end:
                margin = min(np.inf if s == 0 else frame - s, np.inf if end >= frames else end - 1 - frame)
                if margin > best:
                    best, where = margin, (b, (frame - s) // reduction)
        out[t] = logits[where[0]][where[1]]
    return out


def encoder_model(lite, batch: int, frames: int):
    """The exported network without its front end, at a static ``[batch, frames, n_mels]`` input."""
    import tf_keras

    from asr.export.tflite import FRONT_END_LAYER

    encoder = tf_keras.Model(lite.get_layer(FRONT_END_LAYER).output, lite.output)
    x = tf_keras.Input(shape=(frames, encoder.input_shape[-1]), batch_size=batch, name="features")
    return tf_keras.Model(x, encoder(x), name="asr_encoder")


def chunked_speed(lite, feats: np.ndarray, chunk: int, overlap: int, repeats: int) -> dict:
    """ms of the encoder on the whole clip (batch 1) against the same clip as overlapping chunks."""
    from asr.export.tflite import _convert, _converter

    whole = _convert(_converter(encoder_model(lite, 1, len(feats))).convert, "none")
    batch = padded_batch(chunk_pieces(feats, chunk, overlap)[0], chunk)
    chunked = _convert(_converter(encoder_model(lite, len(batch), chunk)).convert, "none")
    return {"chunk_frames": chunk, "overlap_frames": overlap, "chunks": len(batch),
            "whole_ms": round(median_ms(lite_runner(whole, feats[None]), repeats), 2),
            "chunked_ms": round(median_ms(lite_runner(chunked, batch), repeats), 2)}


def chunked_accuracy(recognizer, manifest: str, chunk: int, overlap: int, limit: int) -> dict:
    """Keras greedy WER/CER on ``manifest`` whole against chunked-and-stitched, at the model's settings."""
    from asr.data.manifest import read_manifest
    from asr.evaluation.metrics import error_rates

    utterances = read_manifest(manifest)[0][:limit]
    reduction = recognizer.backend.time_reduction
    refs, whole, chunked, long_ones = [], [], [], 0
    for utt in utterances:
        feats = recognizer.featurize(utt.audio_filepath)
        refs.append(utt.text)
        whole.append(recognizer.decode(recognizer.logits([feats]))[0])
        pieces, starts = chunk_pieces(feats, chunk, overlap)
        long_ones += len(pieces) > 1
        chunked.append(recognizer.decode([stitch(recognizer.logits(pieces), starts, len(feats), reduction)])[0])
    return {"utterances": len(refs), "split_into_chunks": long_ones,
            "whole": error_rates(refs, whole), "chunked": error_rates(refs, chunked)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="a .keras model or run folder (default: the shipped model)")
    p.add_argument("--calibration-manifest", default="data/commands_eval/dev.jsonl")
    p.add_argument("--eval-manifest", default="data/commands_eval/test.jsonl")
    p.add_argument("--eval-limit", type=int, default=600)
    p.add_argument("--clip-seconds", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--chunks", default="400:50,200:40,100:20",
                   help="CHUNK:OVERLAP frame pairs to measure, comma-separated (default: %(default)s)")
    p.add_argument("--out", default="benchmarks/tflite_profile.json")
    args = p.parse_args()
    from asr.core.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import asr
    from asr.export.architecture import read_architecture
    from asr.export.tflite import _convert, _converter, build_lite_model, calibration_audio
    from asr.features.graph import FrontEnd
    from asr.features.logmel import log_mel
    from asr_bench.synthetic import speechlike

    recognizer = asr.load(args.model)
    features = recognizer.features
    front_end = FrontEnd.from_config(features)
    lite = build_lite_model(read_architecture(recognizer.model), front_end)
    calibration = calibration_audio(args.calibration_manifest, features.sample_rate, 100)
    samples = speechlike(args.clip_seconds, features.sample_rate, seed=0)
    stages = prefix_profile(lite, front_end, calibration, samples, args.repeats)
    full = _convert(_converter(lite).convert, "none")
    delegate = {"xnnpack_ms": round(median_ms(lite_runner(full, samples[None]), args.repeats), 2),
                "builtin_only_ms": round(median_ms(lite_runner(full, samples[None], True), args.repeats), 2)}
    print(f"full float32: XNNPACK {delegate['xnnpack_ms']} ms, builtin kernels only {delegate['builtin_only_ms']} ms")
    feats = log_mel(samples, features)
    chunking = []
    for pair in args.chunks.split(","):
        chunk, overlap = (int(v) for v in pair.split(":"))
        speed = chunked_speed(lite, feats, chunk, overlap, args.repeats)
        accuracy = chunked_accuracy(recognizer, args.eval_manifest, chunk, overlap, args.eval_limit)
        chunking.append({**speed, **accuracy})
        print(f"chunks of {chunk} frames, {overlap} overlap: {speed}, {accuracy}", flush=True)
    result = {"machine": platform.processor() or platform.machine(), "clip_seconds": args.clip_seconds,
              "repeats": args.repeats, "model": args.model or "shipped", "calibration": args.calibration_manifest,
              "stages": stages, "delegate": delegate, "chunking": chunking}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Measure the export figures in docs/EXPORT.md on a trained model (default: the shipped one).

    python benchmarks/export_figures.py --export-dir /tmp/asr-export > export_figures.json

Exports the model (SavedModel + every TFLite variant) into ``--export-dir``
unless it is already there, then measures on ``--manifest`` (the test split):

* the in-graph front end against librosa (``asr.features.logmel.log_mel``): the TF
  graph of the SavedModel and the TFLite front end on its own;
* log-probability parity against the Keras model (max |difference| over every
  real frame and class) and how often the best class agrees;
* WER and CER (greedy decoding) of Keras, the SavedModel and each TFLite variant;
* file sizes;
* batch-1, single-thread time for one 10 s clip (median of repeated runs).

Two variants the exporter does not write are measured for comparison: dynamic
range with the front end quantized as well, and full int8 with the front end
quantized as well (the converter's defaults).

Prints one JSON object. TensorFlow runs with one thread, so its times compare
with the single-thread TFLite ones.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def median_seconds(run, repeats: int) -> float:
    run()  # warm-up: allocation, first-call tracing
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def default_variants(model, export_dir: Path, calibration) -> dict[str, Path]:
    """The converter's own dynamic-range and int8 quantization, front end included (not shipped)."""
    import tensorflow as tf

    from asr.core.tflite_file import embed_metadata, remove_lstm_cell_clip
    from asr.export.architecture import read_architecture
    from asr.export.tflite import build_lite_model, lite_metadata
    from asr.features.graph import FrontEnd

    lite = build_lite_model(read_architecture(model), FrontEnd.from_config(model.features))
    paths = {}
    for name in ("dynamic-all", "int8-all"):
        path = export_dir / f"default.{name}.tflite"
        if not path.is_file():
            converter = tf.lite.TFLiteConverter.from_keras_model(lite)
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            if name == "int8-all":
                converter.representative_dataset = lambda: ([a[None]] for a in calibration)
                converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            data = converter.convert()
            if name == "dynamic-all":
                data = remove_lstm_cell_clip(data)
            info = lite_metadata(model.tokenizer, model.features, model.time_reduction, name,
                                 "default converter settings")
            path.write_bytes(embed_metadata(data, info))
        paths[name] = path
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="saved_models/commands")
    parser.add_argument("--export-dir", required=True)
    parser.add_argument("--manifest", default="data/commands/test.jsonl")
    parser.add_argument("--calibration-manifest", default="data/commands/train.jsonl")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import tf_keras

    import asr
    from asr.config import DataConfig
    from asr.data.splits import load_split
    from asr.decoding.decoders import GreedyDecoder, log_softmax
    from asr.evaluation.metrics import error_rates
    from asr.export.architecture import read_architecture
    from asr.export.exporter import export_model
    from asr.export.tflite import FRONT_END_LAYER, build_lite_model, calibration_audio
    from asr.features.graph import FrontEnd, log_mel_graph
    from asr.inference.lite import LiteModel
    from asr.inference import resolve_model_path

    export_dir = Path(args.export_dir)
    variants = {"float32": "model.tflite", "float16": "model.float16.tflite", "dynamic": "model.dynamic.tflite",
                "int8": "model.int8.tflite"}
    start = time.perf_counter()
    if not all((export_dir / name).is_file() for name in variants.values()):
        export_model(args.model, export_dir, quantize=["none", "float16", "dynamic", "int8"],
                     calibration_manifest=args.calibration_manifest)
    figures: dict = {"export_seconds": time.perf_counter() - start}
    recognizer = asr.load(args.model)
    model, cfg = recognizer.model, recognizer.features
    calibration = calibration_audio(args.calibration_manifest, cfg.sample_rate, 100)
    tflite_paths = {k: export_dir / v for k, v in variants.items()}
    tflite_paths.update(default_variants(model, export_dir, calibration))

    split = load_split(args.manifest, DataConfig(cache_dir=None), cfg, recognizer.tokenizer)
    samples = [recognizer.samples(u.audio_filepath) for u in split.utterances]
    decoder = GreedyDecoder(recognizer.tokenizer)
    refs = split.texts
    figures["utterances"] = len(split)

    # Keras: the reference
    keras_lp = [log_softmax(x) for x in recognizer.logits(split.features)]
    keras_text = [decoder(x[None], [len(x)])[0] for x in keras_lp]
    figures["keras"] = {**error_rates(refs, keras_text)}

    # front end: TF graph (per utterance, no padding) and TFLite, against librosa
    front_end = FrontEnd.from_config(cfg)
    graph_feats = [log_mel_graph(tf.constant(s[None]), front_end)[0].numpy()[0] for s in samples]
    diffs = [np.abs(g - f) for g, f in zip(graph_feats, split.features)]
    figures["features_tf_vs_librosa"] = {"max_abs": float(max(d.max() for d in diffs)),
                                         "mean_abs": float(np.mean([d.mean() for d in diffs])),
                                         "feature_std": float(np.std(np.concatenate(split.features)))}
    lite = build_lite_model(read_architecture(model), front_end)
    front_only = tf_keras.Model(lite.input, lite.get_layer(FRONT_END_LAYER).output)
    front_path = export_dir / "front_end_only.tflite"
    front_path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(front_only).convert())
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(front_path), num_threads=1)
    worst, means = 0.0, []
    index = interpreter.get_input_details()[0]["index"]
    for s, f in zip(samples, split.features):
        interpreter.resize_tensor_input(index, [1, len(s)])
        interpreter.allocate_tensors()
        interpreter.set_tensor(index, s[None])
        interpreter.invoke()
        d = np.abs(interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0] - f)
        worst, means = max(worst, float(d.max())), [*means, float(d.mean())]
    figures["features_tflite_vs_librosa"] = {"max_abs": worst, "mean_abs": float(np.mean(means))}

    # SavedModel: batched through the transcribe signature, 16 utterances of similar length at a time
    saved = tf.saved_model.load(str(export_dir / "saved_model" / "1")).signatures["transcribe"]
    order = np.argsort([len(s) for s in samples])
    sm_lp, sm_text = [None] * len(samples), [None] * len(samples)
    for i in range(0, len(order), 16):
        idx = order[i: i + 16]
        lengths = np.array([len(samples[j]) for j in idx], np.int32)
        batch = np.zeros((len(idx), lengths.max()), np.float32)
        for row, j in enumerate(idx):
            batch[row, : lengths[row]] = samples[j]
        out = saved(audio=tf.constant(batch), lengths=tf.constant(lengths))
        for row, j in enumerate(idx):
            n = int(out["output_lengths"][row])
            sm_lp[j] = out["log_probs"].numpy()[row, :n]
            sm_text[j] = out["text"].numpy()[row].decode()
    figures["saved_model"] = {
        **error_rates(refs, sm_text),
        "max_abs_log_prob_diff": float(max(np.abs(a - b).max() for a, b in zip(sm_lp, keras_lp))),
        "same_text_as_keras": int(sum(a == b for a, b in zip(sm_text, keras_text))),
        "text_equals_greedy_decode_of_its_log_probs": int(sum(
            t == decoder(x[None], [len(x)])[0] for t, x in zip(sm_text, sm_lp))),
    }

    # TFLite variants
    clip = np.concatenate(samples)[: 10 * cfg.sample_rate]
    figures["tflite"] = {}
    for name, path in tflite_paths.items():
        row = {"bytes": path.stat().st_size}
        lite_model = LiteModel(path, num_threads=1)
        try:
            lp = [lite_model(s) for s in samples]
        except RuntimeError as exc:
            row["runs"] = False
            row["error"] = str(exc).splitlines()[0]
            figures["tflite"][name] = row
            continue
        text = [decoder(x[None], [len(x)])[0] for x in lp]
        row.update(error_rates(refs, text))
        row["runs"] = True
        row["max_abs_log_prob_diff"] = float(max(np.abs(a - b).max() for a, b in zip(lp, keras_lp)))
        row["argmax_agreement"] = float(np.mean(np.concatenate(
            [a.argmax(-1) == b.argmax(-1) for a, b in zip(lp, keras_lp)])))
        row["same_text_as_keras"] = int(sum(a == b for a, b in zip(text, keras_text)))
        row["seconds_10s_clip_1_thread"] = median_seconds(lambda m=lite_model: m(clip), args.repeats)
        figures["tflite"][name] = row

    # sizes and TensorFlow times
    figures["bytes"] = {
        "model.keras": resolve_model_path(args.model).stat().st_size,
        "saved_model_dir": sum(p.stat().st_size for p in (export_dir / "saved_model").rglob("*") if p.is_file()),
    }
    figures["keras"]["seconds_10s_clip_1_thread"] = median_seconds(
        lambda: recognizer.logits([recognizer.featurize(clip)]), args.repeats)
    figures["keras"]["seconds_10s_clip_1_thread_model_only"] = median_seconds(
        lambda f=recognizer.featurize(clip): recognizer.logits([f]), args.repeats)
    figures["saved_model"]["seconds_10s_clip_1_thread"] = median_seconds(
        lambda: saved(audio=tf.constant(clip[None]), lengths=tf.constant([len(clip)], tf.int32)), args.repeats)
    figures["clip_seconds"] = len(clip) / cfg.sample_rate
    figures["repeats"] = args.repeats
    json.dump(figures, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

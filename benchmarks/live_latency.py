"""Live latency: end of speech → final result, p50 and p95, for ``asr listen`` on a long stream
fed at real time (docs/LIVE.md, "Latency").

    python benchmarks/live_latency.py [--minutes 10] [--model MODEL] [--out benchmarks/live_latency.json]

The stream is held-out-voice commands utterances (``--manifest``, made by ``asr synth
--config configs/commands.yaml --n-train 0 --out data/commands_eval``) one after another with
1–2 s pauses between them and −60 dBFS white noise under the whole stream (a microphone's own
noise), written to a WAV file and played by ``FileSource`` at real-time
pace through ``StreamingRecognizer``: the code path of ``asr listen --input FILE``.

For each final result: the wall time from the moment the utterance's last speech sample was
"spoken" (the stream's start plus its position) to the moment ``feed`` returned the final,
which includes the endpointer's pause (``--pause``, the silence that ends an utterance) and
the decoding; and the decoding alone (the ``feed`` call that returned it). Finals are matched
to the utterance they overlap most; WER of the finals against the utterances' text.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def build_stream(manifest: str, sample_rate: int, seconds: float, seed: int = 0):
    """Utterances with 1–2 s of −60 dBFS noise between them until ``seconds`` of audio:
    ``(samples [n], [(start_s, end_s, text), ...])``."""
    from asr.audio.files import load_audio
    from asr.data.manifest import read_manifest

    rng = np.random.default_rng(seed)
    utterances = read_manifest(manifest)[0]
    pieces, spans, at = [], [], 0
    for i in range(10 ** 6):
        utt = utterances[i % len(utterances)]
        gap = rng.normal(0.0, 1e-3, int(rng.uniform(1.0, 2.0) * sample_rate)).astype(np.float32)
        audio = load_audio(utt.audio_filepath, sample_rate)
        pieces += [gap, audio]
        spans.append(((at + len(gap)) / sample_rate, (at + len(gap) + len(audio)) / sample_rate, utt.text))
        at += len(gap) + len(audio)
        if at >= seconds * sample_rate:
            break
    pieces.append(rng.normal(0.0, 1e-3, 2 * sample_rate).astype(np.float32))  # the last one's pause
    stream = np.concatenate(pieces)
    # a microphone's own noise under everything: TTS files hold digital silence between words, which
    # no microphone gives and which would drag the endpointer's noise floor below the pauses' noise
    return stream + rng.normal(0.0, 1e-3, len(stream)).astype(np.float32), spans


def best_span(result, spans) -> int | None:
    """Index of the utterance a final overlaps most, or None."""
    overlaps = [min(result.end, end) - max(result.start, start) for start, end, _ in spans]
    best = int(np.argmax(overlaps))
    return best if overlaps[best] > 0 else None


def run_stream(recognizer, path: str, spans, pause: float, partial_seconds: float, speed: float) -> dict:
    """Feed the file at ``speed`` × real time; per final: latency, decode time, matched utterance."""
    from asr.live.sources import FileSource
    from asr.live.stream import StreamingRecognizer

    streamer = StreamingRecognizer(recognizer, pause, partial_seconds)
    source = FileSource(path, recognizer.sample_rate, speed)
    finals, partials = [], 0
    start = time.monotonic()
    for block in source:
        before = time.monotonic()
        results = streamer.feed(block)
        after = time.monotonic()
        partials += sum(not r.final for r in results)
        for r in (r for r in results if r.final):
            finals.append((r, before, after))
    for r in streamer.flush():
        finals.append((r, time.monotonic(), time.monotonic()))
    rows = []
    for r, before, after in finals:
        match = best_span(r, spans)
        spoken_end = spans[match][1] if match is not None else r.end
        rows.append({"text": r.text, "utterance": match, "latency_s": after - (start + spoken_end / speed),
                     "decode_s": after - before})
    return {"finals": rows, "partials": partials, "wall_s": time.monotonic() - start}


def summarise(rows: list[dict], spans) -> dict:
    from asr.evaluation.metrics import error_rates

    matched = [r for r in rows if r["utterance"] is not None]
    latency = np.array([r["latency_s"] for r in matched])
    decode = np.array([r["decode_s"] for r in matched])
    by_utt = {}
    for r in matched:
        by_utt.setdefault(r["utterance"], []).append(r["text"])
    hyps = [" ".join(by_utt.get(i, [])) for i in range(len(spans))]
    return {"utterances": len(spans), "finals": len(rows), "unmatched_finals": len(rows) - len(matched),
            "utterances_split": sum(len(v) > 1 for v in by_utt.values()),
            "utterances_missed": sum(i not in by_utt for i in range(len(spans))),
            "latency_ms": {k: round(1e3 * float(np.percentile(latency, q)), 1)
                           for k, q in (("p50", 50), ("p95", 95), ("max", 100))},
            "decode_ms": {k: round(1e3 * float(np.percentile(decode, q)), 1)
                          for k, q in (("p50", 50), ("p95", 95), ("max", 100))},
            **error_rates([s[2] for s in spans], hyps)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="default: the shipped model's TFLite file (what asr listen runs by default)")
    p.add_argument("--manifest", default="data/commands_eval/test.jsonl")
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--speed", type=float, default=1.0, help="1: real time (the measurement); more: a quick check")
    p.add_argument("--pause", type=float, help="endpointer pause, s (default: asr listen's)")
    p.add_argument("--partial-ms", type=int, help="default: asr listen's")
    p.add_argument("--out", default="benchmarks/live_latency.json")
    args = p.parse_args()
    import asr
    from asr.audio.files import write_pcm16
    from asr.inference.loading import DEFAULT_LITE_MODEL
    from asr.live.stream import PARTIAL_SECONDS, PAUSE_SECONDS

    model = args.model or str(DEFAULT_LITE_MODEL)
    if not model.endswith(".tflite"):
        from asr.core.quiet import import_tensorflow_quietly

        import_tensorflow_quietly()
    recognizer = asr.load(model)
    pause = PAUSE_SECONDS if args.pause is None else args.pause
    partial = PARTIAL_SECONDS if args.partial_ms is None else args.partial_ms / 1000
    samples, spans = build_stream(args.manifest, recognizer.sample_rate, 60 * args.minutes)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "stream.wav")
        write_pcm16(path, samples, recognizer.sample_rate)
        print(f"{len(samples) / recognizer.sample_rate / 60:.1f} min, {len(spans)} utterances, fed at "
              f"{args.speed:g}x real time", flush=True)
        run = run_stream(recognizer, path, spans, pause, partial, args.speed)
    summary = summarise(run["finals"], spans)
    result = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(), "model": model,
              "manifest": args.manifest, "stream_minutes": round(len(samples) / recognizer.sample_rate / 60, 2),
              "speed": args.speed, "pause_s": pause, "partial_s": partial, "partials": run["partials"],
              "wall_s": round(run["wall_s"], 1), **summary}
    print(json.dumps(result, indent=2))
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

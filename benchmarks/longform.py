"""Measure long-form transcription (the figures in docs/LONGFORM.md).

    python benchmarks/longform.py --seconds 600 --out-dir /tmp/asr-long > longform.json

Synthesises a recording of at least ``--seconds`` from held-out test voices
saying commands, with pauses of known length (``asr.data.synth.long.long_recording``),
then reports (``asr.evaluation.evaluate.evaluate_long``) the long-form WER/CER against
the WER/CER of the same utterances transcribed one by one, word-start errors
against the known speech onsets, and the real-time factor, for each
``--chunk-seconds``. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model (default: the shipped one)")
    parser.add_argument("--seconds", type=float, default=600.0, help="least length of the recording")
    parser.add_argument("--out-dir", required=True, help="folder for the synthesised audio (reused if there)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunk-seconds", type=float, nargs="+", default=[20.0])
    args = parser.parse_args()

    import asr
    from asr.data.synth.long import long_recording
    from asr.evaluation.evaluate import evaluate_long

    recording = os.path.join(args.out_dir, "long.json")
    start = time.perf_counter()
    if not os.path.isfile(recording):
        long_recording(args.out_dir, args.seconds, seed=args.seed)
    synth_seconds = time.perf_counter() - start
    recognizer = asr.load(args.model)
    results = {}
    for chunk in args.chunk_seconds:
        result = evaluate_long(recognizer, recording, chunk_seconds=chunk)
        print(f"chunk {chunk:g} s: WER {result.wer:.4f} (one by one {result.per_utterance_wer:.4f}), "
              f"onset error median {result.onset_error_median} max {result.onset_error_max}, "
              f"RTF {result.rtf:.4f}", file=sys.stderr)
        results[f"{chunk:g}"] = result.to_dict()
    print(json.dumps({"recording": recording, "synth_seconds": synth_seconds, "by_chunk_seconds": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

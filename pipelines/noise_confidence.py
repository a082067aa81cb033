"""Word confidences on speech against noise, and the floor that tells them apart
(``asr.decoding.alignment.MIN_CONFIDENCE``; docs/RESULTS.md, "Noise").

    python pipelines/noise_confidence.py [--model saved_models/commands/model.tflite] \\
        [--speech data/commands_eval/test.jsonl] [--real data/real/all.jsonl]

For every recording: ``transcribe_long`` with the floor off (``min_confidence = 0``) and the
mean confidence of its words (each chunk's words; a recording with no words has none).
Speech: held-out synthetic voices (``--speech``, the first ``--n``) and, where given, real
recordings (``--real``: Debian's ktuberling and klettres voices; measured, never trained on).
Noise: ``--n`` clips of white, pink and brown noise, 1-5 s, peaking at -40 to -3 dBFS (seeded).
For each candidate floor: the share of speech that would come out empty and the share of noise
that would still give text. Prints a Markdown table; writes ``--out`` (JSON).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np

FLOORS = (0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)


def coloured_noise(rng: np.random.Generator, seconds: float, exponent: int, dbfs: float, rate: int) -> np.ndarray:
    """White (0), pink (1) or brown (2) noise ``[n]`` peaking at ``dbfs``."""
    n = int(seconds * rate)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    k = np.arange(len(spectrum))
    k[0] = 1
    x = np.fft.irfft(spectrum / k ** (exponent / 2), n)
    return (x / np.abs(x).max() * 10 ** (dbfs / 20)).astype(np.float32)


def mean_confidence(recognizer, audio, sample_rate=None) -> float | None:
    words = recognizer.transcribe_long(audio, sample_rate).words
    return float(np.mean([w.confidence for w in words])) if words else None


def share_below(values: list, floor: float) -> float:
    """Share of ``values`` (None: no words) that the floor empties: below it, or no words at all."""
    return float(np.mean([v is None or v < floor for v in values])) if values else float("nan")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="saved_models/commands/model.tflite")
    p.add_argument("--speech", default="data/commands_eval/test.jsonl")
    p.add_argument("--real", help="real recordings (JSONL), e.g. data/real/all.jsonl")
    p.add_argument("--n", type=int, default=300)
    p.add_argument("--out", default="docs/noise_confidence.json")
    args = p.parse_args()
    import asr
    from asr.data.manifest import read_manifest

    recognizer = asr.load(args.model)
    recognizer.min_confidence = 0.0  # measure the guesses the floor would judge
    rng = np.random.default_rng(0)
    groups = {"held-out synthetic voices": [mean_confidence(recognizer, u.audio_filepath)
                                            for u in read_manifest(args.speech)[0][:args.n]]}
    if args.real:
        groups["real recordings"] = [mean_confidence(recognizer, u.audio_filepath)
                                     for u in read_manifest(args.real)[0]]
    rate = recognizer.sample_rate
    groups["noise"] = [mean_confidence(recognizer, coloured_noise(rng, rng.uniform(1, 5), i % 3,
                                                                  rng.uniform(-40, -3), rate), rate)
                       for i in range(args.n)]
    table = {name: {f"{floor:g}": share_below(values, floor) for floor in FLOORS} for name, values in groups.items()}
    print("| floor | " + " | ".join(f"{name}: emptied" for name in groups) + " |")
    print("|---" * (len(groups) + 1) + "|")
    for floor in FLOORS:
        cells = [f"{100 * table[name][f'{floor:g}']:.1f} %" for name in groups]
        print(f"| {floor:g} | " + " | ".join(cells) + " |")
    summary = {name: {"count": len(v), "no_words": sum(x is None for x in v),
                      "percentiles_1_5_50_95_99": [round(float(q), 3) for q in
                                                   np.percentile([x for x in v if x is not None] or [np.nan],
                                                                 [1, 5, 50, 95, 99])]}
               for name, v in groups.items()}
    print(json.dumps(summary, indent=2))
    Path(args.out).write_text(json.dumps({"model": args.model, "groups": summary, "emptied_share": table,
                                          "confidences": groups}, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

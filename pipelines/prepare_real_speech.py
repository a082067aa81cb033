"""Real-speech dev set from two Debian games (measure only, never train on it):
docs/REAL_SPEECH.md.

    apt-get install ktuberling-data klettres-data
    python pipelines/prepare_real_speech.py                # writes data/real/*.jsonl and phrases.txt
    asr evaluate --manifest data/real/all.jsonl --model runs/words

The logic is the importer ``asr.data.importers.kde_games`` (tested without the
packages in tests/data/test_real_speech.py).
"""

import argparse
import sys
from pathlib import Path

from asr.core.errors import ASRError
from asr.data.importers.kde_games import KLETTRES_DIR, KTUBERLING_DIR, prepare_real_speech


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="data/real", help="output folder (default: data/real)")
    parser.add_argument("--ktuberling", type=Path, default=KTUBERLING_DIR, help="ktuberling-data's folder")
    parser.add_argument("--klettres", type=Path, default=KLETTRES_DIR, help="klettres-data's folder")
    args = parser.parse_args(argv)
    try:
        result = prepare_real_speech(args.out, args.ktuberling, args.klettres)
    except ASRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for subset, path in result.manifests.items():
        print(f"{path}: {result.counts[subset]} utterances, {result.seconds[subset]:.1f} s")
    print(f"{result.phrases}: {sum(1 for _ in result.phrases.open(encoding='utf-8'))} phrases")
    for note in result.disagreements:
        print(f"cross-check: {note}")
    for item in result.skipped:
        print(f"skipped ({item.reason}): {item.detail}")
    return 1 if result.skipped else 0


if __name__ == "__main__":
    sys.exit(main())

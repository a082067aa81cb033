"""Evaluate a trained model on a manifest; the same as `asr evaluate`.

    python pipelines/evaluate.py --model runs/commands --manifest data/commands/test.jsonl [--json]
"""

import sys

from asr.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))

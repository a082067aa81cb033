"""Evaluate a trained model on a manifest (the same function as `asr evaluate`).

    python pipelines/evaluate.py --model runs/commands --manifest data/commands/test.jsonl
"""

import argparse
import json
import logging

import asr
from asr.evaluation import evaluate

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--model", help="run folder or .keras file (default: the shipped model)")
parser.add_argument("--manifest", required=True)
args = parser.parse_args()
logging.basicConfig(level=logging.INFO, format="%(message)s")

result = evaluate(asr.load(args.model), args.manifest)
print(json.dumps({k: v for k, v in result.items() if k != "worst"}, indent=2))

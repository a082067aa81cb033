"""Train the model a recipe describes (the same function as `asr train`).

    python pipelines/train.py --config configs/commands.yaml [--set train.epochs=5] [--resume]
"""

import argparse
import json
import logging

from asr.config import load_config
from asr.training import train

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--config", required=True)
parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
parser.add_argument("--resume", action="store_true")
args = parser.parse_args()
logging.basicConfig(level=logging.INFO, format="%(message)s")

print(json.dumps(train(load_config(args.config, args.overrides), resume=args.resume), indent=2))

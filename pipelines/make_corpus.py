"""Synthesise the corpus a recipe trains on (its `corpus:` section).

    python pipelines/make_corpus.py --config configs/commands.yaml [--set corpus.n_train=500]
"""

import argparse
import logging

from asr.config import load_config
from asr.synth import make_corpus

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--config", required=True)
parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
args = parser.parse_args()
logging.basicConfig(level=logging.INFO, format="%(message)s")

for split, path in make_corpus(**vars(load_config(args.config, args.overrides).corpus)).items():
    print(f"{split}: {path}")

"""Synthesise the corpus a recipe trains on (its `corpus:` section); the same as `asr synth --config`.

    python pipelines/make_corpus.py --config configs/commands.yaml
"""

import sys

from asr.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["synth", *sys.argv[1:]]))

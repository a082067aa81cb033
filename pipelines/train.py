"""Train the model a recipe describes; the same as `asr train`.

    python pipelines/train.py --config configs/commands.yaml [--set train.epochs=5] [--resume]
"""

import sys

from asr.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))

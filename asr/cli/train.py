"""``asr train``: train the model a YAML recipe describes."""

from __future__ import annotations

import argparse
import json

from asr.config import load_config


def add_parser(commands) -> None:
    p = commands.add_parser("train", help="train a model from a YAML recipe")
    p.add_argument("--config", required=True, help="YAML recipe, e.g. configs/commands.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=5 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")


def needs_tensorflow(args: argparse.Namespace) -> bool:
    return True


def run(args: argparse.Namespace) -> int:
    from asr.training.trainer import train  # here: Keras and TensorFlow load only for the commands that need them

    metrics = train(load_config(args.config, args.overrides), resume=args.resume)
    print(json.dumps(metrics.to_dict(), indent=2))
    return 0

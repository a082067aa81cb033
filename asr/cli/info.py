"""``asr info``: what a model is, what it was trained on and what it scored."""

from __future__ import annotations

import argparse
import dataclasses
import json


def add_parser(commands) -> None:
    p = commands.add_parser("info", help="a model's alphabet, features, training corpus, test figures and sizes")
    p.add_argument("model", nargs="?", help="a .keras or .tflite file or a folder holding model.keras "
                                            "(default: the shipped model in saved_models/commands)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def needs_tensorflow(args: argparse.Namespace) -> bool:
    return False  # read from the files: no model is loaded


def run(args: argparse.Namespace) -> int:
    from asr.inference.info import describe, model_info  # here, as in every command: `asr --help` stays light

    info = model_info(args.model)
    print(json.dumps(dataclasses.asdict(info)) if args.json else describe(info))
    return 0

"""``asr train``: train the model a YAML recipe describes."""

from __future__ import annotations

import argparse
import json
import os
import sys

from asr.config import load_config


def add_parser(commands) -> None:
    p = commands.add_parser("train", help="train a model from a YAML recipe")
    p.add_argument("--config", required=True, help="YAML recipe, e.g. configs/commands.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=5 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")
    p.add_argument("--init-from", metavar="MODEL",
                   help="start from this model's weights (a run or saved-model folder, or a .keras file), "
                        "e.g. saved_models/commands: fine-tuning (configs/adapt.yaml); "
                        "same as --set train.init_from=MODEL")


def needs_tensorflow(args: argparse.Namespace) -> bool:
    # Keras's other backends (KERAS_BACKEND=torch or jax) train without TensorFlow
    return os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow"


def run(args: argparse.Namespace) -> int:
    from asr.training.trainer import train  # here: Keras and TensorFlow load only for the commands that need them

    overrides = list(args.overrides)
    if args.init_from is not None:
        overrides.append(f"train.init_from={json.dumps(args.init_from)}")
    cfg = load_config(args.config, overrides)
    metrics = train(cfg, resume=args.resume)
    print(json.dumps(metrics.to_dict(), indent=2))
    run_dir = cfg.resolved_run_dir
    test = cfg.manifest("test")
    print(f"\nthe model: {run_dir}/model.keras (dev WER {100 * metrics.dev.wer:.1f} %"
          + (f", test WER {100 * metrics.test.wer:.1f} % on {test})" if metrics.test else ", no test manifest)")
          + f"\nnext:\n  asr transcribe --model {run_dir} FILE.wav"
          + (f"\n  asr evaluate --model {run_dir} --manifest {test}" if test else "")
          + f"\n  asr export --model {run_dir} --out {run_dir}/export   # TFLite for devices, SavedModel for serving",
          file=sys.stderr)
    return 0

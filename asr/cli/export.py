"""``asr export``: a trained model to a TF Serving SavedModel and builtins-only TFLite files."""

from __future__ import annotations

import argparse

from asr.cli.common import add_model, names


def add_parser(commands) -> None:
    p = commands.add_parser("export", help="export to a TF Serving SavedModel and builtins-only TFLite")
    add_model(p, tflite=False)
    p.add_argument("--out", dest="out_dir", required=True, help="output folder")
    p.add_argument("--formats", type=names, default=["saved_model", "tflite"],
                   help="comma-separated: saved_model,tflite (default: both)")
    p.add_argument("--quantize", type=names, default=["none"],
                   help="comma-separated TFLite variants: none,float16,dynamic,int8 (default: none)")
    p.add_argument("--calibration-manifest", help="JSONL manifest whose audio calibrates int8 "
                   "(e.g. data/commands/train.jsonl)")
    p.add_argument("--calibration-samples", type=int, default=100,
                   help="utterances drawn from it (default: %(default)s)")


def needs_tensorflow(args: argparse.Namespace) -> bool:
    return True


def run(args: argparse.Namespace) -> int:
    from asr.export.exporter import export_model  # here, as in every command: `asr --help` stays light

    written = export_model(args.model, args.out_dir, formats=args.formats, quantize=args.quantize,
                           calibration_manifest=args.calibration_manifest,
                           calibration_samples=args.calibration_samples)
    for name, path in written.items():
        print(f"{name}: {path}")
    return 0

"""``asr bench``: training throughput against PyTorch, batch-1 speed of every runtime,
GFLOP/s and feature extraction. The machinery is ``asr_bench`` (benchmarks/asr_bench),
outside the library."""

from __future__ import annotations

import argparse
import os

from asr.cli.common import add_model


def add_parser(commands) -> None:
    p = commands.add_parser("bench", help="benchmark training throughput (vs PyTorch), batch-1 speed of every "
                            "runtime, GFLOP/s and feature extraction; writes results.json and RESULTS.md")
    add_model(p, tflite=False)
    p.add_argument("--config", default="configs/commands.yaml",
                   help="recipe whose architecture and batch size the training rows use (default: %(default)s)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value (repeatable)")
    p.add_argument("--out", dest="out_dir", default="runs/bench",
                   help="output folder (default: %(default)s; --out benchmarks refreshes the committed results)")
    p.add_argument("--repeats", type=int, default=7, help="timed runs per row, after a warm-up (default: 7)")
    p.add_argument("--clip-seconds", type=float, default=10.0, help="batch-1 clip length (default: 10)")
    p.add_argument("--train-batches", type=int, default=8, help="batches per training pass (default: 8)")
    p.add_argument("--batch-size", type=int, help="utterances per training batch (default: the recipe's)")
    p.add_argument("--threads", type=int, help="training threads for both frameworks (default: every core)")
    p.add_argument("--manifest", help="train on these utterances instead of synthetic batches")
    p.add_argument("--calibration-manifest", help="audio calibrating the int8 TFLite file (default: synthetic)")
    p.add_argument("--quick", action="store_true", help="1 repeat, 2 s clip, 2 batches of 4: a smoke test")
    p.add_argument("--cpu-mhz", type=float, help="clock for the single-core peak (default: lscpu's max MHz, "
                   "else /proc/cpuinfo's cpu MHz)")
    p.add_argument("--note", default="", help="a line written at the top of RESULTS.md (default: none)")


def needs_tensorflow(args: argparse.Namespace) -> bool:
    return False  # its spawned processes import TensorFlow, each on its own


def run(args: argparse.Namespace) -> int:
    # here, not at the top: asr_bench depends on the library, never the other way round (pyproject's
    # import-linter contract allows this one command to load it on demand)
    from asr_bench.runner import run_bench

    results = run_bench(args.out_dir, model=args.model, config=args.config, overrides=args.overrides,
                        repeats=args.repeats, clip_seconds=args.clip_seconds, train_batches=args.train_batches,
                        batch_size=args.batch_size, threads=args.threads, manifest=args.manifest,
                        calibration_manifest=args.calibration_manifest, quick=args.quick, cpu_mhz=args.cpu_mhz,
                        note=args.note)
    for row in results["rows"]:
        value = f"{row['median']:.4g} {row['unit']}" if row["status"] == "measured" else row.get("reason", "")
        print(f"{row['id']:22s} {row['status']:9s} {value}")
    for goal in results["goals"]:
        ratio = "" if goal["ratio"] is None else f" (ratio {goal['ratio']:.3g}, target {goal['target']:g})"
        print(f"goal: {goal['status']:7s} {goal['goal']}{ratio}")
    print(f"written: {os.path.join(args.out_dir, 'results.json')}, {os.path.join(args.out_dir, 'RESULTS.md')}")
    return 0

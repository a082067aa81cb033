"""``asr lm build``: a word n-gram language model for the beam search."""

from __future__ import annotations

import argparse

from asr.decoding.lm_build import DEFAULT_ORDER, build_lm


def add_parser(commands) -> None:
    p = commands.add_parser("lm", help="word n-gram language models for the beam search")
    lm_commands = p.add_subparsers(dest="lm_command", required=True, metavar="LM_COMMAND", help="build")
    q = lm_commands.add_parser("build", help="build an ARPA model (interpolated modified Kneser-Ney) from text")
    q.add_argument("text", metavar="TEXT", help="UTF-8 sentences, one a line, or a JSONL manifest (its text fields)")
    q.add_argument("--order", type=int, default=DEFAULT_ORDER, help=f"n-gram order (default: {DEFAULT_ORDER})")
    q.add_argument("--out", required=True, help="the ARPA file to write, e.g. lm.arpa")


def needs_tensorflow(args: argparse.Namespace) -> bool:
    return False  # pure-Python n-gram counting


def run(args: argparse.Namespace) -> int:
    info = build_lm(args.text, args.out, order=args.order)  # the only LM command so far: build
    counts = ", ".join(f"{n} {k}-grams" for k, n in enumerate(info.ngrams, 1))
    print(f"{info.path}: {info.order}-gram ARPA (interpolated modified Kneser-Ney) from "
          f"{info.sentences} sentences: {counts}")
    return 0

"""The ``asr`` command line: one module per command (``asr.cli.synth``, ``train``,
``evaluate``, ``transcribe``, ``listen``, ``serve``, ``info``, ``lm``, ``grammar``, ``export``,
``prepare``, ``bench``), each
adding its parser and running one library function."""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import sys

from asr.cli import bench, evaluate, export, grammar, info, listen, lm, prepare, serve, synth, train, transcribe
from asr.core.errors import ASRError
from asr.core.quiet import import_tensorflow_quietly

COMMANDS = {module.__name__.rsplit(".", 1)[1]: module
            for module in (synth, train, evaluate, transcribe, listen, serve, info, lm, grammar, export, prepare,
                             bench)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asr", description="Train, evaluate and run BiLSTM-CTC speech recognisers.")
    parser.add_argument("--version", action="version", version=f"asr {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help="one of:")
    for module in COMMANDS.values():
        module.add_parser(commands)
    return parser


def package_version() -> str:
    """The installed package's version (pyproject.toml's), or "unknown" when not installed."""
    try:
        return importlib.metadata.version("asr")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``asr`` console script and ``python -m asr``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's C++ start-up chatter off the terminal
    args = build_parser().parse_args(argv)
    command = COMMANDS[args.command]
    if command.needs_tensorflow(args):
        import_tensorflow_quietly()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("tensorflow").setLevel(logging.WARNING)  # its INFO lines (one per all-reduce) drown ours
    try:
        return command.run(args)
    except ASRError as exc:
        print(f"asr: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("asr: interrupted" + (" (continue with --resume)" if args.command == "train" else ""),
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

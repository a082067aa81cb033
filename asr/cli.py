"""The ``asr`` command line: each command parses its arguments and calls one library function."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys


def _add_model(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="a .keras file or a folder holding model.keras "
                        "(default: the shipped model in saved_models/commands)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asr", description="Train, evaluate and run BiLSTM-CTC speech recognisers.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("synth", help="synthesise a corpus with espeak-ng and flite")
    p.add_argument("--config", help="take the corpus section of this YAML recipe")
    p.add_argument("--grammar", help="built-in grammar: digits | commands")
    p.add_argument("--text-file", help="UTF-8 sentences, one a line, instead of a grammar")
    p.add_argument("--out", dest="out_dir", help="output folder")
    p.add_argument("--n-train", type=int)
    p.add_argument("--n-dev", type=int)
    p.add_argument("--n-test", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--engines", nargs="+", help="espeak-ng and/or flite")
    p.add_argument("--random-voices", type=int, help="extra random espeak-ng speakers for training")
    p.add_argument("--holdout", choices=["voice", "engine"],
                   help="voice: unseen voices in dev/test; engine: test on flite only")

    p = commands.add_parser("train", help="train a model from a YAML recipe")
    p.add_argument("--config", required=True, help="YAML recipe, e.g. configs/commands.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=5 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")

    p = commands.add_parser("evaluate", help="WER, CER and real-time factor on a manifest")
    _add_model(p)
    p.add_argument("--manifest", required=True, help="JSONL manifest")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--worst", type=int, default=10, help="how many worst utterances to list")

    p = commands.add_parser("transcribe", help="transcribe audio files")
    _add_model(p)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("files", nargs="+", metavar="FILE")
    return parser


def cmd_synth(args: argparse.Namespace) -> int:
    import dataclasses

    from asr.config import CorpusConfig, load_config
    from asr.synth import make_corpus

    # each corpus field has a flag of the same name; given flags override the config
    names = [f.name for f in dataclasses.fields(CorpusConfig)]
    overrides = [f"corpus.{n}={json.dumps(getattr(args, n))}" for n in names if getattr(args, n) is not None]
    if args.text_file is not None and args.grammar is None:
        overrides.append("corpus.grammar=null")
    corpus = load_config(args.config, overrides).corpus
    manifests = make_corpus(**vars(corpus))
    for split, path in manifests.items():
        print(f"{split}: {path}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from asr.config import load_config
    from asr.training import train

    metrics = train(load_config(args.config, args.overrides), resume=args.resume)
    print(json.dumps(metrics, indent=2))
    return 0


def _percent(x: float) -> str:
    return f"{100 * x:.2f} %"


def cmd_evaluate(args: argparse.Namespace) -> int:
    from asr.evaluation import evaluate
    from asr.inference import load

    result = evaluate(load(args.model), args.manifest, worst=args.worst)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"utterances  {result['utterances']} ({result['audio_seconds']:.1f} s of audio, "
          f"{result['skipped']} skipped)")
    print(f"WER         {_percent(result['wer'])}")
    print(f"CER         {_percent(result['cer'])}")
    print(f"RTF         {result['rtf']:.4f} (wall seconds per audio second)")
    if result["worst"]:
        print("worst utterances:")
        for row in result["worst"]:
            print(f"  {_percent(row['wer'])} WER  {os.path.basename(row['audio_filepath'])}\n"
                  f"    ref: {row['reference']}\n    hyp: {row['hypothesis']}")
    return 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    from asr.inference import load

    failed = 0
    for path, text, error in load(args.model).transcribe_files(args.files):
        if error is not None:
            failed += 1
            print(f"asr: error: {error}", file=sys.stderr)
            if args.format == "json":
                print(json.dumps({"file": path, "error": error}), flush=True)
        elif args.format == "json":
            print(json.dumps({"file": path, "text": text}), flush=True)
        else:
            print(f"{path}\t{text}" if len(args.files) > 1 else text, flush=True)
    return 1 if failed else 0


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up log lines (which no environment
    variable silences in TF 2.21) sent to /dev/null; errors are re-raised loudly."""
    if "tensorflow" in sys.modules:
        return
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            try:
                import tensorflow as tf

                tf.config.list_physical_devices()  # device probing logs happen here
            except Exception:
                pass  # imported again below with stderr back, so the error is seen
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    import tensorflow  # noqa: F401


COMMANDS = {"synth": cmd_synth, "train": cmd_train, "evaluate": cmd_evaluate, "transcribe": cmd_transcribe}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``asr`` console script and ``python -m asr``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's C++ start-up chatter off the terminal
    args = build_parser().parse_args(argv)
    if args.command != "synth":
        import_tensorflow_quietly()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    from asr.errors import ASRError

    try:
        return COMMANDS[args.command](args)
    except ASRError as exc:
        print(f"asr: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("asr: interrupted" + (" (continue with --resume)" if args.command == "train" else ""),
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

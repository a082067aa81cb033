"""The ``asr`` command line: each command parses its arguments and calls one library function."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys


def _add_model(parser: argparse.ArgumentParser, tflite: bool = True) -> None:
    kinds = "a .keras file, a folder holding model.keras" + (" or an exported .tflite file" if tflite else "")
    parser.add_argument("--model", help=f"{kinds} (default: the shipped model in saved_models/commands)")


def _names(text: str) -> list[str]:
    """A comma-separated list argument: ``a,b`` → ``["a", "b"]``."""
    return [item.strip() for item in text.split(",") if item.strip()]


def _add_decoder(parser: argparse.ArgumentParser) -> None:
    """The decoding flags; their defaults are ``BeamSearchDecoder``'s, shown from its signature."""
    import inspect

    from asr.decoding import BeamSearchDecoder

    default = {name: p.default for name, p in inspect.signature(BeamSearchDecoder).parameters.items()}
    parser.add_argument("--beam-size", type=int, metavar="N",
                        help="CTC prefix beam search keeping N prefixes (default: greedy decoding; "
                             f"{default['beam_size']} when --lm or --hotwords is given)")
    parser.add_argument("--lm", metavar="PATH", help="word n-gram language model: ARPA (e.g. from `asr lm build`) "
                        "or KenLM binary (needs the kenlm module)")
    parser.add_argument("--alpha", type=float, help=f"language model weight (default: {default['alpha']})")
    parser.add_argument("--beta", type=float, help=f"bonus per word with --lm (default: {default['beta']})")
    parser.add_argument("--hotwords", type=_names, default=[], metavar="WORD[,WORD...]",
                        help="words to boost in the beam search")
    parser.add_argument("--hotword-weight", type=float,
                        help=f"bonus per hot word, natural log (default: {default['hotword_weight']})")


def _recognizer(args: argparse.Namespace):
    """``asr.load`` of ``--model`` with the decoder the decoding flags ask for."""
    from asr.decoding import make_decoder
    from asr.inference import load
    from asr.lm import load_lm

    lm = load_lm(args.lm) if args.lm else None  # before the model: a bad LM file fails fast
    recognizer = load(args.model)
    # the tokenizer travels inside the model file, so the decoder is made once the model is loaded
    recognizer.decoder = make_decoder(recognizer.tokenizer, beam_size=args.beam_size, lm=lm, alpha=args.alpha,
                                      beta=args.beta, hotwords=args.hotwords, hotword_weight=args.hotword_weight)
    return recognizer


def build_parser() -> argparse.ArgumentParser:
    from asr.lm import DEFAULT_ORDER

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
    _add_decoder(p)
    p.add_argument("--manifest", required=True, help="JSONL manifest")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--worst", type=int, default=10, help="how many worst utterances to list")

    p = commands.add_parser("transcribe", help="transcribe audio files")
    _add_model(p)
    _add_decoder(p)
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.add_argument("files", nargs="+", metavar="FILE")

    p = commands.add_parser("lm", help="word n-gram language models for the beam search")
    lm_commands = p.add_subparsers(dest="lm_command", required=True, metavar="LM_COMMAND")
    q = lm_commands.add_parser("build", help="build an ARPA model (interpolated modified Kneser-Ney) from text")
    q.add_argument("text", metavar="TEXT", help="UTF-8 sentences, one a line, or a JSONL manifest (its text fields)")
    q.add_argument("--order", type=int, default=DEFAULT_ORDER, help=f"n-gram order (default: {DEFAULT_ORDER})")
    q.add_argument("--out", required=True, help="the ARPA file to write, e.g. lm.arpa")

    p = commands.add_parser("export", help="export to a TF Serving SavedModel and builtins-only TFLite")
    _add_model(p, tflite=False)
    p.add_argument("--out", dest="out_dir", required=True, help="output folder")
    p.add_argument("--formats", type=_names, default=["saved_model", "tflite"],
                   help="comma-separated: saved_model,tflite (default: both)")
    p.add_argument("--quantize", type=_names, default=["none"],
                   help="comma-separated TFLite variants: none,float16,dynamic,int8 (default: none)")
    p.add_argument("--calibration-manifest", help="JSONL manifest whose audio calibrates int8 "
                   "(e.g. data/commands/train.jsonl)")
    p.add_argument("--calibration-samples", type=int, default=100, help="utterances drawn from it")

    from asr.importers import FORMATS

    p = commands.add_parser("prepare", help="import a corpus (LibriSpeech, Common Voice, Kaldi...) into manifests")
    p.add_argument("kind", choices=list(FORMATS), metavar="KIND", help=f"corpus layout: {', '.join(FORMATS)}")
    p.add_argument("src", metavar="SRC", help="the corpus folder or file (see docs/IMPORTERS.md)")
    p.add_argument("--out", dest="out_dir", required=True, metavar="DIR",
                   help="folder for NAME.jsonl and NAME.skipped.jsonl")
    p.add_argument("--split", metavar="NAME", help="commonvoice/deepspeech: the TSV/CSV to read "
                   "(default: train, dev, test); librispeech/kaldi: a subfolder of SRC")
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

    result = evaluate(_recognizer(args), args.manifest, worst=args.worst)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"utterances  {result['utterances']} ({result['audio_seconds']:.1f} s of audio, "
          f"{result['skipped']} skipped)")
    print(f"WER         {_percent(result['wer'])}")
    print(f"CER         {_percent(result['cer'])}")
    print(f"RTF         {result['rtf']:.4f} (wall seconds per audio second)")
    print(f"decoding    {result['decode_ms_per_utterance']:.2f} ms per utterance")
    for title, groups in (("by length", result["by_length"]), ("by speaker", result["by_speaker"])):
        if groups:
            print(f"{title}:")
            width = max(len(name) for name in groups)
            for name, rates in groups.items():
                print(f"  {name:{width}s} {rates['utterances']:5d} utts  WER {_percent(rates['wer']):>9s}  "
                      f"CER {_percent(rates['cer']):>9s}")
    if result["worst"]:
        print("worst utterances:")
        for row in result["worst"]:
            print(f"  {_percent(row['wer'])} WER  {os.path.basename(row['audio_filepath'])}\n"
                  f"    ref: {row['reference']}\n    hyp: {row['hypothesis']}")
    return 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    failed = 0
    for path, text, error in _recognizer(args).transcribe_files(args.files):
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


def cmd_lm(args: argparse.Namespace) -> int:
    from asr.lm import build_lm

    info = build_lm(args.text, args.out, order=args.order)  # the only LM command so far: build
    counts = ", ".join(f"{n} {k}-grams" for k, n in enumerate(info["ngrams"], 1))
    print(f"{info['path']}: {info['order']}-gram ARPA (interpolated modified Kneser-Ney) from "
          f"{info['sentences']} sentences: {counts}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from asr.export import export_model

    written = export_model(args.model, args.out_dir, formats=args.formats, quantize=args.quantize,
                           calibration_manifest=args.calibration_manifest,
                           calibration_samples=args.calibration_samples)
    for name, path in written.items():
        print(f"{name}: {path}")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from asr.errors import ASRError
    from asr.importers import prepare

    results = prepare(args.kind, args.src, args.out_dir, split=args.split)
    for result in results:
        reasons = ", ".join(f"{n} {reason}" for reason, n in result.skipped.most_common(5))
        more = len(result.skipped) - 5
        reasons += f", {more} more reason{'s' if more > 1 else ''}" if more > 0 else ""
        print(f"{result.manifest.stem}: kept {result.kept} ({result.hours:.2f} h, {result.seconds:.1f} s of audio), "
              f"skipped {result.skipped_total}" + (f" ({reasons})" if reasons else ""))
        print(f"  manifest: {result.manifest}\n  skipped:  {result.skipped_list}")
    if not any(result.kept for result in results):
        raise ASRError(f"{args.src}: nothing kept; the reasons are in "
                       f"{', '.join(str(r.skipped_list) for r in results)}")
    return 0


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up log lines (which no environment
    variable silences in TF 2.21) sent to /dev/null; errors are re-raised loudly."""
    if "tensorflow" in sys.modules:
        return
    from asr.quiet import quiet_stderr

    with quiet_stderr():
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # device probing logs happen here
        except Exception:
            pass  # imported again below with stderr back, so the error is seen
    import tensorflow  # noqa: F401


COMMANDS = {"synth": cmd_synth, "train": cmd_train, "evaluate": cmd_evaluate, "transcribe": cmd_transcribe,
            "export": cmd_export, "lm": cmd_lm, "prepare": cmd_prepare}


def needs_tensorflow(args: argparse.Namespace) -> bool:
    """Every command but synth, except transcribe/evaluate on an exported .tflite model (ai-edge-litert)."""
    if args.command in ("synth", "lm", "prepare"):  # lm: pure-Python n-gram counting; prepare: audio headers
        return False
    on_tflite = str(getattr(args, "model", None) or "").endswith(".tflite")
    return args.command == "export" or not on_tflite


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``asr`` console script and ``python -m asr``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's C++ start-up chatter off the terminal
    args = build_parser().parse_args(argv)
    if needs_tensorflow(args):
        import_tensorflow_quietly()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("tensorflow").setLevel(logging.WARNING)  # its INFO lines (one per all-reduce) drown ours
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

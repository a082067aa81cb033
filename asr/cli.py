"""The ``asr`` command line: each command parses its arguments and calls one library function."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from pathlib import Path


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
    p.add_argument("--train-flite-share", type=float, help="share of the training utterances said by flite (0-1)")
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

    from asr.longform import CHUNK_SECONDS, MAX_SECONDS

    p = commands.add_parser("transcribe", help="transcribe audio files, of any length, with word timestamps")
    _add_model(p)
    _add_decoder(p)
    p.add_argument("--format", choices=["text", "json", "srt", "vtt"], default="text",
                   help="text: the transcript (PATH<TAB>text with several files); json: one object per file "
                        "with file, text and words (word, start, end, confidence); srt/vtt: subtitles")
    p.add_argument("--chunk-seconds", type=float, default=CHUNK_SECONDS, metavar="S",
                   help=f"longer files are cut at their pauses into chunks of at most S seconds "
                        f"(default: {CHUNK_SECONDS:g}, the longest audio the model trained on)")
    p.add_argument("--max-seconds", type=float, default=MAX_SECONDS, metavar="S",
                   help=f"refuse longer files (default: {MAX_SECONDS:g})")
    p.add_argument("--out-dir", metavar="DIR", help="srt/vtt: write each file's subtitles to DIR/STEM.srt "
                   "(or .vtt) instead of printing them; needed with several files")
    p.add_argument("--plot", metavar="PNG", help="draw the log-mel spectrogram with the words at their times "
                   "and the per-frame confidence; with several files, one PNG each, named PNG-STEM.png")
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

    p = commands.add_parser("bench", help="benchmark training throughput (vs PyTorch), batch-1 speed of every "
                            "runtime, GFLOP/s and feature extraction; writes results.json and RESULTS.md")
    _add_model(p, tflite=False)
    p.add_argument("--config", default="configs/commands.yaml",
                   help="recipe whose architecture and batch size the training rows use (default: %(default)s)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value (repeatable)")
    p.add_argument("--out", dest="out_dir", default="benchmarks", help="output folder (default: %(default)s)")
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
    p.add_argument("--note", default="", help="a line written at the top of RESULTS.md")
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


def file_tags(files: list[str]) -> list[str]:
    """A distinct name per input file for its outputs: its stem, with ``-2``,
    ``-3``... added to a stem seen before (``a/x.wav``, ``b/x.wav`` → ``x``, ``x-2``)."""
    seen: dict[str, int] = {}
    tags = []
    for file in files:
        stem = Path(file).stem
        seen[stem] = seen.get(stem, 0) + 1
        tags.append(stem if seen[stem] == 1 else f"{stem}-{seen[stem]}")
    return tags


def plot_paths(template: str, files: list[str]) -> list[Path]:
    """``--plot``'s PNG per file: ``template`` itself for one file, else
    ``template`` with ``-TAG`` added (``out.png`` → ``out-turn_on.png``; see ``file_tags``)."""
    template = Path(template)
    if len(files) == 1:
        return [template]
    return [template.with_name(f"{template.stem}-{tag}{template.suffix}") for tag in file_tags(files)]


@contextlib.contextmanager
def _writing(path: Path):
    """Turn an OS error while writing ``path`` into a one-line ``ASRError``."""
    from asr.errors import ASRError

    try:
        yield
    except OSError as exc:
        raise ASRError(f"{path}: cannot write ({exc.strerror or exc})") from None


def cmd_transcribe(args: argparse.Namespace) -> int:
    from asr.errors import ASRError

    subtitles = args.format in ("srt", "vtt")
    if subtitles and len(args.files) > 1 and args.out_dir is None:
        raise ASRError(f"--format {args.format} with several files needs --out-dir (one subtitle file each)")
    if args.out_dir is not None and not subtitles:
        raise ASRError("--out-dir is for --format srt or vtt")
    from asr.longform import check_lengths

    check_lengths(args.chunk_seconds, args.max_seconds)  # before the model loads: a typo costs no start-up
    plots = plot_paths(args.plot, args.files) if args.plot else None
    if args.out_dir is not None:
        subtitle_files = [Path(args.out_dir) / f"{tag}.{args.format}" for tag in file_tags(args.files)]
    recognizer = _recognizer(args)
    failed = 0
    results = recognizer.transcribe_long_files(args.files, chunk_seconds=args.chunk_seconds,
                                               max_seconds=args.max_seconds)
    for i, (path, transcript, error) in enumerate(results):
        try:
            if error is not None:
                raise ASRError(error)
            _print_transcript(args, path, transcript, subtitle_files[i] if args.out_dir else None)
            if plots:
                from asr.plots import plot_transcript

                samples = recognizer.samples(path, max_duration=args.max_seconds)
                with _writing(plots[i]):
                    plot_transcript(samples, recognizer.features, transcript, plots[i], title=path)
        except ASRError as exc:
            failed += 1
            print(f"asr: error: {exc}", file=sys.stderr)
            if args.format == "json" and error is not None:
                print(json.dumps({"file": path, "error": str(exc)}), flush=True)
    return 1 if failed else 0


def _print_transcript(args: argparse.Namespace, path: str, transcript, subtitle_file) -> None:
    """Print (or, for subtitles with ``--out-dir``, write) one file's transcript in ``--format``."""
    from asr.subtitles import to_srt, to_vtt

    if args.format == "json":
        print(json.dumps({"file": path, **transcript.to_dict()}), flush=True)
    elif args.format == "text":
        print(f"{path}\t{transcript.text}" if len(args.files) > 1 else transcript.text, flush=True)
    else:
        text = (to_srt if args.format == "srt" else to_vtt)(transcript.words)
        if subtitle_file is None:
            print(text, end="", flush=True)
        else:
            from asr.data import atomic_write_text

            with _writing(subtitle_file):
                atomic_write_text(subtitle_file, text)
            print(f"{path}\t{subtitle_file}", flush=True)


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


def cmd_bench(args: argparse.Namespace) -> int:
    from asr.bench import run_bench

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
            "export": cmd_export, "lm": cmd_lm, "prepare": cmd_prepare, "bench": cmd_bench}


def needs_tensorflow(args: argparse.Namespace) -> bool:
    """Every command but synth, lm, prepare and bench, except transcribe/evaluate on an exported .tflite
    model (ai-edge-litert)."""
    # lm: pure-Python n-gram counting; prepare: audio headers; bench: its spawned processes import TensorFlow
    if args.command in ("synth", "lm", "prepare", "bench"):
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

"""``asr transcribe``: audio files of any length → text, JSON with word times, or subtitles."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from asr.cli.common import add_decoder, add_model, on_tflite, recognizer, writing
from asr.audio.files import expand_audio_paths
from asr.core.atomic import atomic_write_text
from asr.core.errors import ASRError
from asr.inference.longform import CHUNK_SECONDS, MAX_SECONDS, check_lengths
from asr.inference.plot import plot_transcript
from asr.inference.subtitles import to_srt, to_vtt


def add_parser(commands) -> None:
    p = commands.add_parser("transcribe", help="transcribe audio files, of any length, with word timestamps")
    add_model(p)
    add_decoder(p)
    p.add_argument("--format", choices=["text", "json", "srt", "vtt"], default="text",
                   help="text: the transcript (PATH<TAB>text with several files); json: one object per file "
                        "with file, text and words (word, start, end, confidence); srt/vtt: subtitles "
                        "(default: %(default)s)")
    p.add_argument("--chunk-seconds", type=float, default=CHUNK_SECONDS, metavar="S",
                   help=f"longer files are cut at their pauses into chunks of at most S seconds "
                        f"(default: {CHUNK_SECONDS:g}, the longest audio the model trained on)")
    p.add_argument("--max-seconds", type=float, default=MAX_SECONDS, metavar="S",
                   help=f"refuse longer files (default: {MAX_SECONDS:g})")
    p.add_argument("--out-dir", metavar="DIR", help="srt/vtt: write each file's subtitles to DIR/STEM.srt "
                   "(or .vtt) instead of printing them; needed with several files")
    p.add_argument("--plot", metavar="PNG", help="draw the log-mel spectrogram with the words at their times "
                   "and the per-frame confidence; with several files, one PNG each, named PNG-STEM.png")
    p.add_argument("files", nargs="+", metavar="FILE", help="audio files, or folders: their audio files")


def needs_tensorflow(args: argparse.Namespace) -> bool:
    return not on_tflite(args)


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


def run(args: argparse.Namespace) -> int:
    subtitles = args.format in ("srt", "vtt")
    if subtitles and len(args.files) > 1 and args.out_dir is None:
        raise ASRError(f"--format {args.format} with several files needs --out-dir (one subtitle file each)")
    if args.out_dir is not None and not subtitles:
        raise ASRError("--out-dir is for --format srt or vtt")
    check_lengths(args.chunk_seconds, args.max_seconds)  # before the model loads: a typo costs no start-up
    args.files = expand_audio_paths(args.files)  # a directory: its audio files
    plots = plot_paths(args.plot, args.files) if args.plot else None
    if args.out_dir is not None:
        subtitle_files = [Path(args.out_dir) / f"{tag}.{args.format}" for tag in file_tags(args.files)]
    model = recognizer(args)
    if args.grammar is not None:
        return _match_files(args, model)
    failed = 0
    results = model.transcribe_long_files(args.files, chunk_seconds=args.chunk_seconds, max_seconds=args.max_seconds)
    for i, (path, transcript, error) in enumerate(results):
        try:
            if error is not None:
                raise ASRError(error)
            _print_transcript(args, path, transcript, subtitle_files[i] if args.out_dir else None)
            if plots:
                _plot(model, path, transcript, plots[i], args.max_seconds)
        except ASRError as exc:
            failed += 1
            print(f"asr: error: {exc}", file=sys.stderr)
            if args.format == "json" and error is not None:
                print(json.dumps({"file": path, "error": str(exc)}), flush=True)
    return 1 if failed else 0


def _match_files(args: argparse.Namespace, model) -> int:
    """``--grammar``: each file's grammar sentence ("" when rejected); JSON adds the score and tags."""
    if args.format not in ("text", "json") or args.plot:
        raise ASRError("--grammar prints text or json (no subtitles or plots)")
    failed = 0
    for path in args.files:
        try:
            found = model.match(path)
        except ASRError as exc:
            failed += 1
            print(f"asr: error: {exc}", file=sys.stderr)
            continue
        if args.format == "json":
            print(json.dumps({"file": path, **found.to_dict()}), flush=True)
        else:
            print(f"{path}\t{found.text}" if len(args.files) > 1 else found.text, flush=True)
    return 1 if failed else 0


def _plot(model, path: str, transcript, png: Path, max_seconds: float) -> None:
    """``--plot``: the file's spectrogram with its words, into ``png``."""
    samples = model.samples(path, max_duration=max_seconds)
    with writing(png):
        plot_transcript(samples, model.features, transcript, png, title=path)


def _print_transcript(args: argparse.Namespace, path: str, transcript, subtitle_file) -> None:
    """Print (or, for subtitles with ``--out-dir``, write) one file's transcript in ``--format``."""
    if args.format == "json":
        print(json.dumps({"file": path, **transcript.to_dict()}), flush=True)
    elif args.format == "text":
        print(f"{path}\t{transcript.text}" if len(args.files) > 1 else transcript.text, flush=True)
    else:
        text = (to_srt if args.format == "srt" else to_vtt)(transcript.words)
        if subtitle_file is None:
            print(text, end="", flush=True)
        else:
            with writing(subtitle_file):
                atomic_write_text(subtitle_file, text)
            print(f"{path}\t{subtitle_file}", flush=True)

"""``asr prepare``: another toolkit's corpus (LibriSpeech, Common Voice, Kaldi...) → manifests."""

from __future__ import annotations

import argparse

from asr.core.errors import ASRError
from asr.data.importers import FORMATS, prepare


def add_parser(commands) -> None:
    p = commands.add_parser("prepare", help="import a corpus (LibriSpeech, Common Voice, Kaldi...) into manifests")
    p.add_argument("kind", choices=list(FORMATS), metavar="KIND", help=f"corpus layout: {', '.join(FORMATS)}")
    p.add_argument("src", metavar="SRC", help="the corpus folder or file (see docs/IMPORTERS.md)")
    p.add_argument("--out", dest="out_dir", required=True, metavar="DIR",
                   help="folder for NAME.jsonl and NAME.skipped.jsonl")
    p.add_argument("--split", metavar="NAME", help="commonvoice/deepspeech: the TSV/CSV to read "
                   "(default: train, dev, test); librispeech/kaldi: a subfolder of SRC")


def needs_tensorflow(args: argparse.Namespace) -> bool:
    return False  # audio headers and text only


def run(args: argparse.Namespace) -> int:
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

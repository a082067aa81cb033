"""``asr evaluate``: WER, CER and speed of a model on a manifest."""

from __future__ import annotations

import argparse
import json
import os

from asr.cli.common import add_decoder, add_model, on_tflite, percent, recognizer


def add_parser(commands) -> None:
    p = commands.add_parser("evaluate", help="WER, CER and real-time factor on a manifest")
    add_model(p)
    add_decoder(p)
    p.add_argument("--manifest", required=True, help="JSONL manifest")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--worst", type=int, default=10, help="how many worst utterances to list (default: %(default)s)")


MAX_SPEAKER_LINES = 12  # more speakers than this: only the worst half of it in the text report


def needs_tensorflow(args: argparse.Namespace) -> bool:
    return not on_tflite(args)


def run(args: argparse.Namespace) -> int:
    from asr.evaluation.evaluate import evaluate  # here, as in every command: `asr --help` stays light

    result = evaluate(recognizer(args), args.manifest, worst=args.worst)
    if args.json:
        print(json.dumps(result.to_dict()))
        return 0
    print(f"utterances  {result.utterances} ({result.audio_seconds:.1f} s of audio, {result.skipped} skipped)")
    print(f"WER         {percent(result.wer)}")
    print(f"CER         {percent(result.cer)}")
    print(f"sentences   {percent(result.sentence_error)} wrong")
    print(f"RTF         {result.rtf:.4f} (wall seconds per audio second)")
    print(f"decoding    {result.decode_ms_per_utterance:.2f} ms per utterance")
    speakers = result.by_speaker
    if len(speakers) > MAX_SPEAKER_LINES:  # a synthetic corpus has hundreds of voices: the worst, then --json
        worst = sorted(speakers.items(), key=lambda item: (-item[1].wer, item[0]))[:MAX_SPEAKER_LINES // 2]
        speakers = dict(worst)
    for title, groups in (("by length", result.by_length), ("by engine", result.by_engine),
                          ("by speaker" if speakers is result.by_speaker else
                           f"by speaker ({len(result.by_speaker)}; the {len(speakers)} worst, --json lists each)",
                           speakers),
                          ("by sentence (trained on or held out)", result.by_sentence)):
        if groups:
            print(f"{title}:")
            width = max(len(name) for name in groups)
            for name, rates in groups.items():
                print(f"  {name:{width}s} {rates.utterances:5d} utts  WER {percent(rates.wer):>9s}  "
                      f"CER {percent(rates.cer):>9s}")
    if result.worst:
        print("worst utterances:")
        for row in result.worst:
            print(f"  {percent(row.wer)} WER  {os.path.basename(row.audio_filepath)}\n"
                  f"    ref: {row.reference}\n    hyp: {row.hypothesis}")
    return 0

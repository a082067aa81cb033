"""``asr listen``: transcribe the microphone (or a file at real-time pace) as someone speaks."""

from __future__ import annotations

import argparse

from asr.cli.common import add_decoder, add_model, on_tflite, recognizer
from asr.live.stream import PARTIAL_SECONDS, PAUSE_SECONDS


def add_parser(commands) -> None:
    p = commands.add_parser("listen", help="live transcription from the microphone, with partial results")
    add_model(p)
    add_decoder(p)
    p.add_argument("--input", metavar="FILE", help="play this file as if spoken now, instead of the microphone")
    p.add_argument("--speed", type=float, default=1.0,
                   help="with --input: 1 is real time, 0 as fast as possible (default: 1)")
    p.add_argument("--device", help="input device name or number (default: the system's default microphone)")
    p.add_argument("--pause", type=float, default=PAUSE_SECONDS,
                   help=f"seconds of silence that end an utterance (default: {PAUSE_SECONDS})")
    p.add_argument("--partial-ms", type=int, default=int(PARTIAL_SECONDS * 1000),
                   help=f"re-decode the open utterance every this many ms of audio (default: "
                        f"{int(PARTIAL_SECONDS * 1000)}; 0: finals only)")
    p.add_argument("--format", choices=["text", "json"], default="text",
                   help="text: each utterance's transcript (partials on a terminal line); json: one object per "
                        "partial and final result, with times, words and confidences (default: %(default)s)")


def needs_tensorflow(args: argparse.Namespace) -> bool:
    return not on_tflite(args)


def run(args: argparse.Namespace) -> int:
    # here, as in every command: `asr --help` stays light
    from asr.live.listen import listen
    from asr.live.sources import FileSource, MicSource
    from asr.live.stream import StreamingRecognizer

    model = recognizer(args)
    rate = model.sample_rate
    device = int(args.device) if args.device and args.device.isdigit() else args.device
    source = FileSource(args.input, rate, args.speed) if args.input else MicSource(rate, device)
    streamer = StreamingRecognizer(model, args.pause, args.partial_ms / 1000)
    listen(streamer, source, args.format)
    return 0

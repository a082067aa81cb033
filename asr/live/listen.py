"""``asr listen``'s loop: a source's blocks through a ``StreamingRecognizer``, each result
printed as it comes (text: partials overwrite one line on a terminal, finals stay; JSON
lines: every result)."""

from __future__ import annotations

import json
import sys
from typing import Iterable, TextIO

from asr.live.stream import Result, StreamingRecognizer


def print_result(result: Result, fmt: str, out: TextIO, tty: bool) -> None:
    """One result in ``fmt`` (``text`` or ``json``)."""
    if fmt == "json":
        print(json.dumps(result.to_dict()), file=out, flush=True)
    elif result.final:
        if result.text:
            print(("\r\033[K" if tty else "") + result.text, file=out, flush=True)
        elif tty:
            print("\r\033[K", end="", file=out, flush=True)
    elif tty:  # a partial: overwritten by the next result
        print(f"\r\033[K{result.text}...", end="", file=out, flush=True)


def listen(streamer: StreamingRecognizer, blocks: Iterable, fmt: str = "text", out: TextIO = sys.stdout) -> int:
    """Feed every block, print every result, flush at the end of the source; the finals' count."""
    tty = out.isatty()
    finals = 0
    for block in blocks:
        for result in streamer.feed(block):
            finals += result.final
            print_result(result, fmt, out, tty)
    for result in streamer.flush():
        finals += 1
        print_result(result, fmt, out, tty)
    return finals

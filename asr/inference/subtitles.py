"""Subtitles from timed words: SubRip (``.srt``) and WebVTT (``.vtt``).

Words are grouped into cues: a cue ends at a pause of ``PAUSE_SECONDS`` or
more, before it would last longer than ``MAX_CUE_SECONDS``, or before its text
would pass ``MAX_CUE_CHARS`` characters (about one subtitle line). A cue runs
from its first word's start to its last word's end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from asr.decoding.alignment import Word

PAUSE_SECONDS = 0.5
MAX_CUE_SECONDS = 5.0
MAX_CUE_CHARS = 42  # the common one-line subtitle limit


@dataclass(frozen=True)
class Cue:
    """One subtitle: ``start`` and ``end`` in seconds, and its text."""

    start: float
    end: float
    text: str


def group_cues(words: Sequence[Word], pause: float = PAUSE_SECONDS, max_seconds: float = MAX_CUE_SECONDS,
               max_chars: int = MAX_CUE_CHARS) -> list[Cue]:
    """Group timed words into cues (see the module docstring); a single word
    longer than the limits is a cue of its own."""
    cues: list[Cue] = []
    group: list[Word] = []
    for word in words:
        if group and (word.start - group[-1].end >= pause or word.end - group[0].start > max_seconds
                      or len(" ".join(w.word for w in group)) + 1 + len(word.word) > max_chars):
            cues.append(Cue(group[0].start, group[-1].end, " ".join(w.word for w in group)))
            group = []
        group.append(word)
    if group:
        cues.append(Cue(group[0].start, group[-1].end, " ".join(w.word for w in group)))
    return cues


def timestamp(seconds: float, separator: str = ",") -> str:
    """``HH:MM:SS,mmm`` (SubRip; WebVTT uses ``.`` as ``separator``), rounded to the millisecond."""
    ms = max(0, int(round(seconds * 1000)))
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def to_srt(words: Sequence[Word]) -> str:
    """SubRip text: numbered cues separated by blank lines (empty for no words)."""
    return "".join(f"{i}\n{timestamp(c.start)} --> {timestamp(c.end)}\n{c.text}\n\n"
                   for i, c in enumerate(group_cues(words), 1))


def to_vtt(words: Sequence[Word]) -> str:
    """WebVTT text: the ``WEBVTT`` header, then one cue per block."""
    return "WEBVTT\n\n" + "".join(f"{timestamp(c.start, '.')} --> {timestamp(c.end, '.')}\n{c.text}\n\n"
                                  for c in group_cues(words))

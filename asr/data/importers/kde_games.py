"""Real English speech from two KDE games packaged in Debian main: a dev set for
measuring only, never for training (docs/REAL_SPEECH.md).

* ``ktuberling-data``: 72 single words by one speaker,
  ``/usr/share/ktuberling/sounds/en/*.ogg`` (44.1 kHz stereo Vorbis). The word
  is the file name after the theme prefix (``pizzeria_anchovy`` → "anchovy"),
  with the spelling fixes in ``KTUBERLING_FIXES``. The game's index
  ``sounds/en.soundtheme`` is the second source; ``ktuberling_crosscheck``
  lists where the two disagree.
* ``klettres-data``: letters and short words by two other speakers
  (``/usr/share/klettres/en`` and ``en_GB``, 44.1 kHz). The label is the
  ``name`` attribute in ``<lang>/sounds.xml``, the game's own index.

How a letter is written: as the letter itself, lowercase ("b"), not as its
name ("bee"). That is what ``asr.text`` normalisation makes of "B", what a user
writes in a phrase list of letters, and what a character CTC model must emit
to spell. An initialism said letter by letter is written the same way, one
letter a word ("u f o").

Durations are measured from the audio (soundfile, through ``check_item``), and
every transcript must encode with the tokenizer; the manifests hold absolute
paths to the installed files (nothing is copied).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from asr.core.atomic import LineWriter
from asr.core.errors import ManifestError
from asr.data.importers.base import Candidate, Skipped
from asr.data.importers.check import check_item
from asr.data.manifest import ManifestWriter, write_manifest
from asr.text import Tokenizer

KTUBERLING_PACKAGE = "ktuberling-data"
KLETTRES_PACKAGE = "klettres-data"
KTUBERLING_DIR = Path("/usr/share/ktuberling")
KLETTRES_DIR = Path("/usr/share/klettres")
KLETTRES_LANGUAGES = ("en", "en_GB")

# ktuberling file names are "<theme>_<word>" for these themes, a bare "<word>" for the default one
KTUBERLING_THEMES = ("egypt", "moon", "pizzeria", "tv")

# Every ktuberling word was read against a dictionary; these are the ones written otherwise
# than their file name (or index name):
KTUBERLING_FIXES = {
    "broccolli": "broccoli",  # the file name's misspelling of the vegetable
    "brocolli": "broccoli",  # the index's (en.soundtheme) other misspelling of the same clip
    "sphynx": "sphinx",  # "Sphynx" is a cat breed; the Egyptian monument (egypt theme) is the sphinx
    "fallingstar": "falling star",  # two words in dictionaries
    "palmtree": "palm tree",  # two words in dictionaries
    "ufo": "u f o",  # an initialism, written as its letters like the klettres letters; not checked by ear
}
# Judgement calls kept as the file names have them (listed so that the choice is visible):
# "moustache" (the British spelling; US "mustache"), "moonwalker" (one word, as in Wiktionary),
# "spectacles", "sunglasses", "earring", "eyebrow", "pepperoni" (dictionary words as they are).

# klettres "syllables" that are spelling sounds (digraphs, a vowel sound), not words: kept with
# their sounds.xml label, marked kind "sound" so they can be scored apart
KLETTRES_SOUNDS = {"aw", "ch", "th"}

SPEAKERS = {"ktuberling": "ktuberling", "en": "klettres-en", "en_GB": "klettres-en_gb"}
SUBSETS = ("ktuberling", "klettres_en", "klettres_en_gb")


def ktuberling_word(stem: str) -> str:
    """The transcript of a ktuberling clip from its file (or index) name: the word
    after the theme prefix, with ``KTUBERLING_FIXES`` applied."""
    theme, _, word = stem.partition("_")
    if not word or theme not in KTUBERLING_THEMES:
        word = stem
    return KTUBERLING_FIXES.get(word, word)


def _sounds(root: Path, lang: str) -> Path:
    return root / "sounds" / lang


def check_installed(ktuberling_root: Path = KTUBERLING_DIR, klettres_root: Path = KLETTRES_DIR) -> None:
    """Raise ``ManifestError`` (one line, naming the apt package) when either game's files are missing."""
    if not any(_sounds(ktuberling_root, "en").glob("*.ogg")):
        raise ManifestError(f"{_sounds(ktuberling_root, 'en')}: no English ktuberling sounds; "
                            f"install them with: apt-get install {KTUBERLING_PACKAGE}")
    for lang in KLETTRES_LANGUAGES:
        if not (klettres_root / lang / "sounds.xml").is_file():
            raise ManifestError(f"{klettres_root / lang / 'sounds.xml'}: not found; "
                                f"install it with: apt-get install {KLETTRES_PACKAGE}")


def read_ktuberling(root: Path = KTUBERLING_DIR, lang: str = "en") -> Iterator[Candidate]:
    """One candidate per ``sounds/<lang>/*.ogg`` file, in name order; the text is
    ``ktuberling_word`` of the file name."""
    for path in sorted(_sounds(root, lang).glob("*.ogg")):
        yield Candidate(path, ktuberling_word(path.stem), str(path),
                        {"speaker": SPEAKERS["ktuberling"], "source": f"{KTUBERLING_PACKAGE}:sounds/{lang}/{path.name}",
                         "kind": "word"})


def _klettres_entries(root: Path, lang: str) -> list[tuple[str, str, str]]:
    """``(section, name, file)`` for every ``<sound>`` of ``<lang>/sounds.xml``."""
    xml = root / lang / "sounds.xml"
    try:
        tree = ET.parse(xml)  # a system file of a Debian package, not untrusted input
    except (OSError, ET.ParseError) as exc:
        raise ManifestError(f"{xml}: cannot read ({exc})") from None
    return [(section.tag, sound.get("name", ""), sound.get("file", ""))
            for section in tree.getroot().iter() if section.tag in ("alphabet", "syllables")
            for sound in section.iter("sound")]


def read_klettres(root: Path = KLETTRES_DIR, lang: str = "en") -> Iterator[Candidate]:
    """One candidate per ``<sound>`` of ``<lang>/sounds.xml``, in its order: the
    ``name`` attribute lowercased (a letter is the letter itself: "b")."""
    for section, name, file in _klettres_entries(root, lang):
        text = name.strip().lower()
        kind = "letter" if section == "alphabet" else ("sound" if text in KLETTRES_SOUNDS else "word")
        yield Candidate(root / file, text, f"{root / lang / 'sounds.xml'}:{name}",
                        {"speaker": SPEAKERS[lang], "source": f"{KLETTRES_PACKAGE}:{file}", "kind": kind})


def ktuberling_crosscheck(root: Path = KTUBERLING_DIR, lang: str = "en") -> list[str]:
    """Where the file names and the game's index (``sounds/<lang>.soundtheme``) disagree:
    a clip the index does not list, an index entry without its file, an index name
    whose word differs from the file name's, or different spellings mended alike."""
    index = root / "sounds" / f"{lang}.soundtheme"
    if not index.is_file():
        return [f"{index}: no index to cross-check against"]
    try:
        entries = [(s.get("name", ""), s.get("file", "")) for s in ET.parse(index).getroot().iter("sound")]
    except ET.ParseError as exc:
        return [f"{index}: cannot read ({exc})"]
    notes, listed = [], set()
    for name, file in entries:
        path = root / "sounds" / file
        listed.add(path.name)
        if not path.is_file():
            notes.append(f"index entry {name!r} names {file}, which is not there")
        elif name != path.stem:
            same = ktuberling_word(name) == ktuberling_word(path.stem)
            notes.append(f"index name {name!r} for file {path.name}: "
                         + (f"both mended to {ktuberling_word(name)!r}" if same else
                            f"{ktuberling_word(name)!r} against {ktuberling_word(path.stem)!r}"))
    for path in sorted(_sounds(root, lang).glob("*.ogg")):
        if path.name not in listed:
            notes.append(f"{path.name} is not in the index (transcript from its file name only: "
                         f"{ktuberling_word(path.stem)!r})")
    return notes


def klettres_crosscheck(root: Path = KLETTRES_DIR, lang: str = "en") -> list[str]:
    """Where ``<lang>/sounds.xml`` and the files disagree: an entry without its file,
    a file the index does not list, or a file name that is not its label."""
    notes, listed = [], set()
    for _, name, file in _klettres_entries(root, lang):
        path = root / file
        listed.add(path.resolve())
        if not path.is_file():
            notes.append(f"{lang}: entry {name!r} names {file}, which is not there")
        elif path.stem.lower() != name.strip().lower():
            notes.append(f"{lang}: entry {name!r} has file {file}")
    for path in sorted((root / lang).rglob("*.ogg")):
        if path.resolve() not in listed:
            notes.append(f"{lang}: {path.relative_to(root)} is not in sounds.xml")
    return notes


@dataclass
class RealSpeechResult:
    """What ``prepare_real_speech`` wrote.

    Attributes:
        manifests: subset name (``SUBSETS``, then ``all``) → manifest path.
        counts: utterances per subset.
        seconds: audio seconds per subset.
        phrases: the phrase list (every distinct transcript once).
        skipped: items left out (a transcript outside the tokenizer, unreadable audio).
        disagreements: the cross-checks' findings (``ktuberling_crosscheck``, ``klettres_crosscheck``).
    """

    manifests: dict[str, Path] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=dict)
    phrases: Path | None = None
    skipped: list[Skipped] = field(default_factory=list)
    disagreements: list[str] = field(default_factory=list)


def prepare_real_speech(out_dir: str | Path = "data/real", ktuberling_root: Path = KTUBERLING_DIR,
                        klettres_root: Path = KLETTRES_DIR, tokenizer: Tokenizer | None = None) -> RealSpeechResult:
    """Write ``ktuberling.jsonl``, ``klettres_en.jsonl``, ``klettres_en_gb.jsonl``,
    ``all.jsonl`` and ``phrases.txt`` (sorted, one transcript a line) to ``out_dir``.

    Raises:
        ManifestError: a package is not installed (the message names it).
    """
    tokenizer = tokenizer or Tokenizer()
    ktuberling_root, klettres_root, out_dir = Path(ktuberling_root), Path(klettres_root), Path(out_dir)
    check_installed(ktuberling_root, klettres_root)
    sources = {"ktuberling": read_ktuberling(ktuberling_root),
               "klettres_en": read_klettres(klettres_root, "en"),
               "klettres_en_gb": read_klettres(klettres_root, "en_GB")}
    result = RealSpeechResult()
    result.disagreements = ktuberling_crosscheck(ktuberling_root) + [
        note for lang in KLETTRES_LANGUAGES for note in klettres_crosscheck(klettres_root, lang)]
    rows: list[dict] = []
    for subset, items in sources.items():
        path = out_dir / f"{subset}.jsonl"
        seconds = 0.0
        with ManifestWriter(path, absolute=True) as writer:
            for item in items:
                entry = check_item(item, tokenizer)
                if isinstance(entry, Skipped):
                    result.skipped.append(entry)
                    continue
                rows.append(writer.write(entry))
                result.counts[subset] += 1
                seconds += rows[-1]["duration"]
        result.manifests[subset], result.seconds[subset] = path, seconds
    result.manifests["all"] = write_manifest(out_dir / "all.jsonl", rows, absolute=True)
    result.counts["all"], result.seconds["all"] = len(rows), sum(result.seconds.values())
    result.phrases = out_dir / "phrases.txt"
    phrases = sorted({tokenizer.normalize(row["text"]) for row in rows})
    with LineWriter(result.phrases) as writer:  # written whole or not at all
        for phrase in phrases:
            writer.write_line(phrase)
    return result

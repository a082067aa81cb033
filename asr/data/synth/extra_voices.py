"""The voices of the optional engines (MBROLA, SVOX Pico, Piper): which are
known, whether each is installed, and which are held out for dev and test.

Voices
    ``mbrola``: espeak-ng's English MBROLA voices (``mb-us1``...``mb-en1`` and
    the accented ``mb-<db>-en``), each a diphone database of one speaker.
    ``pico``: pico2wave's ``en-US`` and ``en-GB`` (both female). ``piper``: the
    neural ``joe`` voice (male); its per-utterance noise settings make many
    renditions of that one speaker.

Held-out split (:func:`held_out`)
    Per engine and per gender, a seeded shuffle gives 15 % of the voices (at
    least one, leaving at least one to train) to dev and as many to test, as
    for espeak-ng's variants: MBROLA's 20 voices give 3 dev, 3 test, 14 train.
    An engine with two or more voices but none held out that way (Pico) gives
    one, drawn by the seed, to test. A single voice (Piper's joe) trains only.

Installing them: ``scripts/install_voices.sh`` (licences in docs/VOICES.md).
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Sequence

from asr.data.synth.piper_engine import PIPER_VOICES, piper_problem
from asr.data.synth.seeds import derive_seed

# espeak-ng voice → (MBROLA database, gender). All other mb-* voices speak other languages.
MBROLA_VOICES = MappingProxyType({
    "mb-us1": ("us1", "F"), "mb-us2": ("us2", "M"), "mb-us3": ("us3", "M"), "mb-en1": ("en1", "M"),
    "mb-af1-en": ("af1", "M"), "mb-nl2-en": ("nl2", "M"), "mb-fr1-en": ("fr1", "M"), "mb-fr4-en": ("fr4", "F"),
    "mb-de1-en": ("de1", "F"), "mb-de2-en": ("de2", "M"), "mb-de3-en": ("de3", "F"), "mb-de4-en": ("de4", "M"),
    "mb-de5-en": ("de5", "F"), "mb-de6-en": ("de6", "M"), "mb-gr2-en": ("gr2", "M"), "mb-hu1-en": ("hu1", "F"),
    "mb-pl1-en": ("pl1", "F"), "mb-ro1-en": ("ro1", "M"), "mb-sw1-en": ("sw1", "M"), "mb-sw2-en": ("sw2", "F"),
})
# pico2wave language → gender; its voice data is <lang>_ta.bin + <lang>_<speaker>_sg.bin here.
PICO_VOICES = MappingProxyType({"en-US": "F", "en-GB": "F"})
PICO_LANG_DIR = Path("/usr/share/pico/lang")  # compiled into pico2wave
_PIPER_GENDER = MappingProxyType({"joe": "M"})
# Folders where espeak-ng looks for an MBROLA database <db>, besides <espeak data>/mbrola/<db>.
_MBROLA_DIRS = ("/usr/share/mbrola/{db}", "/usr/share/mbrola/{db}/{db}", "/usr/share/mbrola/voices/{db}")
_HELDOUT_SHARE = 0.15


def known_voices(engine: str) -> list[str]:
    """The voice names of an optional engine ("mbrola", "pico" or "piper"), sorted."""
    return sorted({"mbrola": MBROLA_VOICES, "pico": PICO_VOICES, "piper": PIPER_VOICES}[engine])


def _mbrola_problem(name: str, espeak_data: Callable[[], Path]) -> str | None:
    for program, package in (("espeak-ng", "espeak-ng"), ("mbrola", "mbrola")):
        if shutil.which(program) is None:
            return f"program {program} not found on PATH (Debian package {package})"
    db = MBROLA_VOICES[name][0]
    data = espeak_data()
    if not (data / "voices" / "mb" / name).is_file():
        return f"espeak-ng has no voice {name} in {data}"
    candidates = [data / "mbrola" / db] + [Path(p.format(db=db)) for p in _MBROLA_DIRS]
    if not any(p.is_file() for p in candidates):
        return f"MBROLA database {db} not installed (Debian non-free package mbrola-{db})"
    return None


def _pico_problem(name: str) -> str | None:
    if shutil.which("pico2wave") is None:
        return "program pico2wave not found on PATH (Debian non-free package libttspico-utils)"
    if not list(PICO_LANG_DIR.glob(f"{name}_*_sg.bin")) or not (PICO_LANG_DIR / f"{name}_ta.bin").is_file():
        return f"no {name} voice data in {PICO_LANG_DIR} (Debian non-free package libttspico-data)"
    return None


def voice_problem(engine: str, name: str, espeak_data: Callable[[], Path]) -> str | None:
    """Why a voice of an optional engine cannot be used, or None when it can.

    Args:
        engine: "mbrola", "pico" or "piper".
        name: the voice, e.g. "mb-us1", "en-GB", "joe".
        espeak_data: returns espeak-ng's data folder (called only for MBROLA voices).
    """
    if name not in known_voices(engine):
        return f"unknown {engine} voice; choose from {', '.join(known_voices(engine))}"
    if engine == "mbrola":
        return _mbrola_problem(name, espeak_data)
    if engine == "pico":
        return _pico_problem(name)
    return piper_problem(name)


def _gender(engine: str, name: str) -> str:
    if engine == "mbrola":
        return MBROLA_VOICES[name][1]
    return PICO_VOICES[name] if engine == "pico" else _PIPER_GENDER[name]


def held_out(engine: str, names: Sequence[str], seed: int) -> dict[str, set[str]]:
    """The voices of ``engine`` (among ``names``, those installed) held out for
    dev and for test; the rest train. See the module's docstring."""
    rng = random.Random(derive_seed("split_voices", seed, engine))
    held: dict[str, set[str]] = {"dev": set(), "test": set()}
    for gender in ("M", "F"):
        group = sorted(n for n in names if _gender(engine, n) == gender)
        rng.shuffle(group)
        k = min(max(1, round(_HELDOUT_SHARE * len(group))), (len(group) - 1) // 2)
        held["dev"].update(group[:k])
        held["test"].update(group[k:2 * k])
    if len(names) >= 2 and not held["test"] and not held["dev"]:
        held["test"].add(rng.choice(sorted(names)))
    return held

"""The synthetic voices: which exist, which are kept, and which split each belongs to.

Voices
    An espeak-ng voice is an English accent (``en-us``, ``en-gb-scotland``...)
    combined with a *variant* that sets the voice quality (``m3``, ``f2``,
    ``klatt``...); the variant is what makes it sound like a different person.
    A flite voice is one of its built-in speakers (``kal``, ``kal16``, ``awb``,
    ``rms``, ``slt``). :func:`make_random_voices` adds espeak-ng speakers with
    random pitch and formants, for training only. The optional engines' voices
    (``mbrola``, ``pico``, ``piper``) are listed in
    :mod:`asr.data.synth.extra_voices`; one that is not installed is left out
    with one log line saying why.

Held-out splits
    Dev and test voices are never heard in training. With ``holdout="voice"``
    whole espeak-ng *variants* are held out (so a test speaker's timbre is new in
    every accent; the accents themselves are shared), plus one flite speaker for
    test (``rms``). Each optional engine holds out its own voices, per gender
    (:func:`asr.data.synth.extra_voices.held_out`: MBROLA 3 dev + 3 test of 20,
    Pico one of two for test, Piper's single voice trains only). With
    ``holdout="engine"`` test is one engine alone (``corpus.held_out_engine``,
    flite by default) and train and dev are the others', so the whole
    synthesiser is unseen at test time.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Sequence

from asr.config import CorpusConfig
from asr.core.errors import ConfigError
from asr.data.synth.engines import (
    ALL_ENGINES,
    ENGINES,
    FLITE_VOICES,
    OPTIONAL_ENGINES,
    SynthesisError,
    engine_problem,
    espeak_data_dir,
    espeak_languages,
    espeak_variants,
    flite_voices,
    require_engine,
)
from asr.data.synth.extra_voices import held_out, known_voices, voice_problem
from asr.data.synth.seeds import derive_seed

SPLITS = ("train", "dev", "test")

# espeak-ng variants kept, by voice gender (used to balance the held-out splits).
# Chosen by synthesising 25 command words per variant and matching them with
# MFCC-DTW against plain en-us/en-gb/en-us+f2 templates: these all scored
# 0.8-0.97 (the plain accents score 0.86-0.93). Left out: whisper, whisperf,
# croak and grandpa (no voiced frames at all: a held-out split drawing one would
# be dominated by it), Alicia, zac, kaukovalta, Demonic, shelby, Lee, UniRobot,
# david, marcelo, norbert, travis, gustave (scored 0.08-0.67: garbled or
# cartoonish), and near-duplicates (robosoft*, iven*, klatt3/5/6, ...).
_ESPEAK_VARIANTS_MALE = (
    "", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "klatt", "klatt2", "klatt4",
    "max", "john", "Mike", "Andy", "edward",
)
_ESPEAK_VARIANTS_FEMALE = (
    "f1", "f2", "f3", "f4", "f5", "steph", "belinda", "Andrea", "anika", "linda",
    "aunty", "grandma",
)
# kal and kal16 are the same speaker (8 kHz and 16 kHz diphone sets), so they
# must always land in the same split.
_FLITE_SPEAKER = MappingProxyType({"kal16": "kal"})
# Fixed flite split: rms (US male) is held out for test. flite has only three
# clustergen voices (awb, rms, slt); holding out a second one for dev left a
# single clustergen voice to learn that vocoder from, and test CER on rms at 21 %.
_FLITE_HOLDOUT = MappingProxyType({"dev": (), "test": ("rms",)})
# Share of each gender's espeak-ng variants held out for dev, and again for test.
_HELDOUT_VARIANT_SHARE = 0.15


@dataclass(frozen=True, order=True)
class Voice:
    """One synthetic voice.

    Attributes:
        engine: "espeak-ng", "flite", "mbrola", "pico" or "piper".
        name: espeak-ng language voice ("en-us", "en-gb-scotland"...), flite voice
            ("kal", "kal16", "awb", "rms", "slt"), espeak-ng MBROLA voice ("mb-us1",
            "mb-de4-en"...), pico2wave language ("en-US", "en-GB") or Piper voice ("joe").
        variant: espeak-ng variant ("m3", "f2", "klatt"...) or "" for none (always ""
            for flite).
    """

    engine: str
    name: str
    variant: str = ""
    data_path: str = ""  # espeak-ng: a private data folder holding a generated variant

    @property
    def id(self) -> str:
        """Stable identifier, e.g. ``"espeak-ng:en-us+f2"`` or ``"flite:slt"``."""
        suffix = f"+{self.variant}" if self.variant else ""
        return f"{self.engine}:{self.name}{suffix}"

    @property
    def holdout_group(self) -> str:
        """The unit held out between splits: the espeak-ng variant (its voice
        quality), the flite speaker (kal and kal16 are one speaker), or the voice."""
        if self.engine == "espeak-ng":
            return f"espeak-ng+{self.variant or 'default'}"
        return f"flite:{_FLITE_SPEAKER.get(self.name, self.name)}"


def _optional_voices(engine: str) -> list[tuple[Voice, str | None]]:
    """Every known voice of an optional engine, with why it is unavailable (None: available)."""
    data = functools.cache(espeak_data_dir)  # asked once, and only for MBROLA voices
    return [(Voice(engine, name), voice_problem(engine, name, data)) for name in known_voices(engine)]


def voice_catalogue(engines: Sequence[str] = ALL_ENGINES) -> list[tuple[Voice, str | None]]:
    """Every known voice of ``engines`` and why it cannot be used (None: it can),
    for ``asr synth --list-voices``. A missing espeak-ng or flite is one entry
    (name "*"), since their voices are only known by asking the program."""
    found: list[tuple[Voice, str | None]] = []
    for engine in dict.fromkeys(engines):
        if engine in OPTIONAL_ENGINES:
            found += _optional_voices(engine)
        elif engine_problem(engine) is not None:
            found.append((Voice(engine, "*"), engine_problem(engine)))
        else:
            found += [(v, None) for v in list_voices((engine,))]
    return found


def list_voices(engines: Sequence[str] = ENGINES) -> list[Voice]:
    """List the usable English voices of the given engines.

    espeak-ng: every installed English accent (MBROLA voices excluded) times the
    curated variants that are installed. flite: its built-in voices except the
    limited-domain ``awb_time``. mbrola, pico, piper: their known voices that are
    installed; each one that is not is logged (one line, saying why) and left out.

    Args:
        engines: any of "espeak-ng", "flite", "mbrola", "pico" and "piper".

    Returns:
        The voices, sorted (by engine, name, variant).
    """
    voices: list[Voice] = []
    for engine in dict.fromkeys(engines):
        if engine in OPTIONAL_ENGINES:
            for voice, problem in _optional_voices(engine):
                if problem is None:
                    voices.append(voice)
                else:
                    logging.getLogger("asr").warning("synth: skipping voice %s: %s", voice.id, problem)
            continue
        require_engine(engine)
        if engine == "espeak-ng":
            installed = espeak_variants()
            variants = [v for v in _ESPEAK_VARIANTS_MALE + _ESPEAK_VARIANTS_FEMALE if v == "" or v in installed]
            voices += [Voice(engine, lang, var) for lang in espeak_languages() for var in variants]
        else:
            installed = flite_voices()
            voices += [Voice(engine, name) for name in FLITE_VOICES if name in installed]
    if not voices:
        raise SynthesisError(f"{', '.join(engines)}: no English voices found")
    return sorted(voices)


# ----------------------------------------------------------------------------
# Random espeak-ng speakers
# ----------------------------------------------------------------------------


def _variant_text(name: str, rng: random.Random) -> str:
    """An espeak-ng variant file for a random speaker: pitch, formant scaling
    (a shorter or longer vocal tract), and a little roughness and breath."""
    female = rng.random() < 0.5
    base = rng.uniform(150, 230) if female else rng.uniform(75, 135)
    tract = rng.uniform(1.02, 1.2) if female else rng.uniform(0.88, 1.06)
    lines = ["language variant", f"name {name}", f"gender {'female' if female else 'male'}", "",
             f"pitch {base:.0f} {base * rng.uniform(1.3, 1.8):.0f}"]
    for k in range(9):
        freq = 100 * tract * rng.uniform(0.95, 1.05)
        lines.append(f"formant {k} {freq:.0f} {rng.uniform(75, 125):.0f} {rng.uniform(80, 150):.0f}")
    lines += [f"roughness {rng.randint(0, 4)}", f"consonants {rng.randint(85, 120)}"]
    if female and rng.random() < 0.5:
        lines.append("breath 0 " + " ".join(str(rng.randint(0, 3)) for _ in range(7)))
    return "\n".join(lines) + "\n"


def _link_espeak_data(data: Path) -> Path:
    """Make ``data`` a copy of the installed espeak-ng data folder made of links,
    with a real ``voices/!v`` folder to add variants to; return that folder."""
    system = espeak_data_dir()
    if data.exists():
        shutil.rmtree(data)
    variants = data / "voices" / "!v"
    variants.mkdir(parents=True)
    for entry in system.iterdir():
        if entry.name != "voices":
            (data / entry.name).symlink_to(entry)
    for entry in (system / "voices").iterdir():
        if entry.name != "!v":
            (data / "voices" / entry.name).symlink_to(entry)
    for entry in (system / "voices" / "!v").iterdir():
        (variants / entry.name).symlink_to(entry)
    return variants


def make_random_voices(n: int, out_dir: str | os.PathLike, seed: int) -> list[Voice]:
    """Make ``n`` random espeak-ng speakers, for training only.

    Writes ``out_dir/espeak-ng-data``: links to the installed espeak-ng data plus
    ``n`` generated variant files. Each voice pairs one of them with an English
    accent. Deterministic for a seed.

    Args:
        n: how many voices.
        out_dir: the corpus folder.
        seed: seeds the speakers' parameters and accents.
    """
    if n <= 0:
        return []
    root = Path(out_dir).resolve()
    variants = _link_espeak_data(root / "espeak-ng-data")
    rng = random.Random(derive_seed("random_voices", seed))
    languages = espeak_languages()
    voices = []
    for i in range(n):
        name = f"rand{i:03d}"
        (variants / name).write_text(_variant_text(name, rng), encoding="utf-8")
        voices.append(Voice("espeak-ng", rng.choice(languages), name, str(root)))
    return voices


# ----------------------------------------------------------------------------
# Splits
# ----------------------------------------------------------------------------


def _held_out_variants(present: set[str], seed: int) -> dict[str, set[str]]:
    """The espeak-ng variants held out for dev and for test: per gender, a
    seeded shuffle gives 15% (at least one, leaving at least one to train) to each."""
    rng = random.Random(derive_seed("split_voices", seed))
    held: dict[str, set[str]] = {"dev": set(), "test": set()}
    for group in (_ESPEAK_VARIANTS_MALE, _ESPEAK_VARIANTS_FEMALE):
        names = sorted(v for v in group if v in present)
        rng.shuffle(names)
        # Keep at least one variant for training even when few are installed.
        k = min(max(1, round(_HELDOUT_VARIANT_SHARE * len(names))), (len(names) - 1) // 2)
        held["dev"].update(names[:k])
        held["test"].update(names[k:2 * k])
    return held


def _voice_split(voice: Voice, held_variants: dict[str, set[str]],
                 extra_held: dict[str, dict[str, set[str]]]) -> str:
    """The split a voice belongs to when its engine is not held out whole: its engine's own
    held-out dev and test voices, the rest train."""
    if voice.engine == "espeak-ng":
        held = held_variants
        key = voice.variant
    elif voice.engine == "flite":
        held = {s: set(names) for s, names in _FLITE_HOLDOUT.items()}
        key = voice.name
    else:
        held = extra_held[voice.engine]
        key = voice.name
    return next((s for s in ("dev", "test") if key in held[s]), "train")


def split_voices(voices: Sequence[Voice], holdout: str, seed: int,
                 held_out_engine: str = CorpusConfig.held_out_engine) -> dict[str, list[Voice]]:
    """Assign voices to train/dev/test so no dev or test speaker is in train.

    ``holdout="voice"``: for each gender, a seeded shuffle of the espeak-ng
    variants gives 15% (at least one) to dev and as many to test, each in every
    accent; flite's rms goes to test; mbrola, pico and piper hold out their own
    voices (:func:`asr.data.synth.extra_voices.held_out`); the rest train.
    ``holdout="engine"``: every voice of ``held_out_engine`` is test, and no other
    voice is; the other engines' dev voices are as above, and their test voices train.

    Args:
        voices: from :func:`list_voices`.
        holdout: "voice" or "engine".
        seed: seeds the shuffle.
        held_out_engine: the engine that is test alone with ``holdout="engine"``.

    Returns:
        ``{"train": [...], "dev": [...], "test": [...]}``, each sorted.
    """
    if holdout not in ("voice", "engine"):
        raise ConfigError(f"holdout: unknown mode {holdout!r}; choose voice or engine")
    engines = {v.engine for v in voices}
    if holdout == "engine" and (held_out_engine not in engines or len(engines) < 2):
        raise ConfigError(f"holdout: 'engine' needs {held_out_engine} voices (corpus.held_out_engine) and "
                          f"another engine's; the voices here are {', '.join(sorted(engines)) or 'none'}'s")
    held_variants = _held_out_variants({v.variant for v in voices if v.engine == "espeak-ng"}, seed)
    extra_held = {e: held_out(e, [v.name for v in voices if v.engine == e], seed) for e in OPTIONAL_ENGINES}
    splits: dict[str, list[Voice]] = {s: [] for s in SPLITS}
    for v in voices:
        split = _voice_split(v, held_variants, extra_held)
        if holdout == "engine":
            split = "test" if v.engine == held_out_engine else "train" if split == "test" else split
        splits[split].append(v)
    return {s: sorted(vs) for s, vs in splits.items()}


def assign_voices(pool: Sequence[Voice], n: int, rng: random.Random,
                  flite_share: float = CorpusConfig.EVAL_FLITE_SHARE) -> list[Voice]:
    """Spread ``n`` utterances over ``pool``: round-robin over a shuffle of each
    engine's voices (so every voice is used before any repeats), flite taking
    ``flite_share`` of them when another engine is present too, and the other
    engines sharing the rest equally (the first in :data:`ALL_ENGINES` order
    taking the remainder)."""
    by_engine = {e: [v for v in pool if v.engine == e] for e in ALL_ENGINES}
    by_engine = {e: vs for e, vs in by_engine.items() if vs}
    others = [e for e in by_engine if e != "flite"]
    counts = {"flite": round(flite_share * n) if others else n} if "flite" in by_engine else {}
    rest = n - counts.get("flite", 0)
    for i, engine in enumerate(others):
        counts[engine] = rest // len(others) + (1 if i < rest % len(others) else 0)
    chosen: list[Voice] = []
    for engine, vs in by_engine.items():
        vs = list(vs)
        rng.shuffle(vs)
        chosen += [vs[i % len(vs)] for i in range(counts[engine])]
    rng.shuffle(chosen)
    return chosen

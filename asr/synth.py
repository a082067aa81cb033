"""Synthesise a speech corpus with espeak-ng and flite.

Voices
    An espeak-ng voice is an English accent (``en-us``, ``en-gb-scotland``...)
    combined with a *variant* that sets the voice quality (``m3``, ``f2``,
    ``klatt``...); the variant is what makes it sound like a different person.
    A flite voice is one of its built-in speakers (``kal``, ``kal16``, ``awb``,
    ``rms``, ``slt``).

Held-out splits
    Dev and test voices are never heard in training. With ``holdout="voice"``
    whole espeak-ng *variants* are held out (so a test speaker's timbre is new in
    every accent; the accents themselves are shared), plus one flite speaker for
    test (``rms``). With ``holdout="engine"`` test is
    flite only and train/dev are espeak-ng only, so the whole synthesiser is
    unseen at test time.

Long recordings
    :func:`long_recording` strings held-out test utterances together with
    pauses of known length, for testing long-form transcription and timestamps.

Nothing here runs a program at import time; the engines are only called by
:func:`list_voices`, :func:`synthesize`, :func:`make_corpus` and
:func:`long_recording`.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import itertools
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Sequence

import numpy as np
import soundfile as sf

from asr.data import atomic_path, atomic_write_text, write_manifest
from asr.errors import ASRError, ConfigError, TextError
from asr.grammars import generate_sentences, read_text_file
from asr.progress import progress


class SynthesisError(ASRError):
    """A speech engine is missing, failed, or produced no usable audio."""


ENGINES = ("espeak-ng", "flite")
SPLITS = ("train", "dev", "test")
_APT_PACKAGE = MappingProxyType({"espeak-ng": "espeak-ng", "flite": "flite"})

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
# awb_time is a limited-domain voice that can only say clock times; leave it out.
_FLITE_VOICES = ("awb", "kal", "kal16", "rms", "slt")
# kal and kal16 are the same speaker (8 kHz and 16 kHz diphone sets), so they
# must always land in the same split.
_FLITE_SPEAKER = MappingProxyType({"kal16": "kal"})
# Fixed flite split: rms (US male) is held out for test. flite has only three
# clustergen voices (awb, rms, slt); holding out a second one for dev left a
# single clustergen voice to learn that vocoder from, and test CER on rms at 21 %.
_FLITE_HOLDOUT = MappingProxyType({"dev": (), "test": ("rms",)})
# Share of a split's utterances given to flite when the split has both engines:
# it has only a few voices, but they sound more natural than espeak-ng's.
_FLITE_SHARE = 0.3
# Share of each gender's espeak-ng variants held out for dev, and again for test.
_HELDOUT_VARIANT_SHARE = 0.15

_ESPEAK_WPM = 175  # espeak-ng's default speed, words per minute
# espeak-ng's -p (0-99, default 50) moves F0 roughly exponentially: measured
# F0 x1.35 from -p 50 to 80 and x0.77 to -p 20, i.e. ln(F0 ratio) ~ 0.0093 per step.
_ESPEAK_PITCH_PER_STEP = 0.0093

_SILENCE_S = (0.1, 0.2)  # silence kept before and after the speech, seconds
_PEAK_DBFS = (-10.0, -1.0)  # range of the random peak level, dB full scale
_TRIM_DB = 45.0  # frames this far below the loudest frame count as silence
_ENGINE_TIMEOUT_S = 120


@dataclass(frozen=True, order=True)
class Voice:
    """One synthetic voice.

    Attributes:
        engine: "espeak-ng" or "flite".
        name: espeak-ng language voice ("en-us", "en-gb-scotland"...) or flite voice
            ("kal", "kal16", "awb", "rms", "slt").
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
        quality) or the flite speaker (kal and kal16 are one speaker)."""
        if self.engine == "espeak-ng":
            return f"espeak-ng+{self.variant or 'default'}"
        return f"flite:{_FLITE_SPEAKER.get(self.name, self.name)}"


# ----------------------------------------------------------------------------
# Engines
# ----------------------------------------------------------------------------


def _require(engine: str) -> str:
    """Return the engine's executable path, or raise naming the Debian package."""
    if engine not in ENGINES:
        raise ConfigError(f"engines: unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    exe = shutil.which(engine)
    if exe is None:
        raise SynthesisError(
            f"{engine}: program not found on PATH; install it with `sudo apt-get install {_APT_PACKAGE[engine]}`"
        )
    return exe


def _run(cmd: list[str], what: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    try:
        proc = subprocess.run(
            cmd, input=stdin, capture_output=True, encoding="utf-8", errors="replace",
            timeout=_ENGINE_TIMEOUT_S,
        )
    except FileNotFoundError:
        _require(cmd[0])
        raise
    except subprocess.TimeoutExpired:
        raise SynthesisError(f"{what}: timed out after {_ENGINE_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip().splitlines()
        raise SynthesisError(f"{what}: exit status {proc.returncode}: {err[-1] if err else 'no message'}")
    return proc


def _espeak_languages() -> list[str]:
    out = _run(["espeak-ng", "--voices=en"], "espeak-ng --voices=en").stdout
    names = set()
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 5 or parts[1] == "variant":
            continue
        # mb/... voices need the separate MBROLA program and voice data, which
        # Debian's espeak-ng does not pull in; they fail at synthesis time.
        if parts[4].startswith("mb/"):
            continue
        if parts[1] == "en" or parts[1].startswith("en-"):
            names.add(parts[1])
    return sorted(names)


def _espeak_variants() -> set[str]:
    out = _run(["espeak-ng", "--voices=variant"], "espeak-ng --voices=variant").stdout
    return set(re.findall(r"!v/(\S+)", out))


def _flite_voices() -> set[str]:
    out = _run(["flite", "-lv"], "flite -lv").stdout
    return set(out.split(":", 1)[-1].split())


def list_voices(engines: Sequence[str] = ENGINES) -> list[Voice]:
    """List the usable English voices of the given engines.

    espeak-ng: every installed English accent (MBROLA voices excluded) times the
    curated variants that are installed. flite: its built-in voices except the
    limited-domain ``awb_time``.

    Args:
        engines: any of "espeak-ng" and "flite".

    Returns:
        The voices, sorted (by engine, name, variant).
    """
    voices: list[Voice] = []
    for engine in dict.fromkeys(engines):
        _require(engine)
        if engine == "espeak-ng":
            installed = _espeak_variants()
            variants = [v for v in _ESPEAK_VARIANTS_MALE + _ESPEAK_VARIANTS_FEMALE if v == "" or v in installed]
            voices += [Voice(engine, lang, var) for lang in _espeak_languages() for var in variants]
        else:
            installed = _flite_voices()
            voices += [Voice(engine, name) for name in _FLITE_VOICES if name in installed]
    if not voices:
        raise SynthesisError(f"{', '.join(engines)}: no English voices found")
    return sorted(voices)


def engine_versions(engines: Sequence[str] = ENGINES) -> dict[str, str]:
    """The version line of each engine, for recording how a corpus was made.

    Args:
        engines: any of "espeak-ng" and "flite".
    """
    versions = {}
    for engine in dict.fromkeys(engines):
        _require(engine)
        # flite --version exits with status 1, so the status is not checked here.
        proc = subprocess.run([engine, "--version"], capture_output=True, encoding="utf-8",
                              errors="replace", timeout=_ENGINE_TIMEOUT_S)
        out = proc.stdout + proc.stderr
        lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
        versions[engine] = next((ln for ln in lines if "version" in ln.lower()), lines[0] if lines else "")
    return versions


def _espeak_data_dir() -> Path:
    out = _run(["espeak-ng", "--version"], "espeak-ng --version").stdout
    match = re.search(r"Data at:\s*(\S+)", out)
    if not match or not Path(match.group(1)).is_dir():
        raise SynthesisError(f"espeak-ng: cannot find its data folder in {out.strip()!r}")
    return Path(match.group(1))


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


def _random_voices(n: int, out_dir: str | os.PathLike, seed: int) -> list[Voice]:
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
    system = _espeak_data_dir()
    root = Path(out_dir).resolve()
    data = root / "espeak-ng-data"
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
    rng = random.Random(_derive_seed("random_voices", seed))
    languages = _espeak_languages()
    voices = []
    for i in range(n):
        name = f"rand{i:03d}"
        (variants / name).write_text(_variant_text(name, rng), encoding="utf-8")
        voices.append(Voice("espeak-ng", rng.choice(languages), name, str(root)))
    return voices


# ----------------------------------------------------------------------------
# One utterance
# ----------------------------------------------------------------------------


def _spoken_form(text: str) -> str:
    """Adapt normalised text so the engines read it as meant.

    Normalised text writes "a.m." as "a m", which both engines read as the
    article "a" plus the letter "m"; "a.m." makes them say "ay em".
    """
    return re.sub(r"\b([ap]) m\b", r"\1.m.", text)


def _engine_command(text: str, voice: Voice, rate: float, pitch: float, wav: str) -> tuple[list[str], str | None]:
    if voice.engine == "espeak-ng":
        wpm = int(round(min(max(_ESPEAK_WPM * rate, 80), 450)))
        p = int(round(min(max(50 + math.log(pitch) / _ESPEAK_PITCH_PER_STEP, 0), 99)))
        name = voice.name + (f"+{voice.variant}" if voice.variant else "")
        path = [f"--path={voice.data_path}"] if voice.data_path else []
        # Text goes through stdin (as UTF-8: -b 1) so a sentence starting with
        # "-" is not taken for an option.
        return ["espeak-ng", *path, "-v", name, "-s", str(wpm), "-p", str(p), "-b", "1", "-w", wav,
                "--stdin"], text
    if voice.engine == "flite":
        if voice.name not in _FLITE_VOICES:
            # flite silently falls back to its default voice for unknown names.
            raise SynthesisError(f"{voice.id}: unknown flite voice; choose from {', '.join(_FLITE_VOICES)}")
        # f0_shift scales the F0 contour (the documented int_f0_target_mean is an
        # absolute Hz target that differs per voice). rms ignores both: its pitch is fixed.
        return ["flite", "-voice", voice.name,
                "--setf", f"duration_stretch={1.0 / rate:.4f}",
                "--setf", f"f0_shift={pitch:.4f}",
                "-t", text, "-o", wav], None
    raise ConfigError(f"{voice.id}: unknown engine {voice.engine!r}; choose from {', '.join(ENGINES)}")


def _speech_bounds(y: np.ndarray, sr: int) -> tuple[int, int] | None:
    """First and last sample of the speech in ``y`` (mono), or None if all silent."""
    frame, hop = int(0.02 * sr), int(0.005 * sr)
    if y.size < frame:
        return None
    frames = np.lib.stride_tricks.sliding_window_view(y, frame)[::hop]
    energy_db = 10.0 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
    # Engines speak near full scale; a loudest frame under -40 dBFS is a pause
    # or breath (flite says "..." as 0.2 s at -52 dBFS), not speech.
    if energy_db.max() < -40.0:
        return None
    loud = np.flatnonzero(energy_db > energy_db.max() - _TRIM_DB)
    return int(loud[0] * hop), int(min(loud[-1] * hop + frame, y.size))


def synthesize(
    text: str,
    voice: Voice,
    rate: float,
    pitch: float,
    out_path: str | os.PathLike,
    sample_rate: int = 16000,
    *,
    seed: int = 0,
) -> float:
    """Synthesise one sentence to a 16-bit PCM mono WAV.

    The engine's output is downmixed, resampled to ``sample_rate``, trimmed to the
    speech, padded with 0.1-0.2 s of silence at each end, peak-normalised to a
    random level between -10 and -1 dBFS, and dithered by about one 16-bit step.
    The padding and level are drawn from ``seed``, so the same call always
    writes the same bytes (both engines are deterministic).

    Args:
        text: the sentence (normalised text; "a m"/"p m" are read as "a.m."/"p.m.").
        voice: the voice, e.g. from :func:`list_voices`.
        rate: speaking speed relative to the engine's normal (1.0); 0.8-1.25 is natural.
            espeak-ng: 175 * rate words per minute; flite: duration_stretch = 1 / rate.
        pitch: F0 relative to the voice's normal (1.0); 0.85-1.18 is natural.
            espeak-ng: -p 50 + ln(pitch) / 0.0093; flite: f0_shift = pitch.
        out_path: the WAV file to write (written atomically; its folder must exist).
        sample_rate: output sample rate in Hz.
        seed: seeds the silence lengths, level and dither.

    Returns:
        The written file's duration in seconds.
    """
    if not 0.25 <= rate <= 4.0 or not 0.25 <= pitch <= 4.0:
        raise ConfigError(f"{voice.id}: rate {rate} and pitch {pitch} must be relative factors in [0.25, 4]")
    out_path = Path(out_path)
    what = f"{voice.id} saying {text!r}"
    if not text.strip():
        raise SynthesisError(f"{what}: nothing to say (empty text)")
    fd, raw = tempfile.mkstemp(suffix=".wav", prefix=".engine-", dir=out_path.parent)
    os.close(fd)
    try:
        cmd, stdin = _engine_command(_spoken_form(text), voice, rate, pitch, raw)
        _run(cmd, what, stdin)
        try:
            audio, sr = sf.read(raw, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise SynthesisError(f"{what}: engine wrote an unreadable WAV ({exc})") from None
    finally:
        os.unlink(raw)
    y = audio.mean(axis=1)
    if sr != sample_rate:
        import librosa  # deferred: importing librosa costs about a second

        y = librosa.resample(y, orig_sr=sr, target_sr=sample_rate, res_type="soxr_hq")
    bounds = _speech_bounds(y, sample_rate)
    if bounds is None:
        raise SynthesisError(f"{what}: engine produced no audible speech")
    y = y[bounds[0]:bounds[1]].astype(np.float64)

    rng = np.random.default_rng(seed)
    lead, trail = (int(rng.uniform(*_SILENCE_S) * sample_rate) for _ in range(2))
    y = np.concatenate([np.zeros(lead), y, np.zeros(trail)])
    y *= 10.0 ** (rng.uniform(*_PEAK_DBFS) / 20.0) / np.max(np.abs(y))
    # Dither so the padding is not digital zero: a model should not learn that
    # exact silence marks synthetic audio, and log features stay finite.
    y += rng.normal(0.0, 1.0 / 32768.0, y.size)
    pcm = np.clip(np.round(y * 32767.0), -32768, 32767).astype(np.int16)

    with atomic_path(out_path) as tmp:
        sf.write(tmp, pcm, sample_rate, subtype="PCM_16", format="WAV")
    return pcm.size / sample_rate


# ----------------------------------------------------------------------------
# Corpus
# ----------------------------------------------------------------------------


def _derive_seed(*parts: object) -> int:
    """A stable 63-bit seed from ``parts`` (Python's hash() is salted per process)."""
    digest = hashlib.sha256(repr(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def split_voices(voices: Sequence[Voice], holdout: str, seed: int) -> dict[str, list[Voice]]:
    """Assign voices to train/dev/test so no dev or test speaker is in train.

    ``holdout="voice"``: for each gender, a seeded shuffle of the espeak-ng
    variants gives 15% (at least one) to dev and as many to test, each in every
    accent; flite's rms goes to test; the rest train.
    ``holdout="engine"``: the same dev variants, all other espeak-ng voices
    train, and every flite voice is test.

    Args:
        voices: from :func:`list_voices`.
        holdout: "voice" or "engine".
        seed: seeds the shuffle.

    Returns:
        ``{"train": [...], "dev": [...], "test": [...]}``, each sorted.
    """
    if holdout not in ("voice", "engine"):
        raise ConfigError(f"holdout: unknown mode {holdout!r}; choose voice or engine")
    espeak = [v for v in voices if v.engine == "espeak-ng"]
    flite = [v for v in voices if v.engine == "flite"]
    if holdout == "engine" and not (espeak and flite):
        raise ConfigError("holdout: 'engine' needs both espeak-ng and flite voices")

    rng = random.Random(_derive_seed("split_voices", seed))
    held: dict[str, set[str]] = {"dev": set(), "test": set()}
    present = {v.variant for v in espeak}
    for group in (_ESPEAK_VARIANTS_MALE, _ESPEAK_VARIANTS_FEMALE):
        names = sorted(v for v in group if v in present)
        rng.shuffle(names)
        # Keep at least one variant for training even when few are installed.
        k = min(max(1, round(_HELDOUT_VARIANT_SHARE * len(names))), (len(names) - 1) // 2)
        held["dev"].update(names[:k])
        held["test"].update(names[k:2 * k])

    splits: dict[str, list[Voice]] = {s: [] for s in SPLITS}
    for v in espeak:
        if v.variant in held["dev"]:
            splits["dev"].append(v)
        elif v.variant in held["test"] and holdout == "voice":
            splits["test"].append(v)
        else:
            splits["train"].append(v)
    for v in flite:
        if holdout == "engine":
            splits["test"].append(v)
        elif v.name in _FLITE_HOLDOUT["dev"]:
            splits["dev"].append(v)
        elif v.name in _FLITE_HOLDOUT["test"]:
            splits["test"].append(v)
        else:
            splits["train"].append(v)
    return {s: sorted(vs) for s, vs in splits.items()}


def _assign_voices(pool: Sequence[Voice], n: int, rng: random.Random,
                   flite_share: float = _FLITE_SHARE) -> list[Voice]:
    """Spread ``n`` utterances over ``pool``: round-robin over a shuffle of each
    engine's voices (so every voice is used before any repeats), flite taking
    ``flite_share`` of them when both engines are present."""
    by_engine = {e: [v for v in pool if v.engine == e] for e in ENGINES}
    by_engine = {e: vs for e, vs in by_engine.items() if vs}
    counts = {e: n for e in by_engine}
    if len(by_engine) == 2:
        counts["flite"] = round(flite_share * n)
        counts["espeak-ng"] = n - counts["flite"]
    chosen: list[Voice] = []
    for engine, vs in by_engine.items():
        vs = list(vs)
        rng.shuffle(vs)
        chosen += [vs[i % len(vs)] for i in range(counts[engine])]
    rng.shuffle(chosen)
    return chosen


def _log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    # Log-uniform so that x0.8 and x1.25 are equally likely.
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def make_corpus(
    out_dir: str | os.PathLike,
    *,
    grammar: str | None = "commands",
    text_file: str | os.PathLike | None = None,
    n_train: int,
    n_dev: int,
    n_test: int,
    seed: int = 0,
    engines: Sequence[str] = ENGINES,
    holdout: str = "voice",
    random_voices: int = 0,
    train_flite_share: float = _FLITE_SHARE,
    workers: int = 4,
    rate_range: tuple[float, float] = (0.8, 1.25),
    pitch_range: tuple[float, float] = (0.85, 1.18),
) -> dict[str, Path]:
    """Synthesise a train/dev/test corpus with held-out voices.

    Writes ``out_dir/wavs/<split>/<split>-NNNNNN.wav`` (16 kHz mono 16-bit),
    ``out_dir/{train,dev,test}.jsonl`` (with extra keys ``speaker`` = voice id
    and ``engine``) and ``out_dir/corpus.json`` (seed, counts, grammar, voices
    per split, engine versions). Everything is determined by the arguments
    other than ``workers``: the same call gives the same files, byte for byte.

    Args:
        out_dir: output folder (created; existing files of the same names are replaced).
        grammar: built-in grammar name, used when ``text_file`` is None.
        text_file: UTF-8 file of sentences, one a line; each split samples its
            lines with replacement. Takes precedence over ``grammar``.
        n_train, n_dev, n_test: utterances per split (>= 0).
        seed: seeds sentences, voice split and assignment, rate, pitch and levels.
        engines: engines to use, any of "espeak-ng" and "flite".
        holdout: "voice" (dev/test voices unseen in train) or "engine" (test is
            flite only, train and dev espeak-ng only). See :func:`split_voices`.
        workers: parallel synthesis threads (each drives one engine process).
        random_voices: extra espeak-ng speakers with random pitch and formants
            (see :func:`random_voices`), added to the training voices only.
        train_flite_share: share of the training utterances said by flite when
            both engines are used; dev and test keep ``_FLITE_SHARE`` (0.3), so
            changing it leaves them as they are.
        rate_range: (min, max) relative speaking rate, drawn log-uniformly per utterance.
        pitch_range: (min, max) relative pitch, drawn log-uniformly per utterance.

    Returns:
        ``{"train": path, "dev": path, "test": path}`` of the manifests.
    """
    counts = {"train": n_train, "dev": n_dev, "test": n_test}
    if any(n < 0 for n in counts.values()) or sum(counts.values()) == 0:
        raise ConfigError(f"corpus: utterance counts must be >= 0 and not all zero, got {counts}")
    if workers < 1:
        raise ConfigError(f"corpus: workers must be >= 1, got {workers}")
    if not 0.0 <= train_flite_share <= 1.0:
        raise ConfigError(f"corpus: train_flite_share {train_flite_share} must be in [0, 1]")
    for name, (lo, hi) in (("rate_range", rate_range), ("pitch_range", pitch_range)):
        if not 0.25 <= lo <= hi <= 4.0:
            raise ConfigError(f"corpus: {name} {(lo, hi)} must be relative factors with 0.25 <= min <= max <= 4")
    lines: list[str] | None = None
    if text_file is not None:
        lines = read_text_file(text_file)
        if not lines:
            raise TextError(f"{text_file}: text file has no sentences")
        grammar = None
    elif grammar is None:
        raise ConfigError("corpus: give a grammar or a text_file")

    out_dir = Path(out_dir).resolve()
    voices = list_voices(engines)
    pools = split_voices(voices, holdout, seed)
    if "espeak-ng" in engines:
        pools["train"] = sorted(pools["train"] + _random_voices(random_voices, out_dir, seed))
    for split, n in counts.items():
        if n and not pools[split]:
            raise ConfigError(f"corpus: no voices left for {split} with engines {list(engines)} "
                              f"and holdout {holdout!r}")

    manifests: dict[str, Path] = {}
    used: dict[str, list[str]] = {}
    for split in SPLITS:
        n = counts[split]
        rng = random.Random(_derive_seed("corpus", seed, split))
        if lines is not None:
            texts = rng.choices(lines, k=n)
        else:
            texts = generate_sentences(grammar, n, _derive_seed("sentences", seed, split))
        assigned = _assign_voices(pools[split], n, rng, train_flite_share if split == "train" else _FLITE_SHARE)
        wav_dir = out_dir / "wavs" / split
        wav_dir.mkdir(parents=True, exist_ok=True)
        jobs = []
        for i, (text, voice) in enumerate(zip(texts, assigned)):
            jobs.append(dict(
                text=text, voice=voice,
                rate=_log_uniform(rng, *rate_range), pitch=_log_uniform(rng, *pitch_range),
                out_path=(wav_dir / f"{split}-{i:06d}.wav").resolve(),
                seed=_derive_seed("utterance", seed, split, i),
            ))

        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(synthesize, **job) for job in jobs]
            try:
                durations = [f.result() for f in progress(futures, f"synth {split}", unit="utt")]
            except BaseException:
                # Stop queued work at once; the first failure is the one to report.
                for f in futures:
                    f.cancel()
                raise
        elapsed = time.perf_counter() - start
        if n:
            print(f"synth: {split}: {n} utterances in {elapsed:.1f} s ({n / max(elapsed, 1e-9):.0f}/s)",
                  file=sys.stderr)

        entries = [
            {"audio_filepath": str(job["out_path"]), "duration": dur, "text": job["text"],
             "speaker": job["voice"].id, "engine": job["voice"].engine}
            for job, dur in zip(jobs, durations)
        ]
        manifests[split] = write_manifest(out_dir / f"{split}.jsonl", entries)
        used[split] = sorted({job["voice"].id for job in jobs})

    atomic_write_text(out_dir / "corpus.json", json.dumps({
        "seed": seed,
        "grammar": grammar,
        "text_file": str(Path(text_file).resolve()) if text_file is not None else None,
        "holdout": holdout,
        "random_voices": random_voices,
        "train_flite_share": train_flite_share,
        "engines": sorted(set(engines)),
        "engine_versions": engine_versions(engines),
        "sample_rate": 16000,
        "rate_range": list(rate_range),
        "pitch_range": list(pitch_range),
        "counts": counts,
        "manifests": {s: p.name for s, p in manifests.items()},
        "voices": {s: [v.id for v in pools[s]] for s in SPLITS},
        "holdout_groups": {s: sorted({v.holdout_group for v in pools[s]}) for s in SPLITS},
        "voices_used": used,
    }, indent=2) + "\n")
    return manifests


def corpus_is_current(out_dir: str | os.PathLike, *, grammar: str | None = "commands", text_file: str | None = None,
                      n_train: int, n_dev: int, n_test: int, seed: int, engines: Sequence[str],
                      holdout: str, random_voices: int = 0, train_flite_share: float = _FLITE_SHARE,
                      **_ignored) -> bool:
    """True when ``out_dir`` holds a finished corpus made with these settings
    (``make_corpus``'s arguments; ``corpus.json`` is written last, so its
    presence means the corpus is complete)."""
    try:
        made = json.loads((Path(out_dir) / "corpus.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    wanted = {
        "seed": seed, "grammar": None if text_file is not None else grammar,
        "text_file": str(Path(text_file).resolve()) if text_file is not None else None,
        "holdout": holdout, "random_voices": random_voices, "engines": sorted(set(engines)),
        "counts": {"train": n_train, "dev": n_dev, "test": n_test}, "train_flite_share": train_flite_share,
    }
    made.setdefault("train_flite_share", _FLITE_SHARE)  # corpora made before the setting existed
    return all(made.get(key) == value for key, value in wanted.items())


# ----------------------------------------------------------------------------
# Long recordings
# ----------------------------------------------------------------------------


def long_recording(
    out_dir: str | os.PathLike,
    seconds: float,
    *,
    seed: int = 0,
    voice_seed: int = 0,
    grammar: str = "commands",
    engines: Sequence[str] = ("espeak-ng",),
    pause_range: tuple[float, float] = (0.5, 1.2),
    rate_range: tuple[float, float] = (0.85, 1.15),
    workers: int = 2,
    sample_rate: int = 16000,
) -> dict:
    """Synthesise a long recording of test-voice utterances separated by pauses of known length.

    Each utterance is a grammar sentence said by a voice of the *test* split
    of the corpus made with ``voice_seed`` (:func:`split_voices`; the shipped
    model's corpus used seed 0, so these voices were never heard in its
    training), written by :func:`synthesize` as a corpus utterance would be.
    The long recording is a pause, then each utterance trimmed to its speech
    (the same energy threshold that :func:`synthesize` trims with, so the
    utterance's place in the recording is its speech onset), each followed by
    a pause, until it lasts at least ``seconds``. Pauses are dithered silence
    lasting uniformly ``pause_range`` seconds.

    Writes ``out_dir/utterances/NNNNNN.wav``, ``out_dir/utterances.jsonl``
    (their manifest, for scoring them one by one), ``out_dir/long.wav``
    (16-bit PCM) and ``out_dir/long.json`` (what this returns).

    Args:
        out_dir: output folder (created).
        seconds: the least length of the long recording.
        seed: seeds the sentences, voices, rates and pauses.
        voice_seed: the corpus seed whose test voices speak.
        grammar: built-in grammar of the sentences.
        engines: engines whose test voices are used.
        pause_range: (min, max) seconds of each pause.
        rate_range: (min, max) relative speaking rate, drawn log-uniformly.
        workers: parallel synthesis threads.
        sample_rate: Hz.

    Returns:
        ``{"audio_filepath", "duration", "manifest", "utterances":
        [{"audio_filepath", "duration", "text", "speaker", "onset", "end"}]}``,
        with ``onset`` and ``end`` the seconds in the long recording where the
        utterance's speech starts and ends.
    """
    if seconds <= 0 or not 0 <= pause_range[0] <= pause_range[1]:
        raise ConfigError(f"long recording: seconds {seconds} and pause_range {pause_range} must be positive")
    out_dir = Path(out_dir).resolve()
    wav_dir = out_dir / "utterances"
    wav_dir.mkdir(parents=True, exist_ok=True)
    pool = split_voices(list_voices(engines), "voice", voice_seed)["test"]
    if not pool:
        raise ConfigError(f"long recording: no test voices for engines {list(engines)}")
    rng = random.Random(_derive_seed("long_recording", seed))
    noise = np.random.default_rng(_derive_seed("long_recording_pauses", seed))

    def pause() -> np.ndarray:
        return noise.normal(0.0, 1.0 / 32768.0, int(rng.uniform(*pause_range) * sample_rate))

    pieces, rows = [pause()], []
    length = pieces[0].size
    batch = 4 * workers  # utterances synthesised at a time, until the recording is long enough
    texts = iter(generate_sentences(grammar, 100_000, _derive_seed("long_recording_sentences", seed)))
    for _ in progress(itertools.count(), "long recording", unit="batch"):
        if length >= seconds * sample_rate:
            break
        jobs = []
        for _ in range(batch):
            i = len(rows) + len(jobs)
            jobs.append(dict(text=next(texts), voice=rng.choice(pool), rate=_log_uniform(rng, *rate_range),
                             pitch=1.0, out_path=wav_dir / f"{i:06d}.wav", sample_rate=sample_rate,
                             seed=_derive_seed("long_recording_utterance", seed, i)))
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as threads:
            list(threads.map(lambda job: synthesize(**job), jobs))
        for job in jobs:
            if length >= seconds * sample_rate:
                break
            audio, _ = sf.read(str(job["out_path"]), dtype="float64")
            start, end = _speech_bounds(audio, sample_rate)
            rows.append({"audio_filepath": str(job["out_path"]), "duration": audio.size / sample_rate,
                         "text": job["text"], "speaker": job["voice"].id,
                         "onset": length / sample_rate, "end": (length + end - start) / sample_rate})
            gap = pause()
            pieces += [audio[start:end], gap]
            length += end - start + gap.size
    pcm = np.clip(np.round(np.concatenate(pieces) * 32767.0), -32768, 32767).astype(np.int16)
    with atomic_path(out_dir / "long.wav") as tmp:
        sf.write(tmp, pcm, sample_rate, subtype="PCM_16", format="WAV")
    write_manifest(out_dir / "utterances.jsonl", rows)
    info = {"audio_filepath": str(out_dir / "long.wav"), "duration": pcm.size / sample_rate,
            "manifest": str(out_dir / "utterances.jsonl"), "utterances": rows}
    atomic_write_text(out_dir / "long.json", json.dumps(info, indent=2) + "\n")
    return info

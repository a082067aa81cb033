"""Long recordings for testing long-form transcription and timestamps.

:func:`long_recording` strings held-out test utterances together with pauses
of known length, and records where each utterance's speech lies.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import soundfile as sf

from asr.audio.files import write_pcm16
from asr.config import FeatureConfig
from asr.core.atomic import atomic_write_text
from asr.core.errors import ConfigError
from asr.core.progress import progress
from asr.data.manifest import write_manifest
from asr.data.synth.engines import speech_bounds, synthesize_all
from asr.data.synth.grammars import generate_sentences
from asr.data.synth.seeds import derive_seed, log_uniform
from asr.data.synth.voices import Voice, list_voices, split_voices


def _batch_jobs(first: int, batch: int, texts: Iterator[str], pool: Sequence[Voice], rng: random.Random, *,
                wav_dir: Path, seed: int, rate_range: tuple[float, float], sample_rate: int) -> list[dict]:
    """The :func:`synthesize` keyword arguments of utterances ``first`` to
    ``first + batch - 1``, written to ``wav_dir/NNNNNN.wav``."""
    return [
        dict(text=next(texts), voice=rng.choice(pool), rate=log_uniform(rng, *rate_range),
             pitch=1.0, out_path=wav_dir / f"{i:06d}.wav", sample_rate=sample_rate,
             seed=derive_seed("long_recording_utterance", seed, i))
        for i in range(first, first + batch)
    ]


def _append_utterances(jobs: Sequence[dict], pieces: list[np.ndarray], rows: list[dict], length: int,
                       target: float, pause: Callable[[], np.ndarray], sample_rate: int) -> int:
    """Append each synthesised utterance, trimmed to its speech, and a pause
    after it to ``pieces`` (audio, shape (samples,)) and its row to ``rows``,
    until the recording reaches ``target`` samples.

    Args:
        length: samples in ``pieces`` so far.

    Returns:
        Samples in ``pieces`` now.
    """
    for job in jobs:
        if length >= target:
            break
        audio, _ = sf.read(str(job["out_path"]), dtype="float64")
        start, end = speech_bounds(audio, sample_rate)
        rows.append({"audio_filepath": str(job["out_path"]), "duration": audio.size / sample_rate,
                     "text": job["text"], "speaker": job["voice"].id,
                     "onset": length / sample_rate, "end": (length + end - start) / sample_rate})
        gap = pause()
        pieces += [audio[start:end], gap]
        length += end - start + gap.size
    return length


def _write_long_recording(out_dir: Path, pieces: list[np.ndarray], rows: list[dict], sample_rate: int) -> dict:
    """Write ``long.wav`` (the pieces joined, 16-bit PCM), ``utterances.jsonl``
    and ``long.json`` into ``out_dir``; return what ``long.json`` holds."""
    samples = write_pcm16(out_dir / "long.wav", np.concatenate(pieces), sample_rate)
    write_manifest(out_dir / "utterances.jsonl", rows)
    info = {"audio_filepath": str(out_dir / "long.wav"), "duration": samples / sample_rate,
            "manifest": str(out_dir / "utterances.jsonl"), "utterances": rows}
    atomic_write_text(out_dir / "long.json", json.dumps(info, indent=2) + "\n")
    return info


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
    sample_rate: int = FeatureConfig.sample_rate,
) -> dict:
    """Synthesise a long recording of test-voice utterances separated by pauses of known length.

    Each utterance is a grammar sentence said by a voice of the *test* split
    of the corpus made with ``voice_seed`` (:func:`asr.data.synth.voices.split_voices`;
    the shipped model's corpus used seed 0, so these voices were never heard in its
    training), written by :func:`asr.data.synth.engines.synthesize` as a corpus
    utterance would be. The long recording is a pause, then each utterance trimmed
    to its speech (the same energy threshold that ``synthesize`` trims with, so the
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
    rng = random.Random(derive_seed("long_recording", seed))
    noise = np.random.default_rng(derive_seed("long_recording_pauses", seed))

    def pause() -> np.ndarray:
        return noise.normal(0.0, 1.0 / 32768.0, int(rng.uniform(*pause_range) * sample_rate))

    pieces, rows = [pause()], []
    length, target = pieces[0].size, seconds * sample_rate
    batch = 4 * workers  # utterances synthesised at a time, until the recording is long enough
    texts = iter(generate_sentences(grammar, 100_000, derive_seed("long_recording_sentences", seed)))
    for _ in progress(itertools.count(), "long recording", unit="batch"):
        if length >= target:
            break
        jobs = _batch_jobs(len(rows), batch, texts, pool, rng, wav_dir=wav_dir, seed=seed,
                           rate_range=rate_range, sample_rate=sample_rate)
        synthesize_all(jobs, workers)
        length = _append_utterances(jobs, pieces, rows, length, target, pause, sample_rate)
    return _write_long_recording(out_dir, pieces, rows, sample_rate)

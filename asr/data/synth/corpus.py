"""Synthesise a train/dev/test speech corpus with held-out voices.

:func:`make_corpus` draws sentences (from a grammar or a text file), splits
the voices of :mod:`asr.data.synth.voices` so dev and test speakers are never
heard in training, synthesises every utterance with
:mod:`asr.data.synth.engines`, and writes the manifests and ``corpus.json``.
:func:`corpus_is_current` tells whether a folder already holds such a corpus.
"""

from __future__ import annotations

import json
import os
import random
import re
import sys
import time
from pathlib import Path
from typing import Sequence

from asr.config import AcousticsConfig, CorpusConfig, FeatureConfig, to_dict
from asr.core.atomic import atomic_write_text
from asr.core.errors import ASRError, ConfigError, TextError
from asr.data.manifest import write_manifest
from asr.data.synth.acoustics import NoiseSources, load_noise_files, render_files
from asr.data.synth.engines import ENGINES, engine_versions, synthesize_all
from asr.data.synth.grammars import grammar_digest, is_grammar_file, read_text_file
from asr.data.synth.seeds import derive_seed, log_uniform
from asr.data.synth.sentences import Sentences, hold_out
from asr.text import normalize_text
from asr.data.synth.voices import (
    SPLITS,
    Voice,
    assign_voices,
    list_voices,
    make_random_voices,
    split_voices,
)


def _check_settings(counts: dict[str, int], workers: int, train_flite_share: float,
                    rate_range: tuple[float, float], pitch_range: tuple[float, float]) -> None:
    """Raise :class:`ConfigError` for settings :func:`make_corpus` cannot use."""
    if any(n < 0 for n in counts.values()) or sum(counts.values()) == 0:
        raise ConfigError(f"corpus: utterance counts must be >= 0 and not all zero, got {counts}")
    if workers < 1:
        raise ConfigError(f"corpus: workers must be >= 1, got {workers}")
    if not 0.0 <= train_flite_share <= 1.0:
        raise ConfigError(f"corpus: train_flite_share {train_flite_share} must be in [0, 1]")
    for name, (lo, hi) in (("rate_range", rate_range), ("pitch_range", pitch_range)):
        if not 0.25 <= lo <= hi <= 4.0:
            raise ConfigError(f"corpus: {name} {(lo, hi)} must be relative factors with 0.25 <= min <= max <= 4")


def _text_lines(text_file: str | os.PathLike | None, grammar: str | None, quiet: bool = False) -> list[str] | None:
    """The text file's sentences, normalised (``asr.text``) so that the engines say exactly
    what the label says ("$4.50" is spoken and labelled "four point five zero"), or None
    when sentences come from ``grammar``."""
    if text_file is not None:
        raw = read_text_file(text_file)
        lines = [line for line in map(normalize_text, raw) if line]
        if not lines:
            raise TextError(f"{text_file}: text file has no sentences")
        changed = [(r, n) for r, n in zip(raw, map(normalize_text, raw)) if r != n]
        if changed and not quiet:
            # the example: a line whose words changed (a number, a symbol), not only its case or punctuation
            reworded = [(r, n) for r, n in changed if re.sub(r"[^a-z' ]", "", r.lower()).split() != n.split()]
            raw_line, spoken = (reworded or changed)[0]
            print(f"synth: {len(changed)} of {len(raw)} lines normalised before synthesis, so speech and label "
                  f"agree (e.g. {raw_line!r} -> {spoken!r})", file=sys.stderr)
        return lines
    if grammar is None:
        raise ConfigError("corpus: give a grammar or a text_file")
    return None


def _voice_pools(out_dir: Path, engines: Sequence[str], holdout: str, seed: int, random_voices: int,
                 counts: dict[str, int], held_out_engine: str) -> dict[str, list[Voice]]:
    """Each split's voices, random ones added to train (unless espeak-ng is the
    held-out engine); raise if a split that needs utterances has none."""
    pools = split_voices(list_voices(engines), holdout, seed, held_out_engine)
    if "espeak-ng" in engines and not (holdout == "engine" and held_out_engine == "espeak-ng"):
        pools["train"] = sorted(pools["train"] + make_random_voices(random_voices, out_dir, seed))
    for split, n in counts.items():
        if n and not pools[split]:
            raise ConfigError(f"corpus: no voices left for {split} with engines {list(engines)} "
                              f"and holdout {holdout!r}")
    return pools


def _split_jobs(out_dir: Path, split: str, n: int, pool: Sequence[Voice], *, seed: int,
                sentences: Sentences, flite_share: float,
                rate_range: tuple[float, float], pitch_range: tuple[float, float]) -> list[dict]:
    """The :func:`synthesize` keyword arguments of a split's ``n`` utterances
    (creates ``out_dir/wavs/<split>``)."""
    rng = random.Random(derive_seed("corpus", seed, split))
    texts = sentences.draw(split, n, seed, rng)
    assigned = assign_voices(pool, n, rng, flite_share)
    wav_dir = out_dir / "wavs" / split
    wav_dir.mkdir(parents=True, exist_ok=True)
    return [
        dict(text=text, voice=voice,
             rate=log_uniform(rng, *rate_range), pitch=log_uniform(rng, *pitch_range),
             out_path=(wav_dir / f"{split}-{i:06d}.wav").resolve(),
             seed=derive_seed("utterance", seed, split, i))
        for i, (text, voice) in enumerate(zip(texts, assigned))
    ]


def _realistic_copy(out_dir: Path, split: str, jobs: list[dict], entries: list[dict], acoustics: AcousticsConfig,
                    noises: tuple, seed: int, workers: int) -> list[dict]:
    """Render the acoustics into copies of a split's WAVs (``wavs/<split>_realistic/``);
    return their manifest entries (``entries``' with the key ``acoustics``: the effects)."""
    folder = out_dir / "wavs" / f"{split}_realistic"
    folder.mkdir(parents=True, exist_ok=True)
    clean = [job["out_path"] for job in jobs]
    # seeded by the file name, not the position: an utterance an engine skipped moves no other's draws
    tasks = [dict(src=path, dst=folder / path.name, seed=derive_seed("acoustics", seed, split, path.name))
             for path in clean]
    start = time.perf_counter()
    effects = render_files(tasks, acoustics, NoiseSources(tuple(clean), noises), workers, f"acoustics {split}")
    if jobs:
        print(f"synth: {split}: acoustics in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return [{**entry, "audio_filepath": str(task["dst"]), "acoustics": list(fx)}
            for entry, task, fx in zip(entries, tasks, effects)]


def _synthesize_split(out_dir: Path, split: str, jobs: list[dict], workers: int, seed: int = 0,
                      acoustics: AcousticsConfig | None = None, noises: tuple = (),
                      sentences: Sentences = Sentences(None)) -> dict[str, Path]:
    """Synthesise a split's utterances and write its manifest; return ``{split: manifest path}``.

    With ``acoustics`` enabled, train's manifest lists the realistic copies (the
    clean WAVs are removed); dev and test keep the clean manifest and add
    ``<split>_realistic``.
    """
    start = time.perf_counter()
    durations = synthesize_all(jobs, workers, f"synth {split}", skip_failures=True)
    elapsed = time.perf_counter() - start
    # an utterance an engine failed on was skipped with a warning; in place, so the caller's
    # record of the voices used counts only the utterances kept
    jobs[:] = [job for job, dur in zip(jobs, durations) if dur is not None]
    durations = [dur for dur in durations if dur is not None]
    if jobs:
        print(f"synth: {split}: {len(jobs)} utterances in {elapsed:.1f} s "
              f"({len(jobs) / max(elapsed, 1e-9):.0f}/s)", file=sys.stderr)
    entries = [
        {"audio_filepath": str(job["out_path"]), "duration": dur, "text": job["text"],
         "speaker": job["voice"].id, "engine": job["voice"].engine, **sentences.tag(split, job["text"])}
        for job, dur in zip(jobs, durations)
    ]
    if acoustics is None or not acoustics.enabled:
        return {split: write_manifest(out_dir / f"{split}.jsonl", entries)}
    realistic = _realistic_copy(out_dir, split, jobs, entries, acoustics, noises, seed, workers)
    if split == "train":
        for job in jobs:
            job["out_path"].unlink()
        return {split: write_manifest(out_dir / f"{split}.jsonl", realistic)}
    return {split: write_manifest(out_dir / f"{split}.jsonl", entries),
            f"{split}_realistic": write_manifest(out_dir / f"{split}_realistic.jsonl", realistic)}


def _write_corpus_json(out_dir: Path, pools: dict[str, list[Voice]], manifests: dict[str, Path],
                       used: dict[str, list[str]], *, seed: int, grammar: str | None,
                       text_file: str | os.PathLike | None, holdout: str, random_voices: int,
                       train_flite_share: float, engines: Sequence[str], rate_range: tuple[float, float],
                       pitch_range: tuple[float, float], counts: dict[str, int],
                       acoustics: AcousticsConfig | None = None, held_out_engine: str | None = None,
                       extra: dict | None = None) -> None:
    """Write ``out_dir/corpus.json``: the settings, engine versions, and the
    voices of each split (``pools``) and those it used (``used``: voice ids);
    ``acoustics`` only when enabled and ``held_out_engine`` only with ``holdout="engine"``
    (so a voice-holdout, clean corpus's file is as before)."""
    made = {
        "seed": seed,
        "grammar": grammar,
        "text_file": str(Path(text_file).resolve()) if text_file is not None else None,
        **({"grammar_sha256": grammar_digest(grammar)} if is_grammar_file(grammar) else {}),
        "holdout": holdout,
        **({"held_out_engine": held_out_engine} if holdout == "engine" else {}),
        "random_voices": random_voices,
        "train_flite_share": train_flite_share,
        "engines": sorted(set(engines)),
        "engine_versions": engine_versions(engines),
        "sample_rate": FeatureConfig.sample_rate,
        "rate_range": list(rate_range),
        "pitch_range": list(pitch_range),
        "counts": counts,
        "manifests": {s: p.name for s, p in manifests.items()},
        "voices": {s: [v.id for v in pools[s]] for s in SPLITS},
        "holdout_groups": {s: sorted({v.holdout_group for v in pools[s]}) for s in SPLITS},
        "voices_used": used,
        **(extra or {}),
    }
    if acoustics is not None and acoustics.enabled:
        made["acoustics"] = to_dict(acoustics)
    atomic_write_text(out_dir / "corpus.json", json.dumps(made, indent=2) + "\n")


def make_corpus(
    out_dir: str | os.PathLike,
    *,
    grammar: str | None = CorpusConfig.grammar,
    text_file: str | os.PathLike | None = None,
    n_train: int,
    n_dev: int,
    n_test: int,
    seed: int = CorpusConfig.seed,
    engines: Sequence[str] = ENGINES,
    holdout: str = CorpusConfig.holdout,
    held_out_engine: str = CorpusConfig.held_out_engine,
    random_voices: int = CorpusConfig.random_voices,
    train_flite_share: float = CorpusConfig.train_flite_share,
    workers: int = 4,
    rate_range: tuple[float, float] = (0.8, 1.25),
    pitch_range: tuple[float, float] = (0.85, 1.18),
    acoustics: AcousticsConfig = CorpusConfig().acoustics,
    sentence_holdout: float | None = CorpusConfig.sentence_holdout,
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
        engines: engines to use, any of "espeak-ng", "flite", "mbrola", "pico" and
            "piper" (the last three optional: ``scripts/install_voices.sh``; their
            voices that are not installed are left out with one log line each).
            An utterance an engine fails on (crash, timeout, no audio) is left out
            with a warning, so a manifest can have fewer lines than asked.
        holdout: "voice" (dev/test voices unseen in train) or "engine" (test is
            ``held_out_engine`` alone, train and dev the other engines). See
            :func:`asr.data.synth.voices.split_voices`.
        held_out_engine: the test engine with ``holdout="engine"``.
        workers: parallel synthesis threads (each drives one engine process).
        random_voices: extra espeak-ng speakers with random pitch and formants
            (see :func:`asr.data.synth.voices.make_random_voices`), added to the
            training voices only.
        train_flite_share: share of the training utterances said by flite when
            both engines are used; dev and test keep ``CorpusConfig.EVAL_FLITE_SHARE``, so
            changing it leaves them as they are.
        rate_range: (min, max) relative speaking rate, drawn log-uniformly per utterance.
        pitch_range: (min, max) relative pitch, drawn log-uniformly per utterance.
        acoustics: realistic acoustics (reverb, noise, channel) rendered into
            the WAVs (see :mod:`asr.data.synth.acoustics`); all probabilities
            0 (the default): a clean corpus. When enabled, the train WAVs are
            under ``wavs/train_realistic/``, and dev and test have a clean and a
            realistic copy (``dev_realistic.jsonl``, ``test_realistic.jsonl``);
            each realistic line has an extra key ``acoustics``: the effects applied.
            The noise files are read before anything is synthesised.
        sentence_holdout: with ``text_file``, the share of distinct sentences kept out of
            training for half of dev and test (None: automatic; :mod:`asr.data.synth.sentences`).

    Returns:
        ``{"train": path, "dev": path, "test": path}`` of the manifests, and
        ``dev_realistic`` and ``test_realistic`` when ``acoustics`` is enabled.
    """
    counts = {"train": n_train, "dev": n_dev, "test": n_test}
    _check_settings(counts, workers, train_flite_share, rate_range, pitch_range)
    lines = _text_lines(text_file, grammar)
    noises = load_noise_files(acoustics, FeatureConfig.sample_rate) if acoustics.enabled else ()
    if lines is not None:
        grammar = None
    sentences = hold_out(lines, grammar, sentence_holdout, seed)
    out_dir = Path(out_dir).resolve()
    pools = _voice_pools(out_dir, engines, holdout, seed, random_voices, counts, held_out_engine)

    manifests: dict[str, Path] = {}
    used: dict[str, list[str]] = {}
    for split in SPLITS:
        jobs = _split_jobs(out_dir, split, counts[split], pools[split], seed=seed, sentences=sentences,
                           flite_share=train_flite_share if split == "train" else CorpusConfig.EVAL_FLITE_SHARE,
                           rate_range=rate_range, pitch_range=pitch_range)
        manifests.update(_synthesize_split(out_dir, split, jobs, workers, seed, acoustics, noises, sentences))
        used[split] = sorted({job["voice"].id for job in jobs})

    _write_corpus_json(out_dir, pools, manifests, used, seed=seed, grammar=grammar, text_file=text_file,
                       holdout=holdout, random_voices=random_voices, train_flite_share=train_flite_share,
                       engines=engines, rate_range=rate_range, pitch_range=pitch_range, counts=counts,
                       acoustics=acoustics, held_out_engine=held_out_engine, extra=sentences.record())
    return manifests


def corpus_is_current(out_dir: str | os.PathLike, *, grammar: str | None = CorpusConfig.grammar,
                      text_file: str | None = None, n_train: int, n_dev: int, n_test: int, seed: int,
                      engines: Sequence[str], holdout: str, random_voices: int = CorpusConfig.random_voices,
                      held_out_engine: str = CorpusConfig.held_out_engine,
                      train_flite_share: float = CorpusConfig.train_flite_share,
                      acoustics: AcousticsConfig = CorpusConfig().acoustics,
                      sentence_holdout: float | None = CorpusConfig.sentence_holdout, **_ignored) -> bool:
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
        "acoustics": to_dict(acoustics) if acoustics.enabled else None,
        "held_out_engine": held_out_engine if holdout == "engine" else None,
        "grammar_sha256": grammar_digest(grammar) if text_file is None else None,
    }
    if text_file is not None:  # a text file's sentence holdout, as make_corpus would draw it now
        try:
            wanted.update(hold_out(_text_lines(text_file, None, quiet=True), None, sentence_holdout, seed).record())
        except (OSError, ASRError):
            return False
    made.setdefault("train_flite_share", 0.3)  # corpora made before the setting existed used 0.3
    if holdout == "engine":
        made.setdefault("held_out_engine", "flite")  # engine-holdout corpora made before the setting: flite
    return all(made.get(key) == value for key, value in wanted.items())

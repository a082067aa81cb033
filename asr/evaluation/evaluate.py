"""Evaluating a recognizer on a manifest: WER, CER, real-time factor, worst utterances,
and WER/CER per speaker and per length bucket; and on a long recording of known
utterances (``evaluate_long``): long-form against one-by-one WER, and word
timestamps against the known speech onsets."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Sequence

import jiwer
import numpy as np

from asr.config import DataConfig
from asr.core.errors import ASRError
from asr.data.splits import load_split
from asr.evaluation.metrics import error_rates, grouped_error_rates, utterance_errors
from asr.evaluation.results import EvalResult, GroupRates, LongFormResult, ScoredUtterance

LENGTH_BUCKETS = (2.0, 4.0, 8.0, 16.0)  # seconds: the upper edges of the length buckets


def length_bucket(seconds: float, edges: tuple[float, ...] = LENGTH_BUCKETS) -> str:
    """The length bucket of an utterance, e.g. ``"2-4 s"`` or ``">16 s"``."""
    low = 0.0
    for high in edges:
        if seconds < high:
            return f"{low:g}-{high:g} s"
        low = high
    return f">{low:g} s"


def evaluate(recognizer, manifest: str | os.PathLike, data_cfg: DataConfig | None = None,
             worst: int = 10, batch_size: int = 32) -> EvalResult:
    """Transcribe every usable line of ``manifest`` and score it.

    Args:
        recognizer: an ``asr.inference.Recognizer`` (any backend).
        manifest: JSONL manifest.
        data_cfg: limits and feature cache (default: ``DataConfig()`` without cache).
        worst: how many of the worst utterances to list.
        batch_size: utterances per forward pass.

    Returns:
        An ``EvalResult`` (``asr.evaluation.results``). Its ``rtf`` counts features
        read from ``data_cfg``'s cache only as the reading; a backend that makes its
        own features counts reading the audio and its own run.
    """
    data_cfg = data_cfg or DataConfig(cache_dir=None)
    start = time.perf_counter()
    split = load_split(manifest, data_cfg, recognizer.features, recognizer.tokenizer,
                       log=logging.getLogger("asr").warning)
    if not len(split):
        raise ASRError(f"{manifest}: no usable utterances ({len(split.skipped)} skipped)")
    if not recognizer.backend.reads_split_features:
        # this backend makes its own features from the samples: the librosa features above
        # only checked the files, so its clock starts at reading them again
        start = time.perf_counter()
    inputs = recognizer.backend.split_inputs(split, recognizer.featurize)
    logits = recognizer.logits(inputs, batch_size, desc="model")
    decode_start = time.perf_counter()
    hypotheses = recognizer.decode(logits, desc="decoding")
    decode_seconds = time.perf_counter() - decode_start
    elapsed = time.perf_counter() - start
    rates = error_rates(split.texts, hypotheses)
    scored = [ScoredUtterance(utt.audio_filepath, utt.text, hyp, **_rates(utterance_errors(utt.text, hyp)))
              for utt, hyp in zip(split.utterances, hypotheses)]
    scored.sort(key=lambda r: (-r.wer, -r.cer))
    seconds = split.audio_seconds
    buckets = [length_bucket(utt.duration) for utt in split.utterances]
    by_length = _groups(grouped_error_rates(split.texts, hypotheses, buckets))
    speakers = [str(utt.extra.get("speaker", "")) for utt in split.utterances]
    by_speaker = _groups(grouped_error_rates(split.texts, hypotheses, speakers)) if any(speakers) else {}
    engines = [str(utt.extra.get("engine", "")) for utt in split.utterances]  # asr synth's manifests name it
    by_engine = _groups(grouped_error_rates(split.texts, hypotheses, engines)) if any(engines) else {}
    seen = [str(utt.extra.get("sentence", "")) for utt in split.utterances]  # a text file's sentence holdout
    by_sentence = _groups(grouped_error_rates(split.texts, hypotheses, seen)) if any(seen) else {}
    return EvalResult(
        wer=rates["wer"],
        cer=rates["cer"],
        sentence_error=sum(ref != hyp for ref, hyp in zip(split.texts, hypotheses)) / len(split),
        rtf=elapsed / seconds if seconds else 0.0,
        decode_ms_per_utterance=1000 * decode_seconds / len(split),
        utterances=len(split),
        audio_seconds=seconds,
        skipped=len(split.skipped),
        worst=tuple(r for r in scored[:worst] if r.wer > 0 or r.cer > 0),
        by_length={b: by_length[b] for b in map(length_bucket, (0.0, *LENGTH_BUCKETS)) if b in by_length},
        by_speaker=dict(sorted(by_speaker.items())),
        by_engine=dict(sorted(by_engine.items())),
        by_sentence=dict(sorted(by_sentence.items())),
    )


def _rates(errors: dict) -> dict[str, float]:
    return {"wer": errors["wer"], "cer": errors["cer"]}


def _groups(groups: dict[str, dict]) -> dict[str, GroupRates]:
    return {name: GroupRates(**rates) for name, rates in groups.items()}


def onset_errors(onsets: Sequence[float], references: Sequence[str], words: Sequence) -> list[float | None]:
    """How far each utterance's recognised start is from its known speech onset.

    The reference words of all utterances, in order, are aligned to the
    recognised words with jiwer's word alignment (minimum edit distance); an
    utterance's first reference word that the alignment pairs with an equal
    recognised word gives ``that word's start - onset``. A first word that was
    misrecognised or deleted gives None: its time says nothing about the
    alignment, since what was recognised there is another word, or nothing.

    Args:
        onsets: seconds where each utterance's speech starts.
        references: each utterance's transcript (normalised).
        words: the recognised words in order (``asr.decoding.alignment.Word``).

    Returns:
        Per utterance, the error in seconds (positive: late) or None.
    """
    ref_words = " ".join(references).split()
    hyp_words = [w.word for w in words]
    matched: dict[int, int] = {}  # reference word index → recognised word index
    if ref_words and hyp_words:
        for chunk in jiwer.process_words(" ".join(ref_words), " ".join(hyp_words)).alignments[0]:
            if chunk.type == "equal":
                for k in range(chunk.ref_end_idx - chunk.ref_start_idx):
                    matched[chunk.ref_start_idx + k] = chunk.hyp_start_idx + k
    errors: list[float | None] = []
    first = 0  # index of the utterance's first reference word
    for onset, text in zip(onsets, references):
        j = matched.get(first)
        errors.append(None if j is None or not text.split() else words[j].start - onset)
        first += len(text.split())
    return errors


def evaluate_long(recognizer, recording: str | os.PathLike, chunk_seconds: float | None = None) -> LongFormResult:
    """Score long-form transcription on a recording of known utterances
    (``asr.data.synth.long.long_recording``'s ``long.json``).

    Args:
        recognizer: an ``asr.inference.recognizer.Recognizer``.
        recording: the ``long.json`` describing the recording and its utterances.
        chunk_seconds: as for ``Recognizer.transcribe_long`` (None: its default).

    Returns:
        A ``LongFormResult`` (``asr.evaluation.results``).
    """
    info = json.loads(Path(recording).read_text(encoding="utf-8"))
    rows = info["utterances"]
    references = [recognizer.tokenizer.normalize(row["text"]) for row in rows]
    one_by_one = evaluate(recognizer, info["manifest"], DataConfig(cache_dir=None, num_workers=1), worst=0)
    kwargs = {} if chunk_seconds is None else {"chunk_seconds": chunk_seconds}
    start = time.perf_counter()
    transcript = recognizer.transcribe_long(info["audio_filepath"], **kwargs)
    elapsed = time.perf_counter() - start
    rates = error_rates([" ".join(references)], [transcript.text])
    errors = onset_errors([row["onset"] for row in rows], references, transcript.words)
    found = np.abs([e for e in errors if e is not None])
    return LongFormResult(
        duration=transcript.duration,
        utterances=len(rows),
        chunks=len(transcript.chunks),
        wer=rates["wer"],
        cer=rates["cer"],
        per_utterance_wer=one_by_one.wer,
        per_utterance_cer=one_by_one.cer,
        rtf=elapsed / transcript.duration,
        onset_errors=tuple(errors),
        onsets_matched=int(found.size),
        onset_error_median=float(np.median(found)) if found.size else None,
        onset_error_max=float(found.max()) if found.size else None,
    )

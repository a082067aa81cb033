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

import numpy as np

from asr.config import DataConfig
from asr.data import load_split
from asr.errors import ASRError
from asr.metrics import error_rates, grouped_error_rates, utterance_errors

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
             worst: int = 10, batch_size: int = 32) -> dict:
    """Transcribe every usable line of ``manifest`` and score it.

    Args:
        recognizer: an ``asr.inference.Recognizer`` (or ``asr.lite.LiteRecognizer``).
        manifest: JSONL manifest.
        data_cfg: limits and feature cache (default: ``DataConfig()`` without cache).
        worst: how many of the worst utterances to list.
        batch_size: utterances per forward pass.

    Returns:
        ``{"wer", "cer", "rtf", "decode_ms_per_utterance", "utterances", "audio_seconds",
        "skipped", "worst": [{"audio_filepath", "reference", "hypothesis", "wer", "cer"}],
        "by_length": {bucket: {"wer", "cer", "utterances"}}, "by_speaker": {...}}``
        (``by_speaker`` from the manifest's ``speaker`` key, empty when it has none);
        ``rtf`` is wall seconds (features + model + decoding) per audio second
        (features read from ``data_cfg``'s cache count only the reading; a model
        with its features in the graph counts reading the audio and its own run);
        ``decode_ms_per_utterance`` is the decoder's share alone (logits → text).
    """
    data_cfg = data_cfg or DataConfig(cache_dir=None)
    start = time.perf_counter()
    split = load_split(manifest, data_cfg, recognizer.features, recognizer.tokenizer,
                       log=logging.getLogger("asr").warning)
    if not len(split):
        raise ASRError(f"{manifest}: no usable utterances ({len(split.skipped)} skipped)")
    inputs = split.features
    if recognizer.features_in_graph:
        # A TFLite model computes its log-mels from the samples itself: the librosa
        # features above only checked the files, so its clock starts at reading them again.
        start = time.perf_counter()
        inputs = [recognizer.featurize(utt.audio_filepath) for utt in split.utterances]
    logits = recognizer.logits(inputs, batch_size, desc="model")
    decode_start = time.perf_counter()
    hypotheses = recognizer.decode(logits, desc="decoding")
    decode_seconds = time.perf_counter() - decode_start
    elapsed = time.perf_counter() - start
    rates = error_rates(split.texts, hypotheses)
    rows = []
    for utt, hyp in zip(split.utterances, hypotheses):
        errs = utterance_errors(utt.text, hyp)
        rows.append({"audio_filepath": utt.audio_filepath, "reference": utt.text, "hypothesis": hyp,
                     "wer": errs["wer"], "cer": errs["cer"]})
    rows.sort(key=lambda r: (-r["wer"], -r["cer"]))
    seconds = split.audio_seconds
    buckets = [length_bucket(utt.duration) for utt in split.utterances]
    by_length = grouped_error_rates(split.texts, hypotheses, buckets)
    speakers = [str(utt.extra.get("speaker", "")) for utt in split.utterances]
    by_speaker = grouped_error_rates(split.texts, hypotheses, speakers) if any(speakers) else {}
    return {
        **rates,
        "rtf": elapsed / seconds if seconds else 0.0,
        "decode_ms_per_utterance": 1000 * decode_seconds / len(split),
        "utterances": len(split),
        "audio_seconds": seconds,
        "skipped": len(split.skipped),
        "worst": [r for r in rows[:worst] if r["wer"] > 0 or r["cer"] > 0],
        "by_length": {b: by_length[b] for b in map(length_bucket, (0.0, *LENGTH_BUCKETS)) if b in by_length},
        "by_speaker": dict(sorted(by_speaker.items())),
    }


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
        words: the recognised words in order (``asr.alignment.Word``).

    Returns:
        Per utterance, the error in seconds (positive: late) or None.
    """
    import jiwer

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


def evaluate_long(recognizer, recording: str | os.PathLike, chunk_seconds: float | None = None) -> dict:
    """Score long-form transcription on a recording of known utterances
    (``asr.synth.long_recording``'s ``long.json``).

    Args:
        recognizer: an ``asr.inference.Recognizer``.
        recording: the ``long.json`` describing the recording and its utterances.
        chunk_seconds: as for ``Recognizer.transcribe_long`` (None: its default).

    Returns:
        ``{"duration", "utterances", "chunks", "wer", "cer"`` (long-form),
        ``"per_utterance_wer", "per_utterance_cer"`` (each utterance's own file,
        transcribed alone), ``"rtf"`` (long-form wall seconds per audio second),
        ``"onset_errors"`` (seconds per utterance, None where its first word
        was not recognised; see ``onset_errors``), ``"onsets_matched",
        "onset_error_median", "onset_error_max"`` (of the absolute errors)}``.
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
    return {
        "duration": transcript.duration,
        "utterances": len(rows),
        "chunks": len(transcript.chunks),
        **rates,
        "per_utterance_wer": one_by_one["wer"],
        "per_utterance_cer": one_by_one["cer"],
        "rtf": elapsed / transcript.duration,
        "onset_errors": errors,
        "onsets_matched": int(found.size),
        "onset_error_median": float(np.median(found)) if found.size else None,
        "onset_error_max": float(found.max()) if found.size else None,
    }

"""Evaluating a recognizer on a manifest: WER, CER, real-time factor, worst utterances,
and WER/CER per speaker and per length bucket."""

from __future__ import annotations

import logging
import os
import time

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
        ``rtf`` is wall seconds (features + model + decoding) per audio second;
        ``decode_ms_per_utterance`` is the decoder's share alone (logits → text).
    """
    data_cfg = data_cfg or DataConfig(cache_dir=None)
    start = time.perf_counter()
    split = load_split(manifest, data_cfg, recognizer.features, recognizer.tokenizer,
                       log=logging.getLogger("asr").warning)
    if not len(split):
        raise ASRError(f"{manifest}: no usable utterances ({len(split.skipped)} skipped)")
    inputs = split.features
    if recognizer.features_in_graph:  # a TFLite model computes its log-mels from the samples itself
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


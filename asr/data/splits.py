"""A manifest's usable utterances turned into features and labels (``Split``):
the lines checked, the features computed or read from the cache."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from asr.core.errors import TextError
from asr.data.manifest import Utterance, read_manifest
from asr.features.logmel import compute_features, save_cached


@dataclass
class Split:
    """A manifest's usable utterances with their features and labels.

    ``features[i]`` is ``[frames, n_mels]`` float32 normalised features, or,
    for a streamed split, an ``asr.features.logmel.CachedFeatures`` naming the cache
    entry of its raw log-mel. ``labels[i]`` is a list of ids. ``skipped`` holds
    one-line reasons for lines left out.
    """

    utterances: list[Utterance]
    features: list
    labels: list[list[int]]
    skipped: list[str]

    def __len__(self) -> int:
        return len(self.utterances)

    @property
    def texts(self) -> list[str]:
        return [u.text for u in self.utterances]

    @property
    def audio_seconds(self) -> float:
        return float(sum(u.duration for u in self.utterances))

    @property
    def frames(self) -> list[int]:
        """Feature frames per utterance."""
        return [f.frames if hasattr(f, "frames") else f.shape[0] for f in self.features]


def min_frames_for(labels: list[int]) -> int:
    """Frames CTC needs to emit ``labels``: one per label plus a blank between repeats."""
    return len(labels) + sum(1 for a, b in zip(labels, labels[1:]) if a == b)


def load_split(
    manifest: str | os.PathLike,
    data_cfg,
    feature_cfg,
    tokenizer,
    time_reduction: int = 1,
    log=None,
    stream: bool = False,
) -> Split:
    """Read a manifest, normalise and encode its text, compute (cached) features,
    and leave out what cannot be trained on, with a reason per line.

    Args:
        manifest: JSONL manifest path.
        data_cfg: ``DataConfig`` (duration limits, cache folder, workers).
        feature_cfg: ``FeatureConfig``.
        tokenizer: ``Tokenizer``; transcripts are normalised with it.
        time_reduction: feature frames per model output frame, to drop
            utterances too short for their transcript under CTC.
        log: callable taking a warning line (default: the ``asr`` logger).
        stream: leave the features in the cache (``Split.features`` holds
            ``CachedFeatures``), so memory does not grow with the corpus.
    """
    log = log or logging.getLogger("asr").warning
    kept, labels, skipped = _encoded(manifest, tokenizer)
    results = compute_features(
        [u.audio_filepath for u in kept], feature_cfg, data_cfg.cache_dir, data_cfg.num_workers,
        data_cfg.min_duration, data_cfg.max_duration, keep=not stream,
    )
    split = Split([], [], [], skipped)
    for utt, ids, feats in zip(kept, labels, results):
        if isinstance(feats, str):
            split.skipped.append(feats)
            continue
        frames = -(-(feats.frames if stream else feats.shape[0]) // time_reduction)
        if frames < min_frames_for(ids):
            split.skipped.append(
                f"{utt.audio_filepath}: too fast for CTC ({frames} output frames for {len(ids)} characters)")
            continue
        split.utterances.append(utt)
        split.features.append(feats)
        split.labels.append(ids)
    for reason in split.skipped[:10]:
        log(f"skipped {reason}")
    if len(split.skipped) > 10:
        log(f"... and {len(split.skipped) - 10} more skipped lines")
    return split


def _encoded(manifest: str | os.PathLike, tokenizer) -> tuple[list[Utterance], list[list[int]], list[str]]:
    """The manifest's lines whose text the tokenizer encodes to at least one id (their text
    normalised), their label ids, and a reason for every line left out."""
    utterances, errors = read_manifest(manifest, strict=False)
    skipped = [str(e) for e in errors]
    kept, labels = [], []
    for utt in utterances:
        try:
            ids = tokenizer.encode(utt.text)
        except TextError as exc:
            skipped.append(f"{utt.audio_filepath}: {exc}")
            continue
        if not ids:
            skipped.append(f"{utt.audio_filepath}: empty transcript")
            continue
        utt.text = tokenizer.normalize(utt.text)
        kept.append(utt)
        labels.append(ids)
    return kept, labels, skipped


def cached_split(split: Split, folder: str | os.PathLike) -> Split:
    """The same split streamed: each in-memory feature array written to ``folder`` as a cache entry.

    For features that do not come from audio files (synthetic benchmark batches,
    tests); train with ``normalize="none"`` to read them back unchanged.
    """
    Path(folder).mkdir(parents=True, exist_ok=True)
    entries = [save_cached(Path(folder) / f"{i:06d}.npz", f, 0) for i, f in enumerate(split.features)]
    return Split(split.utterances, entries, split.labels, split.skipped)

"""``prepare``: import a corpus of any known layout into JSONL manifests (``asr prepare``)."""

from __future__ import annotations

import os
from pathlib import Path

from asr.core.errors import ASRError, ManifestError
from asr.data.importers.audiobooks import librispeech_sources, ljspeech_sources, read_librispeech, read_ljspeech
from asr.data.importers.base import ImportResult
from asr.data.importers.check import import_items
from asr.data.importers.kaldi import kaldi_sources, read_kaldi
from asr.data.importers.nemo import nemo_sources, read_nemo
from asr.data.importers.tables import commonvoice_sources, deepspeech_sources, read_commonvoice, read_deepspeech
from asr.text import Tokenizer

FORMATS = {  # kind → (sources of SRC, reader of one source)
    "librispeech": (librispeech_sources, read_librispeech),
    "ljspeech": (ljspeech_sources, read_ljspeech),
    "commonvoice": (commonvoice_sources, read_commonvoice),
    "deepspeech": (deepspeech_sources, read_deepspeech),
    "kaldi": (kaldi_sources, read_kaldi),
    "nemo": (nemo_sources, read_nemo),
}


def prepare(kind: str, src: str | os.PathLike, out_dir: str | os.PathLike, split: str | None = None,
            tokenizer: Tokenizer | None = None, min_duration: float = 0.0,
            max_duration: float | None = None) -> list[ImportResult]:
    """Import a corpus into JSONL manifests: ``OUT/NAME.jsonl`` and
    ``OUT/NAME.skipped.jsonl`` for each part of SRC (``asr prepare``).

    Args:
        kind: one of ``FORMATS``: librispeech, ljspeech, commonvoice, deepspeech, kaldi, nemo.
        src: the corpus: a LibriSpeech split folder, the LJSpeech folder, the
            Common Voice folder (TSVs + ``clips/``), a DeepSpeech CSV (or a folder
            of them), a Kaldi data dir, a NeMo manifest.
        out_dir: the folder the manifests go to (created).
        split: commonvoice/deepspeech: the TSV/CSV to read (default: each of
            train, dev, test that exists); librispeech/kaldi: a subfolder of SRC.
            NAME is the split (or SRC's file stem or folder name).
        tokenizer: the alphabet transcripts must fit (default: the toolkit's).
        min_duration: seconds; shorter audio is skipped (default: only empty audio).
        max_duration: seconds; longer audio is skipped (default: no limit).

    Returns:
        One ``ImportResult`` per manifest written.
    """
    if kind not in FORMATS:
        raise ASRError(f"unknown corpus kind {kind!r}; one of: {', '.join(FORMATS)}")
    find_sources, read = FORMATS[kind]
    src, out_dir = Path(src), Path(out_dir)
    results = []
    for name, source in find_sources(src, split):
        manifest = out_dir / f"{name}.jsonl"
        if manifest.resolve() == source.resolve():
            raise ManifestError(f"{manifest}: would overwrite the source; choose another --out")
        results.append(import_items(read(source), manifest, tokenizer, min_duration, max_duration))
    return results

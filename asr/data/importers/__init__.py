"""Corpus importers: other corpus layouts → JSONL manifests (``asr prepare``).

One small reader per layout (LibriSpeech and LJSpeech in
:mod:`~asr.data.importers.audiobooks`, Common Voice and DeepSpeech / Coqui STT
CSV in :mod:`~asr.data.importers.tables`, Kaldi data dirs in
:mod:`~asr.data.importers.kaldi`, NeMo JSONL in :mod:`~asr.data.importers.nemo`)
yields the corpus's utterances lazily, each a ``Candidate`` (audio path,
original transcript, extra keys) or, for a line that cannot even be parsed, a
``Skipped`` item (:mod:`~asr.data.importers.base`). ``import_items``
(:mod:`~asr.data.importers.check`) checks every candidate the same way
(``check_item``: transcript usable by the tokenizer, audio present and
decodable) and streams the manifest and the list of skipped items to disk a
line at a time, so a source of any length is never held in memory whole.
Transcripts are stored as they are: normalisation happens at training time.
:func:`~asr.data.importers.prepare.prepare` ties a layout's sources and reader together.

Nothing here runs commands found in a corpus (Kaldi's ``cmd |`` entries are
skipped) or imports TensorFlow.
"""

from asr.data.importers.audiobooks import read_librispeech, read_ljspeech
from asr.data.importers.base import (
    DUPLICATE,
    DURATION,
    EMPTY,
    MALFORMED,
    MISSING,
    NO_AUDIO_ENTRY,
    NO_DECODER,
    NO_TRANSCRIPT,
    OUT_OF_VOCABULARY,
    PIPED,
    SEGMENTED,
    UNREADABLE,
    Candidate,
    ImportResult,
    Skipped,
)
from asr.data.importers.check import check_item, import_items
from asr.data.importers.kaldi import read_kaldi
from asr.data.importers.nemo import read_nemo
from asr.data.importers.prepare import FORMATS, prepare
from asr.data.importers.tables import read_commonvoice, read_deepspeech

__all__ = [
    "DUPLICATE", "DURATION", "EMPTY", "MALFORMED", "MISSING", "NO_AUDIO_ENTRY", "NO_DECODER", "NO_TRANSCRIPT",
    "OUT_OF_VOCABULARY", "PIPED", "SEGMENTED", "UNREADABLE",
    "Candidate", "ImportResult", "Skipped", "check_item", "import_items", "FORMATS", "prepare",
    "read_commonvoice", "read_deepspeech", "read_kaldi", "read_librispeech", "read_ljspeech", "read_nemo",
]

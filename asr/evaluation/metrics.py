"""Error rates through jiwer: WER over words, CER over characters."""

from __future__ import annotations

from typing import Sequence

import jiwer


def _safe(texts: Sequence[str]) -> list[str]:
    # jiwer refuses empty references; a lone space scores as zero words or characters.
    return [t if t.strip() else " " for t in texts]


def error_rates(references: Sequence[str], hypotheses: Sequence[str]) -> dict[str, float]:
    """Corpus-level ``{"wer", "cer"}`` as fractions (0.05 is 5 %)."""
    if len(references) != len(hypotheses):
        raise ValueError("references and hypotheses differ in count")
    if not references:
        return {"wer": 0.0, "cer": 0.0}
    refs, hyps = _safe(references), _safe(hypotheses)
    words = jiwer.process_words(refs, hyps)
    chars = jiwer.process_characters(refs, hyps)
    return {"wer": float(words.wer), "cer": float(chars.cer)}


def utterance_errors(reference: str, hypothesis: str) -> dict[str, float]:
    """``{"wer", "cer", "word_errors", "ref_words"}`` for one utterance."""
    words = jiwer.process_words(_safe([reference]), _safe([hypothesis]))
    errors = words.substitutions + words.deletions + words.insertions
    return {"wer": float(words.wer), "cer": float(jiwer.cer(_safe([reference]), _safe([hypothesis]))),
            "word_errors": int(errors), "ref_words": len(reference.split())}


def grouped_error_rates(references: Sequence[str], hypotheses: Sequence[str],
                        groups: Sequence[str]) -> dict[str, dict]:
    """Corpus-level WER/CER per group: ``{group: {"wer", "cer", "utterances"}}``,
    groups in first-seen order.

    Args:
        references, hypotheses: one text per utterance.
        groups: one group name per utterance (a speaker, a length bucket...).
    """
    members: dict[str, list[int]] = {}
    for i, group in enumerate(groups):
        members.setdefault(group, []).append(i)
    return {
        group: {**error_rates([references[i] for i in idx], [hypotheses[i] for i in idx]), "utterances": len(idx)}
        for group, idx in members.items()
    }

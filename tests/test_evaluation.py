"""asr.evaluation.evaluate on the shared tiny run (in process)."""

import json

import pytest

from asr.errors import ASRError
from asr.evaluation import evaluate
from asr.metrics import error_rates
from conftest import N_TEST


def test_evaluate_scores_the_recognizers_transcripts(corpus, recognizer):
    report = evaluate(recognizer, corpus.test, worst=3)
    assert report["utterances"] == N_TEST
    assert report["skipped"] == 0
    assert report["audio_seconds"] == pytest.approx(sum(r["duration"] for r in corpus.rows["test"]))
    assert report["rtf"] > 0
    refs = [r["text"] for r in corpus.rows["test"]]
    hyps = {str(corpus.dir / r["audio_filepath"]): recognizer.transcribe(str(corpus.dir / r["audio_filepath"]))
            for r in corpus.rows["test"]}
    expected = error_rates(refs, list(hyps.values()))
    assert report["wer"] == pytest.approx(expected["wer"])
    assert report["cer"] == pytest.approx(expected["cer"])
    worst = report["worst"]
    assert len(worst) <= 3
    assert [(-w["wer"], -w["cer"]) for w in worst] == sorted((-w["wer"], -w["cer"]) for w in worst)
    for row in worst:
        assert row["hypothesis"] == hyps[row["audio_filepath"]]
        assert row["wer"] > 0 or row["cer"] > 0


def test_evaluate_skips_bad_lines(corpus, recognizer, tmp_path):
    rows = corpus.rows["test"][:3]
    lines = [{**r, "audio_filepath": str(corpus.dir / r["audio_filepath"])} for r in rows]
    lines.append({"audio_filepath": str(tmp_path / "gone.wav"), "duration": 1.0, "text": "one"})
    lines.append({**lines[0], "text": "日本"})
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    report = evaluate(recognizer, manifest)
    assert report["utterances"] == 3
    assert report["skipped"] == 2


def test_evaluate_refuses_a_manifest_with_nothing_usable(recognizer, tmp_path):
    manifest = tmp_path / "allbad.jsonl"
    manifest.write_text(json.dumps({"audio_filepath": str(tmp_path / "gone.wav"), "duration": 1.0,
                                    "text": "one"}) + "\n", encoding="utf-8")
    with pytest.raises(ASRError):
        evaluate(recognizer, manifest)

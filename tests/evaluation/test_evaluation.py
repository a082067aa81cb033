"""asr.evaluation.evaluate on the shared tiny run (in process)."""

import json

import pytest
from helpers import N_TEST

from asr.core.errors import ASRError
from asr.evaluation.evaluate import evaluate
from asr.evaluation.metrics import error_rates


def test_evaluate_scores_the_recognizers_transcripts(corpus, recognizer):
    report = evaluate(recognizer, corpus.test, worst=3)
    assert report.utterances == N_TEST
    assert report.skipped == 0
    assert report.audio_seconds == pytest.approx(sum(r["duration"] for r in corpus.rows["test"]))
    assert report.rtf > 0
    refs = [r["text"] for r in corpus.rows["test"]]
    hyps = {str(corpus.dir / r["audio_filepath"]): recognizer.transcribe(str(corpus.dir / r["audio_filepath"]))
            for r in corpus.rows["test"]}
    expected = error_rates(refs, list(hyps.values()))
    assert report.wer == pytest.approx(expected["wer"])
    assert report.cer == pytest.approx(expected["cer"])
    assert report.sentence_error == pytest.approx(sum(r != h for r, h in zip(refs, hyps.values())) / N_TEST)
    worst = report.worst
    assert len(worst) <= 3
    assert [(-w.wer, -w.cer) for w in worst] == sorted((-w.wer, -w.cer) for w in worst)
    for row in worst:
        assert row.hypothesis == hyps[row.audio_filepath]
        assert row.wer > 0 or row.cer > 0


def test_evaluate_skips_bad_lines(corpus, recognizer, tmp_path):
    rows = corpus.rows["test"][:3]
    lines = [{**r, "audio_filepath": str(corpus.dir / r["audio_filepath"])} for r in rows]
    lines.append({"audio_filepath": str(tmp_path / "gone.wav"), "duration": 1.0, "text": "one"})
    lines.append({**lines[0], "text": "日本"})
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    report = evaluate(recognizer, manifest)
    assert report.utterances == 3
    assert report.skipped == 2


def test_evaluate_refuses_a_manifest_with_nothing_usable(recognizer, tmp_path):
    manifest = tmp_path / "allbad.jsonl"
    manifest.write_text(json.dumps({"audio_filepath": str(tmp_path / "gone.wav"), "duration": 1.0,
                                    "text": "one"}) + "\n", encoding="utf-8")
    with pytest.raises(ASRError):
        evaluate(recognizer, manifest)


def test_evaluate_reports_each_speaker_and_length_bucket(corpus, recognizer, tmp_path):
    from asr.evaluation.evaluate import length_bucket

    rows = [{**row, "speaker": row["voice"], "sentence": ("seen", "unseen")[i % 2],
             "engine": ("espeak-ng", "flite", "pico")[i % 3]} for i, row in enumerate(corpus.rows["test"])]
    manifest = tmp_path / "with_speakers.jsonl"
    manifest.write_text("".join(json.dumps({**r, "audio_filepath": str(corpus.dir / r["audio_filepath"])}) + "\n"
                                for r in rows))
    report = evaluate(recognizer, manifest, worst=len(rows))
    by_speaker = report.by_speaker
    assert set(by_speaker) == {r["voice"] for r in rows}
    assert sum(g.utterances for g in by_speaker.values()) == report.utterances
    hyps = {r.audio_filepath: r.hypothesis for r in report.worst}
    for voice, group in by_speaker.items():  # each group scored on its own utterances only
        members = [r for r in rows if r["voice"] == voice]
        refs = [" ".join(r["text"].split()) for r in members]
        hyp = [hyps.get(str((corpus.dir / r["audio_filepath"]).resolve()), " ".join(r["text"].split()))
               for r in members]
        assert group.wer == pytest.approx(error_rates(refs, hyp)["wer"])
    by_length = report.by_length
    assert sum(g.utterances for g in by_length.values()) == report.utterances
    assert set(by_length) == {length_bucket(r["duration"]) for r in rows}
    # a text file's sentence holdout: seen and unseen sentences scored apart
    assert set(report.by_sentence) == {"seen", "unseen"}
    assert sum(g.utterances for g in report.by_sentence.values()) == report.utterances
    # asr synth's engine key: each synthesiser scored on its own utterances
    assert {name: g.utterances for name, g in report.by_engine.items()} == \
           {e: sum(r["engine"] == e for r in rows) for e in ("espeak-ng", "flite", "pico")}
    # without speaker (or sentence, engine) keys there is no such table
    plain = evaluate(recognizer, corpus.test)
    assert plain.by_speaker == {} and plain.by_sentence == {} and plain.by_engine == {}


@pytest.mark.parametrize("seconds, bucket", [(0.5, "0-2 s"), (2.0, "2-4 s"), (7.9, "4-8 s"), (15.0, "8-16 s"),
                                             (30.0, ">16 s")])
def test_length_buckets(seconds, bucket):
    from asr.evaluation.evaluate import length_bucket

    assert length_bucket(seconds) == bucket

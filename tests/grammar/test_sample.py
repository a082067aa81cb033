"""Sentences sampled from a grammar cover every alternative, repeat for a seed, and
feed ``asr synth --grammar FILE.jsgf``."""

from __future__ import annotations

import itertools
import json

import pytest

from asr.grammar.jsgf import GrammarError, inline, parse_jsgf
from asr.grammar.sample import MAX_REPEATS, sample_sentences

GRAMMAR = """#JSGF V1.0;
grammar home;
public <cmd> = [please] <verb> the <thing> | /0.1/ set <n> alarms;
<verb> = turn on | turn off | open | close | dim;
<thing> = lights | door | window | fan | blinds | heater | radio;
<n> = (one | two)+;
"""


def _expr(text=GRAMMAR):
    return inline(parse_jsgf(text))


def _all_sentences() -> set[str]:
    verbs, things = ["turn on", "turn off", "open", "close", "dim"], ["lights", "door", "window", "fan", "blinds",
                                                                       "heater", "radio"]
    out = {f"{p}{v} the {t}" for p in ("", "please ") for v in verbs for t in things}
    for k in range(1, MAX_REPEATS + 1):
        out |= {f"set {' '.join(ns)} alarms" for ns in itertools.product(["one", "two"], repeat=k)}
    return out


def test_every_alternative_is_said_early_whatever_its_weight():
    sentences = sample_sentences(_expr(), 14)
    assert set(sentences) <= _all_sentences()
    words = {w for s in sentences for w in s.split()}
    # 7 things, 5 verbs, both branches of the top rule (the light one too), the optional both ways
    assert {"lights", "door", "window", "fan", "blinds", "heater", "radio"} <= words
    assert {"on", "off", "open", "close", "dim", "set", "alarms", "please"} <= words
    assert any(not s.startswith("please") and not s.startswith("set") for s in sentences)


def test_sampling_repeats_for_a_seed_and_a_shorter_list_is_a_prefix():
    long = sample_sentences(_expr(), 40, seed=3)
    assert sample_sentences(_expr(), 40, seed=3) == long
    assert sample_sentences(_expr(), 10, seed=3) == long[:10]
    assert sample_sentences(_expr(), 40, seed=4) != long


def test_repeats_are_bounded_and_never_empty():
    sentences = sample_sentences(_expr("public <n> = [one]* [two];"), 50)
    assert all(s and len(s.split()) <= MAX_REPEATS + 1 for s in sentences)
    with pytest.raises(GrammarError, match="nothing in it"):
        sample_sentences(_expr("public <n> = <VOID>;"), 1)


@pytest.mark.needs_espeak
def test_synth_from_a_jsgf_file_records_its_hash(tmp_path):
    import hashlib

    from asr.data.manifest import read_manifest
    from asr.data.synth.corpus import corpus_is_current, make_corpus

    grammar = tmp_path / "home.jsgf"
    grammar.write_text(GRAMMAR)
    settings = dict(grammar=str(grammar), n_train=6, n_dev=2, n_test=2, seed=0, engines=["espeak-ng"],
                    holdout="voice")
    make_corpus(tmp_path / "corpus", workers=2, **settings)
    made = json.loads((tmp_path / "corpus" / "corpus.json").read_text())
    assert made["grammar_sha256"] == hashlib.sha256(GRAMMAR.encode()).hexdigest()
    texts = [u.text for split in ("train", "dev", "test")
             for u in read_manifest(tmp_path / "corpus" / f"{split}.jsonl")[0]]
    assert len(texts) == 10 and set(texts) <= _all_sentences()
    assert corpus_is_current(tmp_path / "corpus", **settings)
    grammar.write_text(GRAMMAR.replace("radio", "stereo"))  # an edited grammar is a new corpus
    assert not corpus_is_current(tmp_path / "corpus", **settings)

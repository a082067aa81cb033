"""`asr synth` without a recipe uses every installed engine and realistic acoustics
(asr.data.synth.presets); flags and --clean take them back."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from helpers import REPO

from asr.config import AcousticsConfig, CorpusConfig, load_config
from asr.data.synth import presets


def test_every_installed_engine_with_equal_shares_and_realistic_acoustics(monkeypatch, caplog):
    monkeypatch.setattr(presets, "engine_problem", lambda e: "pico: not here" if e == "pico" else None)
    with caplog.at_level(logging.INFO, logger="asr"):
        corpus = presets.best_corpus(CorpusConfig(), engines_given=False, share_given=False, clean=False)
    assert corpus.engines == ["espeak-ng", "flite", "mbrola", "piper"]
    assert "left out pico: not here" in caplog.text
    assert corpus.train_flite_share == 0.25
    assert corpus.acoustics == AcousticsConfig.realistic() and corpus.acoustics.enabled


def test_what_the_user_set_is_kept():
    given = CorpusConfig(engines=["espeak-ng", "flite"], train_flite_share=0.6)
    corpus = presets.best_corpus(given, engines_given=True, share_given=True, clean=True)
    assert corpus == given and not corpus.acoustics.enabled
    # engines given but not the share: flite's share follows the engines chosen
    assert presets.best_corpus(given, engines_given=True, share_given=False, clean=True).train_flite_share == 0.5
    # one engine: no share to split
    alone = CorpusConfig(engines=["espeak-ng"])
    assert presets.best_corpus(alone, engines_given=True, share_given=False, clean=True) == alone


def test_the_words_recipe_uses_the_realistic_preset():
    assert load_config(REPO / "configs" / "words.yaml").corpus.acoustics == AcousticsConfig.realistic()


@pytest.mark.needs_espeak
@pytest.mark.slow
@pytest.mark.parametrize("clean", [False, True])
def test_a_text_file_corpus_is_realistic_unless_clean(cli, tmp_path, clean):
    text = tmp_path / "phrases.txt"
    text.write_text("Lights on!\nlights off\nset 5 timers\n")
    out = tmp_path / "corpus"
    args = ["synth", "--text-file", text, "--out", out, "--n-train", 3, "--n-dev", 2, "--n-test", 0,
            "--engines", "espeak-ng"]
    result = cli(*args, *(["--clean"] if clean else []))
    assert result.returncode == 0, result.stderr
    made = json.loads((out / "corpus.json").read_text())
    assert made["engines"] == ["espeak-ng"]
    train = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    assert len(train) == 3
    assert all(("acoustics" in row) != clean for row in train)
    assert (out / "dev_realistic.jsonl").exists() != clean
    # what it tells the user: an example of a line whose words changed, and what was made
    assert "2 of 3 lines normalised before synthesis" in result.stderr
    assert "(e.g. 'set 5 timers' -> 'set five timers')" in result.stderr
    summary = [line for line in result.stderr.splitlines() if line.startswith("synth: 3 train")]
    assert summary == ["synth: 3 train, 2 dev, 0 test utterances from espeak-ng"
                       + ("" if clean else "; dev and test also as realistic copies (rooms, noise, channels)")]


def test_the_folder_comes_from_the_file_never_from_a_recipe():
    from asr.core.errors import ConfigError

    mine = CorpusConfig(grammar=None, text_file="some/where/my_phrases.txt")
    assert presets.best_corpus(mine, engines_given=True, share_given=True, clean=True,
                               out_given=False).out_dir == str(Path("data") / "my_phrases")
    jsgf = CorpusConfig(grammar="lights.jsgf")
    assert presets.best_corpus(jsgf, engines_given=True, share_given=True, clean=True,
                               out_given=False).out_dir == str(Path("data") / "lights")
    with pytest.raises(ConfigError, match="give --out: data/commands is where configs/commands.yaml keeps"):
        presets.best_corpus(CorpusConfig(), engines_given=True, share_given=True, clean=True, out_given=False)


def test_the_summary_names_the_sentences_held_out(tmp_path):
    from asr.cli.synth import corpus_summary

    record = tmp_path / "corpus.json"
    record.write_text(json.dumps({"counts": {"train": 2000, "dev": 150, "test": 300}, "engines": ["espeak-ng", "flite"],
                                  "sentence_holdout": {"share": 0.2, "held_out": 14, "training": 56},
                                  "manifests": {"train": "train.jsonl", "dev": "dev.jsonl"}}))
    assert corpus_summary(record) == ("synth: 2000 train, 150 dev, 300 test utterances from espeak-ng, flite; 14 of "
                                      "70 sentences never said in training (half of dev and test says them: asr "
                                      "evaluate reports seen and unseen apart)")

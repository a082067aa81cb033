"""Tests for asr.data.synth (grammars, voices, engines, corpora) (needs espeak-ng and flite installed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.core.errors import ASRError
from asr.data.manifest import read_manifest
from asr.data.synth.grammars import GRAMMARS, generate_sentences, read_text_file, vocabulary
from asr.text import normalize_text

DIGIT_WORDS = {"zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
NORMALISED = re.compile(r"[a-z']+( [a-z']+)*")

# ----------------------------------------------------------------------------
# grammars
# ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def commands_5000() -> list[str]:
    return generate_sentences("commands", 5000, seed=0)


@pytest.mark.parametrize("grammar", sorted(GRAMMARS))
def test_grammar_is_deterministic_per_seed(grammar: str) -> None:
    a = generate_sentences(grammar, 200, seed=7)
    assert a == generate_sentences(grammar, 200, seed=7)
    assert a != generate_sentences(grammar, 200, seed=8)
    assert len(a) == 200
    # A shorter draw is a prefix of a longer one with the same seed.
    assert generate_sentences(grammar, 50, seed=7) == a[:50]


def test_commands_are_normalised_text(commands_5000: list[str]) -> None:
    bad = [s for s in commands_5000 if not NORMALISED.fullmatch(s)]
    assert not bad, bad[:5]


def test_no_digit_characters_in_any_grammar(commands_5000: list[str]) -> None:
    for sentences in (commands_5000, generate_sentences("digits", 2000, seed=0)):
        assert not [s for s in sentences if re.search(r"[0-9]", s)]


def test_commands_vocabulary_is_large(commands_5000: list[str]) -> None:
    words = {w for s in commands_5000 for w in s.split()}
    assert len(words) >= 150, len(words)
    for w in ("kitchen", "percent", "degrees", "timer", "alarm", "weather", "unlock", "please"):
        assert w in words
    assert vocabulary("commands", 5000, seed=0) == words
    # Many distinct sentences, not a few templates repeated.
    assert len(set(commands_5000)) > 2500


def test_commands_include_bare_digit_strings(commands_5000: list[str]) -> None:
    bare = [s for s in commands_5000 if set(s.split()) <= DIGIT_WORDS]
    assert 0.10 <= len(bare) / len(commands_5000) <= 0.20, len(bare)
    assert any(len(s.split()) >= 4 for s in bare)


def test_digits_grammar() -> None:
    sentences = generate_sentences("digits", 2000, seed=1)
    lengths = {len(s.split()) for s in sentences}
    assert lengths == set(range(1, 8))
    words = {w for s in sentences for w in s.split()}
    assert words == DIGIT_WORDS  # "oh" and "zero" both used for 0


def test_numbers_are_spelled_in_templates(commands_5000: list[str]) -> None:
    text = "\n".join(commands_5000)
    assert re.search(r"set a timer for twenty \w+ minutes", text)
    assert re.search(r"to (sixty|seventy|eighty) \w+ degrees", text)
    assert re.search(r"\b(a|p) m\b", text)


def test_grammar_text_is_stable_under_the_normaliser(commands_5000: list[str]) -> None:
    from asr.text import normalize_text

    changed = [s for s in commands_5000 if normalize_text(s) != s]
    assert not changed, changed[:5]


def test_unknown_grammar_names_the_choices() -> None:
    with pytest.raises(ASRError, match="commands.*digits"):
        generate_sentences("nope", 3, seed=0)


def test_read_text_file(tmp_path: Path) -> None:
    good = tmp_path / "s.txt"
    good.write_text("Turn ON the light!\n\n   \n  set 5 timers  \n", encoding="utf-8")
    assert read_text_file(good) == ["Turn ON the light!", "set 5 timers"]
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9 au lait\n".encode("latin-1"))
    with pytest.raises(ASRError, match="latin1.txt.*UTF-8"):
        read_text_file(bad)
    with pytest.raises(ASRError, match="missing.txt"):
        read_text_file(tmp_path / "missing.txt")


# ----------------------------------------------------------------------------
# synth
# ----------------------------------------------------------------------------


@pytest.mark.needs_espeak
@pytest.mark.needs_flite
def test_list_voices() -> None:
    from asr.data.synth.voices import list_voices

    voices = list_voices(("espeak-ng", "flite"))
    assert voices == sorted(voices)
    assert len({v.id for v in voices}) == len(voices)
    flite = {v.name for v in voices if v.engine == "flite"}
    assert flite == {"kal", "kal16", "awb", "rms", "slt"}
    espeak = [v for v in voices if v.engine == "espeak-ng"]
    assert len(espeak) >= 50
    assert {"en-us", "en-gb-scotland"} <= {v.name for v in espeak}
    assert {"f2", "m3", "klatt"} <= {v.variant for v in espeak}
    assert "whisper" not in {v.variant for v in espeak}
    ids = {v.id for v in voices}
    assert "espeak-ng:en-us+f2" in ids and "flite:slt" in ids


def test_missing_engine_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from asr.data.synth.voices import list_voices

    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ASRError, match="apt-get install flite"):
        list_voices(("flite",))


@pytest.mark.needs_espeak
@pytest.mark.needs_flite
def test_synthesize_writes_padded_16k_audio(tmp_path: Path) -> None:
    from asr.data.synth.engines import synthesize
    from asr.data.synth.voices import Voice

    # kal speaks at 8 kHz and espeak-ng at 22.05 kHz: both must come out at 16 kHz.
    for voice in (Voice("flite", "kal"), Voice("espeak-ng", "en-gb", "f2")):
        out = tmp_path / f"{voice.name}.wav"
        dur = synthesize("set an alarm for six forty five a m", voice, 1.1, 0.9, out, seed=3)
        info = sf.info(str(out))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert dur == pytest.approx(info.duration, abs=1e-6)
        assert 1.0 < dur < 5.0
        y, _ = sf.read(out)
        peak = np.abs(y).max()
        assert 0.3 < peak < 0.9  # random level between -10 and -1 dBFS
        # 0.1-0.2 s of near-silence at each end, speech right after it.
        for edge in (y[:1600], y[-1600:]):
            assert np.abs(edge).max() < 0.01 * peak
        assert np.abs(y[:4000]).max() > 0.05 * peak
        assert np.abs(y[-4000:]).max() > 0.05 * peak
    # kal (8 kHz) and kal16 (16 kHz) are the same diphone voice: if resampling
    # were skipped, kal would play at twice the speed.
    durations = [
        synthesize("turn on the kitchen lights", Voice("flite", name), 1.0, 1.0, tmp_path / f"k{name}.wav", seed=5)
        for name in ("kal", "kal16")
    ]
    assert durations[0] == pytest.approx(durations[1], rel=0.1)
    # Same seed: same bytes; another seed: another level/padding.
    a, b, c = tmp_path / "a.wav", tmp_path / "b.wav", tmp_path / "c.wav"
    for path, seed in ((a, 1), (b, 1), (c, 2)):
        synthesize("lock the door", Voice("espeak-ng", "en-us", "m3"), 1.0, 1.0, path, seed=seed)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    with pytest.raises(ASRError, match="flite:slt"):
        synthesize("   ", Voice("flite", "slt"), 1.0, 1.0, tmp_path / "x.wav")


def _read_split(manifest: Path) -> list:
    utts, errors = read_manifest(manifest)
    assert not errors
    return utts


def _check_corpus(out: Path, paths: dict, counts: dict) -> dict[str, set[str]]:
    """Common checks; returns the speakers heard in each split."""
    assert set(paths) == {"train", "dev", "test"}
    speakers = {}
    for split, n in counts.items():
        assert paths[split] == out / f"{split}.jsonl"
        utts = _read_split(paths[split])
        assert len(utts) == n
        for u in utts:
            assert Path(u.audio_filepath).is_file()
            assert Path(u.audio_filepath).parent == out / "wavs" / split
            info = sf.info(u.audio_filepath)
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            assert u.duration == pytest.approx(info.duration, abs=1e-3)
            assert NORMALISED.fullmatch(u.text)
            assert u.extra["engine"] == u.extra["speaker"].split(":")[0]
        speakers[split] = {u.extra["speaker"] for u in utts}
        # Manifest paths are stored relative to the manifest.
        first = json.loads(paths[split].read_text().splitlines()[0])
        assert first["audio_filepath"].startswith(f"wavs/{split}/")
    meta = json.loads((out / "corpus.json").read_text())
    assert meta["counts"] == counts and meta["seed"] == 0 and meta["grammar"] == "commands"
    for split in ("dev", "test"):
        # No held-out voice, nor its espeak variant / flite speaker, is in train.
        assert not set(meta["voices"][split]) & set(meta["voices"]["train"])
        assert not set(meta["holdout_groups"][split]) & set(meta["holdout_groups"]["train"])
        assert speakers[split] <= set(meta["voices"][split])
        assert not speakers[split] & speakers["train"]
    return speakers


COUNTS = {"train": 6, "dev": 3, "test": 3}


@pytest.mark.needs_espeak
@pytest.mark.needs_flite
def test_make_corpus_voice_holdout(tmp_path: Path) -> None:
    from asr.data.synth.corpus import make_corpus

    out = tmp_path / "corpus"
    paths = make_corpus(out, n_train=6, n_dev=3, n_test=3, seed=0, holdout="voice", workers=2)
    speakers = _check_corpus(out, paths, COUNTS)
    meta = json.loads((out / "corpus.json").read_text())
    assert {v.split(":")[0] for v in meta["voices"]["test"]} == {"espeak-ng", "flite"}
    assert any(s.startswith("flite:") for s in speakers["test"])
    assert {v.split(":")[0] for v in meta["voices"]["dev"]} == {"espeak-ng"}
    assert {v for v in meta["voices"]["train"] if v.startswith("flite:")} == \
        {"flite:awb", "flite:kal", "flite:kal16", "flite:slt"}

    # Same seed again: same names, texts, voices and audio bytes.
    again = tmp_path / "again"
    make_corpus(again, n_train=6, n_dev=3, n_test=3, seed=0, holdout="voice", workers=1)
    for split in COUNTS:
        assert (out / f"{split}.jsonl").read_text() == (again / f"{split}.jsonl").read_text()
        for wav in sorted((out / "wavs" / split).glob("*.wav")):
            assert wav.read_bytes() == (again / "wavs" / split / wav.name).read_bytes()
    # Another seed: other sentences.
    other = make_corpus(tmp_path / "other", n_train=6, n_dev=0, n_test=0, seed=1)
    assert [u.text for u in _read_split(other["train"])] != [u.text for u in _read_split(paths["train"])]

    # the corpus records what made it, so a recipe whose corpus settings changed makes it anew
    from asr.config import CorpusConfig
    from asr.data.synth.corpus import corpus_is_current

    made = CorpusConfig(out_dir=str(out), n_train=6, n_dev=3, n_test=3, seed=0, holdout="voice")
    assert corpus_is_current(**vars(made))
    for change in ({"n_train": 7}, {"seed": 1}, {"holdout": "engine"}, {"grammar": "digits"}, {"random_voices": 5},
                   {"engines": ["espeak-ng"]}, {"out_dir": str(tmp_path / "nowhere")}, {"train_flite_share": 0.5}):
        assert not corpus_is_current(**{**vars(made), **change}), change

    # more flite in training leaves dev and test as they were, byte for byte
    more = make_corpus(tmp_path / "more_flite", n_train=6, n_dev=3, n_test=3, seed=0, holdout="voice", workers=1,
                       train_flite_share=0.5)
    assert sum(u.extra["speaker"].startswith("flite:") for u in _read_split(more["train"])) == 3
    assert sum(u.extra["speaker"].startswith("flite:") for u in _read_split(paths["train"])) == 2  # round(0.3 * 6)
    for split in ("dev", "test"):
        assert more[split].read_text() == paths[split].read_text()
        for wav in sorted((out / "wavs" / split).glob("*.wav")):
            assert wav.read_bytes() == (tmp_path / "more_flite" / "wavs" / split / wav.name).read_bytes()


@pytest.mark.parametrize("share, n", [(0.3, 10), (0.5, 10), (0.0, 7), (1.0, 7)])
def test_assign_voices_gives_flite_its_share(share: float, n: int) -> None:
    import random

    from asr.data.synth.voices import Voice, assign_voices as _assign_voices

    pool = [Voice("espeak-ng", "en-us"), Voice("espeak-ng", "en-gb", "f2"), Voice("flite", "awb"),
            Voice("flite", "slt")]
    assigned = _assign_voices(pool, n, random.Random(0), share)
    assert len(assigned) == n
    assert sum(v.engine == "flite" for v in assigned) == round(share * n)


@pytest.mark.needs_espeak
@pytest.mark.needs_flite
def test_make_corpus_engine_holdout(tmp_path: Path) -> None:
    from asr.data.synth.corpus import make_corpus

    out = tmp_path / "corpus"
    paths = make_corpus(out, n_train=6, n_dev=3, n_test=3, seed=0, holdout="engine", workers=2)
    speakers = _check_corpus(out, paths, COUNTS)
    assert all(s.startswith("espeak-ng:") for s in speakers["train"] | speakers["dev"])
    assert all(s.startswith("flite:") for s in speakers["test"])
    meta = json.loads((out / "corpus.json").read_text())
    assert sorted(meta["voices"]["test"]) == ["flite:awb", "flite:kal", "flite:kal16", "flite:rms", "flite:slt"]
    assert all(v.startswith("espeak-ng:") for v in meta["voices"]["train"] + meta["voices"]["dev"])


@pytest.mark.needs_espeak
@pytest.mark.needs_flite
def test_make_corpus_from_text_file(tmp_path: Path) -> None:
    from asr.data.synth.corpus import make_corpus

    lines = ["Open the pod bay doors!", "It costs $4.50, half of 9"]
    text = tmp_path / "lines.txt"
    text.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    paths = make_corpus(tmp_path / "c", text_file=str(text), n_train=4, n_dev=1, n_test=1, seed=0)
    # the engines read the normalised text, so the label is what was said, numbers and all
    spoken = {normalize_text(line) for line in lines}
    assert "open the pod bay doors" in spoken and "four point five zero" in " ".join(spoken)
    rows = [json.loads(line) for manifest in paths.values() for line in Path(manifest).read_text().splitlines()]
    assert len(rows) == 6 and {row["text"] for row in rows} <= spoken
    assert json.loads((tmp_path / "c" / "corpus.json").read_text())["grammar"] is None


@pytest.mark.needs_espeak
@pytest.mark.needs_flite
def test_random_voices_are_training_only_and_distinct(tmp_path: Path) -> None:
    from asr.data.synth.corpus import make_corpus
    from asr.data.synth.engines import synthesize
    from asr.data.synth.voices import Voice

    out = tmp_path / "rv"
    paths = make_corpus(out, n_train=12, n_dev=2, n_test=2, seed=0, random_voices=300, workers=2)
    speakers = {split: {u.extra["speaker"] for u in read_manifest(p)[0]} for split, p in paths.items()}
    random_train = {s for s in speakers["train"] if "+rand" in s}
    assert random_train, "no random voice was used in training"
    assert not any("+rand" in s for s in speakers["dev"] | speakers["test"])
    info = json.loads((out / "corpus.json").read_text())
    assert info["random_voices"] == 300
    assert sum("+rand" in v for v in info["voices"]["train"]) == 300

    # a random speaker sounds different from its accent's default voice
    accent, variant = sorted(random_train)[0].split(":")[1].split("+")
    data_path = str(out.resolve())
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    synthesize("turn on the lights", Voice("espeak-ng", accent, variant, data_path), 1.0, 1.0, a, seed=1)
    synthesize("turn on the lights", Voice("espeak-ng", accent), 1.0, 1.0, b, seed=1)
    ya, yb = sf.read(a)[0], sf.read(b)[0]
    assert ya.shape != yb.shape or not np.allclose(ya, yb)

    # the same seed writes the same speakers
    again = tmp_path / "again"
    make_corpus(again, n_train=12, n_dev=2, n_test=2, seed=0, random_voices=300, workers=1)
    for name in ("rand000", "rand299"):
        assert (out / "espeak-ng-data/voices/!v" / name).read_text() == \
            (again / "espeak-ng-data/voices/!v" / name).read_text()


@pytest.mark.parametrize("bad, reason", [({"train_flite_share": 1.5}, "train_flite_share"),
                                         ({"train_flite_share": -0.1}, "train_flite_share"),
                                         ({"rate_range": (0.1, 1.0)}, "rate_range"),
                                         ({"n_train": -1}, "utterance counts")])
def test_make_corpus_refuses_bad_settings_before_synthesising(tmp_path: Path, bad: dict, reason: str) -> None:
    from asr.core.errors import ConfigError
    from asr.data.synth.corpus import make_corpus

    settings = {"n_train": 4, "n_dev": 0, "n_test": 0, **bad}
    with pytest.raises(ConfigError, match=reason):
        make_corpus(tmp_path / "out", **settings)
    assert not (tmp_path / "out").exists()


def test_make_corpus_defaults_are_the_configs():
    """The corpus defaults have one owner, ``CorpusConfig``: ``make_corpus`` reads them from it."""
    import dataclasses
    import inspect

    from asr.config import CorpusConfig
    from asr.data.synth.corpus import make_corpus

    config = dataclasses.asdict(CorpusConfig())
    for name, parameter in inspect.signature(make_corpus).parameters.items():
        if name in config and parameter.default is not inspect.Parameter.empty:
            default = list(parameter.default) if name == "engines" else parameter.default
            default = dataclasses.asdict(default) if dataclasses.is_dataclass(default) else default
            assert default == config[name], name


def test_sentence_holdout_keeps_a_share_of_a_text_file_out_of_training() -> None:
    import random

    from asr.data.synth.sentences import hold_out

    lines = [f"sentence number {i}" for i in range(60)] + ["sentence number 0"]  # a repeat stays a repeat
    held = hold_out(lines, None, None, seed=0)  # 60 distinct: the automatic 20 %
    assert held.share == 0.2 and len(held.unseen) == 12
    assert not set(held.unseen) & set(held.lines) and set(held.unseen) | set(held.lines) == set(lines)
    assert held.unseen == hold_out(lines, None, None, seed=0).unseen != hold_out(lines, None, None, seed=1).unseen
    train = held.draw("train", 200, 0, random.Random(0))
    test = held.draw("test", 200, 0, random.Random(0))
    assert not set(train) & set(held.unseen)  # training never says a held-out sentence
    tags = [held.tag("test", t)["sentence"] for t in test]
    assert tags.count("unseen") == tags.count("seen") == 100 and held.tag("train", train[0]) == {}
    assert held.record() == {"sentence_holdout": {"share": 0.2, "held_out": 12, "training": 48}}
    small = hold_out(lines[:10], None, None, seed=0)  # under 50 distinct: no holdout unless asked
    assert small.unseen == () and small.tag("test", lines[0]) == {}
    assert len(hold_out(lines[:10], None, 0.3, seed=0).unseen) == 3
    assert hold_out(None, "commands", None, seed=0).record() == {}  # a grammar: nothing changes


@pytest.mark.needs_espeak
@pytest.mark.needs_flite
def test_a_text_file_corpus_tests_on_held_out_sentences_too(tmp_path: Path) -> None:
    from asr.data.manifest import read_manifest
    from asr.data.synth.corpus import corpus_is_current, make_corpus

    text = tmp_path / "lines.txt"
    text.write_text("".join(f"turn on lamp {i}\n" for i in range(10)), encoding="utf-8")
    settings = dict(text_file=str(text), n_train=6, n_dev=2, n_test=4, seed=0, sentence_holdout=0.3,
                    engines=["espeak-ng", "flite"], holdout="voice")
    paths = make_corpus(tmp_path / "c", **settings)
    made = json.loads((tmp_path / "c" / "corpus.json").read_text())
    assert made["sentence_holdout"] == {"share": 0.3, "held_out": 3, "training": 7}
    train = {u.text for u in read_manifest(paths["train"])[0]}
    test = read_manifest(paths["test"])[0]
    unseen = {u.text for u in test if u.extra["sentence"] == "unseen"}
    assert len(unseen) >= 1 and not unseen & train
    assert {u.extra["sentence"] for u in test} == {"seen", "unseen"}
    assert corpus_is_current(tmp_path / "c", **settings)
    assert not corpus_is_current(tmp_path / "c", **{**settings, "sentence_holdout": 0.5})

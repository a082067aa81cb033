"""The real-speech dev set (pipelines/prepare_real_speech.py, asr.data.importers.kde_games)
on a tiny fake layout of the two Debian packages, so it runs without them: the
manifests, the spelling fixes, the phrase list, the cross-checks and the
missing-package error."""

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from helpers import REPO, sine, write_sine

from asr.core.errors import ManifestError
from asr.data.importers.base import OUT_OF_VOCABULARY
from asr.data.importers.kde_games import KTUBERLING_FIXES, ktuberling_word, prepare_real_speech

KTUBERLING_CLIPS = ("ball", "egypt_sphynx", "moon_fallingstar", "pizzeria_broccolli", "tv_tree")
SOUNDTHEME = """<language code="en">
    <sound name="ball" file="en/ball.ogg" />
    <sound name="egypt_sphynx" file="en/egypt_sphynx.ogg" />
    <sound name="moon_fallingstar" file="en/moon_fallingstar.ogg" />
    <sound name="pizzeria_brocolli" file="en/pizzeria_broccolli.ogg" />
</language>
"""
SOUNDS_XML = """<!-- a comment before the root, as in the package -->
<klettres><language code="{lang}"><menuitem><label>&amp;English</label></menuitem>
<alphabet>{alphabet}</alphabet><syllables>{syllables}</syllables></language></klettres>
"""


def _sound(name: str, file: str) -> str:
    return f'<sound name="{name}" file="{file}" />'


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> tuple[Path, Path]:
    """``(ktuberling root, klettres root)``: two OGG files written with soundfile
    (a 44.1 kHz stereo word, a 44.1 kHz mono letter), copied under every name."""
    root = tmp_path_factory.mktemp("fake_debian")
    word = root / "word.ogg"  # stereo, like ktuberling's
    sf.write(str(word), np.stack([sine(0.6, 44100)] * 2, axis=1), 44100, format="OGG", subtype="VORBIS")
    letter = write_sine(root / "letter.ogg", seconds=0.4, sample_rate=44100, format="OGG", subtype="VORBIS")

    ktuberling = root / "ktuberling"
    (ktuberling / "sounds" / "en").mkdir(parents=True)
    for stem in KTUBERLING_CLIPS:
        shutil.copy(word, ktuberling / "sounds" / "en" / f"{stem}.ogg")
    (ktuberling / "sounds" / "en.soundtheme").write_text(SOUNDTHEME, encoding="utf-8")

    klettres = root / "klettres"
    entries = {"en": ([("A", "en/alpha/A.ogg"), ("B", "en/alpha/B.ogg")],
                      [("DOG", "en/syllab/dog.ogg"), ("CH", "en/syllab/ch.ogg")]),
               "en_GB": ([("A", "en_GB/alpha/a.ogg")],
                         [("DOG", "en_GB/syllab/dog.ogg"), ("Ø", "en_GB/syllab/o.ogg")])}
    for lang, (alphabet, syllables) in entries.items():
        for _, file in alphabet + syllables:
            (klettres / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(letter, klettres / file)
        (klettres / lang / "sounds.xml").write_text(SOUNDS_XML.format(
            lang=lang, alphabet="".join(_sound(*e) for e in alphabet),
            syllables="".join(_sound(*e) for e in syllables)), encoding="utf-8")
    (klettres / "en" / "alpha" / "C.ogg").write_bytes((klettres / "en" / "alpha" / "A.ogg").read_bytes())  # unlisted
    return ktuberling, klettres


@pytest.fixture(scope="module")
def prepared(layout, tmp_path_factory):
    out = tmp_path_factory.mktemp("real")
    return out, prepare_real_speech(out, *layout)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_spelling_fixes():
    assert ktuberling_word("pizzeria_broccolli") == ktuberling_word("pizzeria_brocolli") == "broccoli"
    assert ktuberling_word("egypt_sphynx") == "sphinx"
    assert ktuberling_word("moon_fallingstar") == "falling star"
    assert ktuberling_word("egypt_palmtree") == "palm tree"
    assert ktuberling_word("moon_ufo") == "u f o"
    assert ktuberling_word("egypt_well") == "well" and ktuberling_word("tv_tree") == "tree"
    assert ktuberling_word("sunglasses") == "sunglasses"  # the default theme has no prefix
    assert all(" " not in wrong for wrong in KTUBERLING_FIXES)


def test_manifests(prepared, layout):
    out, result = prepared
    ktuberling = _rows(out / "ktuberling.jsonl")
    assert [r["text"] for r in ktuberling] == ["ball", "sphinx", "falling star", "broccoli", "tree"]
    assert {r["speaker"] for r in ktuberling} == {"ktuberling"}
    assert ktuberling[1]["source"] == "ktuberling-data:sounds/en/egypt_sphynx.ogg"
    en = _rows(out / "klettres_en.jsonl")
    assert [(r["text"], r["kind"]) for r in en] == [("a", "letter"), ("b", "letter"), ("dog", "word"),
                                                    ("ch", "sound")]
    assert {r["speaker"] for r in en} == {"klettres-en"}
    assert en[0]["source"] == "klettres-data:en/alpha/A.ogg"
    en_gb = _rows(out / "klettres_en_gb.jsonl")
    assert [r["text"] for r in en_gb] == ["a", "dog"] and {r["speaker"] for r in en_gb} == {"klettres-en_gb"}
    every = _rows(out / "all.jsonl")
    assert every == ktuberling + en + en_gb
    for row in every:  # absolute paths to the files where they are; durations measured from the audio
        assert Path(row["audio_filepath"]).is_absolute() and Path(row["audio_filepath"]).is_file()
        expected = 0.6 if row["speaker"] == "ktuberling" else 0.4
        assert row["duration"] == pytest.approx(expected, abs=1e-3)
    assert result.counts == {"ktuberling": 5, "klettres_en": 4, "klettres_en_gb": 2, "all": 11}
    assert result.seconds["all"] == pytest.approx(5 * 0.6 + 6 * 0.4, abs=1e-2)


def test_transcript_outside_the_alphabet_is_reported(prepared):
    _, result = prepared
    assert [(s.reason, Path(s.audio).name) for s in result.skipped] == [(OUT_OF_VOCABULARY, "o.ogg")]


def test_phrase_list(prepared):
    out, _ = prepared
    phrases = (out / "phrases.txt").read_text(encoding="utf-8").splitlines()
    assert phrases == sorted({"ball", "sphinx", "falling star", "broccoli", "tree", "a", "b", "dog", "ch"})


def test_cross_checks(prepared):
    _, result = prepared
    notes = "\n".join(result.disagreements)
    assert "'pizzeria_brocolli' for file pizzeria_broccolli.ogg: both mended to 'broccoli'" in notes
    assert "tv_tree.ogg is not in the index" in notes
    assert "en: en/alpha/C.ogg is not in sounds.xml" in notes
    assert "en_GB: entry 'Ø' has file en_GB/syllab/o.ogg" in notes  # a label that is not its file name
    assert len(result.disagreements) == 4


def _script():
    spec = importlib.util.spec_from_file_location("prepare_real_speech", REPO / "pipelines" / "prepare_real_speech.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("missing, package", [("ktuberling", "ktuberling-data"), ("klettres", "klettres-data")])
def test_missing_package(layout, tmp_path, capsys, missing, package):
    roots = {"ktuberling": layout[0], "klettres": layout[1], missing: tmp_path / "not-installed"}
    with pytest.raises(ManifestError, match=f"apt-get install {package}"):
        prepare_real_speech(tmp_path / "out", roots["ktuberling"], roots["klettres"])
    assert not (tmp_path / "out").exists()
    code = _script().main(["--out", str(tmp_path / "out"), "--ktuberling", str(roots["ktuberling"]),
                           "--klettres", str(roots["klettres"])])
    err = capsys.readouterr().err
    assert code == 1 and len(err.splitlines()) == 1 and package in err

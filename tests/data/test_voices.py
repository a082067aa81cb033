"""Tests for the optional voices (asr.data.synth.extra_voices, piper_engine and
the mbrola/pico/piper engines), ``asr synth --list-voices`` and scripts/install_voices.sh."""

from __future__ import annotations

import logging
import os
import random
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.core.errors import ASRError

REPO = Path(__file__).resolve().parents[2]
TEXT = "set an alarm for six forty five a m"  # 9 words: about 2 s at a normal rate

ENGINE_VOICES = [
    pytest.param("mbrola", "mb-us1", marks=pytest.mark.needs_mbrola),
    pytest.param("mbrola", "mb-fr4-en", marks=pytest.mark.needs_mbrola),  # 22.05 kHz, clips at -a 100
    pytest.param("pico", "en-US", marks=pytest.mark.needs_pico),
    pytest.param("pico", "en-GB", marks=pytest.mark.needs_pico),
    pytest.param("piper", "joe", marks=pytest.mark.needs_piper),
]


@pytest.mark.parametrize("engine, name", ENGINE_VOICES)
def test_engine_voice_makes_sane_deterministic_audio(engine: str, name: str, tmp_path: Path) -> None:
    from asr.data.synth.engines import synthesize
    from asr.data.synth.voices import Voice, voice_catalogue

    voice = Voice(engine, name)
    if dict(voice_catalogue((engine,))).get(voice) is not None:
        pytest.skip(f"{voice.id} is not installed")
    paths = [tmp_path / f"{i}.wav" for i in range(3)]
    durations = [synthesize(TEXT, voice, 1.1, 0.9, path, seed=seed) for path, seed in zip(paths, (4, 4, 5))]
    assert paths[0].read_bytes() == paths[1].read_bytes() != paths[2].read_bytes()
    info = sf.info(str(paths[0]))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert durations[0] == pytest.approx(info.duration, abs=1e-6)
    assert 1.0 < durations[0] < 5.0  # 9 words at 1.1x speed, plus 0.2-0.4 s of padding
    y, _ = sf.read(paths[0])
    peak, rms = np.abs(y).max(), np.sqrt(np.mean(y ** 2))
    assert 0.3 < peak < 0.9  # levelled to -10..-1 dBFS: no clipping
    assert 0.02 < rms / peak < 0.6, rms / peak  # speech, neither silence nor a square wave


@pytest.mark.needs_mbrola
def test_mbrola_voices_keep_their_speaker_and_speed(tmp_path: Path) -> None:
    from asr.data.synth.engines import synthesize
    from asr.data.synth.voices import Voice

    slow = synthesize(TEXT, Voice("mbrola", "mb-us1"), 0.8, 1.0, tmp_path / "slow.wav", seed=1)
    fast = synthesize(TEXT, Voice("mbrola", "mb-us1"), 1.25, 1.0, tmp_path / "fast.wav", seed=1)
    assert fast < 0.85 * slow


def test_piper_settings_vary_per_utterance_and_repeat_per_seed() -> None:
    from asr.data.synth.piper_engine import synthesis_settings

    a, b, c = synthesis_settings(1.25, 7), synthesis_settings(1.25, 7), synthesis_settings(1.25, 8)
    assert a == b and a != c
    assert a["length_scale"] == pytest.approx(0.8)
    for settings in (a, c):
        assert 0.45 <= settings["noise_scale"] <= 0.8 and 0.5 <= settings["noise_w_scale"] <= 1.0


def test_split_holds_out_whole_voices_per_engine() -> None:
    from asr.data.synth.extra_voices import MBROLA_VOICES
    from asr.data.synth.voices import Voice, split_voices

    voices = ([Voice("mbrola", n) for n in MBROLA_VOICES] + [Voice("pico", n) for n in ("en-US", "en-GB")]
              + [Voice("piper", "joe")])
    splits = split_voices(voices, "voice", seed=0)
    by = {s: {(v.engine, v.name) for v in vs} for s, vs in splits.items()}
    assert not (by["dev"] | by["test"]) & by["train"] and not by["dev"] & by["test"]
    mbrola = {s: [n for e, n in vs if e == "mbrola"] for s, vs in by.items()}
    assert (len(mbrola["train"]), len(mbrola["dev"]), len(mbrola["test"])) == (14, 3, 3)
    for split in ("dev", "test"):  # both genders held out
        assert {MBROLA_VOICES[n][1] for n in mbrola[split]} == {"F", "M"}
    assert sum(e == "pico" for e, _ in by["test"]) == 1 and sum(e == "pico" for e, _ in by["train"]) == 1
    assert ("piper", "joe") in by["train"]
    assert split_voices(voices, "voice", seed=0) == splits
    base = [Voice("espeak-ng", "en-us", "m3"), Voice("flite", "slt")]
    engine_mode = split_voices(base + voices, "engine", seed=0)  # test: flite only
    assert [v.id for v in engine_mode["test"]] == ["flite:slt"]
    assert {v.id for v in engine_mode["dev"] if v.engine != "espeak-ng"} == {v.id for v in splits["dev"]}


def test_engine_holdout_tests_on_any_one_engine_alone() -> None:
    from asr.core.errors import ConfigError
    from asr.data.synth.extra_voices import MBROLA_VOICES
    from asr.data.synth.voices import Voice, split_voices

    espeak = [Voice("espeak-ng", lang, v) for lang in ("en-us", "en-gb") for v in ("m1", "m2", "m3", "m4", "m5",
                                                                                     "f1", "f2", "f3", "f4", "f5")]
    voices = (espeak + [Voice("flite", n) for n in ("kal", "rms", "slt")]
              + [Voice("mbrola", n) for n in MBROLA_VOICES] + [Voice("pico", n) for n in ("en-US", "en-GB")]
              + [Voice("piper", "joe")])
    by_voice = split_voices(voices, "voice", seed=0)
    for engine in ("espeak-ng", "flite", "mbrola", "pico", "piper"):
        splits = split_voices(voices, "engine", seed=0, held_out_engine=engine)
        assert {v.engine for v in splits["test"]} == {engine}
        assert len(splits["test"]) == sum(v.engine == engine for v in voices)  # all of its voices
        assert engine not in {v.engine for v in splits["train"] + splits["dev"]}
        # the other engines' dev voices are those of the voice holdout; their test voices train
        assert splits["dev"] == [v for v in by_voice["dev"] if v.engine != engine]
        assert sorted(splits["train"]) == sorted(v for v in by_voice["train"] + by_voice["test"] if v.engine != engine)
    with pytest.raises(ConfigError, match="needs pico voices"):
        split_voices(espeak, "engine", seed=0, held_out_engine="pico")
    with pytest.raises(ConfigError, match="and another engine's"):
        split_voices(espeak, "engine", seed=0, held_out_engine="espeak-ng")


def test_assign_voices_shares_the_rest_equally_between_engines() -> None:
    from asr.data.synth.voices import Voice, assign_voices

    pool = [Voice("espeak-ng", "en-us"), Voice("flite", "slt"), Voice("mbrola", "mb-us1"),
            Voice("pico", "en-US"), Voice("piper", "joe")]
    assigned = assign_voices(pool, 11, random.Random(0), 0.3)
    counts = {e: sum(v.engine == e for v in assigned) for e in ("espeak-ng", "flite", "mbrola", "pico", "piper")}
    assert counts == {"flite": 3, "espeak-ng": 2, "mbrola": 2, "pico": 2, "piper": 2}


def _path_with(tmp_path: Path, programs: tuple[str, ...]) -> str:
    """A PATH holding only links to these installed programs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in programs:
        found = [Path(d) / program for d in os.environ["PATH"].split(os.pathsep) if (Path(d) / program).is_file()]
        if not found:
            pytest.skip(f"{program} is not installed")
        (bin_dir / program).symlink_to(found[0])
    return str(bin_dir)


@pytest.mark.needs_flite
def test_missing_voices_are_skipped_with_one_line_each(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    from asr.data.synth.extra_voices import MBROLA_VOICES
    from asr.data.synth.voices import list_voices

    monkeypatch.setenv("PATH", _path_with(tmp_path, ("espeak-ng", "flite")))  # no mbrola, no pico2wave
    with caplog.at_level(logging.WARNING, logger="asr"):
        voices = list_voices(("flite", "mbrola", "pico"))
    assert {v.engine for v in voices} == {"flite"}  # the corpus goes on with the others
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == len(MBROLA_VOICES) + 2
    for voice in ("mbrola:mb-us1", "mbrola:mb-de4-en", "pico:en-US", "pico:en-GB"):
        assert sum(voice in line for line in lines) == 1
    assert all("skipping voice" in line and "not found on PATH" in line for line in lines)
    caplog.clear()
    with pytest.raises(ASRError, match="no English voices"), caplog.at_level(logging.WARNING, logger="asr"):
        list_voices(("pico",))


def test_failed_utterance_is_skipped_and_counted(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from asr.data.synth.engines import synthesize_all
    from asr.data.synth.voices import Voice

    jobs = [dict(text="   ", voice=Voice("flite", "slt"), rate=1.0, pitch=1.0, out_path=tmp_path / f"{i}.wav")
            for i in range(2)]  # nothing to say: fails before running any program
    with caplog.at_level(logging.WARNING, logger="asr"):
        assert synthesize_all(jobs, 2, skip_failures=True) == [None, None]
    assert "skipped 2 of 2 utterances" in caplog.records[-1].getMessage()
    with pytest.raises(ASRError, match="nothing to say"):
        synthesize_all(jobs, 2)


def test_list_voices_command(cli) -> None:
    proc = cli("synth", "--list-voices")
    assert proc.returncode == 0, proc.stderr
    rows = [line.split(None, 2) for line in proc.stdout.splitlines()]
    assert {r[0] for r in rows} == {"espeak-ng", "flite", "mbrola", "pico", "piper"}
    assert all(r[1].startswith(r[0] + ":") and r[2].split(":")[0] in ("available", "unavailable") for r in rows)
    ids = {r[1] for r in rows}
    assert {"mbrola:mb-us1", "mbrola:mb-sw2-en", "pico:en-GB", "piper:joe"} <= ids
    only = cli("synth", "--list-voices", "--engines", "pico")
    assert only.returncode == 0 and [line.split()[1] for line in only.stdout.splitlines()] == ["pico:en-GB",
                                                                                                "pico:en-US"]


def test_installer_skips_what_it_cannot_get(tmp_path: Path) -> None:
    fake = tmp_path / "apt-get"
    # succeeds except for installing mbrola-de6 (as if its download failed) and the Pico package
    fake.write_text('#!/bin/sh\ncase " $* " in *" install "*mbrola-de6*|*" install "*libttspico*) exit 100;; esac\n'
                    'exit 0\n')
    fake.chmod(0o755)
    env = {**os.environ, "APT_GET": str(fake), "PIP": "true", "SUDO": ""}
    proc = subprocess.run(["bash", str(REPO / "scripts" / "install_voices.sh")], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    skipped = [line for line in proc.stdout.splitlines() if line.startswith("skipped:")]
    assert len(skipped) == 2, proc.stdout
    assert "mbrola-de6" in skipped[0] and "libttspico-utils" in skipped[1]
    assert "AGPL-3" in proc.stdout and "Apache-2.0" in proc.stdout and "GPL-3.0" in proc.stdout

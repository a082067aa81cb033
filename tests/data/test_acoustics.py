"""Tests for asr.data.synth.acoustics and rooms: each effect on synthetic signals,
the config section, and one small corpus with the acoustics on."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from asr.config import AcousticsConfig, load_config
from asr.core.errors import ConfigError
from asr.data.manifest import read_manifest
from asr.data.synth.acoustics import (
    EFFECTS,
    NoiseSources,
    babble,
    coloured_noise,
    load_noise_files,
    mix_at_snr,
    peak,
    power,
    render,
)

SR = 16000
LABELS = {
    "reverb": r"reverb@\d\.\d\ds", "noise": r"(white|pink|brown)_noise@-?\d+dB", "babble": r"babble4@-?\d+dB",
    "noise_file": r"noise_file@-?\d+dB:hum\.wav", "eq": "eq", "bandlimit": r"bandlimit@\d+-\d+Hz",
    "telephone": "telephone", "codec": r"vorbis@\d\.\d\d", "gain": r"gain@[+-]\d+dB", "clip": r"clip@\d\.\d\d",
}
SPEECH = (3200, 3200 + 2 * SR)  # where the test signal is loud: 0.2 s of silence, 2 s, 0.4 s of silence


def utterance(seed: int = 0) -> np.ndarray:
    """A speech-like test signal ``[2.6 s]``: a modulated harmonic tone in silence, peak 0.5."""
    rng = np.random.default_rng(seed)
    t = np.arange(SPEECH[1] - SPEECH[0]) / SR
    voiced = sum(np.sin(2 * np.pi * 180 * k * t) / k for k in range(1, 20)) * np.sin(2 * np.pi * 2.5 * t) ** 2
    x = np.zeros(int(2.6 * SR))
    x[SPEECH[0]:SPEECH[1]] = voiced + 0.05 * rng.standard_normal(t.size)
    return 0.5 * x / peak(x)


def only(name: str, **ranges) -> AcousticsConfig:
    """A config with effect ``name`` always on and every other off."""
    return replace(AcousticsConfig(), **{f"{name}_prob": 1.0}, **ranges)


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> NoiseSources:
    folder = tmp_path_factory.mktemp("babble")
    paths = []
    for i in range(5):
        paths.append(folder / f"u{i}.wav")
        sf.write(paths[-1], utterance(i + 10) * 0.8, SR, subtype="PCM_16")
    noise = np.random.default_rng(1).standard_normal(SR // 2) * 0.1
    return NoiseSources(babble=tuple(paths), recordings=(("hum.wav", noise),))


def _noise_files(name: str) -> list[str]:
    return ["hum.wav"] if name == "noise_file" else []


@pytest.mark.parametrize("name", sorted(EFFECTS))
def test_each_effect_is_deterministic_sane_and_keeps_length(name: str, sources: NoiseSources) -> None:
    x = utterance()
    cfg = only(name, noise_files=_noise_files(name))
    a = render(x, SR, cfg, seed=3, sources=sources)
    b = render(x, SR, cfg, seed=3, sources=sources)
    c = render(x, SR, cfg, seed=4, sources=sources)
    assert len(a.effects) == 1 and re.fullmatch(LABELS[name], a.effects[0]), a.effects
    assert np.array_equal(a.audio, b.audio) and a.effects == b.effects
    if name != "telephone":  # the telephone line has no random settings
        assert not np.array_equal(a.audio, c.audio)
    assert a.audio.shape == x.shape and a.audio.dtype == np.float64
    assert 1e-3 < peak(a.audio) <= 1.0
    if name not in ("gain", "clip"):  # every other effect keeps the peak level
        assert peak(a.audio) == pytest.approx(peak(x))


def test_all_off_leaves_audio_untouched(sources: NoiseSources) -> None:
    x = utterance()
    out = render(x, SR, AcousticsConfig(), seed=0, sources=sources)
    assert out.effects == () and np.array_equal(out.audio, x)
    assert not AcousticsConfig().enabled


def test_everything_on_stays_within_full_scale(sources: NoiseSources) -> None:
    cfg = replace(AcousticsConfig(), noise_files=["hum.wav"],
                  **{f"{name}_prob": 1.0 for name in EFFECTS}, gain_db=[6.0, 6.0])
    out = render(utterance(), SR, cfg, seed=1, sources=sources)
    assert len(out.effects) == len(EFFECTS)
    assert peak(out.audio) <= 1.0


@pytest.mark.parametrize("snr_db", [0.0, 10.0, 25.0])
@pytest.mark.parametrize("color", ["white", "pink", "brown"])
def test_noise_comes_at_the_requested_snr(color: str, snr_db: float) -> None:
    x = utterance()
    noise = coloured_noise(x.size, color, np.random.default_rng(0))
    y = mix_at_snr(x, noise, snr_db)
    measured = 10 * np.log10(power(x) / power(y - x))
    assert measured == pytest.approx(snr_db, abs=1.0)


def test_noise_colours_slope_down() -> None:
    rng = np.random.default_rng(0)
    low_high = {}
    for color in ("white", "pink", "brown"):
        spectrum = np.abs(np.fft.rfft(coloured_noise(SR * 4, color, rng))) ** 2
        freqs = np.fft.rfftfreq(SR * 4, 1 / SR)
        low, high = spectrum[(freqs > 100) & (freqs < 200)], spectrum[(freqs > 4000) & (freqs < 8000)]
        low_high[color] = low.mean() / high.mean()
    assert low_high["white"] < 2 < 10 < low_high["pink"] < low_high["brown"]


def test_babble_and_noise_file_snr(sources: NoiseSources) -> None:
    x = utterance()
    mixed = babble(sources.babble[:3], x.size, np.random.default_rng(0))
    assert mixed.shape == x.shape and power(mixed) > 0
    y = mix_at_snr(x, mixed, 7.0)
    assert 10 * np.log10(power(x) / power(y - x)) == pytest.approx(7.0, abs=1.0)
    out = render(x, SR, only("babble", babble_talkers=3, snr_db=[8.0, 8.0]), seed=0,
                 sources=sources, exclude=sources.babble[0])
    assert out.effects == ("babble3@8dB",)
    lonely = render(x, SR, only("babble"), seed=0, sources=NoiseSources(babble=(Path("me.wav"),)),
                    exclude=Path("me.wav"))
    assert lonely.effects == () and np.array_equal(lonely.audio, x)  # no other utterance: no babble


def _band_energy(x: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / SR)
    return float(spectrum[(freqs >= low) & (freqs < high)].sum())


def test_telephone_removes_energy_above_4khz() -> None:
    x = utterance() + 0.05 * coloured_noise(int(2.6 * SR), "white", np.random.default_rng(0))
    y = render(x, SR, only("telephone"), seed=0).audio
    before, after = _band_energy(x, 4000, 8000) / _band_energy(x, 0, 8000), \
        _band_energy(y, 4000, 8000) / _band_energy(y, 0, 8000)
    assert before > 0.05 and after < 1e-4
    assert _band_energy(y, 0, 250) / _band_energy(y, 0, 8000) < 0.05


def test_reverb_lengthens_the_decay_and_keeps_the_onset() -> None:
    x = utterance()
    cfg = only("reverb", rt60_s=[0.6, 0.8], room_size_m=[5.0, 8.0])
    y = render(x, SR, cfg, seed=2).audio
    after = slice(SPEECH[1] + 160, SPEECH[1] + 3200)  # 10-200 ms after the speech ends
    assert power(y[after]) > 1e-3 * power(y[SPEECH[0]:SPEECH[1]]) and power(x[after]) == 0
    click = np.zeros_like(x)
    click[SPEECH[0]] = 0.5
    heard = render(click, SR, cfg, seed=2).audio  # the room's response, moved to the click
    for onset in (np.argmax(np.abs(heard) > 0.1 * peak(heard)), np.argmax(np.abs(heard))):
        assert abs(int(onset) - SPEECH[0]) <= 0.003 * SR  # within 3 ms


def test_clip_and_gain_levels() -> None:
    x = utterance()  # peak 0.5
    clipped = render(x, SR, only("clip", clip_level=[0.6, 0.6]), seed=0).audio
    assert peak(clipped) == pytest.approx(0.3)
    loud = render(x, SR, only("gain", gain_db=[12.0, 12.0]), seed=0).audio
    assert peak(loud) == pytest.approx(1.0)  # over full scale: back to it, not clipped
    quiet = render(x, SR, only("gain", gain_db=[-6.0, -6.0]), seed=0).audio
    assert peak(quiet) == pytest.approx(0.5 * 10 ** (-6 / 20))


def test_unreadable_noise_file_is_refused_by_name(tmp_path: Path) -> None:
    bad = tmp_path / "not_audio.wav"
    bad.write_bytes(b"this is not a WAV file")
    cfg = only("noise_file", noise_files=[str(bad)])
    with pytest.raises(ConfigError, match="not_audio.wav") as info:
        load_noise_files(cfg, SR)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="noise_files is empty"):
        load_noise_files(only("noise_file"), SR)
    good = tmp_path / "hum.wav"
    sf.write(good, np.random.default_rng(0).standard_normal(SR) * 0.1, SR)
    ((name, audio),) = load_noise_files(only("noise_file", noise_files=[str(good)]), SR)
    assert name == "hum.wav" and audio.size == SR


def test_config_section_is_checked() -> None:
    cfg = load_config(None, ["corpus.acoustics.reverb_prob=0.5", "corpus.acoustics.snr_db=[0, 10]"])
    assert cfg.corpus.acoustics.enabled and cfg.corpus.acoustics.snr_db == [0.0, 10.0]
    for bad, match in (("corpus.acoustics.loudness=1", "unknown config key corpus.acoustics.loudness"),
                       ("corpus.acoustics.noise_prob=1.5", "noise_prob: 1.5 is out of range"),
                       ("corpus.acoustics.clip_prob=-0.1", "clip_prob"),
                       ("corpus.acoustics.snr_db=[20, 10]", "low <= high")):
        with pytest.raises(ConfigError, match=match):
            load_config(None, [bad])
    with pytest.raises(ConfigError, match="eq_prob"):
        AcousticsConfig(eq_prob=2.0)


@pytest.mark.needs_espeak
def test_corpus_with_acoustics(tmp_path: Path) -> None:
    from asr.config import CorpusConfig
    from asr.data.synth.corpus import corpus_is_current, make_corpus

    acoustics = AcousticsConfig(reverb_prob=1.0, noise_prob=0.5, babble_prob=0.5, telephone_prob=0.3, codec_prob=0.3)
    settings = dict(n_train=4, n_dev=2, n_test=2, seed=0, engines=("espeak-ng",), workers=2)
    paths = make_corpus(tmp_path / "real", acoustics=acoustics, **settings)
    assert set(paths) == {"train", "dev", "test", "dev_realistic", "test_realistic"}
    for split in ("dev", "test"):
        clean, real = read_manifest(paths[split])[0], read_manifest(paths[f"{split}_realistic"])[0]
        assert [u.text for u in clean] == [u.text for u in real]
        for c, r in zip(clean, real):
            assert "_realistic" in r.audio_filepath and "_realistic" not in c.audio_filepath
            assert sf.info(r.audio_filepath).frames == sf.info(c.audio_filepath).frames
    lines = [json.loads(line) for line in paths["train"].read_text().splitlines()]
    assert all(line["acoustics"][0].startswith("reverb@") for line in lines)
    assert all(Path(line["audio_filepath"]).parent.name == "train_realistic" for line in lines)

    again = make_corpus(tmp_path / "again", acoustics=acoustics, **{**settings, "workers": 1})
    for name, path in paths.items():
        for a, b in zip(read_manifest(path)[0], read_manifest(again[name])[0]):
            assert Path(a.audio_filepath).read_bytes() == Path(b.audio_filepath).read_bytes()

    made = CorpusConfig(out_dir=str(tmp_path / "real"), n_train=4, n_dev=2, n_test=2, engines=["espeak-ng"])
    assert corpus_is_current(**{**vars(made), "acoustics": acoustics})
    assert not corpus_is_current(**vars(made))  # made with acoustics: not the clean corpus

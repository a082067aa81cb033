"""Audio decoding (formats, resampling, downmix) and the checks that refuse unusable audio."""

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from asr.audio.files import check_audio, load_audio, read_audio
from asr.core.errors import AudioError

SR = 16000
FFMPEG = shutil.which("ffmpeg")


def peak_frequency(audio: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return float(np.fft.rfftfreq(len(audio), 1 / sample_rate)[np.argmax(spectrum)])


def tone(seconds, sample_rate, freq, amp=0.5):
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def ffmpeg_convert(src, dst):
    subprocess.run([FFMPEG, "-y", "-loglevel", "error", "-i", str(src), str(dst)], check=True, timeout=60)
    return dst


def test_resamples_44k1_stereo_to_16k_mono(tmp_path):
    left = tone(1.0, 44100, 1000.0, amp=0.5)
    right = 0.5 * left  # the downmix is the mean: 0.75 * left
    path = tmp_path / "stereo.wav"
    sf.write(str(path), np.stack([left, right], axis=1), 44100, subtype="FLOAT")
    audio = load_audio(path, SR)
    assert audio.dtype == np.float32
    assert audio.ndim == 1
    assert abs(len(audio) - SR) <= 1  # 1 s of audio
    assert abs(peak_frequency(audio, SR) - 1000.0) <= 2.0
    # amplitude of the mono mix (away from the resampler's edges)
    middle = audio[1000:-1000]
    assert np.sqrt(np.mean(middle ** 2)) == pytest.approx(0.75 * 0.5 / np.sqrt(2), rel=0.02)


def test_16k_wav_is_read_unchanged(tmp_path):
    samples = tone(0.5, SR, 300.0)
    path = tmp_path / "a.wav"
    sf.write(str(path), samples, SR, subtype="FLOAT")
    np.testing.assert_array_equal(load_audio(path, SR), samples)


def test_resamples_8k_up_to_16k(tmp_path):
    path = tmp_path / "narrow.wav"
    sf.write(str(path), tone(0.5, 8000, 700.0), 8000, subtype="PCM_16")
    audio = load_audio(path, SR)
    assert abs(len(audio) - 8000) <= 1
    assert abs(peak_frequency(audio, SR) - 700.0) <= 4.0


def test_flac_is_read(tmp_path):
    samples = tone(0.5, SR, 440.0)
    path = tmp_path / "a.flac"
    sf.write(str(path), samples, SR, format="FLAC", subtype="PCM_16")
    audio = load_audio(path, SR)
    assert len(audio) == len(samples)
    np.testing.assert_allclose(audio, samples, atol=1.5 / 32768)  # lossless up to 16-bit quantisation


def test_ogg_vorbis_is_read(tmp_path):
    samples = tone(1.0, SR, 440.0)
    path = tmp_path / "a.ogg"
    sf.write(str(path), samples, SR, format="OGG", subtype="VORBIS")
    audio = load_audio(path, SR)
    assert abs(len(audio) - len(samples)) <= 0.01 * SR
    assert abs(peak_frequency(audio, SR) - 440.0) <= 2.0


def test_mp3_is_read(tmp_path):
    mp3 = tmp_path / "a.mp3"
    sf.write(str(mp3), tone(1.0, 22050, 600.0), 22050, format="MP3")  # libsndfile >= 1.1 encodes MP3
    audio = load_audio(mp3, SR)
    assert audio.ndim == 1
    assert abs(len(audio) - SR) <= 0.1 * SR  # MP3 adds encoder delay / padding
    assert abs(peak_frequency(audio, SR) - 600.0) <= 3.0


@pytest.mark.needs_ffmpeg  # to make an M4A
def test_m4a_is_read_through_the_fallback_decoder(tmp_path):
    wav = tmp_path / "a.wav"
    sf.write(str(wav), tone(1.0, 44100, 800.0), 44100, subtype="PCM_16")
    m4a = ffmpeg_convert(wav, tmp_path / "a.m4a")
    with pytest.raises(Exception):
        sf.read(str(m4a))  # soundfile cannot: this goes through the fallback
    audio = load_audio(m4a, SR)
    assert abs(len(audio) - SR) <= 0.1 * SR
    assert abs(peak_frequency(audio, SR) - 800.0) <= 3.0


# ----------------------------------------------------------------------------
# errors: AudioError, one line, naming the file
# ----------------------------------------------------------------------------


def assert_one_line_naming(exc_info, path):
    message = str(exc_info.value)
    assert "\n" not in message
    assert path.name in message
    return message


def test_missing_file(tmp_path):
    path = tmp_path / "missing_file.wav"
    with pytest.raises(AudioError) as info:
        load_audio(path, SR)
    assert "not found" in assert_one_line_naming(info, path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty_file.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioError) as info:
        read_audio(path, SR)
    assert "empty" in assert_one_line_naming(info, path)


def test_garbage_bytes(tmp_path):
    path = tmp_path / "garbage_file.wav"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(AudioError) as info:
        read_audio(path, SR)
    assert "decode" in assert_one_line_naming(info, path)


def test_too_short(tmp_path):
    path = tmp_path / "short_file.wav"
    sf.write(str(path), tone(0.05, SR, 440.0), SR)
    with pytest.raises(AudioError) as info:
        read_audio(path, SR, min_duration=0.1)
    assert "too short" in assert_one_line_naming(info, path)


def test_too_long(tmp_path):
    path = tmp_path / "long_file.wav"
    sf.write(str(path), tone(2.5, SR, 440.0), SR)
    with pytest.raises(AudioError) as info:
        read_audio(path, SR, max_duration=2.0)
    assert "too long" in assert_one_line_naming(info, path)
    # the same file is fine without the limit, or with a larger one
    assert len(read_audio(path, SR)) == int(2.5 * SR)
    assert len(read_audio(path, SR, max_duration=3.0)) == int(2.5 * SR)


def test_silent(tmp_path):
    path = tmp_path / "silent_file.wav"
    sf.write(str(path), np.zeros(SR, dtype=np.float32), SR)
    with pytest.raises(AudioError) as info:
        read_audio(path, SR)
    assert "silent" in assert_one_line_naming(info, path)


def test_nan_samples(tmp_path):
    samples = tone(0.5, SR, 440.0)
    samples[100:110] = np.nan
    path = tmp_path / "nan_file.wav"
    sf.write(str(path), samples, SR, subtype="FLOAT")
    with pytest.raises(AudioError) as info:
        read_audio(path, SR)
    assert "NaN" in assert_one_line_naming(info, path)


def test_check_audio_accepts_good_audio_and_refuses_wrong_shapes():
    good = tone(0.5, SR, 440.0)
    assert check_audio(good, SR, "x") is not None
    np.testing.assert_array_equal(check_audio(good, SR, "x"), good)
    with pytest.raises(AudioError, match="thing.wav"):
        check_audio(np.stack([good, good], axis=1), SR, "thing.wav")
    with pytest.raises(AudioError, match="thing.wav"):
        check_audio(np.zeros(0, dtype=np.float32), SR, "thing.wav")
    inf = good.copy()
    inf[3] = np.inf
    with pytest.raises(AudioError, match="thing.wav"):
        check_audio(inf, SR, "thing.wav")

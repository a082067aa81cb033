"""Property-based tests: the audio loader, the manifest reader and the config
loader, fed random and truncated bytes, wrong types, huge declared lengths and
non-UTF-8 text, end in a clear error of the toolkit (or a valid result) within
bounded time and memory, never in some other exception."""

import io
import json
import struct
import tracemalloc

import numpy as np
import soundfile as sf
from helpers import REPO, sine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asr.audio.files import load_audio, read_audio
from asr.config import Config, load_config
from asr.core.errors import AudioError, ConfigError, ManifestError
from asr.data.manifest import MAX_LINE_BYTES, Utterance, iter_manifest

FUZZ = settings(max_examples=60, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture])


def encoded(fmt: str, subtype: str, seconds: float = 0.3, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, sine(seconds, rate), rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


GOOD_FILES = {".wav": encoded("WAV", "PCM_16"), ".flac": encoded("FLAC", "PCM_16"), ".ogg": encoded("OGG", "VORBIS")}


def assert_loaded_or_refused(path, **kwargs):
    try:
        audio = load_audio(path, 16000, **kwargs)
    except AudioError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return None
    assert audio.dtype == np.float32 and audio.ndim == 1
    return audio


@FUZZ
@given(data=st.binary(min_size=1, max_size=4096), suffix=st.sampled_from([".wav", ".flac", ".ogg", ".mp3", ""]))
def test_random_bytes_are_refused_or_decoded(tmp_path, data, suffix):
    path = tmp_path / f"random{suffix}"
    path.write_bytes(data)
    assert_loaded_or_refused(path)


@FUZZ
@given(suffix=st.sampled_from(sorted(GOOD_FILES)), cut=st.floats(0.0, 1.0), flips=st.lists(st.integers(0, 10**6),
       max_size=8))
def test_truncated_and_corrupted_files_are_refused_or_decoded(tmp_path, suffix, cut, flips):
    data = bytearray(GOOD_FILES[suffix][: max(1, int(len(GOOD_FILES[suffix]) * cut))])
    for position in flips:
        data[position % len(data)] ^= 0xFF
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(bytes(data))
    audio = assert_loaded_or_refused(path)
    if audio is not None:
        assert audio.size <= 0.3 * 16000 * 1.01 + 16


def wav_header(channels: int, rate: int, bits: int, data_bytes: int, riff_bytes: int) -> bytes:
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 1, channels, rate, (rate * block) & 0xFFFFFFFF, block & 0xFFFF, bits)
    return (b"RIFF" + struct.pack("<I", riff_bytes) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", data_bytes))


@FUZZ
@given(channels=st.integers(0, 65535), rate=st.integers(0, 2**32 - 1), bits=st.sampled_from([8, 16, 24, 32, 0, 7]),
       data_bytes=st.integers(0, 2**32 - 1), riff_bytes=st.integers(0, 2**32 - 1), payload=st.integers(0, 4000))
def test_wav_headers_declaring_huge_sizes_stay_bounded(tmp_path, channels, rate, bits, data_bytes, riff_bytes,
                                                       payload):
    path = tmp_path / "header.wav"
    path.write_bytes(wav_header(channels, rate, bits, data_bytes, riff_bytes) + bytes(payload))
    tracemalloc.start()
    try:
        assert_loaded_or_refused(path, max_duration=20.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MiB for a {path.stat().st_size}-byte file"


def test_a_wav_header_of_65535_channels_that_libsndfile_refuses_stays_bounded(tmp_path):
    """The case the fuzzer above found: libsndfile refuses the header, and the audioread fallback's
    stdlib reader sized its reads by it (1,024 frames of 65,535 bytes: 64 MiB) for a 4 kB file."""
    path = tmp_path / "header.wav"
    path.write_bytes(wav_header(65535, 0, 8, 66980543, 67025503) + bytes(4000))
    tracemalloc.start()
    try:
        assert assert_loaded_or_refused(path, max_duration=20.0) is None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"{peak / 2**20:.0f} MiB for a {path.stat().st_size}-byte file"


def test_a_long_file_is_refused_before_it_is_decoded(tmp_path):
    path = tmp_path / "long.wav"
    sf.write(str(path), np.zeros(16000 * 30, np.float32) + 0.1, 16000, subtype="PCM_16")
    tracemalloc.start()
    try:
        try:
            read_audio(path, 16000, max_duration=20.0)
            raise AssertionError("a 30 s file passed a 20 s limit")
        except AudioError as exc:
            assert "too long" in str(exc)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16000 * 30 * 4 / 2, "the whole file was decoded before the limit was checked"


# ----------------------------------------------------------------------------
# manifests
# ----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
manifest_rows = st.fixed_dictionaries(
    {},
    optional={"audio_filepath": json_values | st.just("a.wav") | st.just("missing.wav") | st.just("a\x00.wav"),
              "duration": json_values | st.just(1e308) | st.just("1.5") | st.just(-3),
              "text": json_values | st.just("turn on the lights")},
).map(lambda row: json.dumps(row).encode())
manifest_lines = st.lists(manifest_rows | st.binary(max_size=200).filter(lambda b: b"\n" not in b), max_size=12)


@FUZZ
@given(lines=manifest_lines)
def test_manifest_lines_are_read_or_refused_one_by_one(tmp_path, lines):
    (tmp_path / "a.wav").write_bytes(GOOD_FILES[".wav"])
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    items = list(iter_manifest(path))
    nonblank = [line for line in lines if line.decode("utf-8", "replace").strip()]
    assert len(items) == len(nonblank)
    for item in items:
        assert isinstance(item, (Utterance, ManifestError))
        if isinstance(item, Utterance):
            assert item.audio_filepath.endswith("a.wav") and np.isfinite(item.duration) and item.duration >= 0
        else:
            assert "\n" not in str(item)


def test_an_over_long_manifest_line_is_refused_without_reading_it_whole(tmp_path):
    (tmp_path / "a.wav").write_bytes(GOOD_FILES[".wav"])
    good = json.dumps({"audio_filepath": "a.wav", "duration": 0.3, "text": "on"}).encode()
    path = tmp_path / "long.jsonl"
    path.write_bytes(good + b"\n" + b"x" * (16 * MAX_LINE_BYTES) + b"\n" + good + b"\n")
    tracemalloc.start()
    try:
        items = list(iter_manifest(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [type(i) for i in items] == [Utterance, ManifestError, Utterance]
    assert "longer than" in str(items[1]) and ":2:" in str(items[1])
    assert peak < 6 * MAX_LINE_BYTES  # measured: about 4 MiB whatever the line's length


def test_a_non_utf8_line_is_skipped_and_the_rest_read(tmp_path):
    (tmp_path / "a.wav").write_bytes(GOOD_FILES[".wav"])
    good = json.dumps({"audio_filepath": "a.wav", "duration": 0.3, "text": "on"}).encode()
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(good + b"\n" + '{"text": "caf\xe9"}'.encode("latin-1") + b"\n" + good + b"\n")
    items = list(iter_manifest(path))
    assert [type(i) for i in items] == [Utterance, ManifestError, Utterance]
    assert "not UTF-8" in str(items[1])


# ----------------------------------------------------------------------------
# config files
# ----------------------------------------------------------------------------

SECTIONS = {"corpus": ["n_train", "seed", "engines", "holdout"], "model": ["conv_channels", "time_reduction",
            "lstm_units", "dropout"], "train": ["epochs", "learning_rate", "augment"], "features": ["n_mels", "fmax"]}
config_data = st.dictionaries(
    st.sampled_from(sorted(SECTIONS)) | st.text(max_size=6),
    st.dictionaries(st.sampled_from(sum(SECTIONS.values(), [])) | st.text(max_size=6), json_values, max_size=4)
    | json_values,
    max_size=4,
)


@FUZZ
@given(data=config_data)
def test_config_data_of_any_shape_loads_or_names_the_problem(tmp_path, data):
    path = tmp_path / "fuzz.yaml"
    path.write_text(json.dumps(data))  # JSON is YAML
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
    else:
        assert isinstance(cfg, Config)


@FUZZ
@given(raw=st.binary(max_size=300))
def test_config_files_of_random_bytes_load_or_are_refused(tmp_path, raw):
    path = tmp_path / "bytes.yaml"
    path.write_bytes(raw)
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        assert str(path) in str(exc)
    else:
        assert isinstance(cfg, Config)


# ----------------------------------------------------------------------------
# the metadata of exported TFLite files (read without TensorFlow)
# ----------------------------------------------------------------------------

SHIPPED_TFLITE = REPO / "saved_models" / "commands" / "model.tflite"


@FUZZ
@given(cut=st.integers(0, 4096), flips=st.lists(st.tuples(st.integers(0, 4095), st.integers(1, 255)), max_size=12),
       tail=st.binary(max_size=64))
def test_tflite_metadata_reader_survives_damaged_headers(cut, flips, tail):
    from asr.core.errors import ModelError
    from asr.core.tflite_file import read_metadata

    data = bytearray(SHIPPED_TFLITE.read_bytes())
    for position, mask in flips:  # the tables the reader walks sit near the start
        data[position] ^= mask
    damaged = bytes(data[: len(data) - cut]) + tail
    try:
        config = read_metadata(damaged, source="fuzzed.tflite")
    except ModelError as exc:
        assert str(exc).startswith("fuzzed.tflite: ") and "\n" not in str(exc)
    else:
        assert isinstance(config, dict)


@FUZZ
@given(data=st.binary(max_size=2048))
def test_tflite_metadata_reader_refuses_random_bytes(data):
    from asr.core.errors import ModelError
    from asr.core.tflite_file import read_metadata

    try:
        read_metadata(data, source="random.tflite")
    except ModelError as exc:
        assert str(exc).startswith("random.tflite: ")
    else:
        raise AssertionError("random bytes were read as a TFLite model")


@FUZZ
@given(raw=st.binary(max_size=512) | json_values.map(lambda v: json.dumps(v).encode())
       | st.fixed_dictionaries({"characters": json_values, "feature_config": json_values}).map(
           lambda v: json.dumps(v).encode()))
def test_the_edge_example_reads_its_settings_file_or_names_the_problem(tmp_path, raw):
    import importlib.util

    spec = importlib.util.spec_from_file_location("edge_transcribe", REPO / "examples" / "edge" / "transcribe.py")
    edge = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(edge)
    model = tmp_path / "model.tflite"
    (tmp_path / "model.tflite.json").write_bytes(raw)
    try:
        config = edge.read_config(str(model))
    except ValueError as exc:
        assert str(exc).startswith(f"{model}.json: ")
    else:
        assert isinstance(config["characters"], str) and config["feature_config"]["sample_rate"] > 0

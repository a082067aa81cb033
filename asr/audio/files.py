"""Audio I/O: decode any file to mono float32 at the model's sample rate, and
check that it is usable."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

import soundfile as sf

from asr.core.atomic import atomic_path
from asr.core.errors import AudioError, first_line

SILENCE_PEAK = 1e-4  # a file whose peak is below this is treated as silent
MAX_CHANNELS = 64  # more is a damaged header, not a recording


def load_audio(path: str | os.PathLike, sample_rate: int, max_duration: float | None = None) -> np.ndarray:
    """Decode an audio file to mono float32 at ``sample_rate``.

    WAV, FLAC and OGG are read with soundfile; anything soundfile cannot read
    (MP3, M4A...) falls back to librosa's audioread path.

    Args:
        path: audio file.
        sample_rate: target rate in Hz (resampled with soxr when different).
        max_duration: seconds; a longer file is refused before it is decoded
            whole, so memory stays bounded whatever its size (None: no limit).

    Returns:
        float32 samples, shape ``[n]``, nominally in [-1, 1].
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty file")
    try:
        info = sf.info(str(path))
        if info.channels > MAX_CHANNELS:
            raise AudioError(f"{path}: {info.channels} channels (at most {MAX_CHANNELS})")
        if max_duration is not None and info.samplerate > 0:
            check_duration(info.frames / info.samplerate, str(path), 0.0, max_duration)
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
        audio = data.mean(axis=1)
    except AudioError:
        raise
    except Exception as exc:  # libsndfile's errors have no common type
        if _is_wav(path):
            # libsndfile reads every WAV the fallback could; the fallback's stdlib reader would size
            # its buffers by the header (65,535 channels: 64 MiB a read, whatever the file holds)
            raise AudioError(f"{path}: cannot decode audio ({_reason(exc, path)})") from None
        audio, rate = _decode_fallback(path, first_error=exc, max_duration=max_duration)
    if rate <= 0:
        raise AudioError(f"{path}: invalid sample rate {rate}")
    if rate != sample_rate:
        import librosa  # lazily: librosa (numba) takes seconds to load

        audio = librosa.resample(audio, orig_sr=rate, target_sr=sample_rate, res_type="soxr_hq")
    return np.ascontiguousarray(audio, dtype=np.float32)


def _decode_fallback(path: Path, first_error: Exception, max_duration: float | None) -> tuple[np.ndarray, int]:
    """librosa's audioread path (ffmpeg and friends) for what libsndfile cannot read."""
    import librosa  # lazily: librosa (numba) takes seconds to load

    # decode a little past the limit: enough to tell that the file is too long
    limit = None if max_duration is None else max_duration + 1.0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # librosa warns about audioread; the error below says it
            audio, rate = librosa.load(str(path), sr=None, mono=True, duration=limit)
    except Exception:  # audioread's backends raise many types
        # libsndfile's reason ("Format not recognised") says more than audioread's
        raise AudioError(f"{path}: cannot decode audio ({_reason(first_error, path)})") from None
    if max_duration is not None and rate > 0:
        check_duration(audio.size / rate, str(path), 0.0, max_duration)
    return audio.astype(np.float32), int(rate)


def _is_wav(path: Path) -> bool:
    """Whether the file starts with a RIFF/RIFX/RF64 WAVE header."""
    with open(path, "rb") as f:
        head = f.read(12)
    return head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE"


def _reason(error: Exception, path: Path) -> str:
    """libsndfile's one-line reason, without its "Error opening '<path>': " prefix."""
    reason = first_line(error).replace(f"Error opening {str(path)!r}: ", "").strip().rstrip(".")
    return reason[:120]


def as_samples(audio, name: str = "<array>") -> np.ndarray:
    """An in-memory recording → float samples, ``[n]`` or ``[n, channels]``/``[channels, n]``, in [-1, 1].

    Integer PCM is scaled by its type's full scale (int16 ÷ 32768; unsigned is centred first), as
    soundfile reads it; a flat list of numbers is taken as samples. A list of recordings is refused
    with a one-line ``AudioError`` (the API transcribes one recording per call), as is any other type.
    """
    if isinstance(audio, (list, tuple)) and any(np.ndim(item) > 0 for item in audio):
        raise AudioError(f"{name}: a list of {len(audio)} recordings: transcribe each one "
                         "(or pass their paths to transcribe_files)")
    try:
        array = np.asarray(audio)
    except (TypeError, ValueError) as exc:
        raise AudioError(f"{name}: not audio samples ({first_line(exc)})") from None
    kind = array.dtype.kind
    if kind == "i":
        return (array / float(2 ** (8 * array.dtype.itemsize - 1))).astype(np.float32)
    if kind == "u":
        half = float(2 ** (8 * array.dtype.itemsize - 1))
        return ((array - half) / half).astype(np.float32)
    if kind != "f":
        raise AudioError(f"{name}: expected float or integer PCM samples, got {array.dtype} values")
    return array.astype(np.float32, copy=False)


def check_audio(
    audio: np.ndarray,
    sample_rate: int,
    name: str,
    min_duration: float = 0.1,
    max_duration: float | None = None,
    allow_silence: bool = False,
) -> np.ndarray:
    """Reject audio the model cannot use; returns it unchanged when fine.

    Args:
        audio: float samples, shape ``[n]``.
        sample_rate: Hz.
        name: the file name used in error messages.
        min_duration: seconds; shorter audio is refused.
        max_duration: seconds; longer audio is refused (None: no limit).
        allow_silence: let silent audio through (transcription: silence is an empty
            transcript); training data refuses it (``is_silent``).
    """
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise AudioError(f"{name}: expected mono samples of shape [n], got shape {audio.shape}")
    if audio.size == 0:
        raise AudioError(f"{name}: no audio samples")
    bad = ~np.isfinite(audio)
    if bad.any():
        raise AudioError(f"{name}: {int(bad.sum())} NaN or infinite samples")
    check_duration(audio.size / sample_rate, name, min_duration, max_duration)
    if not allow_silence and is_silent(audio):
        raise AudioError(f"{name}: silent (peak below {SILENCE_PEAK})")
    return audio


def is_silent(audio: np.ndarray) -> bool:
    """Whether samples ``[n]`` peak below ``SILENCE_PEAK`` (digital silence, or nearly)."""
    return audio.size == 0 or float(np.max(np.abs(audio))) < SILENCE_PEAK


def check_duration(duration: float, name: str, min_duration: float = 0.1,
                   max_duration: float | None = None) -> None:
    """Refuse a duration (seconds) outside ``[min_duration, max_duration]``."""
    if duration < min_duration:
        raise AudioError(f"{name}: too short ({duration:.3f} s < {min_duration} s)")
    if max_duration is not None and duration > max_duration:
        raise AudioError(f"{name}: too long ({duration:.1f} s > {max_duration} s)")


def read_audio(
    path: str | os.PathLike,
    sample_rate: int,
    min_duration: float = 0.1,
    max_duration: float | None = None,
) -> np.ndarray:
    """``load_audio`` then ``check_audio``: the one way the toolkit reads a file."""
    audio = load_audio(path, sample_rate, max_duration)
    return check_audio(audio, sample_rate, str(path), min_duration, max_duration)


def write_pcm16(path: str | os.PathLike, samples: np.ndarray, sample_rate: int) -> int:
    """Write float samples ``[n]`` in [-1, 1] as a 16-bit PCM WAV, atomically
    (rounded, clipped to the int16 range); returns ``n``."""
    pcm = np.clip(np.round(np.asarray(samples) * 32767.0), -32768, 32767).astype(np.int16)
    with atomic_path(path) as tmp:
        sf.write(tmp, pcm, sample_rate, subtype="PCM_16", format="WAV")
    return pcm.size


AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".aiff", ".aif")


def expand_audio_paths(paths: list[str]) -> list[str]:
    """Files as given, and each directory replaced by its audio files (by suffix, sorted,
    not recursive). A directory without any is an ``AudioError`` naming it."""
    out: list[str] = []
    for path in paths:
        if not os.path.isdir(path):
            out.append(path)
            continue
        found = sorted(str(p) for p in Path(path).iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
        if not found:
            raise AudioError(f"{path}: a directory with no audio files ({', '.join(AUDIO_SUFFIXES)})")
        out += found
    return out

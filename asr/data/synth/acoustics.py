"""Realistic acoustics rendered into the synthetic corpus (``corpus.acoustics``).

:func:`render` applies to one utterance, each with its probability in
:class:`asr.config.AcousticsConfig`, in this order:

- ``reverb``: a simulated shoebox room (:mod:`asr.data.synth.rooms`);
- ``noise``: white, pink or brown noise (``asr.data.augment.NOISE_COLORS``);
- ``babble``: ``babble_talkers`` other utterances of the same split, summed;
- ``noise_file``: a random stretch of one of the configured recordings;
- ``eq``: microphone colouring, a low shelf, a peak and a high shelf;
- ``bandlimit``: a band-pass with random edges;
- ``telephone``: 8 kHz, 300-3400 Hz, 8-bit mu-law, and back;
- ``codec``: an OGG/Vorbis round trip in memory;
- ``gain``: a level change; ``clip``: hard clipping below the peak.

Each noise comes at its own SNR drawn from ``snr_db``. Every effect but gain and
clip keeps the utterance's peak level, so the level is only ever what gain and
clip make it, and the peak stays at or below full scale. Each effect draws from
its own generator seeded by (utterance seed, effect name): the same seed gives
the same audio, and switching one effect on or off leaves the others' draws as
they were. The output has the input's length.
"""

from __future__ import annotations

import concurrent.futures
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import soundfile as sf
from scipy.signal import butter, resample_poly, sosfilt, sosfiltfilt

from asr.audio.files import write_pcm16
from asr.audio.files import read_audio
from asr.config import AcousticsConfig
from asr.core.errors import ASRError, ConfigError, first_line
from asr.core.progress import progress
from asr.data.augment import NOISE_COLORS
from asr.data.synth.rooms import reverberate, room_impulse_response
from asr.data.synth.seeds import derive_seed

TELEPHONE_RATE = 8000  # Hz
TELEPHONE_BAND = (300.0, 3400.0)  # Hz
MU = 255.0  # G.711 mu-law
EQ_BANDS = {"low_shelf": (80.0, 400.0), "peak": (300.0, 4000.0), "high_shelf": (2000.0, 6000.0)}  # Hz ranges
BANDLIMIT_LOW = (50.0, 300.0)  # Hz range of the lower edge
BANDLIMIT_HIGH = (3000.0, 7500.0)  # Hz range of the upper edge (kept below 0.45 x the sample rate)


@dataclass(frozen=True)
class NoiseSources:
    """Where babble and recorded noise come from: ``babble``, the split's
    utterances (WAV paths); ``recordings``, (file name, audio ``[samples]``)
    pairs at the corpus sample rate (:func:`load_noise_files`)."""

    babble: tuple[Path, ...] = ()
    recordings: tuple[tuple[str, np.ndarray], ...] = ()


@dataclass(frozen=True)
class Rendered:
    """One utterance after :func:`render`: ``audio`` ``[samples]`` float64 in
    [-1, 1], and ``effects``, a label per effect applied, in order
    (e.g. ``("reverb@0.45s", "pink_noise@12dB")``)."""

    audio: np.ndarray
    effects: tuple[str, ...]


@dataclass(frozen=True)
class _Context:
    cfg: AcousticsConfig
    sample_rate: int
    sources: NoiseSources
    exclude: Path | None  # the utterance itself, never its own babble


def peak(x: np.ndarray) -> float:
    """The largest absolute sample of ``x`` (0 for no samples)."""
    return float(np.max(np.abs(x))) if x.size else 0.0


def power(x: np.ndarray) -> float:
    """Mean square of ``x`` (full scale sine: 0.5)."""
    return float(np.mean(np.square(x))) if x.size else 0.0


def coloured_noise(n: int, color: str, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise ``[n]`` of unit power whose power spectral density is
    ∝ f ** -NOISE_COLORS[color] (white, pink, brown)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    freqs[0] = freqs[1] if n > 1 else 1.0  # DC gets the lowest band's level, not infinity
    y = np.fft.irfft(spectrum * freqs ** (-NOISE_COLORS[color] / 2), n)
    return y / math.sqrt(max(power(y), 1e-30))


def mix_at_snr(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``x + g * noise`` with ``g`` chosen so that power(x) / power(g * noise) is
    ``snr_db`` dB (powers over the whole utterance, pauses included)."""
    gain = math.sqrt(power(x) / max(power(noise), 1e-30) / 10.0 ** (snr_db / 10.0))
    return x + gain * noise


def fit_length(noise: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """A random stretch ``[n]`` of ``noise``, repeated end to end when shorter."""
    if noise.size < n:
        noise = np.tile(noise, n // noise.size + 2)
    start = int(rng.integers(0, noise.size - n + 1))
    return noise[start:start + n]


def _reverb(x, rng, ctx):
    rir, room = room_impulse_response(rng, ctx.cfg, ctx.sample_rate)
    return reverberate(x, rir), f"reverb@{room.rt60_s:.2f}s"


def _noise(x, rng, ctx):
    color = str(rng.choice(list(NOISE_COLORS)))
    snr = rng.uniform(*ctx.cfg.snr_db)
    return mix_at_snr(x, coloured_noise(x.size, color, rng), snr), f"{color}_noise@{snr:.0f}dB"


def babble(paths: Sequence[Path], n: int, rng: np.random.Generator) -> np.ndarray:
    """The sum ``[n]`` of the utterances in ``paths`` (WAVs), each at unit power
    and from a random offset, repeated when shorter than ``n`` samples."""
    total = np.zeros(n)
    for path in paths:
        talker, _ = sf.read(path, dtype="float64")
        total += fit_length(talker / math.sqrt(max(power(talker), 1e-30)), n, rng)
    return total


def _babble(x, rng, ctx):
    pool = [p for p in ctx.sources.babble if p != ctx.exclude]
    if not pool:
        return x, None
    k = min(ctx.cfg.babble_talkers, len(pool))
    chosen = [pool[i] for i in sorted(rng.choice(len(pool), size=k, replace=False))]
    snr = rng.uniform(*ctx.cfg.snr_db)
    return mix_at_snr(x, babble(chosen, x.size, rng), snr), f"babble{k}@{snr:.0f}dB"


def _noise_file(x, rng, ctx):
    if not ctx.sources.recordings:
        return x, None
    name, noise = ctx.sources.recordings[int(rng.integers(len(ctx.sources.recordings)))]
    snr = rng.uniform(*ctx.cfg.snr_db)
    return mix_at_snr(x, fit_length(noise, x.size, rng), snr), f"noise_file@{snr:.0f}dB:{name}"


def biquad(kind: str, freq: float, gain_db: float, sample_rate: int, q: float = math.sqrt(0.5)) -> np.ndarray:
    """One second-order section ``[6]`` (scipy's sos layout) of the Audio EQ
    Cookbook: ``kind`` peak, low_shelf or high_shelf at ``freq`` Hz, ``gain_db`` dB."""
    a = 10.0 ** (gain_db / 40.0)
    w = 2.0 * math.pi * freq / sample_rate
    cos, alpha = math.cos(w), math.sin(w) / (2.0 * q)
    if kind == "peak":
        b, den = [1 + alpha * a, -2 * cos, 1 - alpha * a], [1 + alpha / a, -2 * cos, 1 - alpha / a]
    else:
        s = 1.0 if kind == "low_shelf" else -1.0  # the high shelf is the low shelf with cos's sign flipped
        r = 2.0 * math.sqrt(a) * alpha
        b = [a * ((a + 1) - s * (a - 1) * cos + r), 2 * s * a * ((a - 1) - s * (a + 1) * cos),
             a * ((a + 1) - s * (a - 1) * cos - r)]
        den = [(a + 1) + s * (a - 1) * cos + r, -2 * s * ((a - 1) + s * (a + 1) * cos),
               (a + 1) + s * (a - 1) * cos - r]
    return np.array(b + den) / den[0]


def _eq(x, rng, ctx):
    g = ctx.cfg.eq_gain_db
    sos = np.stack([biquad(kind, math.exp(rng.uniform(math.log(lo), math.log(min(hi, 0.45 * ctx.sample_rate)))),
                           rng.uniform(-g, g), ctx.sample_rate, q=rng.uniform(0.5, 2.0) if kind == "peak" else
                           math.sqrt(0.5))
                    for kind, (lo, hi) in EQ_BANDS.items()])
    return sosfilt(sos, x), "eq"


def band_pass(x: np.ndarray, low: float, high: float, sample_rate: int) -> np.ndarray:
    """``x`` through a zero-phase 4th-order Butterworth band-pass ``low``-``high`` Hz."""
    return sosfiltfilt(butter(4, [low, high], btype="band", fs=sample_rate, output="sos"), x)


def _bandlimit(x, rng, ctx):
    low = rng.uniform(*BANDLIMIT_LOW)
    high = rng.uniform(BANDLIMIT_HIGH[0], min(BANDLIMIT_HIGH[1], 0.45 * ctx.sample_rate))
    return band_pass(x, low, high, ctx.sample_rate), f"bandlimit@{low:.0f}-{high:.0f}Hz"


def telephone(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """``x`` ``[samples]`` down to 8 kHz, band-passed to 300-3400 Hz, through
    8-bit mu-law, and back to ``sample_rate``, same length."""
    rate = min(TELEPHONE_RATE, sample_rate)
    g = math.gcd(rate, sample_rate)
    y = band_pass(resample_poly(x, rate // g, sample_rate // g), *TELEPHONE_BAND, rate)
    y = np.clip(y, -1.0, 1.0)
    coded = np.round(np.sign(y) * np.log1p(MU * np.abs(y)) / math.log1p(MU) * 127.0) / 127.0
    y = np.sign(coded) * np.expm1(np.abs(coded) * math.log1p(MU)) / MU
    y = resample_poly(y, sample_rate // g, rate // g)
    return np.pad(y, (0, max(x.size - y.size, 0)))[:x.size]


def _telephone(x, rng, ctx):
    return telephone(x, ctx.sample_rate), "telephone"


def vorbis_round_trip(x: np.ndarray, sample_rate: int, compression: float) -> np.ndarray:
    """``x`` ``[samples]`` (within [-1, 1]) encoded as OGG/Vorbis in memory at
    ``compression`` (0-1, libsndfile's compression level) and decoded, same length."""
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(x, -1.0, 1.0).astype(np.float32), sample_rate, format="OGG", subtype="VORBIS",
             compression_level=compression)
    buffer.seek(0)
    y, _ = sf.read(buffer, dtype="float64")
    return np.pad(y, (0, max(x.size - y.size, 0)))[:x.size]


def _codec(x, rng, ctx):
    compression = rng.uniform(*ctx.cfg.codec_compression)
    return vorbis_round_trip(x, ctx.sample_rate, compression), f"vorbis@{compression:.2f}"


def _gain(x, rng, ctx):
    gain_db = rng.uniform(*ctx.cfg.gain_db)
    y = x * 10.0 ** (gain_db / 20.0)
    return y / max(peak(y), 1.0), f"gain@{gain_db:+.0f}dB"  # over full scale: back to it (clip clips)


def _clip(x, rng, ctx):
    level = rng.uniform(*ctx.cfg.clip_level)
    limit = level * peak(x)
    return np.clip(x, -limit, limit), f"clip@{level:.2f}"


Effect = Callable[[np.ndarray, np.random.Generator, _Context], tuple[np.ndarray, "str | None"]]
EFFECTS: dict[str, Effect] = {
    "reverb": _reverb, "noise": _noise, "babble": _babble, "noise_file": _noise_file, "eq": _eq,
    "bandlimit": _bandlimit, "telephone": _telephone, "codec": _codec, "gain": _gain, "clip": _clip,
}
LEVEL_EFFECTS = ("gain", "clip")  # the only effects that change the peak level


def render(x: np.ndarray, sample_rate: int, cfg: AcousticsConfig, seed: int,
           sources: NoiseSources = NoiseSources(), exclude: Path | None = None) -> Rendered:
    """Apply the configured effects to one utterance.

    Args:
        x: samples ``[n]`` in [-1, 1].
        sample_rate: Hz.
        cfg: each effect's probability and ranges.
        seed: the utterance's seed; the same seed gives the same output.
        sources: babble and noise recordings.
        exclude: ``x``'s own file, left out of its babble.

    Returns:
        The audio ``[n]`` float64 and the labels of the effects applied; with
        every probability 0, ``x`` itself (as float64) and no labels.
    """
    y, applied = np.asarray(x, dtype=np.float64), []
    ctx = _Context(cfg, sample_rate, sources, exclude)
    for name, effect in EFFECTS.items():
        rng = np.random.default_rng(derive_seed("acoustics", seed, name))
        if rng.random() >= getattr(cfg, f"{name}_prob"):
            continue
        out, label = effect(y, rng, ctx)
        if label is None:
            continue
        if name not in LEVEL_EFFECTS and peak(out) > 0:
            out = out * (peak(y) / peak(out))
        y = out
        applied.append(label)
    return Rendered(y, tuple(applied))


def load_noise_files(cfg: AcousticsConfig, sample_rate: int) -> tuple[tuple[str, np.ndarray], ...]:
    """Read ``cfg.noise_files`` (at ``sample_rate`` Hz) as (file name, samples) pairs.

    Raises:
        ConfigError: naming the first file that cannot be read, or when
            ``noise_file_prob`` is above 0 with no files.
    """
    if cfg.noise_file_prob > 0 and not cfg.noise_files:
        raise ConfigError("corpus.acoustics.noise_file_prob is above 0 but corpus.acoustics.noise_files is empty")
    loaded = []
    for path in cfg.noise_files:
        try:
            loaded.append((Path(path).name, read_audio(path, sample_rate, min_duration=0.1)))
        except ASRError as exc:
            raise ConfigError(f"corpus.acoustics.noise_files: {first_line(exc, str(path))}") from None
    return tuple(loaded)


def render_file(src: Path, dst: Path, cfg: AcousticsConfig, seed: int, sources: NoiseSources) -> tuple[str, ...]:
    """Render the acoustics into a copy of the 16-bit WAV ``src`` at ``dst``
    (written atomically, 16-bit PCM); return the effects' labels."""
    x, sample_rate = sf.read(src, dtype="float64")
    rendered = render(x, sample_rate, cfg, seed, sources, exclude=src)
    write_pcm16(dst, rendered.audio, sample_rate)
    return rendered.effects


def render_files(tasks: Sequence[dict], cfg: AcousticsConfig, sources: NoiseSources, workers: int,
                 desc: str | None = None) -> list[tuple[str, ...]]:
    """:func:`render_file` for each task (``src``, ``dst``, ``seed``), ``workers``
    threads at a time; the effects' labels in task order."""
    def one(task: dict) -> tuple[str, ...]:
        return render_file(task["src"], task["dst"], cfg, task["seed"], sources)

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return list(progress(pool.map(one, tasks), desc, total=len(tasks), unit="utt"))

"""A transcript drawn over its audio (``asr transcribe --plot``): the log-mel
spectrogram, the words at their aligned times, the per-frame confidence.

matplotlib's object API with the Agg canvas: no pyplot, no global figure state,
no display needed.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from asr.core.atomic import atomic_path
from asr.features.logmel import log_mel

LABELS_PER_INCH = 4.0  # word labels drawn only up to this density: denser ones overwrite each other

if TYPE_CHECKING:
    from asr.config import FeatureConfig
    from asr.inference.longform import Transcript


def plot_transcript(samples: np.ndarray, features: FeatureConfig, transcript: Transcript,
                    png_path: str | os.PathLike, title: str = "") -> Path:
    """Draw a recording's log-mel spectrogram with the recognised words at their
    aligned times, and below it the model's per-frame confidence, into a PNG.

    Top: log-mel power (dB, not normalised) with each word's span shaded and
    its text above; the texts are left out when there are more than
    ``LABELS_PER_INCH`` words per inch of the picture (a recording longer than
    about half a minute of speech; the picture is at most 24 inches wide).
    Bottom: each output frame's largest softmax probability (gaps where no
    chunk was transcribed), each word's confidence as a bar over its span, and
    the transcribed chunks shaded.

    Args:
        samples: the recording, float ``[n]`` at ``features.sample_rate``.
        features: the model's feature settings (mel bands, hop).
        transcript: from ``transcribe_long`` on those samples.
        png_path: the PNG to write (written to a temporary name, then renamed).
        title: a heading, e.g. the file name.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # here: matplotlib loads only for a picture
    from matplotlib.figure import Figure

    # power in dB: the model's per-utterance normalisation would flatten the picture
    mel = log_mel(samples, dataclasses.replace(features, normalize="none")).T * (10 / math.log(10))
    duration = samples.size / features.sample_rate
    width = min(24.0, max(9.0, duration))  # inches: one per second, within reason
    figure = Figure(figsize=(width, 5.2), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    spec_axes, conf_axes = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1.4])
    _draw_words_over_spectrogram(spec_axes, mel, duration, transcript.words, width)
    _draw_confidence(conf_axes, transcript)
    if title:
        figure.suptitle(title)
    with atomic_path(png_path) as tmp:
        figure.savefig(tmp, format="png")
    return Path(png_path)


def _draw_words_over_spectrogram(axes, mel: np.ndarray, duration: float, words, width: float) -> None:
    """The top panel: log-mel dB ``[n_mels, frames]``, each word's span shaded, its text
    above it unless the words are too dense for ``width`` inches."""
    low = np.percentile(mel, 5)
    axes.imshow(mel, origin="lower", aspect="auto", cmap="magma", interpolation="nearest",
                extent=(0.0, duration, 0, mel.shape[0]), vmin=low, vmax=max(mel.max(), low + 1))
    axes.set(ylabel="mel band", xlim=(0.0, duration))
    starts, ends = _spans(words)
    # one collection per kind of mark, not an artist per word: a long file has thousands
    axes.broken_barh(list(zip(starts, ends - starts)), (0, mel.shape[0]), color="white", alpha=0.12, lw=0)
    if len(words) <= LABELS_PER_INCH * width:
        axes.vlines(starts, 0, mel.shape[0], color="white", lw=0.6, alpha=0.8)
        for i, word in enumerate(words):
            # three rows of labels, so neighbouring ones do not overwrite each other
            axes.text(word.start, mel.shape[0] * (0.94 - 0.09 * (i % 3)), word.word, color="white",
                      fontsize=8, ha="left", va="center", clip_on=True)
    else:
        axes.set_title(f"{len(words)} words: too many to label at this width", fontsize=9)


def _draw_confidence(axes, transcript: Transcript) -> None:
    """The bottom panel: per-frame confidence (broken between chunks), the chunks
    shaded, and each word's confidence as a bar over its span."""
    times = np.asarray(transcript.frame_times, dtype=np.float64)
    values = np.asarray(transcript.frame_confidence, dtype=np.float64)
    if times.size:
        step = np.median(np.diff(times)) if times.size > 1 else 0.0
        breaks = np.flatnonzero(np.diff(times) > 1.5 * step) + 1  # chunk boundaries with a gap
        times, values = np.insert(times, breaks, np.nan), np.insert(values, breaks, np.nan)
        axes.plot(times + step / 2, values, color="tab:blue", lw=0.8, label="frame (max softmax)")
    axes.broken_barh([(start, end - start) for start, end in transcript.chunks], (0, 1.05), color="tab:gray",
                     alpha=0.1, lw=0)
    words = transcript.words
    if words:
        starts, ends = _spans(words)
        axes.hlines([w.confidence for w in words], starts, ends, color="tab:red", lw=2.5, label="word")
    axes.set(xlabel="seconds", ylabel="confidence", ylim=(0, 1.05))
    axes.grid(alpha=0.3)
    if words or times.size:
        axes.legend(loc="lower right", fontsize=8)


def _spans(words) -> tuple[np.ndarray, np.ndarray]:
    """The words' start and end times, seconds."""
    return np.array([w.start for w in words]), np.array([w.end for w in words])

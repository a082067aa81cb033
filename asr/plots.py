"""Pictures: a training run's learning curves, drawn from ``logs/training.csv``,
and a transcript over its audio (``asr transcribe --plot``).

matplotlib's object API with the Agg canvas: no pyplot, no global figure state,
no display needed.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from asr.data import atomic_path

LABELS_PER_INCH = 4.0  # word labels drawn only up to this density: denser ones overwrite each other

if TYPE_CHECKING:
    from asr.config import FeatureConfig
    from asr.longform import Transcript


def read_curves(csv_path: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """``{column: [(epoch from 1, value), ...]}`` for loss, dev_wer and dev_cer,
    leaving out missing and non-finite values. A resumed run's repeated epochs
    keep their last row."""
    columns = ("loss", "dev_wer", "dev_cer")
    by_epoch: dict[int, dict[str, str]] = {}
    with open(csv_path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            try:
                by_epoch[int(row["epoch"]) + 1] = row
            except (KeyError, TypeError, ValueError):
                continue
    curves: dict[str, list[tuple[int, float]]] = {c: [] for c in columns}
    for epoch in sorted(by_epoch):
        for column in columns:
            try:
                value = float(by_epoch[epoch].get(column) or "nan")
            except ValueError:
                continue
            if math.isfinite(value):
                curves[column].append((epoch, value))
    return curves


def plot_learning_curves(csv_path: str | os.PathLike, png_path: str | os.PathLike, title: str = "") -> Path:
    """Draw training loss (nats per utterance) and dev WER/CER (%) per epoch into a PNG.

    Args:
        csv_path: a run's ``logs/training.csv``.
        png_path: the PNG to write (written to a temporary name, then renamed).
        title: a heading, e.g. the run's name.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    curves = read_curves(csv_path)
    figure = Figure(figsize=(9, 3.6), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    loss_axes, error_axes = figure.subplots(1, 2)
    if curves["loss"]:
        epochs, values = zip(*curves["loss"])
        loss_axes.plot(epochs, values, marker="o", color="tab:blue")
    loss_axes.set(title="training loss", xlabel="epoch", ylabel="CTC loss (nats per utterance)")
    for column, label, color in (("dev_wer", "dev WER", "tab:red"), ("dev_cer", "dev CER", "tab:orange")):
        if curves[column]:
            epochs, values = zip(*curves[column])
            error_axes.plot(epochs, [100 * v for v in values], marker="o", label=label, color=color)
    error_axes.set(title="dev error rates", xlabel="epoch", ylabel="%")
    error_axes.set_ylim(bottom=0)
    if curves["dev_wer"] or curves["dev_cer"]:
        error_axes.legend()
    for axes in (loss_axes, error_axes):
        axes.grid(alpha=0.3)
        axes.xaxis.get_major_locator().set_params(integer=True)
    if title:
        figure.suptitle(title)
    with atomic_path(png_path) as tmp:
        figure.savefig(tmp, format="png")
    return Path(png_path)


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
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from asr.features import log_mel

    # power in dB: the model's per-utterance normalisation would flatten the picture
    mel = log_mel(samples, dataclasses.replace(features, normalize="none")).T * (10 / math.log(10))
    duration = samples.size / features.sample_rate
    width = min(24.0, max(9.0, duration))  # inches: one per second, within reason
    figure = Figure(figsize=(width, 5.2), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    spec_axes, conf_axes = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1.4])
    low = np.percentile(mel, 5)
    spec_axes.imshow(mel, origin="lower", aspect="auto", cmap="magma", interpolation="nearest",
                     extent=(0.0, duration, 0, mel.shape[0]), vmin=low, vmax=max(mel.max(), low + 1))
    spec_axes.set(ylabel="mel band", xlim=(0.0, duration))
    words = transcript.words
    starts = np.array([w.start for w in words])
    ends = np.array([w.end for w in words])
    # one collection per kind of mark, not an artist per word: a long file has thousands
    spec_axes.broken_barh(list(zip(starts, ends - starts)), (0, mel.shape[0]), color="white", alpha=0.12, lw=0)
    if len(words) <= LABELS_PER_INCH * width:
        spec_axes.vlines(starts, 0, mel.shape[0], color="white", lw=0.6, alpha=0.8)
        for i, word in enumerate(words):
            # three rows of labels, so neighbouring ones do not overwrite each other
            spec_axes.text(word.start, mel.shape[0] * (0.94 - 0.09 * (i % 3)), word.word, color="white",
                           fontsize=8, ha="left", va="center", clip_on=True)
    else:
        spec_axes.set_title(f"{len(words)} words: too many to label at this width", fontsize=9)
    times = np.asarray(transcript.frame_times, dtype=np.float64)
    values = np.asarray(transcript.frame_confidence, dtype=np.float64)
    if times.size:
        step = np.median(np.diff(times)) if times.size > 1 else 0.0
        breaks = np.flatnonzero(np.diff(times) > 1.5 * step) + 1  # chunk boundaries with a gap
        times, values = np.insert(times, breaks, np.nan), np.insert(values, breaks, np.nan)
        conf_axes.plot(times + step / 2, values, color="tab:blue", lw=0.8, label="frame (max softmax)")
    conf_axes.broken_barh([(start, end - start) for start, end in transcript.chunks], (0, 1.05), color="tab:gray",
                          alpha=0.1, lw=0)
    if words:
        conf_axes.hlines([w.confidence for w in words], starts, ends, color="tab:red", lw=2.5, label="word")
    conf_axes.set(xlabel="seconds", ylabel="confidence", ylim=(0, 1.05))
    conf_axes.grid(alpha=0.3)
    if words or times.size:
        conf_axes.legend(loc="lower right", fontsize=8)
    if title:
        figure.suptitle(title)
    with atomic_path(png_path) as tmp:
        figure.savefig(tmp, format="png")
    return Path(png_path)

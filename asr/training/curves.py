"""A training run's learning curves, drawn from ``logs/training.csv`` into
``logs/curves.png``.

matplotlib's object API with the Agg canvas: no pyplot, no global figure state,
no display needed.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

from asr.core.atomic import atomic_path


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
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # here: matplotlib loads only for a picture
    from matplotlib.figure import Figure

    curves = read_curves(csv_path)
    figure = Figure(figsize=(9, 3.6), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    loss_axes, error_axes = figure.subplots(1, 2)
    if curves["loss"]:
        epochs, values = zip(*curves["loss"])
        loss_axes.plot(epochs, values, marker="o", color="tab:blue")
    loss_axes.set(title="training loss", xlabel="epoch", ylabel="CTC loss (nats per utterance)")
    # WER wide and solid under a dashed CER with smaller square markers: where the two are equal
    # (100 % / 100 % in a warm-up), both still show
    styles = (("dev_wer", "dev WER", {"color": "tab:red", "marker": "o", "markersize": 8, "linewidth": 3}),
              ("dev_cer", "dev CER", {"color": "tab:orange", "marker": "s", "markersize": 4, "linestyle": "--"}))
    for column, label, style in styles:
        if curves[column]:
            epochs, values = zip(*curves[column])
            error_axes.plot(epochs, [100 * v for v in values], label=label, **style)
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

"""The AdaGrad timing figure: seconds per method, measured here beside seed 004's published figure."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["adagrad_timing_figure"]


def adagrad_timing_figure(frame: pd.DataFrame, published_setting: str) -> Figure:
    """Horizontal bars, log seconds: each method measured here next to seed 004's figure."""
    figure = Figure(figsize=(9.0, 1.6 + 0.9 * len(frame)), layout="constrained")
    axes = figure.subplots()
    positions = np.arange(len(frame))
    height = 0.38
    bar_sets = (
        ("seconds", "this machine: " + str(frame["setting"].iloc[0]), -height / 2, "tab:blue"),
        ("published_seconds", f"published: {published_setting}", height / 2, "tab:gray"),
    )
    for column, label, shift, colour in bar_sets:
        values = frame[column].to_numpy(dtype=float)
        shown = np.isfinite(values)
        bars = axes.barh(positions[shown] + shift, values[shown], height=height, label=label, color=colour)
        axes.bar_label(bars, labels=[_format_seconds(value) for value in values[shown]], padding=3)
    axes.set_xscale("log")
    axes.set_yticks(positions, frame["description"].tolist())
    axes.invert_yaxis()
    axes.set_xlabel("seconds for all steps together (log scale)")
    figure.suptitle("full-matrix vs diagonal AdaGrad (seed 004's timing)")
    figure.legend(loc="outside lower center", ncols=2, fontsize="small")
    axes.margins(x=0.25)
    return figure


def _format_seconds(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"

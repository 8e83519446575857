"""The sweep figure: test accuracy over a grid of training settings (seed 000's Table II)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

__all__ = ["sweep_heatmap"]


def _table(group: pd.DataFrame, rows_key: str, cols_key: str | None, column: str) -> pd.DataFrame:
    """``column`` of ``group`` as a rows x columns table (one column when there is no second key)."""
    if cols_key is None:
        return group.set_index(rows_key)[[column]]
    return group.pivot_table(index=rows_key, columns=cols_key, values=column, sort=False, aggfunc="first")


def sweep_heatmap(results: pd.DataFrame, keys: list[str]) -> Figure:
    """Test accuracy over the first two grid keys, one panel per value of the others.

    A cell whose run diverged (``status`` column) says so under its accuracy, which is then the
    accuracy of a broken model, not of a setting that merely learns slowly.
    """
    rows_key, cols_key = [*keys, None, None][:2]
    rest = keys[2:]
    groups = list(results.groupby(rest, sort=False)) if rest else [((), results)]
    figure = Figure(figsize=(4.6 * len(groups) + 1, 4.2), layout="constrained")
    panels = figure.subplots(1, len(groups), squeeze=False)[0]
    for axes, (name, group) in zip(panels, groups, strict=True):
        table = _table(group, rows_key, cols_key, "test_accuracy")
        status = _table(group, rows_key, cols_key, "status") if "status" in group.columns else None
        image = axes.imshow(table.to_numpy(dtype=float), vmin=0, vmax=1, cmap="viridis")
        axes.set(
            xticks=range(table.shape[1]), yticks=range(table.shape[0]), xlabel=cols_key or "", ylabel=rows_key
        )
        axes.set_xticklabels(table.columns.astype(str))
        axes.set_yticklabels(table.index.astype(str))
        for (i, j), value in np.ndenumerate(table.to_numpy(dtype=float)):
            diverged = status is not None and status.iloc[i, j] == "diverged"
            text = f"{value:.2f}" + ("\ndiverged" if diverged else "")
            axes.text(j, i, text, ha="center", va="center", color="white" if value < 0.6 else "black")
        label = ", ".join(f"{key}={value}" for key, value in zip(rest, np.atleast_1d(name), strict=False))
        axes.set_title(label or "test accuracy")
    figure.colorbar(image, ax=list(panels), label="test accuracy")
    return figure

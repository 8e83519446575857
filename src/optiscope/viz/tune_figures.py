"""Figures of a tuning study, each drawn from its stored tables (nothing is recomputed).

* :func:`leaderboard_figure`: each optimizer's held-out mean with its bootstrap interval, tuned
  (filled) beside its default spec (hollow), ranked, with the success rate written beside it.
* :func:`sensitivity_figure`: objective vs learning rate per optimizer, the other
  hyperparameters at their best, over the trials the search made.
* :func:`success_map_figure`: the objective, and whether the target was reached, per held-out
  start x learning rate.
* :func:`tuned_paths_figure`: the winner's paths on the surface beside the default spec's.
* :func:`profile_figure`: Dolan-More performance profiles.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

from optiscope.viz.levels import contour_levels
from optiscope.viz.palette import colour_for, line_style_for

__all__ = [
    "leaderboard_figure",
    "profile_figure",
    "sensitivity_figure",
    "success_map_figure",
    "tuned_paths_figure",
]


def _colours(optimizers: list[str]) -> dict[str, str]:
    return {name: colour_for(index) for index, name in enumerate(optimizers)}


def _log_if_positive(axes: object, values: np.ndarray, axis: str) -> None:
    finite = values[np.isfinite(values)]
    if finite.size and (finite > 0).all() and finite.max() / finite.min() > 20:
        getattr(axes, f"set_{axis}scale")("log")


def leaderboard_figure(
    best: pd.DataFrame, optimizers: list[str], *, title: str, objective: str,
    defaults: Mapping[str, str] | None = None,
) -> Figure:  # fmt: skip
    """Ranked tuned vs default objectives on the held-out seeds, one row per optimizer; ``defaults``
    names each optimizer's other candidate (``baseline`` where the study gave its spec)."""
    named = defaults or {}
    ranked = best.sort_values("rank")
    colours = _colours(optimizers)
    figure = Figure(figsize=(7.5, 1.2 + 0.55 * len(ranked)), layout="constrained")
    axes = figure.subplots()
    rows = np.arange(len(ranked))[::-1]
    for row, item in zip(rows, ranked.itertuples(), strict=True):
        colour = colours[item.optimizer]
        tuned_error = [[item.objective_mean - item.ci_low], [item.ci_high - item.objective_mean]]
        default_error = [
            [item.default_objective - item.default_ci_low],
            [item.default_ci_high - item.default_objective],
        ]
        axes.errorbar(item.objective_mean, row + 0.12, xerr=tuned_error, fmt="o", color=colour, capsize=3)
        axes.errorbar(
            item.default_objective,
            row - 0.12,
            xerr=default_error,
            fmt="o",
            mfc="white",
            color=colour,
            capsize=3,
        )
        default = named.get(item.optimizer, "default")
        axes.annotate(f"success {item.success_rate:.0%} ({default} {item.default_success_rate:.0%})",
                      (1.01, row), xycoords=("axes fraction", "data"), va="center", fontsize=8)  # fmt: skip
    values = ranked[["ci_low", "ci_high", "default_ci_low", "default_ci_high"]].to_numpy(dtype=float)
    _log_if_positive(axes, values.reshape(-1), "x")
    axes.set_yticks(rows, [f"{item.rank}. {item.optimizer}" for item in ranked.itertuples()])
    axes.set_ylim(-0.7, len(ranked) - 0.3)
    axes.set_xlabel(f"{objective} objective on held-out seeds (lower is better; 95% bootstrap CI)")
    kinds = sorted({named.get(name, "default") for name in ranked["optimizer"]})
    axes.set_title(f"{title}: tuned (filled) vs {' or '.join(kinds)} (hollow)")
    return figure


def sensitivity_figure(
    sensitivity: pd.DataFrame, trials: pd.DataFrame, best: pd.DataFrame, optimizers: list[str], *, title: str
) -> Figure:
    """Mean held-out objective vs learning rate (lines), the trials' tuning objective (dots) and
    the winner (star), per optimizer."""
    figure = Figure(figsize=(7.5, 4.8), layout="constrained")
    axes = figure.subplots()
    drawn = []
    for name in optimizers:
        curve = sensitivity[sensitivity["optimizer"] == name].groupby("lr", sort=True)["objective"].mean()
        if curve.empty:
            continue
        colour, style, _ = line_style_for(optimizers.index(name))
        axes.plot(curve.index, curve.to_numpy(), linestyle=style, color=colour, label=name)
        tried = trials[trials["optimizer"] == name]
        lrs = np.asarray([_lr_of(text) for text in tried["params"]], dtype=float)
        axes.scatter(lrs, tried["objective"], s=10, color=colour, alpha=0.35)
        winner = best[best["optimizer"] == name].iloc[0]
        axes.scatter([_lr_of(winner["params"])], [winner["objective_mean"]], marker="*", s=140, color=colour,
                     edgecolors="black", zorder=5)  # fmt: skip
        drawn.append(curve.to_numpy())
    axes.set_xscale("log")
    if drawn:
        _log_if_positive(axes, np.concatenate([*drawn, trials["objective"].to_numpy(dtype=float)]), "y")
    axes.set_xlabel("learning rate (other hyperparameters at the winner's values)")
    axes.set_ylabel("objective (lines: held-out mean; dots: trials)")
    axes.set_title(f"{title}: sensitivity to the learning rate")
    axes.legend(loc="best", fontsize=8)
    return figure


def _lr_of(params: str) -> float:
    """The learning rate in a trial's stored params (JSON); NaN where it was not set."""
    return float(json.loads(params).get("lr", np.nan))


def success_map_figure(sensitivity: pd.DataFrame, optimizers: list[str], *, title: str) -> Figure:
    """Per held-out start (rows) and learning rate (columns): the objective (colour, log10 where
    every value is positive) and a white dot where the run reached the target."""
    names = [name for name in optimizers if (sensitivity["optimizer"] == name).any()]
    figure = Figure(figsize=(3.2 * max(len(names), 1) + 0.8, 3.6), layout="constrained")
    panels = figure.subplots(1, max(len(names), 1), squeeze=False)[0]
    values = sensitivity["objective"].to_numpy(dtype=float)
    logged = bool((values > 0).all())
    shown = np.log10(values) if logged else values
    low, high = float(np.nanmin(shown)), float(np.nanmax(shown))
    image = None
    for axes, name in zip(panels, names, strict=False):
        here = sensitivity[sensitivity["optimizer"] == name]
        table = here.pivot_table(index="seed", columns="lr", values="objective", aggfunc="first")
        reached = here.pivot_table(index="seed", columns="lr", values="reached_step", aggfunc="first")
        data = np.log10(table.to_numpy()) if logged else table.to_numpy()
        lrs = np.log10(table.columns.to_numpy(dtype=float))
        step = (lrs[-1] - lrs[0]) / max(len(lrs) - 1, 1)
        extent = (lrs[0] - step / 2, lrs[-1] + step / 2, -0.5, len(table) - 0.5)
        image = axes.imshow(
            data, aspect="auto", cmap="viridis", vmin=low, vmax=high, origin="lower", extent=extent
        )
        rows, columns = np.nonzero(reached.to_numpy() >= 0)
        axes.scatter(lrs[columns], rows, s=9, color="white", edgecolors="black", linewidths=0.4)
        axes.set_title(f"{name}: reached {(reached.to_numpy() >= 0).mean():.0%}")
        axes.set(xlabel="log10 learning rate", ylabel="held-out start")
    if image is not None:
        label = "log10 objective" if logged else "objective"
        figure.colorbar(image, ax=list(panels), label=f"{label} (dots: reached the target)")
    figure.suptitle(f"{title}: start points x learning rate")
    return figure


def tuned_paths_figure(
    xs: np.ndarray, ys: np.ndarray, zs: np.ndarray, paths: pd.DataFrame, optimizers: list[str], *, title: str,
    minima: tuple[tuple[float, float], ...] = (), defaults: Mapping[str, str] | None = None,
) -> Figure:  # fmt: skip
    """One panel per optimizer: the surface, the winner's paths (solid) and the default's (dashed;
    ``defaults`` names it per optimizer: ``baseline`` where the study gave its spec)."""
    count = max(len(optimizers), 1)
    columns = min(count, 3)
    figure = Figure(figsize=(4.2 * columns, 3.8 * ((count + columns - 1) // columns)), layout="constrained")
    panels = figure.subplots((count + columns - 1) // columns, columns, squeeze=False).reshape(-1)
    levels = contour_levels(zs)
    for index, (axes, name) in enumerate(zip(panels, optimizers, strict=False)):
        axes.contour(xs, ys, zs, levels=levels, cmap="viridis", linewidths=0.6)
        colour = colour_for(index)
        for (version, _), run in paths[paths["optimizer"] == name].groupby(["version", "seed"], sort=False):
            run = run.sort_values("step")
            style = "-" if version == "tuned" else "--"
            axes.plot(run["x"], run["y"], style, color=colour, linewidth=1.4 if version == "tuned" else 1.0)
            axes.plot(run["x"].iloc[0], run["y"].iloc[0], "o", color="black", markersize=3)
        for point in minima:
            axes.plot(*point, "*", color="red", markersize=9)
        axes.set(
            xlim=(xs[0], xs[-1]),
            ylim=(ys[0], ys[-1]),
            title=f"{name}: tuned (solid), {(defaults or {}).get(name, 'default')} (dashed)",
        )
    for axes in panels[len(optimizers) :]:
        axes.set_visible(False)
    figure.suptitle(title)
    return figure


def profile_figure(profile: pd.DataFrame, optimizers: list[str], *, problems: int) -> Figure:
    """Dolan-More profiles: fraction of problems solved within ``tau`` times the best, per optimizer."""
    figure = Figure(figsize=(6.5, 4.4), layout="constrained")
    axes = figure.subplots()
    for index, name in enumerate(optimizers):
        curve = profile[profile["optimizer"] == name].sort_values("tau")
        colour, style, _ = line_style_for(index)
        axes.step(curve["tau"], curve["fraction"], where="post", color=colour, linestyle=style, label=name)
    axes.set_xscale("log")
    if profile["tau"].max() < 10:  # under a decade: plain ticks (1, 1.5, 2, 3, ...), not 2x10^0
        axes.xaxis.set_major_locator(LogLocator(subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
        axes.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        axes.xaxis.set_minor_formatter(NullFormatter())
    axes.set(xlabel="tau (times the best on each problem)", ylabel="fraction of problems", ylim=(-0.02, 1.02))
    axes.set_title(f"performance profile over {problems} problems (surface or net x held-out seed)")
    axes.legend(loc="lower right", fontsize=8)
    return figure

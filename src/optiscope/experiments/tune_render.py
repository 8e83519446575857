"""Draw a stored tuning study: leaderboard, sensitivity, success maps, paths, profile.

Everything is read from the study's tables; the surface grid under the paths is the surface
evaluated for drawing at the style's resolution (not one of the study's numbers).
"""

from __future__ import annotations

import pandas as pd

from optiscope.experiments.protocol import Style
from optiscope.optimizers import parse_spec
from optiscope.store import RunDir
from optiscope.surfaces import get as get_surface
from optiscope.tuning import suite_surfaces
from optiscope.tuning.nets import NET_PREFIX
from optiscope.viz.tune_figures import (
    leaderboard_figure,
    profile_figure,
    sensitivity_figure,
    success_map_figure,
    tuned_paths_figure,
)

__all__ = ["leaderboard_text", "render_tune"]


def _name(base: str, surface: str, several: bool) -> str:
    """``base.png``, or ``base-<surface>.png`` when the study has several surfaces."""
    safe = "".join(char if char.isalnum() or char in "._-" else "_" for char in surface)
    return f"{base}-{safe}.png" if several else f"{base}.png"


def render_tune(run_dir: RunDir, style: Style) -> None:
    """Draw a stored tuning study with ``style`` (the tune kind's ``render``)."""
    spec = run_dir.spec
    surfaces = [spec["target"]] if spec.get("net") is not None else suite_surfaces(spec["target"])
    optimizers = [parse_spec(text).name for text in spec["optimizers"]]
    best, trials = run_dir.read_table("best"), run_dir.read_table("trials")
    # Net problems have no surface and no start points: no paths, no success map over starts.
    paths = run_dir.read_table("tuned_paths") if (run_dir.path / "tuned_paths.parquet").is_file() else None
    sensitivity = (
        run_dir.read_table("sensitivity") if (run_dir.path / "sensitivity.parquet").is_file() else None
    )
    options, several = style.save_options(), len(surfaces) > 1
    # The other candidate of each optimizer: its baseline spec where the study gave one.
    defaults = {
        name: "baseline" if name in (spec.get("baselines") or {}) else "default" for name in optimizers
    }
    for surface_name in surfaces:
        at = best["surface"] == surface_name
        figure = leaderboard_figure(best[at], optimizers, title=surface_name, objective=spec["objective"],
                                    defaults=defaults)  # fmt: skip
        run_dir.save_figure(figure, _name("leaderboard", surface_name, several), **options)
        net = surface_name.startswith(NET_PREFIX)
        if not net and paths is not None:
            surface = get_surface(surface_name)
            xs, ys, zs = (array.numpy() for array in surface.grid(style.grid_resolution))
            here = paths[paths["surface"] == surface_name]
            figure = tuned_paths_figure(xs, ys, zs, here, optimizers, title=surface_name,
                                        minima=surface.minima, defaults=defaults)  # fmt: skip
            run_dir.save_figure(figure, _name("paths", surface_name, several), **options)
        if sensitivity is not None:
            here = sensitivity[sensitivity["surface"] == surface_name]
            figure = sensitivity_figure(here, trials[trials["surface"] == surface_name], best[at], optimizers,
                                        title=surface_name)  # fmt: skip
            run_dir.save_figure(figure, _name("sensitivity", surface_name, several), **options)
            if not net:
                figure = success_map_figure(here, optimizers, title=surface_name)
                run_dir.save_figure(figure, _name("success_map", surface_name, several), **options)
    if len(optimizers) > 1:  # a profile compares optimizers: one alone is 1 everywhere
        problems = len(surfaces) * int(spec["heldout"])
        figure = profile_figure(run_dir.read_table("profile"), optimizers, problems=problems)
        run_dir.save_figure(figure, "profile.png", **options)


def leaderboard_text(best: pd.DataFrame, default: str = "default") -> str:
    """One line per optimizer and surface, as the CLI prints it (``default`` names the other
    candidate: ``baseline`` where the study gave its own specs)."""
    surface_width = int(best["surface"].str.len().max())
    name_width = int(best["optimizer"].str.len().max())
    lines = []
    for row in best.sort_values(["surface", "rank"]).itertuples():
        ties = f"  ~ {row.indistinguishable_from}" if row.indistinguishable_from else ""
        lines.append(
            f"{row.surface:<{surface_width}} {row.rank:>2}. {row.optimizer:<{name_width}} "
            f"{row.objective_mean:.4g} [{row.ci_low:.4g}, {row.ci_high:.4g}]  "
            f"success {row.success_rate:.0%}  {default} {row.default_objective:.4g}  {row.spec}{ties}"
        )
    return "\n".join(lines)

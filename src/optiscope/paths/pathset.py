"""``PathSet``: the trajectories of many optimizer runs on one surface, as plain arrays."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["RUN_STATUSES", "PathSet"]

RUN_STATUSES = ("converged", "diverged", "max_steps")

_PATH_COLUMNS = [
    "run",
    "optimizer",
    "spec",
    "start_x",
    "start_y",
    "step",
    "x",
    "y",
    "loss",
    "grad_norm",
]
_RUN_COLUMNS = [
    "run",
    "optimizer",
    "spec",
    "start_x",
    "start_y",
    "status",
    "steps",
    "final_loss",
    "final_x",
    "final_y",
]


@dataclass
class PathSet:
    """Result of the path engine: one run per (optimizer config, start point).

    Runs are ordered config-major: run ``i * n_starts + j`` is config ``i`` from start ``j``.
    A run stops early when it converges or diverges; entries after its last step are NaN.

    Attributes:
        surface: name of the surface the runs were made on.
        specs: spec strings, one per config (``"adam:lr=0.1"``).
        labels: display labels, one per config (``"adam(lr=0.1)"``).
        optimizers: canonical optimizer names, one per config.
        starts: start points, shape ``(n_starts, 2)``.
        points: positions, shape ``(runs, steps + 1, 2)``; ``points[:, 0]`` are the starts.
        losses: surface loss at each position, shape ``(runs, steps + 1)``.
        grad_norms: norm of the gradient the optimizer was given, shape ``(runs, steps + 1)``.
        n_steps: optimizer steps each run took, shape ``(runs,)``.
        status: per run, one of ``converged``, ``diverged``, ``max_steps``.
        info: free metadata (engine options, which runs were batched).
    """

    surface: str
    specs: list[str]
    labels: list[str]
    optimizers: list[str]
    starts: np.ndarray
    points: np.ndarray
    losses: np.ndarray
    grad_norms: np.ndarray
    n_steps: np.ndarray
    status: list[str]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def n_runs(self) -> int:
        return int(self.points.shape[0])

    @property
    def n_starts(self) -> int:
        return int(self.starts.shape[0])

    @property
    def steps(self) -> int:
        """The step budget (``points`` holds ``steps + 1`` positions per run)."""
        return int(self.points.shape[1] - 1)

    def config_of(self, run: int) -> int:
        """Index into ``specs`` of the config that made ``run``."""
        return run // self.n_starts

    def start_of(self, run: int) -> int:
        """Index into ``starts`` of the start point of ``run``."""
        return run % self.n_starts

    @property
    def final_points(self) -> np.ndarray:
        """Last recorded position of each run, shape ``(runs, 2)``."""
        return self.points[np.arange(self.n_runs), self.n_steps]

    @property
    def final_losses(self) -> np.ndarray:
        """Loss at the last recorded position of each run, shape ``(runs,)``."""
        return self.losses[np.arange(self.n_runs), self.n_steps]

    def steps_to_reach(self, target: float) -> np.ndarray:
        """First step at which each run's loss is at or below ``target``; -1 where it never is."""
        hit = self.losses <= target  # NaN compares False
        return np.where(hit.any(axis=1), hit.argmax(axis=1), -1)

    def to_frame(self) -> pd.DataFrame:
        """Long table, one row per (run, recorded step): the ``paths.parquet`` layout."""
        steps = self.points.shape[1]
        run_index = np.repeat(np.arange(self.n_runs), steps)
        step_index = np.tile(np.arange(steps), self.n_runs)
        keep = step_index <= self.n_steps[run_index]
        config = run_index // self.n_starts
        start = run_index % self.n_starts
        frame = pd.DataFrame(
            {
                "run": run_index,
                "optimizer": np.asarray(self.optimizers, dtype=object)[config],
                "spec": np.asarray(self.specs, dtype=object)[config],
                "start_x": self.starts[start, 0],
                "start_y": self.starts[start, 1],
                "step": step_index,
                "x": self.points[..., 0].reshape(-1),
                "y": self.points[..., 1].reshape(-1),
                "loss": self.losses.reshape(-1),
                "grad_norm": self.grad_norms.reshape(-1),
            }
        )
        return frame.loc[keep, _PATH_COLUMNS].reset_index(drop=True)

    def runs_frame(self) -> pd.DataFrame:
        """One row per run: the ``runs.parquet`` layout."""
        runs = np.arange(self.n_runs)
        config = runs // self.n_starts
        start = runs % self.n_starts
        final = self.final_points
        return pd.DataFrame(
            {
                "run": runs,
                "optimizer": np.asarray(self.optimizers, dtype=object)[config],
                "spec": np.asarray(self.specs, dtype=object)[config],
                "start_x": self.starts[start, 0],
                "start_y": self.starts[start, 1],
                "status": list(self.status),
                "steps": self.n_steps.astype(np.int64),
                "final_loss": self.final_losses,
                "final_x": final[:, 0],
                "final_y": final[:, 1],
            },
            columns=_RUN_COLUMNS,
        )

    @classmethod
    def from_frames(
        cls,
        paths: pd.DataFrame,
        runs: pd.DataFrame,
        *,
        surface: str,
        labels: list[str] | None = None,
        steps: int | None = None,
        info: dict[str, Any] | None = None,
    ) -> PathSet:
        """Rebuild a ``PathSet`` from its two stored tables (the inverse of the frames above)."""
        runs = runs.sort_values("run").reset_index(drop=True)
        n_runs = len(runs)
        specs = list(dict.fromkeys(runs["spec"]))
        optimizers = [runs.loc[runs["spec"] == spec, "optimizer"].iloc[0] for spec in specs]
        n_starts = n_runs // max(len(specs), 1)
        starts = runs[["start_x", "start_y"]].to_numpy()[:n_starts]
        n_steps = runs["steps"].to_numpy().astype(np.int64)
        width = steps + 1 if steps is not None else int(paths["step"].max()) + 1
        points = np.full((n_runs, width, 2), np.nan)
        losses = np.full((n_runs, width), np.nan)
        grad_norms = np.full((n_runs, width), np.nan)
        run_index = paths["run"].to_numpy()
        step_index = paths["step"].to_numpy()
        points[run_index, step_index, 0] = paths["x"].to_numpy()
        points[run_index, step_index, 1] = paths["y"].to_numpy()
        losses[run_index, step_index] = paths["loss"].to_numpy()
        grad_norms[run_index, step_index] = paths["grad_norm"].to_numpy()
        return cls(
            surface=surface,
            specs=specs,
            labels=labels or specs,
            optimizers=optimizers,
            starts=starts,
            points=points,
            losses=losses,
            grad_norms=grad_norms,
            n_steps=n_steps,
            status=list(runs["status"]),
            info=dict(info or {}),
        )

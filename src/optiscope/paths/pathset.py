"""``PathSet``: the trajectories of many optimizer runs on one surface, as plain arrays.

Also the layout of a paths study's stored tables (:class:`TableLayout`): ``runs.parquet`` (one row
per run) and ``paths.parquet`` (one row per recorded step of the runs whose full paths are kept),
built piece by piece so a study never holds every run's path at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from optiscope.paths.outcomes import OUTCOME_RULES, RUN_STATUSES

__all__ = ["RUN_STATUSES", "PathSet", "TableLayout", "first_step_at_or_below"]


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
        status: per run, one of ``RUN_STATUSES`` (``converged``, ``diverged``, ``max_steps``,
            ``left_domain``).
        rules: per run, the rule of ``OUTCOME_RULES`` that decided its status (None: not known,
            a table stored before rules were recorded).
        outcome_steps: per run, the step that rule names (converged at, left the domain at, ...).
        info: free metadata (engine options, which runs were batched; ``start_indices``, the
            study's starts these are, when the runs are those of a sample of its starts).
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
    rules: list[str] | None = None
    outcome_steps: np.ndarray | None = None

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
        return first_step_at_or_below(self.losses, target)

    def subset(self, start_indices: np.ndarray | list[int]) -> PathSet:
        """The runs of every config from the starts ``start_indices`` only (config-major, as ever).

        ``info["start_indices"]`` records which of the original starts the subset holds.
        """
        chosen = np.asarray(start_indices, dtype=np.int64).reshape(-1)
        if chosen.size and (chosen.min() < 0 or chosen.max() >= self.n_starts):
            raise IndexError(
                f"start indices must lie in [0, {self.n_starts}), got {chosen.min()}..{chosen.max()}"
            )
        runs = (np.arange(len(self.specs))[:, None] * self.n_starts + chosen[None, :]).reshape(-1)
        earlier = self.info.get("start_indices")
        info = {
            **self.info,
            "start_indices": (np.asarray(earlier)[chosen] if earlier is not None else chosen).tolist(),
        }
        return PathSet(
            surface=self.surface,
            specs=list(self.specs),
            labels=list(self.labels),
            optimizers=list(self.optimizers),
            starts=self.starts[chosen],
            points=self.points[runs],
            losses=self.losses[runs],
            grad_norms=self.grad_norms[runs],
            n_steps=self.n_steps[runs],
            status=[self.status[run] for run in runs],
            info=info,
            rules=None if self.rules is None else [self.rules[run] for run in runs],
            outcome_steps=None if self.outcome_steps is None else self.outcome_steps[runs],
        )

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
        frame = pd.DataFrame(
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
        if self.rules is not None and self.outcome_steps is not None:
            frame["rule"] = list(self.rules)
            frame["outcome_step"] = np.asarray(self.outcome_steps, dtype=np.int64)
        return frame

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
        """Rebuild a ``PathSet`` from its two stored tables (the inverse of the frames above).

        ``runs`` holds every run of the study; ``paths`` may hold the full paths of some starts
        only (a study that kept a sample), the same starts for every config. The PathSet then
        holds the runs from those starts, and ``info["start_indices"]`` says which they are.

        Raises:
            ValueError: ``paths`` holds different starts for different configs, or runs that
                ``runs`` lacks.
        """
        runs = runs.sort_values("run").reset_index(drop=True)
        specs = [str(spec) for spec in dict.fromkeys(runs["spec"])]
        optimizers = [str(runs.loc[runs["spec"] == spec, "optimizer"].iloc[0]) for spec in specs]
        study_starts = len(runs) // max(len(specs), 1)
        run_index = paths["run"].to_numpy().astype(np.int64)
        kept = np.unique(run_index)
        start_indices = np.unique(kept % max(study_starts, 1))
        rows = (np.arange(len(specs))[:, None] * study_starts + start_indices[None, :]).reshape(-1)
        if not np.array_equal(kept, rows) or (rows.size and rows[-1] >= len(runs)):
            raise ValueError(
                "the paths table must hold runs of the runs table, the same starts for every config"
            )
        chosen = runs.iloc[rows]
        width = steps + 1 if steps is not None else int(paths["step"].max()) + 1 if len(paths) else 1
        points = np.full((len(rows), width, 2), np.nan)
        losses = np.full((len(rows), width), np.nan)
        grad_norms = np.full((len(rows), width), np.nan)
        position = np.searchsorted(rows, run_index)
        step_index = paths["step"].to_numpy()
        points[position, step_index, 0] = paths["x"].to_numpy()
        points[position, step_index, 1] = paths["y"].to_numpy()
        losses[position, step_index] = paths["loss"].to_numpy()
        grad_norms[position, step_index] = paths["grad_norm"].to_numpy()
        extra = {} if len(start_indices) == study_starts else {"start_indices": start_indices.tolist()}
        return cls(
            surface=surface,
            specs=specs,
            labels=labels or specs,
            optimizers=optimizers,
            starts=chosen[["start_x", "start_y"]].to_numpy(dtype=np.float64)[: len(start_indices)],
            points=points,
            losses=losses,
            grad_norms=grad_norms,
            n_steps=chosen["steps"].to_numpy().astype(np.int64),
            status=[str(status) for status in chosen["status"]],
            info={**(info or {}), **extra},
            rules=[str(rule) for rule in chosen["rule"]] if "rule" in chosen.columns else None,
            outcome_steps=(
                chosen["outcome_step"].to_numpy().astype(np.int64)
                if "outcome_step" in chosen.columns
                else None
            ),
        )


def _int_column(frame: pd.DataFrame, name: str) -> np.ndarray | None:
    """``frame[name]`` as int64, or None when a table stored before that column lacks it."""
    return frame[name].to_numpy().astype(np.int64) if name in frame.columns else None


def first_step_at_or_below(losses: np.ndarray, target: float) -> np.ndarray:
    """First step at which each row of ``losses`` ``(runs, steps)`` is at or below ``target``; -1
    where it never is (NaN, after a run stopped, never counts)."""
    # float64 target: float32 losses are compared exactly as their float64 values were before.
    hit = losses <= np.float64(target)  # NaN compares False
    return np.where(hit.any(axis=1), hit.argmax(axis=1), -1)


@dataclass(frozen=True)
class TableLayout:
    """The stored tables of one paths study, built piece by piece (one work unit at a time).

    Every piece uses the same categories for ``spec``, ``optimizer`` and ``status``, so the tables
    are dictionary-encoded with one dictionary and read back as pandas categoricals in config
    order. ``runs.parquet`` keeps float64 (it has one row per run); ``paths.parquet`` stores
    positions, losses and gradient norms as ``path_dtype``.

    Attributes:
        specs: spec strings, one per config.
        optimizers: optimizer names, one per config.
        starts: the study's start points, shape ``(n_starts, 2)``.
        path_dtype: ``float32`` or ``float64``.
    """

    specs: tuple[str, ...]
    optimizers: tuple[str, ...]
    starts: np.ndarray
    path_dtype: str

    def _config_columns(self, config: int, count: int) -> dict[str, pd.Categorical]:
        names = list(dict.fromkeys(self.optimizers))
        return {
            "optimizer": pd.Categorical.from_codes(
                np.full(count, names.index(self.optimizers[config])), categories=names
            ),
            "spec": pd.Categorical.from_codes(np.full(count, config), categories=list(self.specs)),
        }

    def runs_rows(
        self,
        config: int,
        start_indices: np.ndarray,
        *,
        status: np.ndarray,
        n_steps: np.ndarray,
        final_loss: np.ndarray,
        final_points: np.ndarray,
        steps_to_tolerance: np.ndarray,
        rule: np.ndarray,
        outcome_step: np.ndarray,
    ) -> pd.DataFrame:
        """Rows of ``runs.parquet`` for config ``config`` from the starts ``start_indices``.

        Args:
            status: index into ``RUN_STATUSES`` per run.
            rule: index into ``OUTCOME_RULES`` per run (why it ended so); outcome_step: the step
                the rule names.
            steps_to_tolerance: first step within the loss tolerance, -1 (stored as missing) where
                never reached.
        """
        count = len(start_indices)
        reached = pd.array(steps_to_tolerance, dtype="Int64")
        reached[np.asarray(steps_to_tolerance) < 0] = pd.NA
        columns = {
            "run": config * len(self.starts) + np.asarray(start_indices, dtype=np.int64),
            **self._config_columns(config, count),
            "start_x": self.starts[start_indices, 0],
            "start_y": self.starts[start_indices, 1],
            "status": pd.Categorical.from_codes(np.asarray(status, dtype=np.int64), categories=RUN_STATUSES),
            "steps": np.asarray(n_steps, dtype=np.int64),
            "final_loss": np.asarray(final_loss, dtype=np.float64),
            "final_x": np.asarray(final_points, dtype=np.float64)[:, 0],
            "final_y": np.asarray(final_points, dtype=np.float64)[:, 1],
            "steps_to_tolerance": reached,
            "rule": pd.Categorical.from_codes(np.asarray(rule, dtype=np.int64), categories=OUTCOME_RULES),
            "outcome_step": np.asarray(outcome_step, dtype=np.int64),
        }
        return pd.DataFrame(columns, columns=[*_RUN_COLUMNS, "steps_to_tolerance", "rule", "outcome_step"])

    def path_rows(
        self,
        config: int,
        start_indices: np.ndarray,
        *,
        points: np.ndarray,
        losses: np.ndarray,
        grad_norms: np.ndarray,
        n_steps: np.ndarray,
    ) -> pd.DataFrame:
        """Rows of ``paths.parquet``: every recorded step of the runs of config ``config`` from the
        starts ``start_indices`` (``points`` of shape ``(len(start_indices), steps + 1, 2)``)."""
        width = points.shape[1]
        step = np.tile(np.arange(width, dtype=np.int32), len(start_indices))
        owner = np.repeat(np.arange(len(start_indices)), width)
        recorded = step <= np.asarray(n_steps)[owner]
        owner, step = owner[recorded], step[recorded]
        start = np.asarray(start_indices, dtype=np.int64)[owner]
        dtype = np.dtype(self.path_dtype)
        columns = {
            "run": config * len(self.starts) + start,
            **self._config_columns(config, len(owner)),
            "start_x": self.starts[start, 0],
            "start_y": self.starts[start, 1],
            "step": step,
            "x": points[owner, step, 0].astype(dtype),
            "y": points[owner, step, 1].astype(dtype),
            "loss": losses[owner, step].astype(dtype),
            "grad_norm": grad_norms[owner, step].astype(dtype),
        }
        return pd.DataFrame(columns, columns=_PATH_COLUMNS)

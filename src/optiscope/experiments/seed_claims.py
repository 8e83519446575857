"""A seed's statement about a run, decided from the stored runs: holds, does not hold, not measurable.

A claim stands in a table row's ``published`` values (``published: {final_loss: {says: "...",
test: reaches}}``) and is decided from what the row's paths step stored: ``runs.parquet`` (where
each run ended), ``paths.parquet`` (every step of a kept run) and the surface's known minima
(its manifest). Nothing is recomputed, and no verdict is typed in a preset: the preset names the
test, the numbers decide it.

Tests (``point`` defaults to the surface's nearest known minimum):

* ``reaches``: the run ends within ``within`` of ``point``.
* ``misses``: the run ends farther than ``within`` from ``point`` (stuck short of it, or escaped).
* ``faster``: the run comes within ``within`` of ``point`` at an earlier step than every run of
  ``than``.
* ``twitches``: over the last quarter of its steps, at least a third of the run's moves turn back
  (two consecutive moves with a negative dot product).
* ``settles``: it does not twitch, and its moves over the last quarter are shorter than over the
  first.

With ``share``, ``reaches``/``misses``/``twitches``/``settles`` speak of several runs of the step
(``among``, default all of them): the claim holds when at least that fraction of them passes.
``than`` and ``among`` name a run as ``SPEC`` (the row's step) or ``STEP[SPEC]`` (another paths step
of the same study).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from optiscope.errors import SpecError
from optiscope.optimizers import parse_spec

__all__ = ["HOLDS", "NOT_HOLDS", "NOT_MEASURABLE", "ClaimReader", "SeedClaim", "Verdict", "judge"]

HOLDS, NOT_HOLDS, NOT_MEASURABLE = "holds", "does not hold", "not measurable"
TWITCH_SHARE = 1 / 3  # the share of turning-back moves that makes a run "twitch"
_STILL = 1e-9  # a move shorter than this is standing still: neither forward nor back
_MIN_PAIRS = 3  # fewer consecutive moves than this cannot show twitching
_REFERENCE = re.compile(r"^(?P<step>[a-z0-9][a-z0-9._-]*)\[(?P<spec>.+)\]$")

Test = Literal["reaches", "misses", "faster", "twitches", "settles"]


class SeedClaim(BaseModel):
    """What the seed says of a run, and the test on our stored run that decides it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    says: str = Field(min_length=1, description="the seed's words")
    test: Test
    point: tuple[float, float] | None = Field(default=None, description="default: nearest known minimum")
    within: float = Field(default=0.5, gt=0, description="distance that counts as 'at' the point")
    than: tuple[str, ...] = Field(default=(), description="faster: the runs it beats, SPEC or STEP[SPEC]")
    among: tuple[str, ...] = Field(default=(), description="share: the runs counted (default every run)")
    share: float | None = Field(default=None, gt=0, le=1, description="fraction of runs that must pass")
    because: str | None = Field(default=None, description="the known reason, shown when it does not hold")

    @model_validator(mode="after")
    def _consistent(self) -> SeedClaim:
        if (self.test == "faster") != bool(self.than):
            raise ValueError("'than' names the runs a 'faster' claim beats, and only a faster claim has it")
        if self.test == "faster" and self.share is not None:
            raise ValueError("a 'faster' claim compares one run with others: it takes no 'share'")
        if self.among and self.share is None:
            raise ValueError("'among' lists the runs a 'share' counts: give the share")
        return self

    def references(self, step: str) -> list[str]:
        """The runs this claim reads besides its row's, as ``STEP[SPEC]`` references."""
        return [text if _REFERENCE.match(text) else f"{step}[{text}]" for text in (*self.than, *self.among)]


@dataclass(frozen=True)
class Verdict:
    """A claim decided: the verdict and what was measured to decide it."""

    verdict: str
    measured: str


@dataclass
class _Step:
    """One paths step's stored runs, paths (read when first needed) and the surface's minima."""

    folder: Path
    runs: pd.DataFrame
    minima: np.ndarray  # (k, 2)
    _paths: pd.DataFrame | None = None

    def row(self, spec: str) -> pd.Series:
        chosen = self.runs[self.runs["spec"].astype(str) == spec]
        if chosen.empty:
            raise SpecError(f"no run with optimizer {spec!r} in {self.folder}")
        return chosen.iloc[0]

    def specs(self) -> list[str]:
        return list(dict.fromkeys(self.runs["spec"].astype(str)))

    def path(self, spec: str) -> np.ndarray | None:
        """``(steps + 1, 2)``: the run's positions, or None when its path was not kept."""
        if self._paths is None:
            file = self.folder / "paths.parquet"
            self._paths = pd.read_parquet(file, columns=["run", "step", "x", "y"]) if file.exists() else None
        if self._paths is None:
            return None
        rows = self._paths[self._paths["run"] == int(self.row(spec)["run"])].sort_values("step")
        return rows[["x", "y"]].to_numpy(dtype=np.float64) if len(rows) else None


class ClaimReader:
    """Reads each step folder once, however many claims look at it."""

    def __init__(self) -> None:
        self._steps: dict[Path, _Step] = {}

    def step(self, folder: Path) -> _Step:
        if folder not in self._steps:
            manifest = json.loads((folder / "manifest.json").read_text())
            minima = np.asarray(manifest.get("surface", {}).get("minima") or [], dtype=np.float64)
            runs = pd.read_parquet(folder / "runs.parquet")
            self._steps[folder] = _Step(folder, runs, minima.reshape(-1, 2))
        return self._steps[folder]

    def resolve(self, folder: Path, reference: str) -> tuple[_Step, str]:
        """``SPEC`` (a run of ``folder``'s step) or ``STEP[SPEC]`` (of a sibling step folder)."""
        match = _REFERENCE.match(reference)
        if match is None:
            return self.step(folder), parse_spec(reference).to_string()
        pattern = re.compile(rf"\d+-{re.escape(match['step'])}")
        found = [path for path in folder.parent.iterdir() if pattern.fullmatch(path.name)]
        if len(found) != 1:
            raise SpecError(f"{reference!r}: no single step folder {match['step']!r} beside {folder.name}")
        return self.step(found[0]), parse_spec(match["spec"]).to_string()


def judge(claim: SeedClaim, reader: ClaimReader, folder: Path, spec: str) -> Verdict:
    """Decide ``claim`` about the run ``spec`` of the paths step stored in ``folder``."""
    step = reader.step(folder)
    if claim.test == "faster":
        return _faster(claim, reader, step, spec)
    if claim.share is None:
        passed, text = _one(claim, step, spec, detail=True)
        return Verdict(_word(passed), text)
    chosen = [reader.resolve(folder, text) for text in claim.among] or [(step, s) for s in step.specs()]
    results = [(s, *_one(claim, where, s, detail=False)) for where, s in chosen]
    passes = sum(passed is True for _, passed, _ in results)
    open_ = sum(passed is None for _, passed, _ in results)
    needed = math.ceil(claim.share * len(results) - 1e-9)
    verdict = HOLDS if passes >= needed else NOT_HOLDS if passes + open_ < needed else NOT_MEASURABLE
    listed = "; ".join(f"{s} {text}" for s, _, text in results)
    return Verdict(verdict, f"{passes} of {len(results)} runs pass ({needed} needed): {listed}")


def _word(passed: bool | None) -> str:
    return NOT_MEASURABLE if passed is None else HOLDS if passed else NOT_HOLDS


def _targets(claim: SeedClaim, step: _Step) -> np.ndarray:
    return np.asarray([claim.point]) if claim.point is not None else step.minima


def _where(targets: np.ndarray, point: np.ndarray) -> tuple[float, np.ndarray]:
    """The distance from ``point`` to the nearest target, and that target."""
    distances = np.linalg.norm(targets - point, axis=1)
    return float(distances.min()), targets[int(distances.argmin())]


def _xy(point: np.ndarray) -> str:
    return f"({point[0]:.3g}, {point[1]:.3g})"


def _one(claim: SeedClaim, step: _Step, spec: str, *, detail: bool) -> tuple[bool | None, str]:
    """One run against a reaches/misses/twitches/settles test: (passed or None, what was measured)."""
    if claim.test in ("twitches", "settles"):
        return _motion(claim, step.path(spec))
    targets = _targets(claim, step)
    if len(targets) == 0:
        return None, "the surface has no known minimum to measure from"
    row = step.row(spec)
    end = np.array([row["final_x"], row["final_y"]], dtype=np.float64)
    if not np.isfinite(end).all():
        return claim.test == "misses", f"{row['status']}: its position is not finite"
    distance, target = _where(targets, end)
    near = distance <= claim.within
    text = f"ends {distance:.3g} from {_xy(target)}"
    if detail:
        text = f"ends at {_xy(end)}, {distance:.3g} from {_xy(target)}; final loss {row['final_loss']:.4g}"
    return (near if claim.test == "reaches" else not near), text


def _motion(claim: SeedClaim, path: np.ndarray | None) -> tuple[bool | None, str]:
    """Twitching: the share of turning-back moves over the last quarter of the path."""
    if path is None or len(path) < 2 * _MIN_PAIRS:
        return None, "its path is not kept (or too short) to see how it moves"
    path = path[np.isfinite(path).all(axis=1)]
    moves = np.diff(path, axis=0)
    quarter = max(len(moves) // 4, _MIN_PAIRS + 1)
    late, early = moves[-quarter:], moves[:quarter]
    lengths = np.linalg.norm(late, axis=1)
    moving = (lengths[:-1] > _STILL) & (lengths[1:] > _STILL)
    back = int(((late[:-1] * late[1:]).sum(axis=1) < 0)[moving].sum())
    pairs = int(moving.sum())
    twitching = pairs >= _MIN_PAIRS and back >= TWITCH_SHARE * pairs
    late_move, early_move = float(lengths.mean()), float(np.linalg.norm(early, axis=1).mean())
    text = (
        f"last {quarter} moves: {back} of {pairs} turn back, mean move {late_move:.3g} "
        f"(first {quarter}: {early_move:.3g})"
    )
    if claim.test == "twitches":
        return twitching, text
    return (not twitching and late_move < early_move), text


def _first_near(claim: SeedClaim, step: _Step, spec: str) -> tuple[int | None, int] | None:
    """The first step within ``within`` of the target, and the steps recorded (None: no path)."""
    path, targets = step.path(spec), _targets(claim, step)
    if path is None or len(targets) == 0:
        return None
    distances = np.linalg.norm(path[:, None, :] - targets[None, :, :], axis=2).min(axis=1)
    near = np.flatnonzero(distances <= claim.within)
    return (int(near[0]) if len(near) else None), len(path) - 1


def _faster(claim: SeedClaim, reader: ClaimReader, step: _Step, spec: str) -> Verdict:
    ours = _first_near(claim, step, spec)
    others = [(text, _first_near(claim, *reader.resolve(step.folder, text))) for text in claim.than]
    if ours is None or any(found is None for _, found in others):
        return Verdict(NOT_MEASURABLE, "a path is not kept, or the surface has no known minimum")

    def when(found: tuple[int | None, int]) -> str:
        return f"at step {found[0]}" if found[0] is not None else f"never in {found[1]} steps"

    target = "the minimum" if claim.point is None else _xy(np.asarray(claim.point))
    text = f"within {claim.within:g} of {target} {when(ours)}; " + ", ".join(
        f"{name} {when(found)}" for name, found in others
    )
    beaten = [found[0] for _, found in others]
    if ours[0] is None:
        return Verdict(NOT_MEASURABLE if all(b is None for b in beaten) else NOT_HOLDS, text)
    return Verdict(HOLDS if all(b is None or ours[0] < b for b in beaten) else NOT_HOLDS, text)

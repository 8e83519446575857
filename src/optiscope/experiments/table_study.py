"""A seed's published table beside ours, and a "what differs and why" written from the numbers.

Our value of a metric is read from what a finished step stored: the last epoch of a training
run (``metrics.parquet``, with its status) or one optimizer's run in a paths study
(``runs.parquet``). Nothing is recomputed. The findings compare levels, orderings (Spearman's
rank correlation), the best row, and which rows failed (at chance or diverged) on each side.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from pydantic.dataclasses import dataclass as pydantic_dataclass
from scipy import stats

from optiscope.errors import SpecError
from optiscope.experiments.execute import execute
from optiscope.experiments.protocol import RunContext, StudyKind, Style
from optiscope.store import RunDir
from optiscope.viz.markdown import markdown_table

__all__ = [
    "TABLE",
    "OurRow",
    "TableConfig",
    "TableSource",
    "comparison_frame",
    "findings",
    "read_ours",
    "run_table",
]

_CHANCE_MARGIN = 1.2  # an accuracy within 20% of 1/classes is "at chance"


@pydantic_dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class TableSource:
    """Where one row's numbers are: a run directory, and for a paths study the optimizer spec."""

    label: str
    run_dir: Path
    published: dict[str, float | str] = Field(default_factory=dict)
    spec: str | None = None


@dataclass(frozen=True)
class OurRow:
    """Our numbers for one row."""

    values: dict[str, float]
    status: str
    steps: int | None


def read_ours(source: TableSource, metrics: Sequence[str]) -> OurRow:
    """Our row, from the stored tables of a finished step.

    Raises:
        SpecError: the step stored no such metric (the message lists what it has).
    """
    if source.spec is not None:
        runs = pd.read_parquet(source.run_dir / "runs.parquet")
        chosen = runs[runs["spec"] == source.spec]
        if chosen.empty:
            raise SpecError(f"{source.label}: no run with optimizer {source.spec!r} in {source.run_dir}")
        row, status = chosen.iloc[0], str(chosen.iloc[0]["status"])
        steps = int(row["steps"])
    else:
        table = pd.read_parquet(source.run_dir / "metrics.parquet")
        row = table.iloc[-1]
        summary = json.loads((source.run_dir / "manifest.json").read_text()).get("summary", {})
        status, steps = str(summary.get("status", "?")), int(summary.get("steps", row["steps"]))
    missing = [metric for metric in metrics if metric not in row.index]
    if missing:
        raise SpecError(f"{source.label}: {source.run_dir.name} has no {missing}; it has {list(row.index)}")
    return OurRow({metric: _number(row[metric]) for metric in metrics}, status, steps)


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def comparison_frame(
    sources: Sequence[TableSource], ours: Sequence[OurRow], metrics: Sequence[str]
) -> pd.DataFrame:
    """One row per table row: the seed's value, ours and the difference of each metric."""
    rows = []
    for source, our in zip(sources, ours, strict=True):
        row: dict[str, Any] = {"row": source.label}
        for metric in metrics:
            published = source.published.get(metric)
            row[f"{metric} (seed)"] = "" if published is None else published
            row[f"{metric} (ours)"] = our.values[metric]
            if isinstance(published, int | float):
                row[f"{metric} (ours - seed)"] = our.values[metric] - float(published)
        row.update(status=our.status, steps=our.steps)
        rows.append(row)
    frame = pd.DataFrame(rows)
    for column in frame.columns:
        if column.endswith("(seed)"):
            frame[column] = frame[column].astype(str)
    return frame


def findings(
    sources: Sequence[TableSource],
    ours: Sequence[OurRow],
    metrics: Sequence[str],
    *,
    classes: int | None,
    context: Sequence[str] = (),
) -> list[str]:
    """Short statements of what differs and why, each computed from the numbers in the table."""
    lines = list(context)
    for metric in metrics:
        pairs = [
            (source.label, float(source.published[metric]), our.values[metric])
            for source, our in zip(sources, ours, strict=True)
            if isinstance(source.published.get(metric), int | float)
        ]
        if pairs:
            lines.extend(_metric_findings(metric, pairs, classes))
        quoted = [(s.label, s.published[metric], o.values[metric]) for s, o in zip(sources, ours, strict=True)
                  if isinstance(s.published.get(metric), str)]  # fmt: skip
        lines.extend(
            f'{label}: the seed says "{text}"; our {metric} is {value:.4g}.' for label, text, value in quoted
        )
    diverged = [source.label for source, our in zip(sources, ours, strict=True) if our.status == "diverged"]
    if diverged:
        lines.append(f"Diverged here (recorded, not a failure): {', '.join(diverged)}.")
    return lines


def _metric_findings(metric: str, pairs: list[tuple[str, float, float]], classes: int | None) -> list[str]:
    labels = [label for label, _, _ in pairs]
    seed, ours = np.array([p for _, p, _ in pairs]), np.array([o for _, _, o in pairs])
    finite = np.isfinite(ours)
    gaps = np.abs(ours - seed)
    lines = [
        f"{metric}: ours is {'higher' if np.nanmean(ours - seed) > 0 else 'lower'} than the seed's by "
        f"{np.nanmean(ours - seed):+.4g} on average (largest gap {np.nanmax(gaps):.4g}, row "
        f"{labels[int(np.nanargmax(gaps))]})."
        if finite.any()
        else f"{metric}: no finite value of ours."
    ]
    if len(pairs) >= 2 and finite.all() and np.ptp(seed) > 0 and np.ptp(ours) > 0:
        rho = float(stats.spearmanr(seed, ours).statistic)
        seed_best, our_best = labels[int(np.argmax(seed))], labels[int(np.argmax(ours))]
        agree = "the same row" if seed_best == our_best else f"{our_best} here"
        lines.append(
            f"{metric}: the orderings agree with Spearman rho = {rho:.2f}; the seed's best row is "
            f"{seed_best} ({seed.max():.4g}), {agree} ({ours.max():.4g})."
        )
    if classes and "accuracy" in metric:
        chance = _CHANCE_MARGIN / classes
        seed_fail = {label for label, value, _ in pairs if value <= chance}
        our_fail = {label for label, _, value in pairs if not math.isfinite(value) or value <= chance}
        if seed_fail or our_fail:
            lines.append(
                f"{metric} at chance (<= {chance:.3g}): seed {len(seed_fail)} rows, ours {len(our_fail)}; "
                f"both: {_names(seed_fail & our_fail)}; only the seed: {_names(seed_fail - our_fail)}; "
                f"only ours: {_names(our_fail - seed_fail)}."
            )
    return lines


def _names(labels: set[str]) -> str:
    return ", ".join(sorted(labels)) or "none"


class TableConfig(BaseModel):
    """A published table: its rows (our run + the seed's numbers), metrics, and what to say of the data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sources: tuple[TableSource, ...] = Field(min_length=1)
    metrics: tuple[str, ...] = Field(min_length=1)
    classes: int | None = Field(default=None, description="classes of the data set (for 'at chance')")
    context: tuple[str, ...] = ()


def _compute(config: TableConfig, run_dir: RunDir, ctx: RunContext) -> Mapping[str, Any]:
    ours = [read_ours(source, config.metrics) for source in config.sources]
    frame = comparison_frame(config.sources, ours, config.metrics)
    run_dir.write_table("comparison", frame)
    run_dir.write_text("comparison.md", markdown_table(frame))
    lines = findings(config.sources, ours, config.metrics, classes=config.classes, context=config.context)
    run_dir.write_text("findings.md", "".join(f"- {line}\n" for line in lines))
    return {"rows": len(frame)}


def _render(run_dir: RunDir, style: Style) -> None:
    """A table has no figures: the report shows ``comparison`` and ``findings.md``."""


TABLE: StudyKind[TableConfig] = StudyKind(name="table", config=TableConfig, run=_compute, render=_render)


def run_table(
    sources: Sequence[TableSource],
    metrics: Sequence[str],
    out: str | Path,
    *,
    classes: int | None,
    context: Sequence[str] = (),
    force: bool = False,
) -> pd.DataFrame:
    """Store the comparison table (parquet + markdown) and the findings, then the report."""
    config = TableConfig(
        sources=tuple(sources), metrics=tuple(metrics), classes=classes, context=tuple(context)
    )
    return execute(TABLE, config, out, force=force).run_dir.read_table("comparison")

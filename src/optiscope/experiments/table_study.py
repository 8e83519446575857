"""A seed's published table beside ours, and a "what differs and why" written from the numbers.

Our value of a metric is read from what a finished step stored: the last epoch of a training
run (``metrics.parquet``, with its status) or one optimizer's run in a paths study
(``runs.parquet``). Nothing is recomputed. A published number is compared at the precision the
seed wrote it (its decimals); a published statement with a test (:class:`SeedClaim`) gets a
verdict computed from our runs. The findings compare levels, orderings (Spearman's rank
correlation, worded by its sign and size), the best row, and which rows failed (at chance or
diverged) on each side.
"""

from __future__ import annotations

import json
import math
import re
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
from optiscope.experiments.seed_claims import (
    HOLDS,
    NOT_HOLDS,
    NOT_MEASURABLE,
    ClaimReader,
    SeedClaim,
    Verdict,
    judge,
)
from optiscope.store import RunDir
from optiscope.viz.markdown import markdown_table

__all__ = [
    "AGREE_RHO",
    "DISAGREE_RHO",
    "TABLE",
    "OurRow",
    "TableConfig",
    "TableSource",
    "comparison_frame",
    "decide_claims",
    "findings",
    "ordering_words",
    "read_ours",
    "run_table",
    "stated_decimals",
    "tolerance_notes",
]

_CHANCE_MARGIN = 1.2  # an accuracy within 20% of 1/classes is "at chance"
AGREE_RHO = 0.6  # Spearman's rho from which two orderings "agree"
DISAGREE_RHO = -0.2  # ... and up to which they "disagree"; in between there is "no clear relation"
_MIN_RANKED = 3  # fewer rows than this make a rank correlation meaningless
NOT_TESTED = "not tested"
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
CLAIM_COLUMNS = ("the seed says", "measured here", "verdict")

Published = float | str | SeedClaim


@pydantic_dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class TableSource:
    """Where one row's numbers are: a run directory, and for a paths study the optimizer spec.

    ``published`` maps a metric to the seed's number (a string such as ``"0.1000"`` is a number
    written with its decimals), its words, or its words with a test (:class:`SeedClaim`).
    """

    label: str
    run_dir: Path
    published: dict[str, Published] = Field(default_factory=dict)
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


def _published_number(value: Published | None) -> tuple[float, int] | None:
    """A published number and the decimals it was written with; None for words or a claim."""
    if isinstance(value, bool) or value is None or isinstance(value, SeedClaim):
        return None
    if isinstance(value, int | float):
        text = np.format_float_positional(float(value), trim="-")
    elif _NUMBER.match(value.strip()):
        text = value.strip()
    else:
        return None
    mantissa, _, exponent = text.lower().partition("e")
    decimals = len(mantissa.partition(".")[2]) - (int(exponent) if exponent else 0)
    return float(text), max(decimals, 0)


def stated_decimals(sources: Sequence[TableSource], metric: str) -> int | None:
    """The precision of a metric's published numbers: the most decimals any row was written with
    (a table states its column at one precision: 0.1 beside 0.2704 is 0.1000)."""
    found = [parsed[1] for s in sources if (parsed := _published_number(s.published.get(metric)))]
    return max(found) if found else None


def _difference(ours: float, seed: float, decimals: int) -> float:
    """``ours - seed`` at the seed's precision: 0 when the two agree to its last decimal."""
    return float(np.round(ours - seed, decimals)) + 0.0  # + 0.0 turns -0.0 into 0.0


def _is_statement(value: Published) -> bool:
    """Words or a claim, not a number."""
    return isinstance(value, SeedClaim) or (isinstance(value, str) and _published_number(value) is None)


def _claims(source: TableSource, verdicts: Mapping[str, Verdict]) -> tuple[str, str, str]:
    """The row's statements (words or claims), what we measured, and the verdicts."""
    said, measured, verdict = [], [], []
    for metric, value in source.published.items():
        if isinstance(value, SeedClaim):
            said.append(value.says)
            found = verdicts.get(metric, Verdict(NOT_MEASURABLE, "not decided"))
            measured.append(found.measured)
            verdict.append(found.verdict)
        elif _is_statement(value):
            said.append(str(value))
            verdict.append(NOT_TESTED)
    return " / ".join(said), " / ".join(measured), " / ".join(verdict)


def comparison_frame(
    sources: Sequence[TableSource],
    ours: Sequence[OurRow],
    metrics: Sequence[str],
    verdicts: Sequence[Mapping[str, Verdict]] | None = None,
) -> pd.DataFrame:
    """One row per table row: per metric the seed's number (at its precision), ours and the
    difference at that precision; then the seed's statements, what we measured and the verdicts."""
    verdicts = verdicts or [{} for _ in sources]
    decimals = {metric: stated_decimals(sources, metric) for metric in metrics}
    statements = any(_is_statement(value) for s in sources for value in s.published.values())
    rows = []
    for source, our, decided in zip(sources, ours, verdicts, strict=True):
        row: dict[str, Any] = {"row": source.label}
        for metric in metrics:
            parsed = _published_number(source.published.get(metric))
            if decimals[metric] is not None:
                row[f"{metric} (seed)"] = "" if parsed is None else f"{parsed[0]:.{decimals[metric]}f}"
            row[f"{metric} (ours)"] = our.values[metric]
            if decimals[metric] is not None:
                gap = (
                    math.nan
                    if parsed is None
                    else _difference(our.values[metric], parsed[0], decimals[metric])
                )
                row[f"{metric} (ours - seed)"] = gap
        if statements:
            row.update(zip(CLAIM_COLUMNS, _claims(source, decided), strict=True))
        row.update(status=our.status, steps=our.steps)
        rows.append(row)
    return pd.DataFrame(rows)


def ordering_words(rho: float) -> str:
    """What a rank correlation says of two orderings; a label is a claim, so it follows the sign."""
    if rho >= AGREE_RHO:
        return f"the orderings agree (Spearman rho = {rho:.2f})"
    if rho <= DISAGREE_RHO:
        return f"the orderings disagree (Spearman rho = {rho:.2f})"
    return f"no clear relation between the orderings (Spearman rho = {rho:.2f})"


def findings(
    sources: Sequence[TableSource],
    ours: Sequence[OurRow],
    metrics: Sequence[str],
    *,
    classes: int | None,
    context: Sequence[str] = (),
    verdicts: Sequence[Mapping[str, Verdict]] | None = None,
) -> list[str]:
    """Short statements of what differs and why, each computed from the numbers in the table."""
    verdicts = verdicts or [{} for _ in sources]
    lines = [*context, *_verdict_summary(sources, verdicts)]
    explained: dict[str, str] = {}  # a failing claim's reason -> the first row that gave it
    for metric in metrics:
        decimals = stated_decimals(sources, metric)
        pairs = [
            (source.label, parsed[0], our.values[metric])
            for source, our in zip(sources, ours, strict=True)
            if (parsed := _published_number(source.published.get(metric)))
        ]
        if pairs and decimals is not None:
            lines.extend(_metric_findings(metric, pairs, classes, decimals))
        for source, our, decided in zip(sources, ours, verdicts, strict=True):
            value = source.published.get(metric)
            if isinstance(value, SeedClaim):
                lines.append(_claim_line(source.label, value, decided.get(metric), explained))
            elif _is_statement(value):
                lines.append(
                    f'{source.label}: the seed says "{value}"; our {metric} is {our.values[metric]:.4g} '
                    f"({NOT_TESTED}: the table gives this statement no test)."
                )
    diverged = [source.label for source, our in zip(sources, ours, strict=True) if our.status == "diverged"]
    if diverged:
        lines.append(f"Diverged here (recorded, not a failure): {', '.join(diverged)}.")
    return lines


def _verdict_summary(sources: Sequence[TableSource], verdicts: Sequence[Mapping[str, Verdict]]) -> list[str]:
    """One line counting the verdicts, naming the claims that do not reproduce."""
    decided = [(s.label, v.verdict) for s, row in zip(sources, verdicts, strict=True) for v in row.values()]
    if not decided:
        return []
    counts = pd.Series([verdict for _, verdict in decided]).value_counts()
    failing = [label for label, verdict in decided if verdict == NOT_HOLDS]
    plural = {HOLDS: "hold", NOT_HOLDS: "do not hold"}
    line = "The seed's claims, decided from our runs: " + ", ".join(
        f"{n} {plural.get(word, word) if n > 1 else word}" for word, n in counts.items()
    )
    return [line + (f"; not reproduced: {'; '.join(failing)}." if failing else ".")]


def _claim_line(label: str, claim: SeedClaim, verdict: Verdict | None, explained: dict[str, str]) -> str:
    """The claim, its verdict and what decided it; a failing claim's reason once (then referred to)."""
    verdict = verdict or Verdict(NOT_MEASURABLE, "not decided")
    word = {NOT_HOLDS: "does not reproduce"}.get(verdict.verdict, verdict.verdict)
    line = f'{label}: the seed says "{claim.says}"; {word} ({claim.test}): {verdict.measured}.'
    if verdict.verdict == NOT_HOLDS and claim.because:
        reason = " ".join(claim.because.split())
        line += f" Why: as for {explained[reason]}." if reason in explained else f" Why: {reason}"
        explained.setdefault(reason, label)
    return line


def _metric_findings(
    metric: str, pairs: list[tuple[str, float, float]], classes: int | None, decimals: int
) -> list[str]:
    labels = [label for label, _, _ in pairs]
    seed, ours = np.array([p for _, p, _ in pairs]), np.array([o for _, _, o in pairs])
    finite = np.isfinite(ours)
    gaps = np.array([_difference(o, s, decimals) for s, o in zip(seed, ours, strict=True)])
    lines = [
        f"{metric}: ours is {'higher' if np.nanmean(gaps) > 0 else 'lower'} than the seed's by "
        f"{np.nanmean(gaps):+.{decimals}f} on average at the seed's {decimals} decimals (largest gap "
        f"{np.nanmax(np.abs(gaps)):.{decimals}f}, row {labels[int(np.nanargmax(np.abs(gaps)))]})."
        if finite.any() and np.nanmax(np.abs(gaps)) > 0
        else f"{metric}: ours equals the seed's on every row at the seed's {decimals} decimals."
        if finite.any()
        else f"{metric}: no finite value of ours."
    ]
    if len(pairs) < _MIN_RANKED:
        lines.append(f"{metric}: with {len(pairs)} rows a rank correlation is not meaningful.")
    elif finite.all() and np.ptp(seed) > 0 and np.ptp(ours) > 0:
        rho = float(stats.spearmanr(seed, ours).statistic)
        seed_best, our_best = labels[int(np.argmax(seed))], labels[int(np.argmax(ours))]
        agree = "the same row" if seed_best == our_best else f"{our_best} here"
        lines.append(
            f"{metric}: {ordering_words(rho)}; the seed's best row is "
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


def decide_claims(sources: Sequence[TableSource]) -> list[dict[str, Verdict]]:
    """Each row's claims decided from its stored run (a claim needs a paths row)."""
    reader = ClaimReader()
    decided: list[dict[str, Verdict]] = []
    for source in sources:
        row: dict[str, Verdict] = {}
        for metric, value in source.published.items():
            if not isinstance(value, SeedClaim):
                continue
            if source.spec is None:
                row[metric] = Verdict(NOT_MEASURABLE, "claims are decided on paths runs only")
            else:
                row[metric] = judge(value, reader, source.run_dir, source.spec)
        decided.append(row)
    return decided


def tolerance_notes(sources: Sequence[TableSource], ours: Sequence[OurRow]) -> list[str]:
    """Why ``steps_to_tolerance`` is empty where it is: what the runs were measured against."""
    empty: dict[Path, list[str]] = {}
    for source, our in zip(sources, ours, strict=True):
        if source.spec is not None and math.isnan(our.values.get("steps_to_tolerance", 0.0)):
            empty.setdefault(source.run_dir, []).append(source.label)
    lines = []
    for folder, labels in empty.items():
        manifest = json.loads((folder / "manifest.json").read_text())
        surface = manifest.get("surface", {})
        tolerance = manifest.get("spec", {}).get("loss_tolerance")
        line = (
            f"steps_to_tolerance is empty for {'; '.join(labels)}: no step came within {tolerance} of "
            f"the reference loss, {manifest.get('tolerance_reference', 'unknown')}."
        )
        if surface.get("minima") and surface.get("minimum_value") is None:
            line += (
                " The surface's noise moves its values, so that reference is the lowest noisy grid "
                "value, a dip a path need not pass; the claims measure the distance to the smooth "
                "surface's known minimum instead."
            )
        lines.append(line)
    return lines


class TableConfig(BaseModel):
    """A published table: its rows (our run + the seed's numbers), metrics, and what to say of the data."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sources: tuple[TableSource, ...] = Field(min_length=1)
    metrics: tuple[str, ...] = Field(min_length=1)
    classes: int | None = Field(default=None, description="classes of the data set (for 'at chance')")
    context: tuple[str, ...] = ()


def _compute(config: TableConfig, run_dir: RunDir, ctx: RunContext) -> Mapping[str, Any]:
    ours = [read_ours(source, config.metrics) for source in config.sources]
    verdicts = decide_claims(config.sources)
    frame = comparison_frame(config.sources, ours, config.metrics, verdicts)
    run_dir.write_table("comparison", frame)
    run_dir.write_text("comparison.md", markdown_table(frame))
    lines = findings(
        config.sources,
        ours,
        config.metrics,
        classes=config.classes,
        context=config.context,
        verdicts=verdicts,
    )
    if "steps_to_tolerance" in config.metrics:
        lines.extend(tolerance_notes(config.sources, ours))
    run_dir.write_text("findings.md", "".join(f"- {line}\n" for line in lines))
    counts = pd.Series([v.verdict for row in verdicts for v in row.values()]).value_counts()
    return {"rows": len(frame), "verdicts": {str(k): int(n) for k, n in counts.items()}}


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

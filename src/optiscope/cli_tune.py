"""``optiscope tune``: equal-budget tuning of optimizers on a surface or a suite, ranked with intervals."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from optiscope.cli_app import app, handles_errors, progress_bar

__all__ = ["tune_command"]


@app.command("tune")
@handles_errors
def tune_command(
    target: Annotated[
        str,
        typer.Argument(
            help="A surface spec ('rosenbrock', 'f4:noise=smooth') or a suite ('suite:classics')."
        ),
    ],
    opt: Annotated[
        list[str],
        typer.Option(
            "--opt",
            help="Optimizer to tune, repeatable: a name, or a spec whose "
            "given hyperparameters stay fixed ('adam:amsgrad=True').",
        ),
    ],
    trials: Annotated[int, typer.Option(help="Trials per optimizer (the same for every one).")],
    out: Annotated[Path, typer.Option("--out", help="Run directory to write.")],
    seeds: Annotated[int, typer.Option(help="Seeds (start point and noise) each trial runs from.")] = 5,
    steps: Annotated[int, typer.Option(help="Optimizer steps per run.")] = 200,
    objective: Annotated[
        str, typer.Option(help="final (gap to the minimum), target (steps to reach it) or auc.")
    ] = "final",
    executor: Annotated[
        str | None, typer.Option(help="local (this process, default) or ray (a local Ray, or --ray-address).")
    ] = None,
    ray_address: Annotated[
        str | None, typer.Option("--ray-address", help="A running Ray cluster to send the work units to.")
    ] = None,
    heldout: Annotated[int, typer.Option(help="Held-out seeds each winner is re-run from (>= 10).")] = 10,
    batch: Annotated[int, typer.Option(help="Trials asked of TPE at once (one engine call).")] = 10,
    tolerance: Annotated[float, typer.Option(help="Gap to the minimum that counts as success.")] = 1e-3,
    grad_noise: Annotated[float, typer.Option(help="Std of Gaussian noise added to every gradient.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seeds the sampler, the start points and the noise.")] = 0,
    space: Annotated[
        list[str] | None,
        typer.Option(help="Override a range: OPT.KEY=LOW:HIGH[:log] or fix it: OPT.KEY=VALUE (repeatable)."),
    ] = None,
    dpi: Annotated[int | None, typer.Option(help="Resolution of the PNG figures (default 90).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Recompute even if OUT holds this study.")] = False,
) -> None:
    """Tune each optimizer with the same budget (TPE in batches, seeded), re-run the winners on held-out
    seeds, and rank them with confidence intervals; store trials.parquet, best.parquet, figures and
    report.html in OUT. A killed study resumes where it stopped."""
    from optiscope.experiments.tune_render import leaderboard_text
    from optiscope.experiments.tune_study import tune
    from optiscope.tuning import parse_override

    overrides: dict[str, dict[str, object]] = {}
    for text in space or []:
        name, key, value = parse_override(text)
        overrides.setdefault(name, {})[key] = value
    with progress_bar("tune (units)") as progress:
        result = tune(
            target, opt, out=out, executor=executor, ray_address=ray_address, trials=trials, seeds=seeds,
            steps=steps, objective=objective, heldout=heldout, batch=batch, tolerance=tolerance,
            grad_noise=grad_noise, seed=seed, space=overrides, style={"dpi": dpi}, force=force,
            progress=progress,
        )  # fmt: skip
    typer.echo(result.execution.describe())
    typer.echo(leaderboard_text(result.best))
    typer.echo(f"run directory: {result.run_dir.path}")
    typer.echo(f"report: {result.run_dir.path / 'report.html'}")

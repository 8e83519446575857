"""``optiscope tune``: equal-budget tuning of optimizers on a surface or a suite, ranked with intervals."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from optiscope.cli_app import app, handles_errors, progress_bar

if TYPE_CHECKING:  # imported where used: the CLI starts without torch's tuning modules
    from optiscope.tuning.nets import NetTarget

__all__ = ["tune_command"]


@app.command("tune")
@handles_errors
def tune_command(
    target: Annotated[
        str,
        typer.Argument(
            help="A surface spec ('rosenbrock', 'f4:noise=smooth'), a suite ('suite:classics'), or a "
            "net problem ('net:mlp/digits/b64'), problems joined by '+', a training YAML (optiscope "
            "train's fields: the model, data set and batch size are the problem; a trial trains the net "
            "for --steps steps), or a recording of your own loop (its model factory and data, or --model "
            "and --data)."
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
    seeds: Annotated[
        int,
        typer.Option(
            help="Seeds each trial runs from (start point and noise; on a net: init and batch order)."
        ),
    ] = 5,
    steps: Annotated[int, typer.Option(help="Optimizer steps per run (the equal budget).")] = 200,
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
    tolerance: Annotated[
        float | None,
        typer.Option(
            help="Gap to the minimum (on a net: the test metric) that counts as success "
            "[default: 1e-3 on surfaces, 0.1 on nets]."
        ),
    ] = None,
    metric: Annotated[
        str, typer.Option(help="On a net: test_loss or test_error (1 - accuracy), scored after the budget.")
    ] = "test_loss",
    sensitivity: Annotated[
        int | None,
        typer.Option(
            help="Learning rates in each winner's sensitivity sweep [default: 25 on surfaces, 7 on nets]."
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(help="A recording's model factory, pkg.mod:make_model (default: the one it stored)."),
    ] = None,
    data: Annotated[
        str | None,
        typer.Option(
            help="A recording's data, pkg.mod:loader or a .pt/.safetensors/.npz file of x and y "
            "class indices (default: the one it stored); 75% trains, 25% tests."
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="A recording's training batch size (0: full batch).")
    ] = 64,
    baseline: Annotated[
        list[str] | None,
        typer.Option(
            help="Run this spec (e.g. a paper's setting, 'adam:lr=0.0005') as the optimizer's "
            "baseline candidate, beside the entry's defaults (repeatable, one per optimizer)."
        ),
    ] = None,
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
    from optiscope.optimizers import parse_spec
    from optiscope.tuning import parse_override, suite_surfaces
    from optiscope.tuning.nets import NET_PREFIX

    overrides: dict[str, dict[str, object]] = {}
    for text in space or []:
        name, key, value = parse_override(text)
        overrides.setdefault(name, {})[key] = value
    baselines = {}
    for text in baseline or []:
        baselines[parse_spec(text).name] = text
    net_target = _net_target(target, metric, model=model, data=data, batch_size=batch_size)
    target = net_target.name if net_target is not None else target
    net = all(name.startswith(NET_PREFIX) for name in suite_surfaces(target))
    tolerance = tolerance if tolerance is not None else (0.1 if net else 1e-3)
    sensitivity = sensitivity if sensitivity is not None else (7 if net else 25)
    with progress_bar("tune (units)") as progress:
        result = tune(
            target, opt, out=out, executor=executor, ray_address=ray_address, trials=trials,
            seeds=seeds, steps=steps, objective=objective, heldout=heldout, batch=batch, tolerance=tolerance,
            grad_noise=grad_noise, seed=seed, space=overrides, style={"dpi": dpi}, force=force,
            progress=progress, sensitivity=sensitivity, baselines=baselines, net=net_target,
        )  # fmt: skip
    typer.echo(result.execution.describe())
    typer.echo(leaderboard_text(result.best, "baseline" if baselines else "default"))
    typer.echo(f"run directory: {result.run_dir.path}")
    typer.echo(f"report: {result.run_dir.path / 'report.html'}")


def _net_target(
    target: str, metric: str, *, model: str | None, data: str | None, batch_size: int
) -> NetTarget | None:
    """The net problem a training YAML (a bad field reported as ``FILE:LINE: ...``) or a recording
    (its model factory and data) describes; None for a surface, suite or ``net:`` name."""
    from optiscope.cli_app import build_from_yaml
    from optiscope.errors import SpecError
    from optiscope.tuning.nets import NetTarget

    if Path(target).is_dir():
        return _recording_problem(Path(target), metric, model, data, batch_size)
    if model is not None or data is not None:
        raise SpecError("tune: --model and --data describe a recording; the target is not a run directory")
    if not target.endswith((".yaml", ".yml")):
        return None
    path = Path(target)
    if not path.is_file():
        raise SpecError(f"tune: no training YAML at {target}")
    return build_from_yaml(path, lambda **fields: NetTarget.from_training(fields, metric))  # type: ignore[arg-type]


def _recording_problem(
    path: Path, metric: str, model: str | None, data: str | None, batch_size: int
) -> NetTarget:
    """The net problem of a recording: its factory and data (or ``--model``/``--data``)."""
    from optiscope.errors import SpecError
    from optiscope.nets.runs import load_run
    from optiscope.nets.user_data import load_data
    from optiscope.tuning.nets import NetTarget, user_split

    run = load_run(path, model=model)
    factory = model or run.factory
    source = data or run.meta.get("data")
    if factory is None or source is None:
        missing = " and ".join(
            what for what, value in (("--model", factory), ("--data", source)) if value is None
        )
        raise SpecError(f"{path} does not say how to rebuild its model and data: pass {missing}")
    net = NetTarget.build(
        model_factory=factory, data_source=str(source), batch_size=batch_size, metric=metric
    )
    user_split(*load_data(str(source)), net.data_seed, str(source))  # refused before any folder is made
    return net

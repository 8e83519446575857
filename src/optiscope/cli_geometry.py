"""``optiscope connect``: the geometry between trained solutions (mode connectivity)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from optiscope.cli_app import app, handles_errors, progress_bar

__all__ = ["connect"]


@app.command()
@handles_errors
def connect(
    run_a: Annotated[
        Path, typer.Argument(help="A training run or a recording (optiscope.nets.record) (t = 0).")
    ],
    run_b: Annotated[Path, typer.Argument(help="Another run of the same architecture (t = 1).")],
    out: Annotated[Path, typer.Option("--out", help="Run directory to write.")],
    curve: Annotated[
        str, typer.Option(help="linear (the line only) or bezier (the line and a trained Bezier curve).")
    ] = "bezier",
    points: Annotated[int, typer.Option(help="Points along each curve, ends included.")] = 31,
    data: Annotated[
        str,
        typer.Option(
            help="train, test, batch:SIZE (the first batch), subset:N, or your own data: pkg.mod:loader "
            "or a .pt/.safetensors/.npz file holding x and y. A recording's train is the data it stored."
        ),
    ] = "train",
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="Your model's factory, pkg.mod:make_model (only that module is imported; it must be "
            "importable, on PYTHONPATH). Default: the factory the recording stored.",
        ),
    ] = None,
    loss: Annotated[
        str, typer.Option(help="The loss: cross_entropy (class labels) or mse.")
    ] = "cross_entropy",
    bezier_steps: Annotated[int, typer.Option(help="Training steps of the Bezier control point.")] = 1000,
    bezier_opt: Annotated[
        str, typer.Option("--bezier-opt", help="Optimizer of the control point.")
    ] = "adam:lr=0.001",
    seed: Annotated[int, typer.Option(help="Seed of the Bezier training draws.")] = 0,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    dpi: Annotated[int | None, typer.Option(help="Resolution of the PNG figures (default 90).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Recompute even if OUT holds this study.")] = False,
) -> None:
    """Loss and accuracy along the line and a trained Bezier curve between two runs' final weights.

    The barrier is the maximum loss along a curve minus the mean of its end values (Garipov et
    al. 2018); BatchNorm statistics are recomputed at each point for nets that have them.
    """
    from optiscope.experiments.connect_study import ConnectConfig, run_connect_study

    config = ConnectConfig.build(run_a=str(run_a), run_b=str(run_b), curve=curve, points=points, data=data,
                                 bezier_steps=bezier_steps, bezier_optimizer=bezier_opt, seed=seed,
                                 device=device, model=model, loss=loss)  # fmt: skip
    style = {"dpi": dpi} if dpi is not None else None
    with progress_bar("connect") as progress:
        execution = run_connect_study(config, out, style=style, force=force, progress=progress)
    typer.echo(execution.describe())
    for _, row in execution.run_dir.read_table("summary").iterrows():
        typer.echo(f"{row['curve']}: barrier {row['barrier']:.4g} (loss {row['loss_a']:.4g} -> max "
                   f"{row['max_loss']:.4g} at t={row['t_at_max']:.3g} -> {row['loss_b']:.4g})")  # fmt: skip
    typer.echo(f"report: {execution.path / 'report.html'}")

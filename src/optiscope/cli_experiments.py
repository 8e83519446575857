"""``optiscope run`` and ``optiscope presets``: whole studies from a YAML file or a shipped preset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from optiscope.cli_app import Executor, RayAddress, app, handles_errors, progress_bar

__all__ = ["presets_app", "run_preset"]

presets_app = typer.Typer(
    help="The seed studies and the demo, shipped as experiment YAMLs.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(presets_app, name="presets")


def run_preset(
    experiment: str,
    out: Path,
    *,
    quick: bool = False,
    dataset: str | None = None,
    data_dir: str | None = None,
    force: bool = False,
    executor: str | None = None,
    ray_address: str | None = None,
) -> None:
    """Run a study (a YAML path or ``preset:NAME``) and print what each step did; its work units
    (sweep cells, landscape chunks, tuning batches) run on ``executor``."""
    from optiscope.experiments.experiment_spec import resolve
    from optiscope.experiments.experiment_study import run_experiment
    from optiscope.experiments.presets import load_source
    from optiscope.tuning import executor_scope, make_executor

    study = resolve(load_source(experiment), quick=quick, dataset=dataset, data_dir=data_dir)
    runner = make_executor(executor, ray_address)
    with executor_scope(runner), progress_bar(f"{study.name} (steps)") as progress:
        update = None if progress is None else (lambda done, total, _: progress(done, total))
        result = run_experiment(study, out, force=force, progress=update)
    for name, folder in result.folders.items():
        typer.echo(f"{name}: {'reused' if result.cached[name] else 'done'} -> {folder}")
    typer.echo(f"report: {(result.run_dir.path / 'report.html').resolve()}")


@app.command("run")
@handles_errors
def run_command(
    experiment: Annotated[str, typer.Argument(help="EXPERIMENT.yaml, or preset:NAME (see `presets list`).")],
    out: Annotated[Path, typer.Option("--out", help="Run directory of the study (one folder per step).")],
    quick: Annotated[
        bool, typer.Option("--quick", help="Reduced sizes: a few CPU-minutes, labelled as such.")
    ] = False,
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Train on digits|mnist|cifar10 instead of the study's.")
    ] = None,
    data_dir: Annotated[
        str | None, typer.Option("--data-dir", help="Folder with the MNIST IDX or CIFAR-10 files.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Recompute every step.")] = False,
    executor: Executor = None,
    ray_address: RayAddress = None,
) -> None:
    """Run a study: each step cached by its spec and resumable; one report at the end. With
    --executor ray, sweep cells, landscape chunks and tuning batches run as Ray tasks."""
    run_preset(experiment, out, quick=quick, dataset=dataset, data_dir=data_dir, force=force,
               executor=executor, ray_address=ray_address)  # fmt: skip


@presets_app.command("list")
@handles_errors
def presets_list(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """The shipped presets: name, the seed they reproduce, their steps."""
    from optiscope.experiments.presets import preset_summaries

    rows = preset_summaries()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(f"{row['name']:<26} {row['steps']:>3} steps  {row['title']}")


@presets_app.command("show")
@handles_errors
def presets_show(name: Annotated[str, typer.Argument(help="A preset name.")]) -> None:
    """Print a preset's YAML (copy it to start your own study)."""
    from optiscope.experiments.presets import preset_text

    typer.echo(preset_text(name), nl=False)

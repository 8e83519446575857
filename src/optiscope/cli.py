"""The ``optiscope`` command: one sub-command per user task.

Each command parses its arguments into a spec, calls one library function, and reports. Errors a
user can cause become one line on stderr and exit code 2; anything else is a bug: exit code 1.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from optiscope.errors import OptiscopeError, SpecError

app = typer.Typer(
    name="optiscope",
    help="See and measure how optimization algorithms behave.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
optimizers_app = typer.Typer(help="The optimizer registry.", no_args_is_help=True)
surfaces_app = typer.Typer(help="The 2-D test surfaces.", no_args_is_help=True)
app.add_typer(optimizers_app, name="optimizers")
app.add_typer(surfaces_app, name="surfaces")

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int) -> None:
    typer.echo(message.replace("\n", " "), err=True)
    raise typer.Exit(code)


def handles_errors(command: F) -> F:
    """Turn library errors into one stderr line + exit 2, and bugs into exit 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            # The reader went away (`optiscope ... | head`): stop quietly, as Unix tools do.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(1) from None
        except OptiscopeError as error:
            _fail(f"error: {error}", 2)
        except Exception as error:  # a bug: say so, and show the traceback on request
            if os.environ.get("OPTISCOPE_DEBUG"):
                raise
            _fail(
                f"internal error ({type(error).__name__}): {error}. Set OPTISCOPE_DEBUG=1 for the traceback.",
                1,
            )

    return wrapper  # type: ignore[return-value]


@contextmanager
def _progress(description: str) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on a terminal; nothing when stderr is not a TTY."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _parse_point(text: str) -> tuple[float, float]:
    from optiscope.spec_syntax import parse_value

    parts = text.split(",")
    if len(parts) != 2:
        raise SpecError(f"a start point is 'X,Y', got {text!r}")
    values = [parse_value(part) for part in parts]
    if not all(isinstance(value, int | float) and not isinstance(value, bool) for value in values):
        raise SpecError(f"a start point is two numbers 'X,Y', got {text!r}")
    return float(values[0]), float(values[1])


def _parse_grid(text: str) -> int:
    size = text.lower().split("x")
    if len(size) != 2 or size[0] != size[1] or not size[0].isdigit():
        raise SpecError(f"--starts takes a square grid like 20x20, got {text!r}")
    return int(size[0])


@optimizers_app.command("list")
@handles_errors
def optimizers_list(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (stable, documented in the README).")
    ] = False,
) -> None:
    """List every optimizer: name, aliases, source, defaults, tags and formula notes."""
    from optiscope.optimizers import list_entries

    entries = [entry.describe() for entry in list_entries()]
    if as_json:
        typer.echo(json.dumps(entries, indent=2, default=str))
        return
    for entry in entries:
        aliases = f" (aliases: {', '.join(entry['aliases'])})" if entry["aliases"] else ""
        tags = f" [{', '.join(entry['tags'])}]" if entry.get("tags") else ""
        typer.echo(f"{entry['name']}{aliases}  source={entry['source']}{tags}")
        typer.echo(f"    defaults: {entry['defaults']}")
        if entry.get("notes"):
            typer.echo(f"    notes: {entry['notes']}")
        if entry.get("conformance_exception"):
            typer.echo(f"    exception: {entry['conformance_exception']}")


@surfaces_app.command("list")
@handles_errors
def surfaces_list(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (stable, documented in the README).")
    ] = False,
) -> None:
    """List every surface: name, formula, domain, start point and known minima."""
    from optiscope.surfaces import list_surfaces

    described = [surface.describe() for surface in list_surfaces()]
    if as_json:
        typer.echo(json.dumps(described, indent=2))
        return
    for surface in described:
        typer.echo(f"{surface['name']}: {surface['formula']}")
        typer.echo(f"    domain {surface['domain']}, start {surface['start']}, minima {surface['minima']}")


@app.command()
@handles_errors
def paths(
    surface: Annotated[
        str,
        typer.Argument(
            help="Surface name or spec ('f4', 'ill_conditioned:condition=50') "
            "or an expression ('x**2 + 10*sin(y)')."
        ),
    ],
    opt: Annotated[
        list[str],
        typer.Option("--opt", help="Optimizer spec, repeatable: 'adam:lr=0.1,betas=(0.9,0.99)'."),
    ],
    out: Annotated[Path, typer.Option("--out", help="Run directory to write.")],
    start: Annotated[
        list[str] | None,
        typer.Option("--start", help="Start point 'X,Y' (repeatable). Default: the surface's own."),
    ] = None,
    starts: Annotated[
        str | None,
        typer.Option("--starts", help="A grid of starts over the domain, e.g. 50x50 (draws basin maps)."),
    ] = None,
    steps: Annotated[int, typer.Option(help="Optimizer steps per run.")] = 100,
    noise: Annotated[
        str | None,
        typer.Option(help="Surface noise: lookup (seed 004, no gradient), smooth (felt), none."),
    ] = None,
    grad_noise: Annotated[float, typer.Option(help="Std of Gaussian noise added to every gradient.")] = 0.0,
    tol: Annotated[float, typer.Option(help="Gradient norm at which a run counts as converged.")] = 1e-8,
    seed: Annotated[int, typer.Option(help="Seed for noise, mini-batches and stochastic optimizers.")] = 0,
    dtype: Annotated[str, typer.Option(help="float64 or float32.")] = "float64",
    loop: Annotated[
        bool, typer.Option("--loop", help="Run one optimizer per start (the reference loop).")
    ] = False,
    three_d: Annotated[bool, typer.Option("--3d", help="Also draw the 3-D surface with the paths.")] = False,
    animate: Annotated[bool, typer.Option("--animate", help="Also write GIF animations.")] = False,
    interactive: Annotated[
        bool, typer.Option("--interactive", help="Also write interactive (plotly) figures into the report.")
    ] = False,
    frames: Annotated[int, typer.Option(help="Frames per animation.")] = 60,
    fps: Annotated[int, typer.Option(help="Animation frames per second.")] = 15,
    mp4: Annotated[
        bool, typer.Option("--mp4", help="Animations as MP4 (needs optiscope[video]) instead of GIF.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Recompute even if OUT holds this run.")] = False,
) -> None:
    """Run optimizers on a 2-D surface; store paths.parquet, runs.parquet, figures and report.html in OUT."""
    from optiscope.experiments.paths_study import PathsStudy, run_paths_study

    if start and starts:
        raise SpecError("give --start or --starts, not both")
    surface_spec = surface if noise is None else f"{surface}{',' if ':' in surface else ':'}noise={noise}"
    study = PathsStudy.build(
        surface=surface_spec,
        optimizers=tuple(opt),
        starts=tuple(_parse_point(text) for text in start) if start else None,
        start_grid=_parse_grid(starts) if starts else None,
        steps=steps,
        tol=tol,
        grad_noise=grad_noise,
        seed=seed,
        dtype=dtype,
        batched=not loop,
        three_d=three_d,
        animate=animate,
        interactive=interactive,
        frames=frames,
        fps=fps,
        video="mp4" if mp4 else "gif",
    )
    with _progress("paths") as progress:
        result = run_paths_study(study, out, force=force, progress=progress)
    if result.cached:
        typer.echo(f"cached: {out} already holds this run; nothing recomputed (--force recomputes)")
    _print_runs(result.paths)
    typer.echo(f"run directory: {result.run_dir.path}")
    typer.echo(f"report: {result.run_dir.path / 'report.html'}")


def _print_runs(paths: Any) -> None:
    frame = paths.runs_frame()
    summary = frame.groupby("spec", sort=False).agg(
        runs=("run", "size"),
        converged=("status", lambda s: int((s == "converged").sum())),
        diverged=("status", lambda s: int((s == "diverged").sum())),
        median_final_loss=("final_loss", "median"),
    )
    typer.echo(summary.to_string())


@app.command()
@handles_errors
def demo(
    out: Annotated[Path, typer.Option("--out", help="Where to write the demo's runs.")] = Path(
        "optiscope-demo"
    ),
    quick: Annotated[bool, typer.Option("--quick", help="A smaller demo (under 20 s).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Recompute even if OUT holds this demo.")] = False,
) -> None:
    """The seed optimizers on the seed surfaces, offline: a run directory with its figures."""
    from optiscope.experiments.demo import run_demo

    with _progress("demo") as progress:
        result = run_demo(out, quick=quick, force=force, progress=progress)
    for line in result.summary_lines():
        typer.echo(line)
    typer.echo(f"report: {(result.run_dir.path / 'report.html').resolve()}")
    typer.echo(f"demo written to: {result.run_dir.path.resolve()}")


@app.command("train")
@handles_errors
def train_command(
    out: Annotated[Path, typer.Option("--out", help="Run directory to write.")],
    config: Annotated[
        Path | None, typer.Argument(help="A YAML file of TrainConfig fields (flags override).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="mlp (seed 000), cnn or lenet (seed 001).")] = None,
    dataset: Annotated[
        str | None, typer.Option(help="digits (offline default), mnist, cifar10, synthetic.")
    ] = None,
    data_dir: Annotated[
        str | None, typer.Option(help="Folder holding MNIST IDX or CIFAR-10 batches.")
    ] = None,
    opt: Annotated[str | None, typer.Option("--opt", help="Optimizer spec, e.g. 'adam:lr=5e-4'.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size; 0 = full batch (GD).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs at most.")] = None,
    steps: Annotated[int | None, typer.Option(help="Optimizer steps at most.")] = None,
    patience: Annotated[
        int | None, typer.Option(help="Epochs without test-loss improvement before stopping.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for initialisation and batch order.")] = None,
    limit: Annotated[int | None, typer.Option(help="Keep only the first samples (quick runs).")] = None,
    record_every: Annotated[
        int | None, typer.Option(help="Snapshot the weights every k steps (default: as often as fits).")
    ] = None,
    no_record: Annotated[bool, typer.Option("--no-record", help="Do not record the weight path.")] = False,
    download: Annotated[
        bool, typer.Option("--download", help="Fetch MNIST/CIFAR-10 with torchvision if missing.")
    ] = False,
    device: Annotated[str | None, typer.Option(help="cpu or cuda.")] = None,
    track_eigs: Annotated[
        int | None,
        typer.Option("--track-eigs", help="Track the top-2 Hessian eigenvalues over the last N steps."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Recompute even if OUT holds this run.")] = False,
) -> None:
    """Train a network with any optimizer; store metrics, checkpoints, the weight path and a report."""
    from optiscope.experiments.train_study import run_train_study
    from optiscope.nets.trainer import TrainConfig

    fields = _read_yaml(config) if config is not None else {}
    flags = {"model": model, "dataset": dataset, "data_dir": data_dir, "optimizer": opt,
             "batch_size": batch_size, "epochs": epochs, "max_steps": steps, "patience": patience,
             "seed": seed, "limit": limit, "record_every": record_every, "device": device,
             "record": False if no_record else None, "download": True if download else None,
             "track_eigs": track_eigs}  # fmt: skip
    fields.update({key: value for key, value in flags.items() if value is not None})
    with _progress("train (epochs)") as progress:
        run = run_train_study(TrainConfig.build(**fields), out, force=force, progress=progress)
    if run.run_dir is not None and run.run_dir.cached:
        typer.echo(f"cached: {out} already holds this run; nothing recomputed (--force recomputes)")
    last = run.metrics.iloc[-1]
    typer.echo(f"status {run.status} after {run.steps} steps; test accuracy {last['test_accuracy']:.4f}, "
               f"test loss {last['test_loss']:.4g}")  # fmt: skip
    typer.echo(f"report: {Path(out) / 'report.html'}")


@app.command()
@handles_errors
def sweep(
    config: Annotated[
        Path, typer.Argument(help="YAML with 'base' (TrainConfig fields) and 'grid' (key: [values]).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Run directory to write.")],
    force: Annotated[bool, typer.Option("--force", help="Recompute every cell.")] = False,
) -> None:
    """Train one run per grid cell (seed 000's Table II); results table, heatmap and report."""
    from optiscope.experiments.sweep import SweepConfig, run_sweep

    with _progress("sweep (cells)") as progress:
        results = run_sweep(SweepConfig.build(**_read_yaml(config)), out, force=force, progress=progress)
    typer.echo(results.to_string(index=False))
    typer.echo(f"report: {Path(out) / 'report.html'}")


@app.command()
@handles_errors
def landscape(
    runs: Annotated[
        list[Path], typer.Argument(help="Training run directories; several draw side-by-side panels.")
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Run directory to write (default RUN/landscape, or RUN/landscape-panels)."
        ),
    ] = None,
    directions: Annotated[
        str,
        typer.Option(
            help="filter, layer, none (random, Li et al.), pca (of the path), hessian (top two "
            "eigenvectors), interpolate:RUN_B."
        ),
    ] = "filter",
    grid: Annotated[int, typer.Option(help="Points per axis.")] = 51,
    span: Annotated[
        float | None, typer.Option(help="Axes run over [-span, span] (default 1; pca: the path's reach).")
    ] = None,
    data: Annotated[
        list[str],
        typer.Option(help="train, test, batch:SIZE (the first batch) or subset:N; repeat for panels."),
    ] = ["train"],  # noqa: B006 - typer reads the default; it is never mutated
    seed: Annotated[int, typer.Option(help="Seed of the random directions.")] = 123,
    include_bias: Annotated[
        bool, typer.Option("--include-bias", help="Move biases and norm layers too (default: zeroed).")
    ] = False,
    engine: Annotated[str, typer.Option(help="auto, first_layer, vmap or loop.")] = "auto",
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    force: Annotated[
        bool, typer.Option("--force", help="Recompute even if OUT holds this landscape.")
    ] = False,
) -> None:
    """Loss landscape of a trained net around its final weights, with the training path on it."""
    from optiscope.experiments.landscape_panels import cell_label, run_landscape_panels
    from optiscope.experiments.landscape_study import LandscapeConfig, run_landscape_study

    datas = list(data)
    configs = [
        LandscapeConfig.build(run=str(run), directions=directions, grid=grid, span=span, data=selection,
                              seed=seed, ignore=None if include_bias else "biasbn", engine=engine,
                              device=device)
        for run in runs
        for selection in datas
    ]  # fmt: skip
    if len(configs) > 1:
        labels = [cell_label(config, len(runs), len(datas)) for config in configs]
        target = out if out is not None else runs[0] / "landscape-panels"
        with _progress("landscape (cells)") as progress:
            results = run_landscape_panels(configs, labels, target, force=force, progress=progress)
        for label, result in zip(labels, results, strict=True):
            captured = (
                "" if result.path is None else f", plane captures {100 * result.path.total_captured:.1f}%"
            )
            typer.echo(
                f"{label}: loss at the centre {result.grid.loss[result.grid.center_index()]:.4g}{captured}"
            )
        typer.echo(f"report: {Path(target) / 'report.html'}")
        return
    with _progress("landscape (chunks)") as progress:
        result = run_landscape_study(configs[0], out, force=force, progress=progress)
    if result.run_dir.cached:
        typer.echo(f"cached: {result.run_dir.path} already holds this landscape; nothing recomputed")
    summary = result.run_dir.read_table("summary").iloc[0]
    typer.echo(f"engine {summary['engine']}; loss at the centre {summary['center_loss']:.4g}, "
               f"range {summary['min_loss']:.4g}..{summary['max_loss']:.4g}")  # fmt: skip
    if result.path is not None:
        typer.echo(f"the plane captures {100 * result.path.total_captured:.1f}% of the training path")
    typer.echo(f"report: {result.run_dir.path / 'report.html'}")


@app.command()
@handles_errors
def curvature(
    run: Annotated[Path, typer.Argument(help="A training run directory (from optiscope train).")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Run directory to write (default RUN/curvature).")
    ] = None,
    top_k: Annotated[int, typer.Option("--top-k", help="Number of top Hessian eigenpairs.")] = 2,
    tol: Annotated[float, typer.Option(help="Relative tolerance of the eigen-solver.")] = 1e-6,
    method: Annotated[str, typer.Option(help="lanczos, lobpcg or power (seed 001's).")] = "lanczos",
    with_trace: Annotated[bool, typer.Option("--trace", help="Estimate the trace (Hutch++).")] = False,
    with_density: Annotated[
        bool, typer.Option("--density", help="Spectral density by stochastic Lanczos quadrature.")
    ] = False,
    along: Annotated[
        bool,
        typer.Option("--along/--no-along", help="Loss along the top eigenvectors (seed 001 figs. 2, 4)."),
    ] = True,
    data: Annotated[
        str, typer.Option(help="train, test, batch:SIZE (the first batch) or subset:N.")
    ] = "train",
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    force: Annotated[bool, typer.Option("--force", help="Recompute even if OUT holds this study.")] = False,
) -> None:
    """Curvature of a trained net: top Hessian eigenpairs, trace, density, loss along eigenvectors."""
    from optiscope.experiments.curvature_study import CurvatureConfig, run_curvature_study

    config = CurvatureConfig.build(run=str(run), top_k=top_k, tol=tol, method=method, trace=with_trace,
                                   density=with_density, along=along, data=data, device=device)  # fmt: skip
    with _progress("curvature (stages)") as progress:
        result = run_curvature_study(config, out, force=force, progress=progress)
    spectrum = result.spectrum
    values = ", ".join(f"{value:.6g}" for value in spectrum.values)
    typer.echo(f"top-{spectrum.k} eigenvalues {values} (max residual {spectrum.residuals.max():.2g}, "
               f"{spectrum.hvps} Hessian-vector products)")  # fmt: skip
    if spectrum.k > 1:
        typer.echo(f"lambda1 / lambda2 = {spectrum.values[0] / spectrum.values[1]:.4g}")
    if result.trace is not None:
        typer.echo(
            f"trace {result.trace['value']:.6g} +- {result.trace['stderr']:.2g} ({result.trace['method']})"
        )
    typer.echo(f"report: {result.run_dir.path / 'report.html'}")


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        loaded = yaml.safe_load(path.read_text())
    except OSError as error:
        raise SpecError(f"cannot read {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise SpecError(f"{path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(loaded, dict):
        raise SpecError(f"{path} must hold a mapping of config fields")
    return loaded


@app.command()
@handles_errors
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (its manifest.json is read).")],
    figures: Annotated[
        bool, typer.Option("--figures", help="Also redraw a paths run's figures from its stored tables.")
    ] = False,
) -> None:
    """(Re)render RUN_DIR/report.html (and with --figures its figures) from stored results."""
    from optiscope.experiments.paths_render import write_report
    from optiscope.experiments.paths_study import rerender_paths_study
    from optiscope.store import load_run

    run = load_run(run_dir)
    if figures:
        if run.manifest.get("kind") != "paths":
            raise SpecError(
                f"--figures redraws paths runs; {run_dir} holds a {run.manifest.get('kind')!r} run"
            )
        rerender_paths_study(run)
    typer.echo(f"report: {write_report(run)}")


def main() -> None:
    """Console entry point."""
    app()


# Sub-commands that live in their own module register themselves on ``app`` when imported.
import optiscope.cli_experiments  # noqa: E402, F401

if __name__ == "__main__":
    # ``python -m optiscope.cli`` runs this file as ``__main__``, a second copy of the module:
    # run the imported ``optiscope.cli``, on whose ``app`` the other modules registered.
    import importlib

    importlib.import_module("optiscope.cli").main()

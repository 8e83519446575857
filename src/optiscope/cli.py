"""The ``optiscope`` command: one sub-command per user task.

Each command parses its arguments into a study config (and figure options), dispatches it to the
study kind that runs it, and reports. Errors a user can cause become one line on stderr and exit
code 2; anything else is a bug: exit code 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from optiscope.cli_app import (
    Executor,
    RayAddress,
    app,
    build_from_yaml,
    handles_errors,
    parse_grid,
    parse_numbers,
    parse_point,
    progress_bar,
)
from optiscope.cli_experiments import run_preset  # also registers ``run`` and ``presets``
from optiscope.cli_geometry import connect  # noqa: F401 - registers ``connect``
from optiscope.cli_registry import optimizers_list, surfaces_list  # noqa: F401  (registers the registry commands)
from optiscope.cli_serve import serve_command  # noqa: F401 - registers ``serve``
from optiscope.cli_tune import tune_command  # noqa: F401 - registers ``tune``
from optiscope.errors import SpecError

__all__ = ["app", "main"]

ThreeD = Annotated[bool | None, typer.Option("--3d/--no-3d", help="Draw the 3-D surface with the paths.")]
Animate = Annotated[bool | None, typer.Option("--animate/--no-animate", help="Write animations (GIF).")]
Interactive = Annotated[
    bool | None, typer.Option("--interactive/--no-interactive", help="Add interactive (plotly) figures.")
]
Frames = Annotated[int | None, typer.Option(help="Frames per animation (default 60).")]
Fps = Annotated[int | None, typer.Option(help="Animation frames per second (default 15).")]
Mp4 = Annotated[
    bool | None, typer.Option("--mp4/--gif", help="Animations as MP4 (needs optiscope[video]) or GIF.")
]
Dpi = Annotated[int | None, typer.Option(help="Resolution of the PNG figures (default 90).")]
Width = Annotated[float | None, typer.Option(help="Figure width in inches (default: each figure's own).")]
Height = Annotated[float | None, typer.Option(help="Figure height in inches (default: each figure's own).")]
XLimits = Annotated[
    str | None,
    typer.Option("--x-limits", help="x range of plane figures as LOW,HIGH (default: fit the paths)."),
]
YLimits = Annotated[
    str | None,
    typer.Option("--y-limits", help="y range of plane figures as LOW,HIGH (default: fit the paths)."),
]
UserModel = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Your model's factory, pkg.mod:make_model, built with no arguments; only that module is "
        "imported, and it must be importable (on PYTHONPATH). Default: the factory the recording stored.",
    ),
]
Loss = Annotated[str, typer.Option(help="The loss: cross_entropy (class labels) or mse.")]
DATA_OPTION_HELP = (
    "train, test, batch:SIZE (the trainer's first batch), subset:N, or your own data: pkg.mod:loader or "
    "a .pt/.safetensors/.npz file holding x and y. A recording's train is the data it stored."
)
DataSelections = Annotated[list[str], typer.Option(help=f"{DATA_OPTION_HELP} Repeat for panels.")]


def _one(values: list[str], option: str) -> str:
    """The single value of an option typer lets repeat: given twice, it is refused, not overridden."""
    if len(values) != 1:
        raise SpecError(f"{option} takes one value here, got {len(values)}: {', '.join(values)}")
    return values[0]


def _parse_domain(text: str) -> tuple[float, float, float, float]:
    """``XMIN,XMAX,YMIN,YMAX`` as four numbers (their order is checked by the study's config)."""
    values = parse_numbers(text, 4)
    if values is None:
        raise SpecError(f"--domain is four numbers XMIN,XMAX,YMIN,YMAX, got {text!r}")
    return values  # type: ignore[return-value]


def _warn_outside(config: Any) -> None:
    """Say (on stderr) when a start point or a known minimum lies outside the plotted domain."""
    from optiscope.experiments.paths_surface import outside_domain, study_surface

    surface = study_surface(config.model_dump())
    (x_min, x_max), (y_min, y_max) = surface.domain
    window = f"[{x_min:g}, {x_max:g}] x [{y_min:g}, {y_max:g}]"
    for what, points in (("start", config.starts or ()), ("known minimum", surface.minima)):
        for x, y in outside_domain(surface, points):
            typer.echo(f"warning: {what} ({x:g}, {y:g}) lies outside the domain {window}; "
                       "pass --domain XMIN,XMAX,YMIN,YMAX to widen it", err=True)  # fmt: skip


def _style(**options: Any) -> dict[str, Any]:
    """The figure options given on the command line (the others keep their stored values)."""
    mp4 = options.pop("mp4", None)
    if mp4 is not None:
        options["video"] = "mp4" if mp4 else "gif"
    for name in ("x_limits", "y_limits"):
        if options.get(name) is not None:
            options[name] = parse_point(options[name], f"--{name.replace('_', '-')}")
    return {key: value for key, value in options.items() if value is not None}


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
    keep_paths: Annotated[
        str | None,
        typer.Option(
            "--keep-paths",
            help="Full paths stored: all, sample:N (N starts spread over the grid) or none. "
            "Default: all up to 400 starts, else sample:64. Every run's outcome and basin is stored.",
        ),
    ] = None,
    domain: Annotated[
        str | None,
        typer.Option(
            "--domain",
            help="The window XMIN,XMAX,YMIN,YMAX (escape reach, start grid, figures). Default: the "
            "surface's own; an expression's default square widens to hold the start points.",
        ),
    ] = None,
    three_d: ThreeD = None,
    animate: Animate = None,
    interactive: Interactive = None,
    frames: Frames = None,
    fps: Fps = None,
    mp4: Mp4 = None,
    dpi: Dpi = None,
    force: Annotated[bool, typer.Option("--force", help="Recompute even if OUT holds this run.")] = False,
) -> None:
    """Run optimizers on a 2-D surface; store paths.parquet, runs.parquet, figures and report.html in OUT.

    The figure options are not part of the run: asking again with other ones only re-draws.
    """
    from optiscope.experiments.paths_study import PathsConfig, run_paths_study

    if start and starts:
        raise SpecError("give --start or --starts, not both")
    surface_spec = surface if noise is None else f"{surface}{',' if ':' in surface else ':'}noise={noise}"
    config = PathsConfig.build(
        surface=surface_spec,
        optimizers=tuple(opt),
        starts=tuple(parse_point(text) for text in start) if start else None,
        start_grid=parse_grid(starts) if starts else None,
        steps=steps,
        tol=tol,
        grad_noise=grad_noise,
        seed=seed,
        dtype=dtype,
        batched=not loop,
        keep_paths=keep_paths,
        domain=_parse_domain(domain) if domain is not None else None,
    )
    _warn_outside(config)
    style = _style(three_d=three_d, animate=animate, interactive=interactive, frames=frames, fps=fps,
                   mp4=mp4, dpi=dpi)  # fmt: skip
    with progress_bar("paths") as progress:
        result = run_paths_study(config, out, style=style, force=force, progress=progress)
    typer.echo(result.execution.describe())
    _print_runs(result.run_dir.read_table("runs"))
    typer.echo(f"run directory: {result.run_dir.path}")
    typer.echo(f"report: {result.run_dir.path / 'report.html'}")


def _print_runs(frame: Any) -> None:
    from optiscope.paths.summary import outcome_lines, runs_summary

    typer.echo(runs_summary(frame).to_string(index=False))
    if len(frame) <= 20:
        for line in outcome_lines(frame):
            typer.echo(line)


@app.command()
@handles_errors
def demo(
    out: Annotated[Path, typer.Option("--out", help="Where to write the demo's runs.")] = Path(
        "optiscope-demo"
    ),
    quick: Annotated[bool, typer.Option("--quick", help="Smaller sizes (the preset's --quick).")] = False,
    force: Annotated[bool, typer.Option("--force", help="Recompute even if OUT holds this demo.")] = False,
) -> None:
    """The seed optimizers on the seed surfaces and a small seed-000 study, offline (preset:demo)."""
    run_preset("preset:demo", out, quick=quick, force=force)
    typer.echo(f"demo written to: {Path(out).resolve()}")


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
    track_sharpness: Annotated[
        int | None,
        typer.Option(
            "--track-sharpness",
            help="Every K steps: lambda_max of the Hessian (and the preconditioned one for Adam/RMSprop/"
            "AdaGrad) on a fixed batch, drawn against the stability threshold.",
        ),
    ] = None,
    dpi: Dpi = None,
    force: Annotated[bool, typer.Option("--force", help="Recompute even if OUT holds this run.")] = False,
) -> None:
    """Train a network with any optimizer; store metrics, checkpoints, the weight path and a report."""
    from optiscope.experiments.execute import execute
    from optiscope.experiments.train_study import TRAIN
    from optiscope.nets.trainer import TrainConfig

    flags = {"model": model, "dataset": dataset, "data_dir": data_dir, "optimizer": opt,
             "batch_size": batch_size, "epochs": epochs, "max_steps": steps, "patience": patience,
             "seed": seed, "limit": limit, "record_every": record_every, "device": device,
             "record": False if no_record else None, "download": True if download else None,
             "track_eigs": track_eigs, "track_sharpness": track_sharpness}  # fmt: skip
    given = {key: value for key, value in flags.items() if value is not None}
    train_config = (
        build_from_yaml(config, TrainConfig.build, **given)
        if config is not None
        else TrainConfig.build(**given)
    )
    with progress_bar("train (epochs)") as progress:
        execution = execute(TRAIN, train_config, out, style=_style(dpi=dpi), force=force,
                            progress=progress)  # fmt: skip
    typer.echo(execution.describe())
    summary = execution.run_dir.manifest.get("summary", {})
    last = execution.run_dir.read_table("metrics").iloc[-1]
    typer.echo(f"status {summary.get('status')} after {summary.get('steps')} steps; test accuracy "
               f"{last['test_accuracy']:.4f}, test loss {last['test_loss']:.4g}")  # fmt: skip
    typer.echo(f"report: {Path(out) / 'report.html'}")


@app.command()
@handles_errors
def sweep(
    config: Annotated[
        Path,
        typer.Argument(
            help="YAML with 'base' (TrainConfig fields) and 'grid' (key: [values]); optionally "
            "'executor' and 'ray_address' (the options below win)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Run directory to write.")],
    executor: Executor = None,
    ray_address: RayAddress = None,
    force: Annotated[bool, typer.Option("--force", help="Recompute every cell.")] = False,
) -> None:
    """Train one run per grid cell (seed 000's Table II); results table, heatmap and report. Each
    cell is a work unit (on a Ray cluster, --out must be a folder the workers share); a killed sweep
    resumes without redoing a finished cell, on either executor."""
    from optiscope.experiments.execute import execute
    from optiscope.experiments.sweep_study import SWEEP, sweep_from_file
    from optiscope.tuning import executor_scope, make_executor

    sweep_config, file_executor, file_address = build_from_yaml(config, sweep_from_file)
    if executor is None and ray_address is None:  # the options, when given, replace the file's
        executor, ray_address = file_executor, file_address
    runner = make_executor(executor, ray_address)
    with executor_scope(runner), progress_bar("sweep (cells)") as progress:
        execution = execute(SWEEP, sweep_config, out, force=force, progress=progress)
    typer.echo(execution.describe())
    typer.echo(execution.run_dir.read_table("results").to_string(index=False))
    typer.echo(f"report: {Path(out) / 'report.html'}")


@app.command()
@handles_errors
def landscape(
    runs: Annotated[
        list[Path],
        typer.Argument(
            help="Training runs or recordings (optiscope.nets.record); several draw side-by-side panels "
            "(with --directions pca-joint: one plane for all)."
        ),
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
            help="filter, layer, none (random, Li et al.), pca (of the path), pca-joint (of all "
            "runs' paths, one plane), hessian (top two eigenvectors), interpolate:RUN_B."
        ),
    ] = "filter",
    centre: Annotated[
        str, typer.Option(help="pca-joint: the plane's centre, a run's index (0 = the first) or mean.")
    ] = "0",
    grid: Annotated[int, typer.Option(help="Points per axis.")] = 51,
    span: Annotated[
        float | None, typer.Option(help="Axes run over [-span, span] (default 1; pca: the path's reach).")
    ] = None,
    data: DataSelections = ["train"],  # noqa: B006 - typer reads the default; it is never mutated
    model: UserModel = None,
    loss: Loss = "cross_entropy",
    seed: Annotated[int, typer.Option(help="Seed of the random directions.")] = 123,
    include_bias: Annotated[
        bool, typer.Option("--include-bias", help="Move biases and norm layers too (default: zeroed).")
    ] = False,
    engine: Annotated[str, typer.Option(help="auto, first_layer, vmap or loop.")] = "auto",
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    convexity: Annotated[
        int | None,
        typer.Option(
            help="Also map |lambda_min/lambda_max| of the Hessian on an N x N grid of the same plane "
            "(Li et al. sec. 6; two eigenvalue solves a point: keep N small, e.g. 7)."
        ),
    ] = None,
    executor: Executor = None,
    ray_address: RayAddress = None,
    interactive: Interactive = None,
    dpi: Dpi = None,
    force: Annotated[
        bool, typer.Option("--force", help="Recompute even if OUT holds this landscape.")
    ] = False,
) -> None:
    """Loss landscape of a trained net around its final weights, with the training path on it. The
    grid is evaluated in chunks (work units, stored as they finish); a killed run resumes."""
    import numpy as np

    from optiscope.experiments.execute import execute
    from optiscope.experiments.landscape_convexity import load_convexity
    from optiscope.experiments.landscape_panels_study import cell_label, landscape_study_for
    from optiscope.experiments.landscape_study import LandscapeConfig, check_inputs
    from optiscope.tuning import executor_scope, make_executor
    from optiscope.viz.convexity_figures import convexity_note

    runner = make_executor(executor, ray_address)
    datas = list(data)
    joint = directions == "pca-joint"
    if joint and len(runs) < 2:
        raise SpecError("--directions pca-joint draws several runs on one plane: give at least two runs")
    subjects = [(runs[0], tuple(str(r) for r in runs[1:]))] if joint else [(run, ()) for run in runs]
    configs = [
        LandscapeConfig.build(run=str(run), directions=directions, grid=grid, span=span, data=selection,
                              seed=seed, ignore=None if include_bias else "biasbn", engine=engine,
                              device=device, model=model, loss=loss, joint=others, convexity=convexity,
                              **({"centre": centre} if joint else {}))
        for run, others in subjects
        for selection in datas
    ]  # fmt: skip
    for config in configs:
        check_inputs(config)
    labels = [cell_label(config, len(subjects), len(datas)) for config in configs]
    kind, config = landscape_study_for(configs, labels)
    name = "landscape-joint" if joint else "landscape"
    target = out if out is not None else runs[0] / (name if len(configs) == 1 else f"{name}-panels")
    with executor_scope(runner), progress_bar("landscape") as progress:
        execution = execute(kind, config, target, style=_style(interactive=interactive, dpi=dpi), force=force,
                            progress=progress)  # fmt: skip
    typer.echo(execution.describe())
    summary = execution.run_dir.read_table("summary")
    for _, row in summary.iterrows():
        label = f"{row['cell']}: " if "cell" in summary.columns else ""
        captured = "" if row["path_captured"] != row["path_captured"] else (
            f"; the plane captures {100 * row['path_captured']:.1f}% of the training path"
        )  # fmt: skip
        shares = [
            f"{100 * row[c]:.1f}% of {c.removeprefix('captured_')}'s"
            for c in summary
            if c.startswith("captured_")
        ]
        captured = f"; the plane captures {', '.join(shares)} path" if shares else captured
        typer.echo(f"{label}engine {row['engine']}; loss at the centre {row['center_loss']:.4g}, "
                   f"range {row['min_loss']:.4g}..{row['max_loss']:.4g}{captured}")  # fmt: skip
    found = load_convexity(execution.run_dir)
    if found is not None:
        typer.echo(f"convexity map: max |lambda_min/lambda_max| {np.nanmax(found.ratio):.3g}; "
                   f"{convexity_note(found)}")  # fmt: skip
    typer.echo(f"report: {execution.path / 'report.html'}")


@app.command()
@handles_errors
def curvature(
    run: Annotated[
        Path, typer.Argument(help="A training run (optiscope train) or a recording (optiscope.nets.record).")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="Run directory to write (default RUN/curvature).")
    ] = None,
    top_k: Annotated[int, typer.Option("--top-k", help="Number of top Hessian eigenpairs.")] = 2,
    tol: Annotated[float, typer.Option(help="Relative tolerance of the eigen-solver.")] = 1e-6,
    method: Annotated[
        str,
        typer.Option(
            help="lanczos, lobpcg, power (seed 001's) or ritz (Lanczos stopped once the relative "
            "eigenvalue error is below --tol)."
        ),
    ] = "lanczos",
    with_trace: Annotated[bool, typer.Option("--trace", help="Estimate the trace (Hutch++).")] = False,
    with_density: Annotated[
        bool, typer.Option("--density", help="Spectral density by stochastic Lanczos quadrature.")
    ] = False,
    layers: Annotated[
        bool, typer.Option("--layers", help="Top eigenvalues and trace of each layer's Hessian block.")
    ] = False,
    operator: Annotated[
        str,
        typer.Option(
            help="The curvature measured: hessian, ggn (generalised Gauss-Newton), fisher (equal to the "
            "GGN for cross-entropy and MSE), empirical-fisher, or all (the Hessian's study plus a "
            "table of every operator's top eigenvalues, trace, products and seconds)."
        ),
    ] = "hessian",
    along: Annotated[
        bool,
        typer.Option("--along/--no-along", help="Loss along the top eigenvectors (seed 001 figs. 2, 4)."),
    ] = True,
    data: Annotated[list[str], typer.Option(help=f"{DATA_OPTION_HELP} Give it once.")] = ["train"],  # noqa: B006
    model: UserModel = None,
    loss: Loss = "cross_entropy",
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    interactive: Interactive = None,
    dpi: Dpi = None,
    force: Annotated[bool, typer.Option("--force", help="Recompute even if OUT holds this study.")] = False,
) -> None:
    """Curvature of a trained net: top Hessian eigenpairs, trace, density, loss along eigenvectors."""
    from optiscope.experiments.curvature_study import CurvatureConfig, check_inputs, run_curvature_study

    config = CurvatureConfig.build(run=str(run), top_k=top_k, tol=tol, method=method, trace=with_trace,
                                   density=with_density, layers=layers, along=along,
                                   data=_one(data, "--data"), device=device, model=model,
                                   loss=loss, operator=operator)  # fmt: skip
    check_inputs(config)
    with progress_bar("curvature (stages)") as progress:
        result = run_curvature_study(config, out, style=_style(interactive=interactive, dpi=dpi),
                                     force=force, progress=progress)  # fmt: skip
    spectrum = result.spectrum
    values = ", ".join(f"{value:.6g}" for value in spectrum.values)
    products = "Hessian-vector" if config.operator in ("hessian", "all") else config.operator
    typer.echo(f"top-{spectrum.k} eigenvalues {values} (max residual {spectrum.residuals.max():.2g}, "
               f"{spectrum.hvps} {products} products)")  # fmt: skip
    if spectrum.k > 1:
        typer.echo(f"lambda1 / lambda2 = {spectrum.values[0] / spectrum.values[1]:.4g}")
    if result.trace is not None:
        trace_ = result.trace
        typer.echo(
            f"trace {trace_['value']:.6g} +- {trace_['stderr']:.2g} ({trace_['method']}: "
            f"{trace_['products']} {products} products, {trace_['random_probes']} of them random probes)"
        )
    if result.comparison is not None:
        from optiscope.experiments.curvature_operators import comparison_lines

        for line in comparison_lines(result.comparison):
            typer.echo(line)
    if result.layers is not None:
        for row in result.layers.itertuples():
            typer.echo(f"layer {row.layer} ({row.n_params} parameters): lambda1 {row.lambda1:.6g}, "
                       f"trace {row.trace:.6g} +- {row.trace_stderr:.2g}")  # fmt: skip
    typer.echo(f"report: {result.run_dir.path / 'report.html'}")


@app.command()
@handles_errors
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (its manifest.json is read).")],
    three_d: ThreeD = None,
    animate: Animate = None,
    interactive: Interactive = None,
    frames: Frames = None,
    fps: Fps = None,
    mp4: Mp4 = None,
    dpi: Dpi = None,
    width: Width = None,
    height: Height = None,
    x_limits: XLimits = None,
    y_limits: YLimits = None,
) -> None:
    """Re-draw RUN_DIR's figures and report.html from its stored files, with new figure options.

    Nothing is recomputed. Options not given keep the values the run was last drawn with; a run
    that holds other runs (a study, a sweep, panels) re-draws them too.
    """
    from optiscope.experiments.registry import redraw

    style = _style(three_d=three_d, animate=animate, interactive=interactive, frames=frames, fps=fps,
                   mp4=mp4, dpi=dpi, width=width, height=height, x_limits=x_limits,
                   y_limits=y_limits)  # fmt: skip
    drawn = redraw(run_dir, style)
    typer.echo(f"re-drawn, nothing recomputed: {drawn.path}")
    typer.echo(f"report: {drawn.path / 'report.html'}")


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    main()

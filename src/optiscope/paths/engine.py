"""The trajectory engine: many optimizer configs x many start points on one surface.

A *block* is one optimizer config run from many start points; it is the unit of work (a pure
function of its inputs, stored and resumed on its own). Inside a block the start points are
split into *lanes*, each a parameter tensor of shape ``(m, 2)`` with its own optimizer:

* an element-wise optimizer (its update of a coordinate depends only on that coordinate's own
  history) gets one lane holding every start point, so one optimizer step moves them all;
* any other optimizer (LAMB, LARS, full-matrix AdaGrad, L-BFGS, ...) gets one lane per start.

``batched=False`` forces one lane per start for every optimizer: that plain loop is the oracle
the batched lanes are tested against.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from optiscope.errors import SpecError
from optiscope.optimizers import (
    OptimizerSpec,
    build_optimizer,
    check_compatible,
    get_entry,
    parse_spec,
)
from optiscope.paths.outcomes import OUTCOME_RULES, RUN_STATUSES, outcome_steps, settle_after_budget
from optiscope.paths.pathset import PathSet
from optiscope.seeding import seed_global_streams
from optiscope.surfaces import Surface

__all__ = ["EngineOptions", "LaneOptimizer", "run", "run_block"]

LaneOptimizer = Callable[[torch.nn.Parameter], torch.optim.Optimizer]
"""Builds a lane's optimizer over its ``(rows, 2)`` parameter (see ``run_block``)."""

_MAX_STEPS = 1_000_000
_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_AT_MAX_STEPS, _CONVERGED, _DIVERGED, _LEFT = (
    RUN_STATUSES.index(s) for s in ("max_steps", "converged", "diverged", "left_domain")
)
_RULE = {name: OUTCOME_RULES.index(name) for name in OUTCOME_RULES}


@dataclass(frozen=True)
class EngineOptions:
    """How the engine runs; every field is part of a run's spec (and so of its cache key).

    Attributes:
        steps: optimizer steps per run.
        tol: a run has converged when the norm of its gradient stays at or below ``tol`` for
            ``window + 1`` consecutive steps (see :mod:`optiscope.paths.outcomes` for every rule).
        window: the steps a convergence rule must hold for, beyond the first.
        escape: a run stops when it goes past the surface's domain grown ``escape`` times around
            its centre: ``left_domain`` when downhill of its start, ``diverged`` when uphill.
        grad_noise: standard deviation of Gaussian noise added to every gradient (a stand-in
            for mini-batch noise); drawn per (step, run) so batching does not change it.
        seed: seeds gradient noise, mini-batches of stochastic surfaces and the optimizers.
        dtype: ``"float64"`` (default: the readable reference precision) or ``"float32"``.
        device: torch device string.
        batched: run element-wise optimizers as one lane; ``False`` forces the plain loop.
    """

    steps: int = 100
    tol: float = 1e-8
    window: int = 10
    escape: float = 10.0
    grad_noise: float = 0.0
    seed: int = 0
    dtype: str = "float64"
    device: str = "cpu"
    batched: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.steps, int) or isinstance(self.steps, bool) or self.steps <= 0:
            raise SpecError(f"steps must be a positive integer, got {self.steps!r}")
        if self.steps > _MAX_STEPS:
            raise SpecError(f"steps must be at most {_MAX_STEPS}, got {self.steps}")
        for name in ("tol", "escape", "grad_noise"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise SpecError(f"{name} must be a finite number >= 0, got {value!r}")
        if not isinstance(self.window, int) or isinstance(self.window, bool) or not 0 <= self.window <= 1000:
            raise SpecError(f"window must be an integer from 0 to 1000, got {self.window!r}")
        if self.escape <= 1:
            raise SpecError(f"escape must be > 1 (a multiple of the domain), got {self.escape}")
        if self.dtype not in _DTYPES:
            raise SpecError(f"dtype must be one of {sorted(_DTYPES)}, got {self.dtype!r}")

    @property
    def torch_dtype(self) -> torch.dtype:
        return _DTYPES[self.dtype]


def _stream_seed(seed: int, step: int, stream: int) -> int:
    """A distinct, reproducible generator seed per (run seed, step, stream)."""
    return (seed * 1_000_003 + step * 7919 + stream * 104_729) % (2**63 - 1)


def _as_starts(starts: Tensor | np.ndarray | Sequence[Sequence[float]], surface: Surface) -> np.ndarray:
    array = np.asarray(starts if starts is not None else [surface.start], dtype=np.float64)
    if array.ndim == 1:
        array = array.reshape(1, -1)
    if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] == 0:
        raise SpecError(f"start points must have shape (n, 2), got {tuple(array.shape)}")
    if not np.isfinite(array).all():
        raise SpecError("start points must be finite numbers")
    return array


class _Lane:
    """A contiguous group of rows of one block moved by one optimizer instance."""

    def __init__(
        self, spec: OptimizerSpec, rows: slice, starts: Tensor, build: LaneOptimizer | None = None
    ) -> None:
        self.rows = rows
        self.param = torch.nn.Parameter(starts[rows].clone())
        self.optimizer = build(self.param) if build is not None else build_optimizer(spec, [self.param])
        self.active = torch.ones(rows.stop - rows.start, dtype=torch.bool, device=starts.device)
        self.running = True
        self.all_active = True

    def stop(self, rows: Tensor) -> None:
        """Deactivate the lane rows flagged in the boolean mask ``rows``."""
        self.active &= ~rows
        self.all_active = False
        self.running = bool(self.active.any())

    def block_rows(self, mask: Tensor) -> Tensor:
        """Block row indices (on the CPU) of the lane rows flagged in ``mask``."""
        return torch.nonzero(mask).squeeze(1).cpu() + self.rows.start


StepObserver = Callable[[int, Tensor, Tensor, Tensor], None]
"""``on_step(step, points, losses, n_steps)``: sees a block's buffers after each step."""


def run_block(
    surface: Surface,
    spec: OptimizerSpec | str,
    starts: np.ndarray,
    options: EngineOptions,
    *,
    run_ids: np.ndarray | None = None,
    total_runs: int | None = None,
    lane_optimizer: LaneOptimizer | None = None,
    on_step: StepObserver | None = None,
) -> dict[str, np.ndarray]:
    """Run one optimizer config from every start point (one unit of work).

    Args:
        surface: the loss.
        spec: the optimizer config.
        starts: start points, shape ``(n, 2)``.
        options: engine options.
        run_ids: global run index of each start (seeds per-run gradient noise); default ``0..n-1``.
        total_runs: number of runs in the whole job (the noise is drawn for all of them).
        lane_optimizer: builds the one optimizer that moves every row as a single lane, given
            the ``(n, 2)`` parameter; ``spec`` then only names the entry whose flags apply. A
            batch of tuning trials uses it: each row carries its own hyperparameters
            (:mod:`optiscope.tuning.rowwise`), so hundreds of configurations share one step.
        on_step: called after every step is recorded as ``on_step(step, points, losses,
            n_steps)`` with the buffers so far (``points (steps+1, n, 2)``, rows up to ``step``
            are written; a run's rows after its ``n_steps`` entry are not its own), so a server
            can stream the paths while they grow. It must not change the buffers.

    Returns:
        Arrays ``points (n, steps+1, 2)``, ``losses (n, steps+1)``, ``grad_norms (n, steps+1)``,
        ``n_steps (n,)``, ``status (n,)`` (an index into ``RUN_STATUSES``), ``rule (n,)`` (an
        index into ``OUTCOME_RULES``: why the run ended so) and ``outcome_step (n,)`` (the step
        the rule names: converged at, left the domain at, diverged at).
    """
    spec = parse_spec(spec) if isinstance(spec, str) else spec
    entry = get_entry(spec.name)
    check_compatible(entry, (2,))
    dtype, device = options.torch_dtype, torch.device(options.device)
    starts_t = torch.as_tensor(starts, dtype=dtype, device=device)
    n, steps = starts_t.shape[0], options.steps
    run_ids_t = torch.as_tensor(run_ids if run_ids is not None else np.arange(n), device=device)
    total_runs = total_runs or int(run_ids_t.max()) + 1

    seed_global_streams(options.seed)
    if lane_optimizer is not None:
        lanes = [_Lane(spec, slice(0, n), starts_t, lane_optimizer)]
    elif options.batched and entry.elementwise:
        lanes = [_Lane(spec, slice(0, n), starts_t)]
    else:
        lanes = [_Lane(spec, slice(i, i + 1), starts_t) for i in range(n)]

    points = torch.empty((steps + 1, n, 2), dtype=dtype, device=device)
    losses = torch.empty((steps + 1, n), dtype=dtype, device=device)
    grad_norms = torch.empty((steps + 1, n), dtype=dtype, device=device)
    n_steps = torch.full((n,), steps, dtype=torch.int64)
    status = torch.full((n,), _AT_MAX_STEPS, dtype=torch.int64)
    rule = torch.full((n,), _RULE["budget"], dtype=torch.int64)
    calm = torch.zeros(n, dtype=torch.int64, device=device)  # consecutive steps with |g| <= tol

    (x_min, x_max), (y_min, y_max) = surface.domain
    centre = torch.tensor([(x_min + x_max) / 2, (y_min + y_max) / 2], dtype=dtype, device=device)
    reach = options.escape * torch.tensor(
        [(x_max - x_min) / 2, (y_max - y_min) / 2], dtype=dtype, device=device
    )
    step_noise = _StepNoise(surface, options, total_runs, dtype, device)

    for step in range(steps + 1):
        for lane in lanes:
            if not lane.running:
                continue
            loss, grad = _evaluate(surface, entry.needs_create_graph, lane, step, step_noise, run_ids_t)
            position = lane.param.detach()
            norms = torch.linalg.vector_norm(grad, dim=-1)
            # Whole lanes are recorded; entries after a run's last step are blanked at the end.
            points[step, lane.rows] = position
            losses[step, lane.rows] = loss
            grad_norms[step, lane.rows] = norms

            finite = torch.isfinite(position).all(dim=-1) & torch.isfinite(loss)
            within = ((position - centre).abs() <= reach).all(dim=-1)
            calm[lane.rows] = torch.where(norms <= options.tol, calm[lane.rows] + 1, 0)
            settled = calm[lane.rows] > options.window
            stopping = lane.active & (~finite | ~within | settled)
            if bool(stopping.any()):
                downhill = loss < losses[0, lane.rows]
                outcomes = (
                    (~finite, _DIVERGED, "non_finite"),
                    (finite & ~within & downhill, _LEFT, "rolled_off"),
                    (finite & ~within & ~downhill, _DIVERGED, "thrown_out"),
                    (finite & within & settled, _CONVERGED, "gradient"),
                )
                for mask, code, why in outcomes:
                    rows = lane.block_rows(stopping & mask)
                    status[rows], rule[rows] = code, _RULE[why]
                n_steps[lane.block_rows(stopping)] = step
                lane.stop(stopping)
            if step == steps or not lane.running:
                continue
            try:
                _step(
                    lane, surface, entry.needs_closure, entry.needs_create_graph, step, step_noise, run_ids_t
                )
            except (ArithmeticError, torch.linalg.LinAlgError):
                # The optimizer's own arithmetic broke down (a division by zero, an eigensolver
                # fed non-finite values): a numerical failure of this run, recorded as divergence.
                failed = lane.block_rows(lane.active)
                n_steps[failed], status[failed], rule[failed] = step, _DIVERGED, _RULE["arithmetic"]
                lane.stop(lane.active)
        if on_step is not None:
            on_step(step, points, losses, n_steps)

    after_stop = torch.arange(steps + 1)[:, None] > n_steps[None, :]
    points[after_stop.to(device)] = math.nan
    losses[after_stop.to(device)] = math.nan
    grad_norms[after_stop.to(device)] = math.nan
    result = {
        "points": points.transpose(0, 1).cpu().numpy(),
        "losses": losses.transpose(0, 1).cpu().numpy(),
        "grad_norms": grad_norms.transpose(0, 1).cpu().numpy(),
        "n_steps": n_steps.numpy(),
        "status": status.numpy(),
        "rule": rule.numpy(),
    }
    result["outcome_step"] = outcome_steps(
        result["points"], result["n_steps"], result["rule"], domain=surface.domain, window=options.window
    )
    settle_after_budget(
        result["points"], result["losses"], result["n_steps"], result["status"], result["rule"],
        result["outcome_step"], domain=surface.domain, minimum_value=surface.minimum_value,
        window=options.window,
    )  # fmt: skip
    return result


class _StepNoise:
    """Mini-batch generators and gradient noise that depend on (seed, step, run), not on lanes."""

    def __init__(
        self,
        surface: Surface,
        options: EngineOptions,
        total_runs: int,
        dtype: torch.dtype,
        device: torch.device,
    ) -> None:
        self.surface, self.options, self.total_runs = surface, options, total_runs
        self.dtype, self.device = dtype, device
        self._noise_step: int | None = None
        self._noise: Tensor | None = None

    def batch_generator(self, step: int) -> torch.Generator:
        return torch.Generator().manual_seed(_stream_seed(self.options.seed, step, 1))

    def gradient_noise(self, step: int, run_ids: Tensor) -> Tensor:
        if self._noise_step != step:
            generator = torch.Generator().manual_seed(_stream_seed(self.options.seed, step, 2))
            draw = torch.randn(self.total_runs, 2, generator=generator, dtype=self.dtype)
            self._noise, self._noise_step = draw.to(self.device), step
        return self.options.grad_noise * self._noise[run_ids]


def _training_loss(surface: Surface, params: Tensor, step: int, noise: _StepNoise) -> tuple[Tensor, Tensor]:
    """The loss recorded (full surface) and the loss differentiated (a mini-batch if stochastic)."""
    full = surface(params)
    if surface.stochastic is None:
        return full, full
    return full, surface.stochastic(params, noise.batch_generator(step))


def _evaluate(
    surface: Surface, create_graph: bool, lane: _Lane, step: int, noise: _StepNoise, run_ids: Tensor
) -> tuple[Tensor, Tensor]:
    """Loss and (noisy) gradient at the lane's position; leaves the gradient in ``param.grad``."""
    full, trained = _training_loss(surface, lane.param, step, noise)
    lane.param.grad = _gradient(trained, lane, create_graph, step, noise, run_ids)
    return full.detach(), lane.param.grad.detach()


def _gradient(
    trained: Tensor, lane: _Lane, create_graph: bool, step: int, noise: _StepNoise, run_ids: Tensor
) -> Tensor:
    """Gradient of the summed loss (each row's own gradient), plus the step's gradient noise.

    ``autograd.grad`` rather than ``backward``: with ``create_graph`` (AdaHessian, SophiaH) a
    backward would tie the parameter to its own gradient in a reference cycle.
    """
    (grad,) = torch.autograd.grad(trained.sum(), lane.param, create_graph=create_graph)
    if noise.options.grad_noise > 0:
        grad = grad + noise.gradient_noise(step, run_ids[lane.rows])
    return grad


def _step(
    lane: _Lane,
    surface: Surface,
    needs_closure: bool,
    create_graph: bool,
    step: int,
    noise: _StepNoise,
    run_ids: Tensor,
) -> None:
    """One optimizer step; rows that stopped are put back where they stopped."""
    frozen = None if lane.all_active else lane.param.detach().clone()
    if needs_closure:

        def closure() -> Tensor:
            _, trained = _training_loss(surface, lane.param, step, noise)
            lane.param.grad = _gradient(trained, lane, create_graph, step, noise, run_ids)
            return trained.sum().detach()

        lane.optimizer.step(closure)
    else:
        lane.optimizer.step()
    if frozen is not None:
        with torch.no_grad():
            lane.param[~lane.active] = frozen[~lane.active]


def run(
    surface: Surface,
    specs: Sequence[OptimizerSpec | str],
    starts: Tensor | np.ndarray | Sequence[Sequence[float]] | None = None,
    steps: int = 100,
    **options: object,
) -> PathSet:
    """Run every optimizer config from every start point on ``surface``.

    Args:
        surface: the loss (see :func:`optiscope.surfaces.get`).
        specs: optimizer configs, as specs or strings like ``"adam:lr=0.1"``.
        starts: start points ``(n, 2)``; default the surface's own start.
        steps: optimizer steps per run.
        **options: further :class:`EngineOptions` fields (``tol``, ``grad_noise``, ``seed``, ...).

    Returns:
        A :class:`PathSet` with ``len(specs) * n`` runs, config-major.

    Raises:
        SpecError: bad steps, starts or options; UnknownNameError / HyperparameterError for a bad spec;
            IncompatibleOptimizerError for an optimizer that cannot move 2-D points.
    """
    engine_options = EngineOptions(steps=steps, **options)  # type: ignore[arg-type]
    parsed = [parse_spec(spec) if isinstance(spec, str) else spec for spec in specs]
    if not parsed:
        raise SpecError("give at least one optimizer spec")
    start_array = _as_starts(starts, surface)
    blocks = [
        run_block(
            surface,
            spec,
            start_array,
            engine_options,
            run_ids=np.arange(len(start_array)) + index * len(start_array),
            total_runs=len(parsed) * len(start_array),
        )
        for index, spec in enumerate(parsed)
    ]
    return assemble(surface.name, parsed, start_array, blocks, engine_options)


def assemble(
    surface_name: str,
    specs: Sequence[OptimizerSpec],
    starts: np.ndarray,
    blocks: Sequence[dict[str, np.ndarray]],
    options: EngineOptions,
) -> PathSet:
    """Join per-config blocks (as returned by :func:`run_block`) into one :class:`PathSet`."""
    batched = [bool(options.batched and get_entry(spec.name).elementwise) for spec in specs]
    return PathSet(
        surface=surface_name,
        specs=[spec.to_string() for spec in specs],
        labels=[spec.label for spec in specs],
        optimizers=[spec.name for spec in specs],
        starts=np.asarray(starts, dtype=np.float64),
        points=np.concatenate([block["points"] for block in blocks]).astype(np.float64),
        losses=np.concatenate([block["losses"] for block in blocks]).astype(np.float64),
        grad_norms=np.concatenate([block["grad_norms"] for block in blocks]).astype(np.float64),
        n_steps=np.concatenate([block["n_steps"] for block in blocks]),
        status=[RUN_STATUSES[int(code)] for block in blocks for code in block["status"]],
        rules=[OUTCOME_RULES[int(code)] for block in blocks for code in block["rule"]],
        outcome_steps=np.concatenate([block["outcome_step"] for block in blocks]),
        info={"batched": batched, "options": options.__dict__.copy()},
    )

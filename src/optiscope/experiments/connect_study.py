"""A connectivity study of two trained runs: loss along the line and a trained Bezier curve.

Garipov et al. (2018), see :mod:`optiscope.landscape.connectivity`. Units: ``line`` (the loss
along the straight line), ``bezier-SSSSSS`` (the control point and its optimizer after each
chunk of ``SSSSSS`` training steps, so a killed run resumes at its last chunk) and
``bezier-curve`` (the loss along the trained curve). Stored: ``curves.parquet`` (curve, t,
loss, accuracy), ``summary.parquet`` (each curve's barrier and end values),
``bezier_training.parquet`` and ``bezier_control.safetensors``. The control point is trained on
run A's training set; both curves are evaluated on ``data``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import safetensors.torch
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from optiscope.errors import SpecError
from optiscope.experiments.connect_render import CONTROL_FILE, render_connect
from optiscope.experiments.execute import Execution, execute
from optiscope.experiments.protocol import ProgressCallback, RunContext, StudyKind
from optiscope.experiments.study_inputs import (
    DataSpec,
    LossName,
    ModelPath,
    StudyInputs,
    load_inputs,
    select_data,
)
from optiscope.landscape.connectivity import (
    BezierState,
    CurveProfile,
    bezier_point,
    evaluate_curve,
    has_batch_norm,
    line_point,
    train_bezier,
)
from optiscope.nets.recorder import parameter_layout
from optiscope.optimizers import parse_spec
from optiscope.store import RunDir
from optiscope.validated import validated

__all__ = ["CONNECT", "ConnectConfig", "check_inputs", "run_connect_study"]

_STEPS_PER_UNIT = 100  # Bezier training steps per stored unit (resume granularity)


class ConnectConfig(BaseModel):
    """What to connect and how: validated once, hashed into the run's cache key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_a: str = Field(description="the training run at t = 0")
    run_b: str = Field(description="the training run at t = 1 (same architecture)")
    curve: Literal["linear", "bezier"] = Field(
        default="bezier", description="linear: the line only; bezier: the line and a trained Bezier curve"
    )
    points: int = Field(default=31, ge=3, le=1001, description="points along each curve, ends included")
    data: DataSpec = "train"
    bezier_steps: int = Field(
        default=1000, ge=1, le=1_000_000, description="training steps of the control point"
    )
    bezier_optimizer: str = Field(default="adam:lr=0.001", description="optimizer of the control point")
    bezier_batch: int = Field(default=128, ge=1, description="samples per Bezier training step")
    seed: int = 0
    device: str = "cpu"
    model: ModelPath = None
    loss: LossName = "cross_entropy"

    @field_validator("bezier_optimizer")
    @classmethod
    def _optimizer(cls, value: str) -> str:
        return parse_spec(value).to_string()

    @classmethod
    def build(cls, **fields: Any) -> ConnectConfig:
        """Validate ``fields``, turning pydantic's report into one :class:`SpecError` line."""
        return validated(cls, fields)


def _inputs(config: ConnectConfig) -> tuple[StudyInputs, StudyInputs]:
    """Both runs loaded on the same data selection; refused unless they share one layout."""
    pair = tuple(
        load_inputs(run, config.data, model=config.model, loss=config.loss, device=config.device)
        for run in (config.run_a, config.run_b)
    )
    if parameter_layout(pair[0].model) != parameter_layout(pair[1].model):
        raise SpecError(
            f"{config.run_a} and {config.run_b} have different parameter layouts: only two solutions "
            "of one architecture can be connected"
        )
    return pair  # type: ignore[return-value]


def check_inputs(config: ConnectConfig) -> None:
    """Load both runs and check they fit each other: the user's error before any folder."""
    _inputs(config)


def _flat(inputs: StudyInputs) -> torch.Tensor:
    return torch.nn.utils.parameters_to_vector(inputs.model.parameters()).detach()


def _profile_unit(run_dir: RunDir, name: str, compute: Any) -> CurveProfile:
    def arrays() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        profile = compute()
        return {"t": profile.t, "loss": profile.loss, "accuracy": profile.accuracy}, {}

    stored, _ = run_dir.unit(name, arrays)
    return CurveProfile(stored["t"], stored["loss"], stored["accuracy"])


def _train_curve(
    run_dir: RunDir, config: ConnectConfig, inputs: StudyInputs, ends: tuple[torch.Tensor, torch.Tensor],
    ctx: RunContext,
) -> tuple[BezierState, np.ndarray]:  # fmt: skip
    """The control point after ``bezier_steps`` steps, one stored unit per chunk (resumable)."""
    train = select_data(inputs.run, "train")
    state, losses = BezierState.start(*ends), []
    chunks = -(-config.bezier_steps // _STEPS_PER_UNIT)
    for chunk in range(chunks):
        steps = min(_STEPS_PER_UNIT, config.bezier_steps - state.step)

        def compute(state: BezierState = state, steps: int = steps) -> tuple[dict, dict]:
            new = train_bezier(inputs.model, inputs.loss_fn, train, *ends, state, steps,
                               optimizer=config.bezier_optimizer, batch_size=config.bezier_batch,
                               seed=config.seed)  # fmt: skip
            blob = np.frombuffer(new.optimizer_state, dtype=np.uint8)
            return {"control": new.control.cpu().numpy(), "optimizer": blob, "losses": new.losses}, {}

        arrays, _ = run_dir.unit(f"bezier-{state.step + steps:06d}", compute)
        control = torch.from_numpy(arrays["control"]).to(ends[0])
        state = BezierState(control, arrays["optimizer"].tobytes(), state.step + steps, arrays["losses"])
        losses.append(arrays["losses"])
        ctx.report(chunk + 2, chunks + 2)  # the line, each chunk, then the curve's evaluation
    return state, np.concatenate(losses)


def _compute(config: ConnectConfig, run_dir: RunDir, ctx: RunContext) -> Mapping[str, Any]:
    began = time.perf_counter()
    inputs_a, inputs_b = _inputs(config)
    theta_a, theta_b = _flat(inputs_a), _flat(inputs_b)
    model, loss_fn, data = inputs_a.model, inputs_a.loss_fn, inputs_a.data
    norm_data = select_data(inputs_a.run, "train")[0] if has_batch_norm(model) else None
    ts = np.linspace(0.0, 1.0, config.points)

    def on_line(t: float) -> torch.Tensor:
        return line_point(theta_a, theta_b, t)

    line = _profile_unit(
        run_dir, "line", lambda: evaluate_curve(model, loss_fn, data, on_line, ts, norm_data)
    )
    profiles = {"linear": line}
    ctx.report(1, 1 if config.curve == "linear" else -(-config.bezier_steps // _STEPS_PER_UNIT) + 2)
    if config.curve == "bezier":
        state, losses = _train_curve(run_dir, config, inputs_a, (theta_a, theta_b), ctx)
        control = state.control

        def on_curve(t: float) -> torch.Tensor:
            return bezier_point(theta_a, theta_b, control, t)

        profiles["bezier"] = _profile_unit(
            run_dir, "bezier-curve", lambda: evaluate_curve(model, loss_fn, data, on_curve, ts, norm_data)
        )
        run_dir.write_table(
            "bezier_training", pd.DataFrame({"step": np.arange(1, len(losses) + 1), "loss": losses})
        )
        run_dir.write_bytes(CONTROL_FILE, safetensors.torch.save({"control": control.cpu().contiguous()}))
    _store(run_dir, profiles, bool(norm_data is not None))
    run_dir.set_info(title=f"{Path(config.run_a).name} <-> {Path(config.run_b).name}, data {config.data}")
    run_dir.record_timing("connect", time.perf_counter() - began)
    return {f"barrier_{name}": profile.barrier for name, profile in profiles.items()}


def _store(run_dir: RunDir, profiles: dict[str, CurveProfile], batch_norm: bool) -> None:
    curves = pd.concat(
        [pd.DataFrame({"curve": name, "t": p.t, "loss": p.loss, "accuracy": p.accuracy})
         for name, p in profiles.items()],
        ignore_index=True,
    )  # fmt: skip
    rows = [
        {
            "curve": name,
            "barrier": p.barrier,
            "loss_a": float(p.loss[0]),
            "loss_b": float(p.loss[-1]),
            "max_loss": float(p.loss.max()),
            "t_at_max": float(p.t[int(p.loss.argmax())]),
            "loss_mid": float(np.interp(0.5, p.t, p.loss)),
            "min_accuracy": float(np.nanmin(p.accuracy)) if np.isfinite(p.accuracy).any() else float("nan"),
            "batch_norm_recomputed": batch_norm,
        }
        for name, p in profiles.items()
    ]
    run_dir.write_table("curves", curves)
    run_dir.write_table("summary", pd.DataFrame(rows))


CONNECT: StudyKind[ConnectConfig] = StudyKind(
    name="connect",
    config=ConnectConfig,
    run=_compute,
    render=render_connect,
    seeds=lambda config: {"bezier": config.seed},
)


def run_connect_study(
    config: ConnectConfig,
    out: str | Path,
    *,
    style: Mapping[str, Any] | None = None,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> Execution:
    """Connect ``config.run_a`` and ``config.run_b`` into ``out`` (resuming what is there), and draw it."""
    check_inputs(config)
    return execute(CONNECT, config, out, style=style, force=force, progress=progress)

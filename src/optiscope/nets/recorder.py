"""Record the path a model's weights take through parameter space, within a memory budget.

A snapshot is all parameters flattened into one float32 vector, in ``named_parameters()``
order (see :func:`parameter_layout`). :class:`PathRecorder` keeps the snapshots of steps
``0, every, 2*every, ...`` and the final step as an array ``(k, n_params)``; the landscape package
projects that path onto a plane. :func:`record` wraps any user training loop and stores the path,
the final weights and (when given) how to rebuild the model and its data through a
:class:`~optiscope.store.RunDir` (the recorder itself never writes a file); read it back with
:func:`optiscope.nets.load_run`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch
from torch import nn

from optiscope.errors import SpecError
from optiscope.nets.user_data import is_data_source
from optiscope.nets.user_model import factory_path
from optiscope.store import RunDir
from optiscope.store.row_codec import pack_rows, unpack_rows
from optiscope.store.units import decode_unit, encode_unit
from optiscope.user_imports import is_import_path

__all__ = [
    "DEFAULT_BUDGET_BYTES",
    "FINAL_WEIGHTS",
    "PATH_FILE",
    "PathRecorder",
    "flatten_parameters",
    "load_final_weights",
    "load_path",
    "parameter_layout",
    "record",
    "snapshot_interval",
]

DEFAULT_BUDGET_BYTES = 256 * 2**20
PATH_FILE = "path.npz"
FINAL_WEIGHTS = "checkpoints/final.safetensors"  # a recording's final state_dict (no pickle)
_FLOAT32_BYTES = 4


def flatten_parameters(model: nn.Module) -> torch.Tensor:
    """All parameters of ``model`` as one float32 CPU vector (a copy), in ``named_parameters()`` order."""
    pieces = [p.detach().reshape(-1).to(device="cpu", dtype=torch.float32) for p in model.parameters()]
    if not pieces:
        return torch.zeros(0, dtype=torch.float32)
    return torch.cat(pieces)


def parameter_layout(model: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    """``(name, shape)`` of each parameter, in the order :func:`flatten_parameters` concatenates them."""
    return [(name, tuple(p.shape)) for name, p in model.named_parameters()]


def _check_int(value: object, what: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SpecError(f"{what} must be an integer >= {minimum}, got {value!r}")
    return value


def snapshot_interval(n_params: int, total_steps: int, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> int:
    """The smallest interval ``k >= 1`` whose ``total_steps // k + 2`` snapshots fit the budget.

    The ``+ 2`` counts the initial snapshot and a final one off the ``k`` grid. Small models get
    ``k = 1`` (every step). ``total_steps // k <= m`` holds exactly when ``k > total_steps / (m + 1)``,
    where ``m`` is how many snapshots besides those two fit.

    Args:
        n_params: parameters per snapshot (float32 each).
        total_steps: optimizer steps the run will take.
        budget_bytes: memory allowed for all snapshots.

    Raises:
        SpecError: a bad argument, or not even the initial and final snapshots fit the budget.
    """
    n_params = _check_int(n_params, "n_params", 0)
    total_steps = _check_int(total_steps, "total_steps", 0)
    budget_bytes = _check_int(budget_bytes, "budget_bytes", 1)
    if n_params == 0:
        return 1
    spare = budget_bytes // (n_params * _FLOAT32_BYTES) - 2
    if spare < 0:
        raise SpecError(
            f"two snapshots of {n_params} float32 parameters need {2 * n_params * _FLOAT32_BYTES} bytes, "
            f"more than the budget of {budget_bytes} bytes; raise budget_bytes"
        )
    return total_steps // (spare + 1) + 1


class PathRecorder:
    """Snapshots of a model's weights at steps ``0, every, 2*every, ...`` and at the end.

    Usage: ``start()`` before training, ``step(i)`` after optimizer step ``i`` (or ``step()``,
    which counts calls), ``finish(i)`` after the last step. The path so far is :attr:`snapshots`
    ``(k, n_params)`` and :attr:`steps` ``(k,)``.

    Args:
        model: the network whose parameters are recorded (any device; snapshots are CPU float32).
        every: snapshot interval in steps; ``None`` picks :func:`snapshot_interval` when
            ``total_steps`` is known, else every step.
        total_steps: planned number of steps; with ``every`` given, the budget is checked up front.
        budget_bytes: memory allowed for all snapshots; exceeding it raises :class:`SpecError`.

    Raises:
        SpecError: bad arguments, or ``every`` too small for ``total_steps`` within the budget.
    """

    def __init__(
        self,
        model: nn.Module,
        every: int | None = None,
        total_steps: int | None = None,
        budget_bytes: int = DEFAULT_BUDGET_BYTES,
    ) -> None:
        self.model = model
        self.layout = parameter_layout(model)
        self.n_params = sum(int(np.prod(shape, dtype=np.int64)) for _, shape in self.layout)
        self.budget_bytes = _check_int(budget_bytes, "budget_bytes", 1)
        self.total_steps = None if total_steps is None else _check_int(total_steps, "total_steps", 0)
        if every is None:
            every = 1 if total_steps is None else snapshot_interval(self.n_params, total_steps, budget_bytes)
        self.every = _check_int(every, "every", 1)
        if self.total_steps is not None:
            planned = (self.total_steps // self.every + 2) * self._snapshot_bytes
            if planned > self.budget_bytes:
                raise SpecError(self._over_budget(f"{self.total_steps} steps need {planned} bytes"))
        self._snapshots: list[np.ndarray] = []
        self._steps: list[int] = []
        self._stacked: np.ndarray | None = None  # the snapshots as one array, until the next one
        self._calls = 0

    @property
    def _snapshot_bytes(self) -> int:
        return self.n_params * _FLOAT32_BYTES

    def _over_budget(self, detail: str) -> str:
        smallest = (
            ""
            if self.total_steps is None
            else (f" (at least {snapshot_interval(self.n_params, self.total_steps, self.budget_bytes)})")
        )
        return (
            f"path recording over budget: {detail} for snapshots of {self.n_params} parameters every "
            f"{self.every} steps, budget {self.budget_bytes} bytes; raise every{smallest} or budget_bytes"
        )

    def _take(self, step_index: int) -> None:
        used = (len(self._snapshots) + 1) * self._snapshot_bytes
        if used > self.budget_bytes:
            raise SpecError(self._over_budget(f"snapshot {len(self._snapshots) + 1} would use {used} bytes"))
        self._snapshots.append(flatten_parameters(self.model).numpy())
        self._steps.append(step_index)
        self._stacked = None

    def start(self) -> None:
        """Take the initial snapshot (step 0)."""
        if self._steps:
            raise SpecError("PathRecorder.start() was already called")
        self._calls = 0
        self._take(0)

    def resume(self, snapshots: np.ndarray, steps: np.ndarray) -> None:
        """Continue a recording from stored snapshots (a resumed training run) instead of start()."""
        if self._steps:
            raise SpecError("PathRecorder.resume() needs a fresh recorder")
        if len(snapshots) != len(steps) or len(steps) == 0:
            raise SpecError("resume() needs as many snapshots as steps, at least one")
        self._snapshots = [np.asarray(row, dtype=np.float32) for row in snapshots]
        self._steps = [int(step) for step in steps]
        self._stacked = None
        self._calls = self._steps[-1]

    def new_since(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Snapshots and steps recorded after the first ``count`` (what an epoch added)."""
        added = self._snapshots[count:]
        snapshots = np.stack(added) if added else np.zeros((0, self.n_params), dtype=np.float32)
        return snapshots, np.asarray(self._steps[count:], dtype=np.int64)

    @property
    def count(self) -> int:
        """Number of snapshots taken so far."""
        return len(self._snapshots)

    def step(self, step_index: int | None = None) -> None:
        """Note that optimizer step ``step_index`` is done; snapshot when it is a multiple of ``every``.

        Args:
            step_index: the number of steps taken so far; ``None`` counts this call as one more.
        """
        if not self._steps:
            raise SpecError("call PathRecorder.start() before step()")
        index = self._calls + 1 if step_index is None else _check_int(step_index, "step_index", 0)
        if index < self._steps[-1]:
            raise SpecError(f"step {index} comes before the last recorded step {self._steps[-1]}")
        self._calls = index
        if index % self.every == 0 and index != self._steps[-1]:
            self._take(index)

    def finish(self, step_index: int | None = None) -> None:
        """Take the final snapshot (skipped when ``step_index`` is already the last recorded step).

        Args:
            step_index: the total number of steps taken; ``None`` uses the count of ``step()`` calls.
        """
        if not self._steps:
            raise SpecError("call PathRecorder.start() before finish()")
        index = self._calls if step_index is None else _check_int(step_index, "step_index", 0)
        if index < self._steps[-1]:
            raise SpecError(f"final step {index} comes before the last recorded step {self._steps[-1]}")
        self._calls = index
        if index != self._steps[-1]:
            self._take(index)

    @property
    def snapshots(self) -> np.ndarray:
        """The recorded weights, ``(k, n_params)`` float32 (read-only), one row per entry of :attr:`steps`."""
        if self._stacked is None:
            if self._snapshots:
                self._stacked = np.stack(self._snapshots)
            else:
                self._stacked = np.zeros((0, self.n_params), dtype=np.float32)
            self._stacked.flags.writeable = False
        return self._stacked

    @property
    def steps(self) -> np.ndarray:
        """The step of each snapshot, ``(k,)`` int64, strictly increasing from 0."""
        return np.asarray(self._steps, dtype=np.int64)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """``{"snapshots": (k, n_params) float32, "steps": (k,) int64}`` for a store unit."""
        return {"snapshots": self.snapshots, "steps": self.steps}

    def meta(self) -> dict[str, Any]:
        """JSON metadata of the path: parameter layout, interval and budget."""
        return {
            "layout": [[name, list(shape)] for name, shape in self.layout],
            "every": self.every,
            "n_params": self.n_params,
            "budget_bytes": self.budget_bytes,
        }

    def save(self, run_dir: RunDir) -> Path:
        """Store the path as ``path.npz`` of ``run_dir`` (arrays and meta; no pickles).

        The snapshots are stored row-XOR-ed and byte-shuffled (:mod:`optiscope.store.row_codec`),
        which the deflate of ``.npz`` compresses about 1.6x better, and read back bit for bit.
        """
        snapshots = self.snapshots
        arrays = {"packed_snapshots": pack_rows(snapshots), "steps": self.steps}
        meta = {**self.meta(), "snapshots_shape": list(snapshots.shape)}
        return run_dir.write_bytes(PATH_FILE, encode_unit(arrays, meta))


def load_path(run_dir: RunDir) -> tuple[np.ndarray, np.ndarray, dict[str, Any]] | None:
    """The stored weight path ``(snapshots, steps, meta)`` of a run, or None when it has none.

    Runs stored before ``path.npz`` kept the path as the unit ``path``; those are read too.
    """
    if (run_dir.path / PATH_FILE).is_file():
        arrays, meta = decode_unit(run_dir.path / PATH_FILE)
    elif run_dir.has_unit("path"):
        arrays, meta = run_dir.load_unit("path")
    else:
        return None
    if "packed_snapshots" in arrays:
        rows, columns = meta["snapshots_shape"]
        return unpack_rows(arrays["packed_snapshots"], (rows, columns)), arrays["steps"], meta
    return arrays["snapshots"], arrays["steps"], meta


def _save_final_weights(run_dir: RunDir, model: nn.Module) -> None:
    """The model's whole ``state_dict`` (buffers too) as ``checkpoints/final.safetensors``.

    Each tensor is copied, so weights tied to each other are stored twice rather than refused.
    """
    state = {name: tensor.detach().cpu().clone(memory_format=torch.contiguous_format)
             for name, tensor in model.state_dict().items()}  # fmt: skip
    run_dir.write_bytes(FINAL_WEIGHTS, safetensors.torch.save(state))


def load_final_weights(run_dir: RunDir) -> dict[str, torch.Tensor] | None:
    """A recording's final ``state_dict`` (CPU tensors, no pickle), or None when it has none."""
    stored = run_dir.path / FINAL_WEIGHTS
    return safetensors.torch.load(stored.read_bytes()) if stored.is_file() else None


def _data_source(data: str | Path | None) -> str | None:
    """The data source to store: a loader's import path, or a tensor file's absolute path."""
    if data is None:
        return None
    text = str(data)
    if not is_data_source(text):
        raise SpecError(f"data {text!r} must be 'pkg.mod:loader' or a .pt/.pth/.safetensors/.npz file")
    if is_import_path(text):
        return text
    path = Path(text).expanduser().resolve()
    if not path.is_file():
        raise SpecError(f"data {text!r}: no such file")
    return str(path)


def _recording_spec(
    model: nn.Module,
    recorder: PathRecorder,
    total_steps: int | None,
    factory: str | Callable[[], nn.Module] | None,
    data: str | Path | None,
) -> dict[str, Any]:
    """What a recording run directory holds, as its spec: the model and how to rebuild it."""
    spec = {"model": type(model).__name__, **recorder.meta(), "total_steps": total_steps}
    if factory is not None:
        spec["factory"] = factory_path(factory)
    source = _data_source(data)
    if source is not None:
        spec["data"] = source
    return spec


@contextmanager
def record(
    model: nn.Module,
    every: int = 10,
    out: str | Path | None = None,
    total_steps: int | None = None,
    budget_bytes: int = DEFAULT_BUDGET_BYTES,
    *,
    factory: str | Callable[[], nn.Module] | None = None,
    data: str | Path | None = None,
    force: bool = False,
) -> Iterator[PathRecorder]:
    """Record the weight path of a user's own training loop; optionally store it in ``out``.

    Example::

        with record(model, every=10, out="runs/mine", factory="my_pkg.nets:make_model") as rec:
            for x, y in loader:
                ...
                opt.step()
                rec.step()

    On exit the final snapshot is taken. With ``out`` the run directory (kind ``recording``)
    gets the path (``path.npz``), the final weights (``checkpoints/final.safetensors``, the
    whole ``state_dict``) and, when given, the factory's import path and the data source, so
    that ``optiscope landscape OUT`` and ``optiscope.nets.load_run(OUT)`` need no more flags;
    then it is marked complete. If the body raises, what was recorded is still stored, the run
    is marked failed and the exception propagates.

    Args:
        model: the network being trained.
        every: snapshot interval in steps (``None`` to pick one from ``total_steps``).
        out: run directory to store the path in; ``None`` keeps it in memory only.
        total_steps: planned number of steps (checks the budget up front).
        budget_bytes: memory allowed for all snapshots.
        factory: what builds the untrained model with no arguments: its import path
            ``"pkg.mod:make_model"``, or the class or module-level function itself. Its module is
            imported now, to check that it can be later.
        data: the data the model is measured on: a loader ``"pkg.mod:load_data"`` or a
            ``.pt``/``.safetensors``/``.npz`` file (stored as an absolute path).
        force: replace a different run already in ``out``.

    Yields:
        The started :class:`PathRecorder`.

    Raises:
        SpecError: a bad argument; a factory that does not import or lives in ``__main__``; a
            data file that does not exist.
    """
    recorder = PathRecorder(model, every=every, total_steps=total_steps, budget_bytes=budget_bytes)
    run_dir = None
    if out is not None:
        spec = _recording_spec(model, recorder, total_steps, factory, data)
        run_dir = RunDir.open(out, kind="recording", spec=spec, force=force)
    recorder.start()
    try:
        yield recorder
    except BaseException as exc:
        with suppress(SpecError):  # over budget: keep the snapshots already taken
            recorder.finish()
        if run_dir is not None:
            recorder.save(run_dir)
            _save_final_weights(run_dir, model)
            run_dir.fail(f"{type(exc).__name__}: {exc}")
        raise
    recorder.finish()
    if run_dir is not None:
        recorder.save(run_dir)
        _save_final_weights(run_dir, model)
        run_dir.complete(snapshots=len(recorder.steps), steps=int(recorder.steps[-1]))

"""The :class:`LandscapeGrid` contract: loss (and accuracy) of a model on a line or a plane.

``loss[i, j] = L(theta + alphas[i] d1 + betas[j] d2)`` on a plane, ``loss[i]`` on a line. The
grid stores numbers only; the figures read them, the store writes :meth:`to_netcdf_bytes`.
Defaults follow Li et al. (2018), "Visualizing the Loss Landscape of Neural Nets": 51 points
per axis on ``[-1, 1]``.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from optiscope.landscape.directions_base import LandscapeError

__all__ = [
    "DEFAULT_POINTS",
    "DEFAULT_SPAN",
    "INTERPOLATION_POINTS",
    "INTERPOLATION_RANGE",
    "LandscapeGrid",
    "grid_axes",
]

DEFAULT_SPAN = 1.0
DEFAULT_POINTS = 51
INTERPOLATION_RANGE = (-0.5, 1.5)
INTERPOLATION_POINTS = 401
_JSON_KEYS_ATTR = "_json_attrs"  # names the attrs stored as JSON text in a netCDF file


def grid_axes(span: float = DEFAULT_SPAN, points: int = DEFAULT_POINTS, center: float = 0.0) -> np.ndarray:
    """Evenly spaced coordinates ``(points,)`` on ``[center - span, center + span]``.

    Raises:
        LandscapeError: ``points`` is not a positive integer or ``span``/``center`` is not finite
            (``span`` must be positive).
    """
    if isinstance(points, bool) or not isinstance(points, int) or points < 1:
        raise LandscapeError(f"a grid axis needs a positive integer number of points, got {points!r}")
    if not (math.isfinite(span) and span > 0 and math.isfinite(center)):
        raise LandscapeError(f"a grid axis needs a finite span > 0 and a finite centre, got {span}, {center}")
    if points == 1:
        return np.array([float(center)])
    return np.linspace(center - span, center + span, points)


def check_axis(values: Any, what: str) -> np.ndarray:
    """``values`` as a finite float64 vector with at least one entry, or :class:`LandscapeError`."""
    try:
        axis = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise LandscapeError(f"{what} must be numbers, got {values!r}") from None
    if axis.ndim != 1 or axis.size == 0 or not np.all(np.isfinite(axis)):
        raise LandscapeError(f"{what} must be a non-empty finite 1-D array, got shape {axis.shape}")
    return axis


@dataclass(frozen=True, eq=False)
class LandscapeGrid:
    """Loss and accuracy on a line ``(n_alpha,)`` or a plane ``(n_alpha, n_beta)``.

    Attributes:
        alphas: coordinates along the first direction, ``(n_alpha,)``.
        betas: coordinates along the second direction ``(n_beta,)``, or ``None`` on a line.
        loss: mean loss per point, ``(n_alpha, n_beta)`` or ``(n_alpha,)``; NaN/inf are kept.
        accuracy: fraction of correct argmax predictions, same shape; NaN when not computed.
        attrs: JSON-able facts: engine and why, directions kind/meta, data, samples, dtype,
            device, seconds.
    """

    alphas: np.ndarray
    betas: np.ndarray | None
    loss: np.ndarray
    accuracy: np.ndarray
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        alphas = check_axis(self.alphas, "alphas")
        betas = None if self.betas is None else check_axis(self.betas, "betas")
        shape = alphas.shape if betas is None else (alphas.size, betas.size)
        loss = np.asarray(self.loss, dtype=np.float64)
        accuracy = np.asarray(self.accuracy, dtype=np.float64)
        if loss.shape != shape or accuracy.shape != shape:
            raise LandscapeError(
                f"loss and accuracy must have shape {shape}, got {loss.shape} and {accuracy.shape}"
            )
        for name, value in (("alphas", alphas), ("betas", betas), ("loss", loss), ("accuracy", accuracy)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "attrs", dict(self.attrs))

    @property
    def dims(self) -> int:
        """1 for a line, 2 for a plane."""
        return 1 if self.betas is None else 2

    def center_index(self) -> tuple[int, ...]:
        """Index of the grid point nearest the origin (the trained weights), ``(i,)`` or ``(i, j)``."""
        index = (int(np.argmin(np.abs(self.alphas))),)
        if self.betas is not None:
            index += (int(np.argmin(np.abs(self.betas))),)
        return index

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LandscapeGrid):
            return NotImplemented
        arrays = [(self.alphas, other.alphas), (self.loss, other.loss), (self.accuracy, other.accuracy)]
        if (self.betas is None) != (other.betas is None):
            return False
        if self.betas is not None:
            arrays.append((self.betas, other.betas))
        same = all(a.shape == b.shape and np.array_equal(a, b, equal_nan=True) for a, b in arrays)
        return same and self.attrs == other.attrs

    __hash__ = None  # type: ignore[assignment]  # holds arrays

    def to_xarray(self) -> Any:
        """An ``xarray.Dataset`` with coords ``alpha`` (and ``beta``), vars ``loss``, ``accuracy``.

        Attribute values that netCDF cannot hold (dicts, lists, bools, None, ints) are JSON text;
        the attr ``_json_attrs`` lists their names so :meth:`from_xarray` decodes them.
        """
        dims = ("alpha",) if self.betas is None else ("alpha", "beta")
        coords = {"alpha": self.alphas} if self.betas is None else {"alpha": self.alphas, "beta": self.betas}
        attrs: dict[str, Any] = {}
        json_keys = []
        for key, value in self.attrs.items():
            if isinstance(value, str) or (isinstance(value, float) and not isinstance(value, bool)):
                attrs[key] = value
            else:
                attrs[key] = json.dumps(value)
                json_keys.append(key)
        attrs[_JSON_KEYS_ATTR] = json.dumps(json_keys)
        data_vars = {"loss": (dims, self.loss), "accuracy": (dims, self.accuracy)}
        return xr.Dataset(data_vars, coords=coords, attrs=attrs)

    @classmethod
    def from_xarray(cls, dataset: Any) -> LandscapeGrid:
        """Inverse of :meth:`to_xarray`."""
        attrs = dict(dataset.attrs)
        json_keys = json.loads(attrs.pop(_JSON_KEYS_ATTR, "[]"))
        decoded = {
            key: json.loads(value) if key in json_keys else _plain(value) for key, value in attrs.items()
        }
        betas = np.asarray(dataset["beta"].values) if "beta" in dataset.coords else None
        return cls(
            alphas=np.asarray(dataset["alpha"].values),
            betas=betas,
            loss=np.asarray(dataset["loss"].values),
            accuracy=np.asarray(dataset["accuracy"].values),
            attrs=decoded,
        )

    def to_netcdf_bytes(self) -> bytes:
        """netCDF-3 bytes (xarray's ``scipy`` engine, no file touched)."""
        return bytes(self.to_xarray().to_netcdf(engine="scipy"))

    @classmethod
    def from_netcdf_bytes(cls, data: bytes) -> LandscapeGrid:
        """Inverse of :meth:`to_netcdf_bytes`."""
        with xr.open_dataset(io.BytesIO(data), engine="scipy") as dataset:
            return cls.from_xarray(dataset.load())


def _plain(value: Any) -> Any:
    """A numpy scalar read back from netCDF as the matching Python scalar."""
    return value.item() if isinstance(value, np.generic) else value

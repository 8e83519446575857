"""Seed 004's positional grid noise, as an option of any surface.

Seed 004 lays a ``200 x 200`` grid over ``[-10, 10]^2`` (spacing 0.1) and draws two noise
tables: a coarse one ``r`` (standard normal on a ``25 x 25`` grid, bilinearly upsampled to
``200 x 200``) and a fine one ``c`` (standard normal, times ``|x| |y| / 100``, so it grows
towards the corners). The loss becomes ``smooth + r_coeff * r + c_coeff * c``.

Two ways to read the tables at a point ``p``:

* ``lookup`` (faithful): the cell index is ``trunc((p - min) * 200 / width)``, clipped, as in
  the seed. Integer indices carry no gradient, so the noise changes values but the gradient
  is exactly the smooth surface's (the lookup is added detached).
* ``smooth``: bilinear interpolation of the same tables between grid nodes (node ``i`` at
  ``min + i * width / 200``, where ``lookup`` agrees with it), so optimisers feel the noise.

On other domains the same ``200 x 200`` grid spans the domain and the fine noise is scaled by
``|x| |y| / (max|x| * max|y|)``, which is ``|x| |y| / 100`` on ``[-10, 10]^2``. Tables are indexed
``[ix, iy]``, drawn in float64 from ``torch.Generator().manual_seed(seed)`` (``r`` first, then
``c``) when the field is built, and copied to each device and dtype on first use (cached).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from optiscope.errors import SpecError
from optiscope.surfaces._validation import as_float, as_int
from optiscope.surfaces.base import Domain, Surface
from optiscope.surfaces.seed_surfaces import SEED_NOISE_COEFFICIENTS

__all__ = [
    "COARSE_FACTOR",
    "DEFAULT_RELATIVE_COEFFICIENTS",
    "GRID_SIZE",
    "NOISE_MODES",
    "NoiseField",
    "NoisyLoss",
    "noise_coefficients",
    "with_noise",
]

GRID_SIZE = 200
COARSE_FACTOR = 8
NOISE_MODES = ("none", "lookup", "smooth")
DEFAULT_RELATIVE_COEFFICIENTS = (0.02, 0.005)
"""``(r, c)`` weights for surfaces outside seed 004, as fractions of the smooth loss's range on
its domain (seed 004's ``f0`` has range 2 and weights ``(0.04, 0.01)``: 2% and 0.5%)."""


class NoiseField:
    """The ``r`` and ``c`` tables of one seed over one domain, and the two ways to read them."""

    def __init__(self, domain: Domain, seed: int, size: int = GRID_SIZE) -> None:
        self.domain = domain
        self.seed = seed
        self.size = size
        # Drawn now, not on first use: random ops are refused inside torch.func.vmap.
        self._cache: dict[tuple[torch.device, torch.dtype], tuple[Tensor, Tensor]] = {
            (torch.device("cpu"), torch.float64): self._draw()
        }

    def __getstate__(self) -> dict[str, Any]:
        return {"domain": self.domain, "seed": self.seed, "size": self.size}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["domain"], state["seed"], state["size"])

    def node_coordinates(self, axis: int) -> Tensor:
        """Grid-node coordinates along ``axis`` (``min + i * width / size``), float64."""
        low, high = self.domain[axis]
        return low + torch.arange(self.size, dtype=torch.float64) * (high - low) / self.size

    def tables(
        self, device: torch.device | None = None, dtype: torch.dtype = torch.float64
    ) -> tuple[Tensor, Tensor]:
        """The coarse and fine tables ``(r, c)``, each ``(size, size)`` indexed ``[ix, iy]``."""
        key = (torch.device(device or "cpu"), dtype)
        if key not in self._cache:
            r, c = self._cache[(torch.device("cpu"), torch.float64)]
            self._cache[key] = (r.to(key[0], dtype), c.to(key[0], dtype))
        return self._cache[key]

    def _draw(self) -> tuple[Tensor, Tensor]:
        generator = torch.Generator().manual_seed(self.seed)
        coarse_size = self.size // COARSE_FACTOR
        coarse = torch.randn(coarse_size, coarse_size, generator=generator, dtype=torch.float64)
        # align_corners=False (half-pixel centres, edges clamped) is TF2's bilinear resize.
        r = F.interpolate(
            coarse[None, None], size=(self.size, self.size), mode="bilinear", align_corners=False
        )[0, 0]
        fine = torch.randn(self.size, self.size, generator=generator, dtype=torch.float64)
        xs, ys = self.node_coordinates(0), self.node_coordinates(1)
        x_scale = max(abs(bound) for bound in self.domain[0])
        y_scale = max(abs(bound) for bound in self.domain[1])
        c = fine * (xs.abs()[:, None] / x_scale) * (ys.abs()[None, :] / y_scale)
        return r, c

    def _scaled(self, points: Tensor) -> Tensor:
        """Points in grid units: ``(p - min) * size / width``, shape ``(..., 2)``."""
        lows = points.new_tensor([self.domain[0][0], self.domain[1][0]])
        widths = points.new_tensor([self.domain[0][1], self.domain[1][1]]) - lows
        return (points - lows) * self.size / widths

    def lookup(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """Seed 004's reading: the tables at the truncated cell index; no gradient."""
        r, c = self.tables(points.device, points.dtype)
        with torch.no_grad():
            scaled = self._scaled(points.detach())
            scaled = torch.nan_to_num(scaled, nan=0.0).clamp(-1.0, float(self.size))
            index = scaled.to(torch.int64).clamp(0, self.size - 1)
        ix, iy = index[..., 0], index[..., 1]
        return _gather(r, ix, iy), _gather(c, ix, iy)

    def interpolate(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """Bilinear reading between grid nodes; differentiable, equal to lookup at the nodes."""
        r, c = self.tables(points.device, points.dtype)
        scaled = self._scaled(points).clamp(0.0, float(self.size - 1))
        base = scaled.detach().floor().clamp(max=self.size - 2)
        weight = scaled - base
        index = base.to(torch.int64)
        ix, iy = index[..., 0], index[..., 1]
        wx, wy = weight[..., 0], weight[..., 1]

        def bilinear(table: Tensor) -> Tensor:
            low = _gather(table, ix, iy) * (1 - wy) + _gather(table, ix, iy + 1) * wy
            high = _gather(table, ix + 1, iy) * (1 - wy) + _gather(table, ix + 1, iy + 1) * wy
            return low * (1 - wx) + high * wx

        return bilinear(r), bilinear(c)


def _gather(table: Tensor, ix: Tensor, iy: Tensor) -> Tensor:
    """``table[ix, iy]`` written with ``gather``, which ``torch.func.vmap`` can batch."""
    flat = (ix * table.shape[1] + iy).reshape(-1)
    return table.reshape(-1).gather(0, flat).reshape(ix.shape)


class NoisyLoss:
    """``smooth(p) + r_coeff * r(p) + c_coeff * c(p)`` for one noise mode (picklable)."""

    def __init__(self, base: Any, field: NoiseField, mode: str, coefficients: tuple[float, float]):
        self.base = base
        self.field = field
        self.mode = mode
        self.coefficients = coefficients

    def noise(self, points: Tensor) -> Tensor:
        """The noise term alone at ``points``; detached in ``lookup`` mode."""
        read = self.field.lookup if self.mode == "lookup" else self.field.interpolate
        r, c = read(points)
        noise = self.coefficients[0] * r + self.coefficients[1] * c
        return noise.detach() if self.mode == "lookup" else noise

    def __call__(self, points: Tensor) -> Tensor:
        return self.base(points) + self.noise(points)


class _NoisyStochastic:
    """The mini-batch loss of a stochastic surface plus the same positional noise."""

    def __init__(self, base: Any, noisy: NoisyLoss) -> None:
        self.base = base
        self.noisy = noisy

    def __call__(self, points: Tensor, generator: torch.Generator) -> Tensor:
        return self.base(points, generator) + self.noisy.noise(points)


def noise_coefficients(surface: Surface, scale: float = 1.0) -> tuple[float, float]:
    """``(r_coeff, c_coeff)`` for ``surface``, times ``scale``.

    Seed-004 surfaces use the seed's coefficients; any other surface uses
    :data:`DEFAULT_RELATIVE_COEFFICIENTS` times the range (max - min) of its smooth loss on a
    ``GRID_SIZE x GRID_SIZE`` grid over its domain, so the noise is visible whatever its scale.
    """
    if surface.name in SEED_NOISE_COEFFICIENTS:
        r_coeff, c_coeff = SEED_NOISE_COEFFICIENTS[surface.name]
    else:
        _, _, losses = surface.grid(GRID_SIZE, dtype=torch.float64)
        finite = losses[torch.isfinite(losses)]
        value_range = float(finite.max() - finite.min()) if finite.numel() else 0.0
        r_coeff, c_coeff = (fraction * value_range for fraction in DEFAULT_RELATIVE_COEFFICIENTS)
    return (r_coeff * scale, c_coeff * scale)


def with_noise(surface: Surface, mode: str | None = "lookup", seed: int = 0, scale: float = 1.0) -> Surface:
    """``surface`` plus seed 004's grid noise read in ``mode`` (``"none"`` returns it unchanged).

    The result keeps the smooth surface's ``minima`` (its gradient in ``lookup`` mode is the
    smooth one) but drops ``minimum_value``, since the noise moves the values.

    Args:
        surface: the smooth surface.
        mode: ``"lookup"`` (values only), ``"smooth"`` (values and gradients) or ``"none"``.
        seed: seed of the noise tables; the same seed gives the same noise.
        scale: multiplies the noise coefficients (``1`` is faithful to seed 004).

    Raises:
        SpecError: unknown mode, non-integer seed, or negative scale.
    """
    mode = "none" if mode is None else str(mode).lower()
    if mode not in NOISE_MODES:
        raise SpecError(f"unknown noise mode {mode!r}; allowed: {', '.join(NOISE_MODES)}")
    seed = as_int(seed, "noise_seed")
    scale = as_float(scale, "noise_scale", minimum=0.0)
    if mode == "none":
        return surface
    coefficients = noise_coefficients(surface, scale)
    noisy = NoisyLoss(surface.function, NoiseField(surface.domain, seed), mode, coefficients)
    stochastic = None if surface.stochastic is None else _NoisyStochastic(surface.stochastic, noisy)
    options = dict(surface.options)
    options.update(
        noise=mode,
        noise_seed=seed,
        noise_scale=scale,
        noise_coefficients=[coefficients[0], coefficients[1]],
    )
    r_text, c_text = (f"{value:.3g}" for value in coefficients)
    return surface.with_options(
        name=f"{surface.name}+{mode}_noise",
        function=noisy,
        formula=f"{surface.formula} + noise({mode})",
        description=f"{surface.description} Plus seed-{seed} grid noise {r_text} r + {c_text} c "
        f"read by {mode}" + (" (values only; the gradient is the smooth one)." if mode == "lookup" else "."),
        minimum_value=None,
        stochastic=stochastic,
        options=options,
    )

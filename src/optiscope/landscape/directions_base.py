"""The :class:`Directions` contract: one or two vectors in a model's parameter space.

A direction is a mapping ``parameter name -> tensor`` of the parameter's shape, in the order of
``model.named_parameters()``; flattened, it lines up with
:func:`optiscope.nets.recorder.flatten_parameters`. Every way of making directions (random
filter-normalised, PCA of a path, interpolation, Hessian eigenvectors, the user's own) returns
this one object, and the grid engine and the path projection only read it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from optiscope.errors import SpecError

__all__ = ["DegeneratePathError", "Directions", "LandscapeError"]


class LandscapeError(SpecError):
    """Directions, a grid request or a path do not fit the model or each other."""


class DegeneratePathError(LandscapeError):
    """A path's displacements span fewer dimensions than the PCA axes asked for."""


def _layout_of(vector: Mapping[str, torch.Tensor]) -> list[tuple[str, tuple[int, ...]]]:
    return [(name, tuple(tensor.shape)) for name, tensor in vector.items()]


@dataclass(frozen=True)
class Directions:
    """One (a line) or two (a plane) directions in parameter space.

    Attributes:
        vectors: one or two mappings ``name -> tensor`` with the same names and shapes, in
            ``named_parameters()`` order; float32 or float64, on the CPU.
        kind: how they were made: ``filter``, ``layer``, ``none``, ``pca``, ``interpolate``,
            ``plane``, ``hessian`` or ``custom``.
        meta: JSON-able facts about how they were made (seed, normalisation, ignored entries,
            explained variance of PCA axes, eigenvalues, ...).
        buffers: empty, or one mapping per vector ``buffer name -> tensor`` for floating
            buffers (BatchNorm running statistics) that move with the weights, as Li et al.
            move them when interpolating between two models; the grid engine applies them
            exactly as it applies ``vectors``.
    """

    vectors: tuple[dict[str, torch.Tensor], ...]
    kind: str = "custom"
    meta: dict[str, Any] = field(default_factory=dict)
    buffers: tuple[dict[str, torch.Tensor], ...] = ()

    def __post_init__(self) -> None:
        if len(self.vectors) not in (1, 2):
            raise LandscapeError(f"Directions holds one or two vectors, got {len(self.vectors)}")
        layout = _layout_of(self.vectors[0])
        if not layout:
            raise LandscapeError("a direction needs at least one parameter")
        for vector in self.vectors[1:]:
            if _layout_of(vector) != layout:
                raise LandscapeError("the two directions must have the same parameter names and shapes")
        if self.buffers and len(self.buffers) != len(self.vectors):
            raise LandscapeError("buffers, when given, need one mapping per direction")

    @property
    def dims(self) -> int:
        """1 for a line, 2 for a plane."""
        return len(self.vectors)

    @property
    def names(self) -> list[str]:
        """Parameter names, in flattening order."""
        return list(self.vectors[0])

    @property
    def layout(self) -> list[tuple[str, tuple[int, ...]]]:
        """``(name, shape)`` per parameter, in flattening order."""
        return _layout_of(self.vectors[0])

    def flat(self, index: int) -> torch.Tensor:
        """Direction ``index`` as one vector ``(n_params,)``, in flattening order."""
        return torch.cat([tensor.reshape(-1) for tensor in self.vectors[index].values()])

    def matrix(self) -> torch.Tensor:
        """All directions stacked as ``(dims, n_params)``."""
        return torch.stack([self.flat(i) for i in range(self.dims)])

    def check_model(self, model: nn.Module) -> None:
        """Raise :class:`LandscapeError` unless ``model``'s parameters match names and shapes."""
        model_layout = [(name, tuple(p.shape)) for name, p in model.named_parameters()]
        if model_layout != self.layout:
            missing = sorted({n for n, _ in model_layout} ^ set(self.names))
            detail = f"names differ: {missing[:4]}" if missing else "shapes or order differ"
            raise LandscapeError(f"directions do not fit this model ({detail})")

    @classmethod
    def from_flat(
        cls,
        flats: Sequence[torch.Tensor],
        layout: Sequence[tuple[str, Sequence[int]]],
        kind: str = "custom",
        meta: dict[str, Any] | None = None,
    ) -> Directions:
        """Build from flat vectors ``(n_params,)`` cut along ``layout`` (``(name, shape)`` pairs)."""
        sizes = [int(torch.Size(shape).numel()) for _, shape in layout]
        vectors = []
        for flat in flats:
            flat = torch.as_tensor(flat)
            if flat.ndim != 1 or flat.numel() != sum(sizes):
                raise LandscapeError(f"a flat direction needs {sum(sizes)} entries, got {tuple(flat.shape)}")
            pieces = torch.split(flat, sizes)
            vectors.append({name: piece.reshape(tuple(shape)).clone()
                            for (name, shape), piece in zip(layout, pieces, strict=True)})  # fmt: skip
        return cls(tuple(vectors), kind=kind, meta=dict(meta or {}))

    def to_bytes(self) -> bytes:
        """safetensors bytes, keyed ``d<i>/<parameter name>``, with kind and meta in the header."""
        tensors = {f"{prefix}{i}/{name}": t.detach().cpu().contiguous()
                   for prefix, group in (("d", self.vectors), ("b", self.buffers))
                   for i, vector in enumerate(group) for name, t in vector.items()}  # fmt: skip
        buffer_names = list(self.buffers[0]) if self.buffers else []
        header = {"kind": self.kind, "meta": json.dumps(self.meta), "names": json.dumps(self.names),
                  "buffer_names": json.dumps(buffer_names), "dims": str(self.dims)}  # fmt: skip
        return safetensors.torch.save(tensors, metadata=header)

    @classmethod
    def from_bytes(cls, data: bytes) -> Directions:
        """Inverse of :meth:`to_bytes` (safetensors holds no code, so loading is safe)."""
        tensors = safetensors.torch.load(data)
        header = _safetensors_header(data)
        names, dims = json.loads(header["names"]), int(header["dims"])
        vectors = tuple({name: tensors[f"d{i}/{name}"] for name in names} for i in range(dims))
        buffer_names = json.loads(header.get("buffer_names", "[]"))
        buffers = (
            tuple({name: tensors[f"b{i}/{name}"] for name in buffer_names} for i in range(dims))
            if buffer_names
            else ()
        )
        return cls(vectors, kind=header["kind"], meta=json.loads(header["meta"]), buffers=buffers)

    @classmethod
    def load(cls, path: str | Path) -> Directions:
        """Read a ``.safetensors`` file written from :meth:`to_bytes`."""
        try:
            return cls.from_bytes(Path(path).read_bytes())
        except OSError as exc:
            raise LandscapeError(f"cannot read directions from {path}: {exc.strerror}") from None


def _safetensors_header(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors blob (8-byte little-endian length, then JSON)."""
    length = int.from_bytes(data[:8], "little")
    return json.loads(data[8 : 8 + length]).get("__metadata__", {})

"""Signals: a sampled function on a regular grid, as coordinates and values.

Coordinate conventions: every axis spans the extent [-1, 1]; where its n samples sit is the
signal's ``convention`` (``"centers"`` for images: a pixel is a cell, sampled at its centre;
``"endpoints"`` for audio: a sample is an instant, the first and last on the ends). The conventions,
cell centres and widths are defined in ``kan_inr.geometry``; this module builds grids from them.

Values are kept in the range the file defines (images: [0, 1]; audio: [-1, 1]); metrics are computed
there. A model may be trained on an affine image of that range (``normalise`` / ``denormalise``,
the only place such a mapping lives).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from kan_inr.errors import KanInrError
from kan_inr.geometry import ENDPOINTS, check_convention, positions


def axis(n: int, device: torch.device | str | None = None, convention: str = ENDPOINTS) -> torch.Tensor:
    """Sample positions of one axis of ``n`` samples in [-1, 1]: (n,)."""
    if n < 1:
        raise KanInrError(f"a grid axis needs at least one sample, got {n}")
    return positions(torch.arange(n, device=device), n, convention)


def grid(shape: tuple[int, ...], device: torch.device | str | None = None,
         convention: str = ENDPOINTS) -> torch.Tensor:
    """Coordinates of every sample of an n-d grid, row-major (last axis fastest): (prod(shape), len(shape))."""
    axes = [axis(n, device, convention) for n in shape]
    mesh = torch.meshgrid(*axes, indexing="ij")  # len(shape) tensors of shape `shape`
    return torch.stack(mesh, dim=-1).reshape(-1, len(shape))


def grid_chunk(shape: tuple[int, ...], start: int, stop: int,
               device: torch.device | str | None = None, convention: str = ENDPOINTS) -> torch.Tensor:
    """Rows ``start:stop`` of ``grid(shape)`` without building the whole grid: (stop - start, d).

    Lets a 4K render or a long clip be evaluated chunk by chunk in bounded memory.
    """
    index = torch.arange(start, stop, device=device)  # (M,) flat row-major indices
    coords = []
    for n in reversed(shape):
        i = index % n
        index = index // n
        coords.append(positions(i, n, convention))
    return torch.stack(coords[::-1], dim=-1)


def normalise(values: torch.Tensor, value_range: tuple[float, float],
              target_range: tuple[float, float]) -> torch.Tensor:
    """Map values from the signal's ``value_range`` affinely onto a model's ``target_range``."""
    (lo, hi), (a, b) = value_range, target_range
    return (values - lo) * ((b - a) / (hi - lo)) + a


def denormalise(values: torch.Tensor, value_range: tuple[float, float],
                target_range: tuple[float, float]) -> torch.Tensor:
    """Inverse of :func:`normalise`: model outputs back to the signal's range."""
    return normalise(values, target_range, value_range)


@dataclass
class Signal:
    """A sampled signal.

    values: (N, C) float32 in ``value_range``, rows in ``grid(shape)`` order.
    shape:  the grid shape, (H, W) for images, (T,) for audio.
    kind:   "image" or "audio": names the module that reads, writes and measures it.
    meta:   plain JSON data needed to write the signal back (bit depth, sample rate, source ...).
    convention: where the samples sit on [-1, 1] (``CONVENTIONS``): "centers" for images, "endpoints"
            for audio.
    """

    values: torch.Tensor
    shape: tuple[int, ...]
    kind: str
    value_range: tuple[float, float]
    meta: dict[str, Any] = field(default_factory=dict)
    convention: str = ENDPOINTS

    def __post_init__(self) -> None:
        check_convention(self.convention)
        if self.values.ndim != 2 or self.values.shape[0] != math.prod(self.shape):
            raise ValueError(f"values {tuple(self.values.shape)} do not match grid {self.shape}")

    @property
    def in_dim(self) -> int:
        return len(self.shape)

    @property
    def out_dim(self) -> int:
        return self.values.shape[1]

    @property
    def num_samples(self) -> int:
        return self.values.shape[0]

    def coords(self, device: torch.device | str | None = None) -> torch.Tensor:
        """All coordinates of the grid: (N, in_dim)."""
        return grid(self.shape, device, self.convention)

    def describe(self) -> dict[str, Any]:
        """Plain-data description stored in a run's config.json."""
        return {"kind": self.kind, "shape": list(self.shape), "channels": self.out_dim,
                "value_range": list(self.value_range), "meta": self.meta, "convention": self.convention}

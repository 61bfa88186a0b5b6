"""Where samples sit on [-1, 1]: cell centres, cell widths, sub-cell offsets and the Nyquist limit,
for both grid conventions, and the one rule that sizes a first-layer basis from the Nyquist limit
(``nyquist_basis``). Sampling, rendering, the presets, a study's derived levers, inspection, the
spectral tools and the codec ask this module; nothing else computes them.

Every axis spans the extent [-1, 1]; where its n samples sit is the signal's ``convention``:

- ``"centers"`` (images): a pixel is a cell. Pixel i of n covers [i, i + 1) / n of the extent,
  i.e. [-1 + 2i/n, -1 + 2(i+1)/n], and is sampled at its centre (i + 0.5) / n, i.e. -1 + (2i + 1)/n,
  as Pillow and OpenCV resizing assume, so a render at m pixels samples the centres of an m-pixel
  image and lines up with the source.
- ``"endpoints"`` (audio, and runs fitted before conventions were recorded): a sample is an instant;
  sample i of n sits at i / (n - 1) of the extent, -1 + 2i/(n - 1) (``linspace(-1, 1, n)``, first and
  last on the ends), as in the FKAN and SL2A reference code.

An axis of a single sample sits at 0 in both. A sample's cell is ``spacing`` wide in either
convention (an endpoint sample's cell is clipped to [-1, 1] where it is used). Samples ``spacing``
apart carry angular frequencies up to pi / spacing (Nyquist, in units of cos(k x)): pi n / 2 for n
pixel centres, pi (n - 1) / 2 for n endpoint samples.
"""

from __future__ import annotations

import math

import torch

from kan_inr.errors import KanInrError

CENTERS, ENDPOINTS = "centers", "endpoints"
CONVENTIONS = (CENTERS, ENDPOINTS)

# A first-layer basis size counts frequencies in one of three units, each with its Nyquist limit on an
# axis whose samples are s apart (s = 2 / n on n pixel centres):
ANGULAR = "angular"  # Fourier frequencies K of cos(k x), Chebyshev degree D (spectral.py): pi / s (``nyquist``)
INTERVALS = "intervals"  # B-spline intervals G of width 2 / G, which resolve up to about pi G / 2: 2 / s
CYCLES = "cycles"  # cycles per unit length (the SIREN code's NeRF encoding): 1 / (2 s)
MAX_BASIS = 1024  # the largest basis the rule gives: features (batch, 2K) of a 65,536 batch are 0.5 GB at K = 1,024


def check_convention(convention: str) -> str:
    if convention not in CONVENTIONS:
        raise KanInrError(f"unknown grid convention '{convention}' (choose from {', '.join(CONVENTIONS)})")
    return convention


def positions(index: torch.Tensor, n: int, convention: str = ENDPOINTS) -> torch.Tensor:
    """Coordinates of samples ``index`` (any shape, integer) of an axis of ``n``: same shape, float32.
    With ``CENTERS`` these are the cell centres."""
    if n == 1:
        return torch.zeros_like(index, dtype=torch.float32)
    if check_convention(convention) == CENTERS:
        return (2.0 * index.float() + 1.0) / n - 1.0
    return index.float() * (2.0 / (n - 1)) - 1.0


def spacing(n: int, convention: str = ENDPOINTS) -> float:
    """Distance between neighbouring samples of an axis of ``n`` (the width of a pixel's cell)."""
    if check_convention(convention) == CENTERS:
        return 2.0 / n
    return 2.0 / max(n - 1, 1)


def cell_widths(shape: tuple[int, ...], convention: str,
                extent: tuple[tuple[float, float], ...] | None = None) -> tuple[float, ...]:
    """Per axis, the width of a sample's cell in coordinate units: (d,) numbers. ``extent`` ((lo, hi) per
    axis) maps the grid's [-1, 1] affinely onto [lo, hi] (``render.predict_grid``); None = [-1, 1]."""
    scale = [1.0] * len(shape) if extent is None else [(hi - lo) / 2 for lo, hi in extent]
    return tuple(spacing(n, convention) * s for n, s in zip(shape, scale))


def subcell_offsets(k: int, d: int, device: torch.device | str | None = None,
                    dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The centres of the k^d equal sub-cells of a cell, in cell widths from its centre: (k^d, d), each
    coordinate in (-1/2, 1/2), row-major (last axis fastest). Along an axis they are the cell centres
    of k pixels on [-1, 1] (``positions``), halved: the cell is 1 wide, not 2."""
    centres = positions(torch.arange(k, device=device), k, CENTERS).to(dtype) / 2  # (k,)
    return torch.stack(torch.meshgrid(*[centres] * d, indexing="ij"), dim=-1).reshape(-1, d)


def nyquist(n: int, convention: str) -> float:
    """Highest angular frequency (units of cos(k x), x in [-1, 1]) an axis of ``n`` samples carries."""
    return math.pi / spacing(n, convention)


def capped_band(band: float, samples: int) -> int:
    """A first layer's band (its highest frequency in the units of cos(k x) on [-1, 1]: FKAN's and SL2A's
    spread basis, SIREN's omega_0) on a clip of ``samples``: at most the clip's Nyquist limit (a clip of a
    few milliseconds), at least 1."""
    return max(1, min(round(band), nyquist_basis(1.0, (samples,), ENDPOINTS, most=None)))


def nyquist_basis(fraction: float, shape: tuple[int, ...], convention: str, unit: str = ANGULAR, *,
                  longest: bool = False, most: int | None = MAX_BASIS) -> int:
    """A first-layer basis size at ``fraction`` of the Nyquist limit, in ``unit``, of the grid's smaller
    axis (``longest``: its longer one): rounded down, so the basis stays within that fraction; at least 1
    and at most ``most`` (None: no bound). The one rule from a Nyquist fraction to a basis size: the image
    presets' caps, a study's derived levers, the codec's sizing and the NeRF encoding's octaves use it."""
    n = max(shape) if longest else min(shape)
    intervals = n if check_convention(convention) == CENTERS else max(n - 1, 1)  # 2 / spacing, a whole number
    limit = {ANGULAR: nyquist(n, convention), INTERVALS: intervals, CYCLES: intervals / 4}[unit]
    size = max(1, math.floor(fraction * limit))
    return size if most is None else min(most, size)

"""The first KAN layer as a spectrum: frequencies of its coefficients, a
frequency-weighted penalty and render-time prefiltering.

A Fourier-KAN first layer (FKAN, arXiv 2409.09323) is a sum of cos(k x_i), sin(k x_i): column k of its
weight carries angular frequency k along axis i. A Chebyshev one (SL2A, arXiv 2409.10836) is a sum of
T_k(tanh x_i) = cos(k arccos tanh x_i); since |d arccos(tanh x) / dx| = 1 / cosh x <= 1 (equal at 0),
T_k oscillates at most k times faster than x: degree k counts as frequency k. A grid carries
frequencies up to its Nyquist limit (``geometry.nyquist``); coefficients above it fit nothing the
samples can show, and alias between them.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
from torch import nn

from kan_inr.errors import KanInrError
from kan_inr.models.layers import BSplineKAN, ChebyshevKAN, FourierKAN, KANLayer
from kan_inr.geometry import cell_widths, spacing

BASIS_LAYERS = (FourierKAN, ChebyshevKAN, BSplineKAN)


def first_basis_layer(model: nn.Module) -> KANLayer | None:
    """The first KAN basis layer of ``model`` (the one on the coordinates), or None."""
    return next((m for m in model.modules() if isinstance(m, BASIS_LAYERS)), None)


def column_frequencies(layer: KANLayer) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(frequency k, input axis i) of every column of the layer's ``weight`` (out, in * n_basis), both
    (in * n_basis,); None for a layer without frequencies (B-splines)."""
    if isinstance(layer, FourierKAN):
        k = layer.frequencies.float().repeat(2)  # [A_1..A_K, B_1..B_K]: k = 1..K or spread over a band
    elif isinstance(layer, ChebyshevKAN):
        k = layer.degrees.float()  # [c_0..c_D]
    else:
        return None
    k = k.to(layer.weight.device)
    axis = torch.arange(layer.in_features, device=k.device).repeat_interleave(k.numel())  # (in * n_basis,)
    return k.repeat(layer.in_features), axis


def energy_per_frequency(layer: KANLayer) -> tuple[torch.Tensor, torch.Tensor]:
    """(k (F,), energy (F,)): the sum of squared coefficients at each frequency k, over outputs, inputs
    and (Fourier) cos/sin."""
    columns = column_frequencies(layer)
    if columns is None:
        raise KanInrError(f"{type(layer).__name__} has no frequencies (only Fourier and Chebyshev layers)")
    k, _ = columns
    per_column = layer.weight.detach().float().pow(2).sum(dim=0)  # (in * n_basis,)
    ks = torch.unique(k)  # (F,) sorted
    energy = torch.zeros_like(ks).index_add_(0, torch.searchsorted(ks, k), per_column)
    return ks.cpu(), energy.cpu()


def frequency_penalty(model: nn.Module, strength: float, alpha: float,
                      limit: float) -> Callable[[], torch.Tensor] | None:
    """``strength * sum_j (k_j / limit)^alpha ||W_j||^2 / sum_j ||W_j||^2`` over the columns j of the
    first KAN layer (L2 weighted by frequency k^alpha, a Sobolev-type smoothness prior), as a
    function of the current weights; ``limit`` is the grid's Nyquist frequency, so the value is the
    share of the layer's energy weighted by (k / Nyquist)^alpha: 1 if all of it sat at Nyquist.

    Divided by the layer's total energy because a LayerNorm follows the first layer in FKAN, SL2A and
    the stacked KANs: a plain weighted L2 would mostly shrink the layer's scale, which the norm undoes,
    whereas this ratio only moves energy from high frequencies to low ones. None when ``strength`` is 0.
    """
    if strength == 0:
        return None
    layer = first_basis_layer(model)
    columns = None if layer is None else column_frequencies(layer)
    if layer is None or columns is None:
        raise KanInrError("freq_penalty needs a model whose first layer is a Fourier or Chebyshev KAN layer")
    weight = (columns[0] / limit).pow(alpha)  # (in * n_basis,)

    def penalty() -> torch.Tensor:
        energy = layer.weight.pow(2).sum(dim=0)  # (in * n_basis,)
        return strength * (energy * weight).sum() / energy.sum()

    return penalty


def box_response(k: torch.Tensor, cell: float) -> torch.Tensor:
    """Response of the mean over a cell of width ``cell`` to cos(k x) and sin(k x): the mean of
    cos(k (x + u)) over u in [-c/2, c/2] is cos(k x) sin(k c / 2) / (k c / 2). Applied to a first
    layer's coefficients it turns the layer's output at a point into its exact average over the cell
    there: what an area-downsampled (or camera) pixel holds."""
    half = k * (cell / 2)
    return torch.where(half == 0, torch.ones_like(half), torch.sin(half) / half.clamp(min=1e-12))


def render_cells(fitted: tuple[int, ...], shape: tuple[int, ...], convention: str,
                 extent: tuple[tuple[float, float], ...] | None = None) -> tuple[float | None, ...]:
    """Per axis, the cell width (coordinate units) of a render of ``shape`` samples where it is
    coarser than the ``fitted`` grid's, else None (nothing to filter). ``extent`` as in
    ``render.predict_grid`` (endpoint samples spread over [lo, hi])."""
    return tuple(cell if cell > spacing(n_fit, convention) * (1 + 1e-9) else None
                 for n_fit, cell in zip(fitted, cell_widths(shape, convention, extent)))


@contextlib.contextmanager
def prefiltered(model: nn.Module, cells: tuple[float | None, ...]) -> Iterator[bool]:
    """Within the block, the first KAN layer's coefficients along axis a are attenuated by the box
    filter of cells ``cells[a]`` wide (None: untouched), so a render coarser than the fitted grid
    averages over its pixels instead of aliasing the finer detail. For a Fourier layer its output
    becomes exactly its mean over each cell (``box_response``); for a Chebyshev one, whose degree k is
    frequency k only near the centre, approximately. The layers after it see a smoothed input. Yields whether it filtered (False: nothing to
    filter, or no Fourier/Chebyshev first layer)."""
    layer = first_basis_layer(model)
    columns = None if layer is None else column_frequencies(layer)
    if layer is None or columns is None or all(c is None for c in cells) or len(cells) != layer.in_features:
        yield False
        return
    k, axis = columns
    gain = torch.ones_like(k)  # (in * n_basis,)
    for a, cell in enumerate(cells):
        if cell is not None:
            gain = torch.where(axis == a, box_response(k, cell), gain)
    saved = layer.weight.detach().clone()
    with torch.no_grad():
        layer.weight.mul_(gain.to(layer.weight.dtype))
    try:
        yield True
    finally:
        with torch.no_grad():
            layer.weight.copy_(saved)

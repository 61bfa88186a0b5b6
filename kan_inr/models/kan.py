"""Plain stacked KANs as INRs: what a user tries first on hearing "KAN".

- ``cheby-kan``: stacked Chebyshev-KAN layers y_o = sum_i sum_k c_iok T_k(tanh x_i) (Chebyshev KAN,
  SS et al. 2024, arXiv 2405.07200), LayerNorm between layers as in the SL2A first layer.
- ``bspline-kan``: the original KAN (Liu et al. 2024, arXiv 2404.19756, eq. 2.10) in the efficient
  formulation: per input, [silu(x), B-splines of x] then one matrix multiply.

Both use a finer basis in the first layer (it sees the coordinates and sets the frequencies the
network starts from) than in the hidden ones. Neither paper has an INR recipe: the presets use the
SL2A one (the protocol div2k-sl2a of ``comparison.protocols``).

Input range. Chebyshev layers squash every input with tanh, so any real input is valid. A B-spline
basis lives on its grid and is zero outside it: the first layer's grid covers [-1, 1], the range of
every Signal's coordinates, and ``BSplineKANNet`` raises ``KanInrError`` for coordinates outside it;
hidden layers see LayerNorm then tanh outputs, inside (-1, 1) by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from kan_inr.errors import KanInrError
from kan_inr.models.layers import BSplineKAN, ChebyshevKAN

COORD_RANGE = (-1.0, 1.0)


@dataclass(frozen=True)
class ChebyKANConfig:
    first_degree: int = 128  # Chebyshev degree of the first layer, on the coordinates
    degree: int = 8  # degree of the later layers
    hidden_dims: tuple[int, ...] = (128, 128)


class ChebyKANNet(nn.Module):
    """ChebyshevKAN(in -> h_1, first_degree) -> [LayerNorm -> ChebyshevKAN(h -> h', degree)]* -> out."""

    def __init__(self, in_dim: int, out_dim: int, cfg: ChebyKANConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dims = (in_dim, *cfg.hidden_dims, out_dim)
        self.layers = nn.ModuleList(ChebyshevKAN(a, b, cfg.first_degree if i == 0 else cfg.degree)
                                    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])))
        self.norms = nn.ModuleList(nn.LayerNorm(h) for h in cfg.hidden_dims)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        h = self.layers[0](coords)  # (N, h_1)
        for norm, layer in zip(self.norms, self.layers[1:]):
            h = layer(norm(h))  # (N, next width); the layer's tanh maps LayerNorm output into (-1, 1)
        return h  # (N, out_dim)


@dataclass(frozen=True)
class BSplineKANConfig:
    first_grid_size: int = 64  # spline intervals on [-1, 1] in the first layer
    grid_size: int = 8  # intervals in the later layers (pykan's default is 5)
    order: int = 3  # cubic B-splines, as in the KAN paper
    hidden_dims: tuple[int, ...] = (64, 64)  # 128 wide costs 4x: (N, in * (G + k + 1)) features per layer


class BSplineKANNet(nn.Module):
    """BSplineKAN(in -> h_1) -> [LayerNorm -> tanh -> BSplineKAN(h -> h')]* -> out, grids on [-1, 1]."""

    def __init__(self, in_dim: int, out_dim: int, cfg: BSplineKANConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dims = (in_dim, *cfg.hidden_dims, out_dim)
        self.layers = nn.ModuleList(
            BSplineKAN(a, b, cfg.first_grid_size if i == 0 else cfg.grid_size, cfg.order, COORD_RANGE)
            for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])))
        self.norms = nn.ModuleList(nn.LayerNorm(h) for h in cfg.hidden_dims)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        check_range(coords, COORD_RANGE)
        h = self.layers[0](coords)  # (N, h_1)
        for norm, layer in zip(self.norms, self.layers[1:]):
            h = layer(torch.tanh(norm(h)))  # (N, next width)
        return h  # (N, out_dim)


def check_range(coords: torch.Tensor, bounds: tuple[float, float], tol: float = 1e-5) -> None:
    """Raise if ``coords`` leave ``bounds`` (+- tol for rounding): a spline would silently clamp them."""
    if torch.compiler.is_compiling() or coords.numel() == 0:
        return
    lo, hi = coords.min().item(), coords.max().item()
    if lo < bounds[0] - tol or hi > bounds[1] + tol:
        raise KanInrError(f"bspline-kan takes coordinates in [{bounds[0]:g}, {bounds[1]:g}] (its spline "
                          f"grid), got values in [{lo:.4g}, {hi:.4g}]")

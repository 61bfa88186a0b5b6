"""SL2A-INR: a learnable-activation first layer fused into a low-rank ReLU MLP (Heidari et al. 2024,
arXiv 2409.10836), as its public code computes it.

    z_1 = LayerNorm(psi(x)),  psi_o(x) = sum_i sum_{k=0..D} a_iok T_k(tanh x_i)   (Chebyshev, no bias)
    y_0 = z_1;  y_l = ReLU((z_1 * y_{l-1}) L_l R_l + b_l)  for l = 1..3             (low rank, fusion)
    out = W (z_1 * y_3) + b

The first layer's output modulates the input of every later layer, the linear head included. Image
preset: D = 256, width 256, rank 128: 131,584 + 512 + 3 * 65,792 + 771 = 330,243 parameters for RGB.
For audio (not in the paper), ``band`` spreads the D degrees over 1..band so that a few of them reach
the clip's band at a fixed cost per sample (``layers.spread_frequencies``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from kan_inr.models.layers import ChebyshevKAN, exact_linear
from kan_inr.geometry import capped_band, nyquist_basis
from kan_inr.space import SearchSpace, number


@dataclass(frozen=True)
class SL2AConfig:
    degree: int = 256  # D: Chebyshev polynomials T_0..T_D in the first layer
    hidden_dim: int = 256
    rank: int = 128  # inner width of each low-rank layer L R
    hidden_layers: int = 3  # low-rank ReLU layers after the first one
    band: int = 0  # > degree: the degrees 1..D spread over 1..band (layers.ChebyshevKAN); else 0..D


def search_space(cfg: SL2AConfig, kind: str) -> SearchSpace:
    """SL2A's levers for ``kan-inr tune``: width, rank of the low-rank layers and their number, and the
    first layer: images, the Chebyshev degree D as a fraction of the grid's Nyquist limit
    (``degree_fraction``, 1/16 to all of it; T_D(tanh x) oscillates at most D times faster than x, so D
    counts frequencies as FKAN's K does); audio, the band its D degrees spread over as a multiple of the
    audio presets' own (``band_scale``, 1/8 to 8 times the default network's) and D."""
    def derive(values: dict[str, Any], shape: tuple[int, ...], convention: str) -> dict[str, Any]:
        if "band_scale" in values:
            return {"band": capped_band(values["band_scale"] * cfg.band, shape[0])}
        return {"degree": nyquist_basis(values["degree_fraction"], shape, convention)}

    common = {"hidden_dim": number(64, 512, log=True, integer=True), "rank": number(16, 256, log=True, integer=True),
              "hidden_layers": number(1, 5, integer=True)}
    if kind == "audio":
        return SearchSpace({"band_scale": number(1 / 8, 8.0, log=True),
                            "degree": number(16, 256, log=True, integer=True), **common},
                           {"band_scale": ("band",)}, derive)
    return SearchSpace({"degree_fraction": number(1 / 16, 1.0, log=True), **common},
                       {"degree_fraction": ("degree",)}, derive)


class LowRankReLU(nn.Module):
    """ReLU(x L R + b) with L (in, rank), R (rank, out)."""

    def __init__(self, in_features: int, out_features: int, rank: int) -> None:
        super().__init__()
        self.left = nn.Parameter(torch.empty(in_features, rank))
        self.right = nn.Parameter(torch.empty(rank, out_features))
        self.bias = nn.Parameter(torch.empty(out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The public SL2A code: L, R ~ kaiming_uniform(a = sqrt 5) on the stored (in, rank) and
        (rank, out) tensors (bound 1 / sqrt(size(1))), b ~ U(+-1 / sqrt(rank))."""
        nn.init.kaiming_uniform_(self.left, a=math.sqrt(5))
        nn.init.kaiming_uniform_(self.right, a=math.sqrt(5))
        bound = 1.0 / math.sqrt(self.left.shape[1])
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # addmm: under bf16 autocast the bias joins the matmul in bf16; "+ self.bias" would promote the
        # (N, out) result to fp32 and every later elementwise op and cast with it (1.45x -> see precision.json)
        return torch.relu(torch.addmm(self.bias, x @ self.left, self.right))  # (N, out)


class SL2A(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, cfg: SL2AConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.kan = ChebyshevKAN(in_dim, cfg.hidden_dim, cfg.degree, cfg.band)
        self.norm = nn.LayerNorm(cfg.hidden_dim)
        self.layers = nn.ModuleList(LowRankReLU(cfg.hidden_dim, cfg.hidden_dim, cfg.rank)
                                    for _ in range(cfg.hidden_layers))
        self.head = nn.Linear(cfg.hidden_dim, out_dim)  # PyTorch default initialisation, as the code

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        z1 = self.norm(self.kan(coords))  # (N, hidden_dim)
        y = z1
        for layer in self.layers:
            y = layer(z1 * y)  # (N, hidden_dim)
        return exact_linear(z1 * y, self.head)  # (N, out_dim), fp32 output in a bf16 step

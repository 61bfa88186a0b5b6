"""FKAN: Fourier Kolmogorov-Arnold network INR (Mehrabian et al. 2024, arXiv 2409.09323).

The network of the authors' public notebook, for an image (in_dim 2, out_dim 3):
FourierKAN(2 -> 128, K = 270) -> LayerNorm(128) -> blocks 128->256->256->256->512 -> Linear(512 -> 3).
Each block computes z = W x + b and (z + tanh(omega z)) * sigmoid(z), omega = 30 (the code calls it
a "SineLayer" though no sine is used). 436,355 parameters for RGB; the notebook also registers three
unused scalars per block (printed count 436,367), which we drop. ``block = "sine"`` (not in the paper)
makes the blocks SIREN's sine layers behind the Fourier-KAN first layer.

For audio (not in the paper): ``band`` spreads the first layer's K frequencies over 1..band
(``layers.spread_frequencies``) so that a few of them reach the clip's band at a fixed cost per sample,
and ``first = "sine"`` puts sin() after that layer instead of LayerNorm, so the whole network is a
sine network whose first layer is a learnable Fourier series (SIREN's hidden layers, Sitzmann et al.
2020, then build the integer combinations of those frequencies).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from kan_inr.errors import KanInrError
from kan_inr.models.layers import FourierKAN, exact_linear
from kan_inr.geometry import capped_band, nyquist_basis
from kan_inr.space import SearchSpace, choice, number


BLOCKS = ("fkan", "sine")  # the blocks' activation: the FKAN code's, or SIREN's sine (FKANBlock)
FIRSTS = ("norm", "sine")  # after the Fourier-KAN layer: the FKAN code's LayerNorm, or sin()


@dataclass(frozen=True)
class FKANConfig:
    grid_size: int = 270  # K: frequencies 1..K of the Fourier-KAN first layer
    hidden_dim: int = 128  # width of the Fourier-KAN layer's output
    block_dims: tuple[int, ...] = (256, 256, 256, 512)
    omega: float = 30.0  # slope of tanh (fkan blocks) or frequency of the sine (sine blocks)
    block: str = "fkan"  # one of BLOCKS
    band: int = 0  # > grid_size: the K frequencies spread over 1..band (layers.spread_frequencies); else 1..K
    first: str = "norm"  # one of FIRSTS: what follows the Fourier-KAN layer

    def __post_init__(self) -> None:
        if self.block not in BLOCKS:
            raise KanInrError(f"unknown block '{self.block}' (choose from {', '.join(BLOCKS)})")
        if self.first not in FIRSTS:
            raise KanInrError(f"unknown first '{self.first}' (choose from {', '.join(FIRSTS)})")


def search_space(cfg: FKANConfig, kind: str) -> SearchSpace:
    """FKAN's levers for ``kan-inr tune``, around the preset's default network ``cfg``. Images: K as a
    fraction of the grid's Nyquist limit (``grid_fraction``, 1/16 to all of it), the Fourier-KAN layer's
    width, ``blocks`` equal blocks of ``block_width`` (the paper's 256-256-256-512 made uniform), the
    blocks' omega and their activation (``block``: the paper's, or sine). Audio (sine blocks behind sin()
    of a spread first layer, both measured): the band as a multiple of the audio presets' own
    (``band_scale``, 1/8 to 8 times the default network's), K, the widths, the blocks and their omega."""
    def derive(values: dict[str, Any], shape: tuple[int, ...], convention: str) -> dict[str, Any]:
        fields: dict[str, Any] = {"block_dims": (values["block_width"],) * values["blocks"]}
        if "band_scale" in values:
            return fields | {"band": capped_band(values["band_scale"] * cfg.band, shape[0])}
        return fields | {"grid_size": nyquist_basis(values["grid_fraction"], shape, convention)}

    shape_levers = {"block_width": ("block_dims",), "blocks": ("block_dims",)}
    blocks = {"block_width": number(64, 512, log=True, integer=True), "blocks": number(1, 5, integer=True)}
    if kind == "audio":
        return SearchSpace({"band_scale": number(1 / 8, 8.0, log=True),
                            "grid_size": number(16, 256, log=True, integer=True),
                            "hidden_dim": number(32, 512, log=True, integer=True), **blocks,
                            "omega": number(cfg.omega / 3, cfg.omega * 3, log=True)},
                           {"band_scale": ("band",), **shape_levers}, derive)
    return SearchSpace({"grid_fraction": number(1 / 16, 1.0, log=True),
                        "hidden_dim": number(32, 256, log=True, integer=True), **blocks,
                        "omega": number(cfg.omega / 10, cfg.omega * 2, log=True), "block": choice(*BLOCKS)},
                       {"grid_fraction": ("grid_size",), **shape_levers}, derive)


class FKANBlock(nn.Module):
    """z = W x + b; (z + tanh(omega z)) * sigmoid(z) (the FKAN code's "fkan" block), or sin(omega z)
    (a SIREN hidden layer, Sitzmann et al. 2020: "sine"), both with SIREN's hidden-layer initialisation."""

    def __init__(self, in_features: int, out_features: int, omega: float, block: str = "fkan") -> None:
        super().__init__()
        self.omega, self.block = omega, block
        self.linear = nn.Linear(in_features, out_features)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """W ~ U(+-sqrt(6 / in) / omega), the SIREN hidden-layer rule the FKAN code uses; bias default."""
        bound = math.sqrt(6.0 / self.linear.in_features) / self.omega
        nn.init.uniform_(self.linear.weight, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.linear(x)  # (N, out)
        if self.block == "sine":
            return torch.sin(self.omega * z)
        return (z + torch.tanh(self.omega * z)) * torch.sigmoid(z)


class FKAN(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, cfg: FKANConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.kan = FourierKAN(in_dim, cfg.hidden_dim, cfg.grid_size, cfg.band)
        self.norm = nn.LayerNorm(cfg.hidden_dim) if cfg.first == "norm" else None
        dims = (cfg.hidden_dim, *cfg.block_dims)
        self.blocks = nn.Sequential(*(FKANBlock(a, b, cfg.omega, cfg.block) for a, b in zip(dims[:-1], dims[1:])))
        self.head = nn.Linear(dims[-1], out_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Head W ~ U(+-sqrt(6 / hidden_dim) / omega): the public code uses the first hidden width
        (128), not the head's input width; bias PyTorch default."""
        bound = math.sqrt(6.0 / self.cfg.hidden_dim) / self.cfg.omega
        nn.init.uniform_(self.head.weight, -bound, bound)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        h = self.kan(coords)  # (N, hidden_dim)
        h = self.norm(h) if self.norm is not None else torch.sin(h)
        return exact_linear(self.blocks(h), self.head)  # (N, out_dim), fp32 output in a bf16 step

"""FKAN: Fourier Kolmogorov-Arnold network INR (Mehrabian et al. 2024, arXiv 2409.09323).

The network of the authors' public notebook, for an image (in_dim 2, out_dim 3):
FourierKAN(2 -> 128, K = 270) -> LayerNorm(128) -> blocks 128->256->256->256->512 -> Linear(512 -> 3).
Each block computes z = W x + b and (z + tanh(omega z)) * sigmoid(z), omega = 30 (the code calls it
a "SineLayer" though no sine is used). 436,355 parameters for RGB; the notebook also registers three
unused scalars per block (printed count 436,367), which we drop. ``block = "sine"`` (not in the paper)
makes the blocks SIREN's sine layers behind the Fourier-KAN first layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from kan_inr.errors import KanInrError
from kan_inr.models.layers import FourierKAN, exact_linear
from kan_inr.space import SearchSpace, choice, frequencies, number


BLOCKS = ("fkan", "sine")  # the blocks' activation: the FKAN code's, or SIREN's sine (FKANBlock)


@dataclass(frozen=True)
class FKANConfig:
    grid_size: int = 270  # K: frequencies 1..K of the Fourier-KAN first layer
    hidden_dim: int = 128  # width of the Fourier-KAN layer's output
    block_dims: tuple[int, ...] = (256, 256, 256, 512)
    omega: float = 30.0  # slope of tanh (fkan blocks) or frequency of the sine (sine blocks)
    block: str = "fkan"  # one of BLOCKS

    def __post_init__(self) -> None:
        if self.block not in BLOCKS:
            raise KanInrError(f"unknown block '{self.block}' (choose from {', '.join(BLOCKS)})")


def search_space(cfg: FKANConfig, kind: str) -> SearchSpace:
    """FKAN's levers for ``kan-inr tune``: K as a fraction of the grid's Nyquist limit (``grid_fraction``:
    images 1/16 to all of it; audio 1/128 to 1/4, around the preset's 1/16), the Fourier-KAN layer's
    width, ``blocks`` equal blocks of ``block_width`` (the paper's 256-256-256-512 made uniform), the
    blocks' omega and their activation (``block``: the paper's, or sine)."""
    def derive(values: dict[str, Any], shape: tuple[int, ...], convention: str) -> dict[str, Any]:
        return {"grid_size": frequencies(values["grid_fraction"], shape, convention),
                "block_dims": (values["block_width"],) * values["blocks"]}

    fraction = number(1 / 128, 1 / 4, log=True) if kind == "audio" else number(1 / 16, 1.0, log=True)
    return SearchSpace({"grid_fraction": fraction, "hidden_dim": number(32, 256, log=True, integer=True),
                        "block_width": number(64, 512, log=True, integer=True), "blocks": number(1, 5, integer=True),
                        "omega": number(cfg.omega / 10, cfg.omega * 2, log=True), "block": choice(*BLOCKS)},
                       {"grid_fraction": ("grid_size",), "block_width": ("block_dims",), "blocks": ("block_dims",)},
                       derive)


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
        self.kan = FourierKAN(in_dim, cfg.hidden_dim, cfg.grid_size)
        self.norm = nn.LayerNorm(cfg.hidden_dim)
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
        h = self.norm(self.kan(coords))  # (N, hidden_dim)
        return exact_linear(self.blocks(h), self.head)  # (N, out_dim), fp32 output in a bf16 step

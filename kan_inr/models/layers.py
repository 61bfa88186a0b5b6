"""Basis layers shared by KAN models: a basis expansion of each input, then one matrix multiply.

A KAN layer y_o = sum_i phi_oi(x_i) with phi_oi = sum_k c_oik B_k(x_i) is linear in the fixed features
B_k(x_i). Computing those features, (N, in * n_basis), and calling ``F.linear`` once gives the same
result as the per-edge formula without ever materialising a (N, out, in, K) tensor.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def fourier_features(x: torch.Tensor, grid_size: int) -> torch.Tensor:
    """[cos(k x_i) for k = 1..K, sin(k x_i) for k = 1..K] per input i: (N, in) -> (N, in * 2K).

    Integer frequencies on raw coordinates, no 2 pi, no constant term (FKAN, arXiv 2409.09323).
    """
    k = torch.arange(1, grid_size + 1, device=x.device, dtype=x.dtype)  # (K,)
    angles = x.unsqueeze(-1) * k  # (N, in, K)
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1).flatten(1)  # (N, in * 2K)


class FourierKAN(nn.Module):
    """Fourier-KAN layer (FKAN, Mehrabian et al. 2024, arXiv 2409.09323, eq. for phi):

        y_o = b_o + sum_i sum_{k=1..K} A_oik cos(k x_i) + B_oik sin(k x_i)

    stored as ``weight`` (out, in * 2K) with row layout [A_oi1..A_oiK, B_oi1..B_oiK] per input i.
    """

    def __init__(self, in_features: int, out_features: int, grid_size: int) -> None:
        super().__init__()
        self.in_features, self.out_features, self.grid_size = in_features, out_features, grid_size
        self.weight = nn.Parameter(torch.empty(out_features, in_features * 2 * grid_size))
        self.bias = nn.Parameter(torch.empty(out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """A, B ~ N(0, 1) / (sqrt(in) sqrt(K)); bias 0 (the FKAN public code)."""
        nn.init.normal_(self.weight, 0.0, 1.0 / math.sqrt(self.in_features * self.grid_size))
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-1] == self.in_features, x.shape
        return F.linear(fourier_features(x, self.grid_size), self.weight, self.bias)  # (N, out)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, grid_size={self.grid_size}"

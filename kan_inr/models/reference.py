"""Naive reference formulations of KAN layers, as the papers' public code computes them.

Slow on purpose: the tests prove our fast layers equal these, and ``scripts/bench.py`` times both in
one process. Not registered as models.
"""

from __future__ import annotations

import torch


def fourier_kan_naive(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Per-edge Fourier-KAN, materialising (N, out, in, K) as the FKAN notebook does.

    y_o = bias_o + sum_i sum_{k=1..K} a_oik cos(k x_i) + b_oik sin(k x_i)
    x: (N, in); a, b: (out, in, K); bias: (out,)  ->  (N, out)
    """
    k = torch.arange(1, a.shape[-1] + 1, dtype=x.dtype, device=x.device)  # (K,)
    angles = x[:, None, :, None] * k  # (N, 1, in, K)
    terms = a * torch.cos(angles) + b * torch.sin(angles)  # (N, out, in, K)
    return terms.sum(dim=(2, 3)) + bias


def fourier_kan_coefficients(weight: torch.Tensor, in_features: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a ``FourierKAN.weight`` (out, in * 2K) into the per-edge A, B of shape (out, in, K)."""
    out_features = weight.shape[0]
    per_input = weight.reshape(out_features, in_features, 2, -1)  # (out, in, 2, K)
    return per_input[:, :, 0], per_input[:, :, 1]

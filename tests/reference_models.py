"""Naive reference formulations of KAN layers, as the papers' public code computes them.

Slow on purpose: the tests prove our fast layers equal these, and ``scripts/bench.py`` times both in
one process (``from tests import reference_models``). Not part of the package, not registered as models.
"""

from __future__ import annotations

import torch


def fourier_kan_naive(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """Per-edge Fourier-KAN in the order the FKAN notebook computes it (Mehrabian et al. 2024,
    arXiv 2409.09323, public notebook ``FourierKANLayer.forward``):

        y_o = bias_o + sum_i sum_{k=1..K} a_oik cos(k x_i) + b_oik sin(k x_i)

    cos(k x) and sin(k x) are evaluated once, (N, 1, in, K); then the cos term is multiplied out to
    (N, out, in, K) and summed, and only after that the sin term. So one (N, out, in, K) temporary is
    alive at a time, as in the notebook: the memory a fair benchmark must charge it, not more.
    x: (N, in); a, b: (out, in, K); bias: (out,)  ->  (N, out)
    """
    n, n_in = x.shape
    k = torch.arange(1, a.shape[-1] + 1, dtype=x.dtype, device=x.device).view(1, 1, 1, -1)  # (1, 1, 1, K)
    angles = x.view(n, 1, n_in, 1) * k  # (N, 1, in, K)
    cos, sin = torch.cos(angles), torch.sin(angles)  # (N, 1, in, K) each
    y = (cos * a).sum(dim=(-2, -1))  # (N, out, in, K) product, freed once summed to (N, out)
    y += (sin * b).sum(dim=(-2, -1))  # then the second (N, out, in, K) product
    y += bias
    return y  # (N, out)


def fourier_kan_coefficients(weight: torch.Tensor, in_features: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a ``FourierKAN.weight`` (out, in * 2K) into the per-edge A, B of shape (out, in, K)."""
    out_features = weight.shape[0]
    per_input = weight.reshape(out_features, in_features, 2, -1)  # (out, in, 2, K)
    return per_input[:, :, 0], per_input[:, :, 1]


def chebyshev_kan_einsum(x: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """Chebyshev-KAN layer as the public SL2A code computes it: tanh, expand every input to D + 1
    copies, arccos and cos on the expanded tensor, then an einsum against the coefficients.

    y_o = sum_i sum_{k=0..D} c_iok cos(k arccos(tanh x_i))
    x: (N, in); coeffs: (in, out, D + 1)  ->  (N, out)
    """
    n_in, _, n_basis = coeffs.shape
    t = torch.tanh(x).view(-1, n_in, 1).expand(-1, -1, n_basis)  # (N, in, D + 1)
    k = torch.arange(n_basis, dtype=x.dtype, device=x.device)  # (D + 1,)
    basis = torch.cos(torch.arccos(t) * k)  # (N, in, D + 1)
    return torch.einsum("nik,iok->no", basis, coeffs)


def chebyshev_kan_coefficients(weight: torch.Tensor, in_features: int) -> torch.Tensor:
    """A ``ChebyshevKAN.weight`` (out, in * (D + 1)) as the SL2A code's coefficients (in, out, D + 1)."""
    return weight.reshape(weight.shape[0], in_features, -1).permute(1, 0, 2)

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


def chebyshev_basis(t: torch.Tensor, degree: int) -> torch.Tensor:
    """Chebyshev polynomials T_0..T_D of each entry of ``t`` in [-1, 1]: (N, in) -> (N, in, D + 1).

    T_k(t) = cos(k arccos t). ``t`` is first clamped to the largest float below 1 in magnitude: that
    moves only t = +-1 exactly, by one ulp (within the input's own rounding), and keeps the gradient
    of arccos, -1 / sqrt(1 - t^2), finite, so saturated inputs (tanh = +-1) never make NaN gradients.
    One arccos per input and one cos per basis entry, vs the public SL2A code's arccos of the expanded
    (N, in, D + 1) tensor.
    """
    edge = 1.0 - torch.finfo(t.dtype).eps / 2  # the float just below 1
    theta = torch.arccos(t.clamp(-edge, edge))  # (N, in)
    k = torch.arange(degree + 1, device=t.device, dtype=t.dtype)  # (D + 1,)
    return torch.cos(theta.unsqueeze(-1) * k)  # (N, in, D + 1)


class ChebyshevKAN(nn.Module):
    """Chebyshev-KAN layer (SL2A-INR, Heidari et al. 2024, arXiv 2409.10836, eq. of psi):

        y_o = sum_i sum_{k=0..D} c_iok T_k(tanh x_i)

    No bias: T_0 = 1 plays its part. tanh maps any input into (-1, 1), the domain of T_k, so the layer
    accepts all reals. Stored as ``weight`` (out, in * (D + 1)) with row layout [c_i0..c_iD] per input i.
    """

    def __init__(self, in_features: int, out_features: int, degree: int) -> None:
        super().__init__()
        self.in_features, self.out_features, self.degree = in_features, out_features, degree
        self.weight = nn.Parameter(torch.empty(out_features, in_features * (degree + 1)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Xavier-uniform on coefficients shaped (in, out, D + 1), as the public SL2A code stores them:
        PyTorch's 3-D fan rule gives bound sqrt(6 / ((in + out)(D + 1)))."""
        coeffs = nn.init.xavier_uniform_(torch.empty(self.in_features, self.out_features, self.degree + 1))
        with torch.no_grad():
            self.weight.copy_(coeffs.permute(1, 0, 2).reshape_as(self.weight))  # (out, in * (D + 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-1] == self.in_features, x.shape
        basis = chebyshev_basis(torch.tanh(x), self.degree)  # (N, in, D + 1)
        return F.linear(basis.flatten(1), self.weight)  # (N, out)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, degree={self.degree}"


def bspline_basis(x: torch.Tensor, knots: torch.Tensor, order: int) -> torch.Tensor:
    """B-splines of ``order`` (3 = cubic) on ``knots`` (G + 2k + 1,), by the Cox-de Boor recursion:
    (N, in) -> (N, in, G + k).

    B_j^0(x) = 1 if t_j <= x < t_{j+1}; B_j^p = (x - t_j) / (t_{j+p} - t_j) B_j^{p-1}
    + (t_{j+p+1} - x) / (t_{j+p+1} - t_{j+1}) B_{j+1}^{p-1}. Zero outside [t_0, t_last): callers clamp.
    """
    x = x.unsqueeze(-1)  # (N, in, 1)
    basis = ((x >= knots[:-1]) & (x < knots[1:])).to(x.dtype)  # (N, in, G + 2k)
    for p in range(1, order + 1):
        left = (x - knots[:-(p + 1)]) / (knots[p:-1] - knots[:-(p + 1)])  # (N, in, G + 2k - p)
        right = (knots[p + 1:] - x) / (knots[p + 1:] - knots[1:-p])
        basis = left * basis[..., :-1] + right * basis[..., 1:]
    return basis  # (N, in, G + k)


class BSplineKAN(nn.Module):
    """B-spline KAN layer (KAN, Liu et al. 2024, arXiv 2404.19756, eq. 2.10), efficient formulation:

        y_o = sum_i w_oi silu(x_i) + sum_i sum_j c_oij B_j(clamp(x_i))

    computed as ONE ``F.linear`` of the features [silu(x_i), B_1(x_i) .. B_{G+k}(x_i)] per input i.
    The paper's per-edge scales (scale_base, scale_sp) are folded into w and c (a product of free
    parameters adds nothing). Input domain: the grid has G intervals on ``grid_range`` plus k knots on
    each side, so the B-splines sum to 1 on the whole range; the spline branch sees x clamped to the
    range (beyond it the spline continues with its edge value instead of silently dropping to 0),
    the SiLU branch sees x as given.
    """

    def __init__(self, in_features: int, out_features: int, grid_size: int, order: int = 3,
                 grid_range: tuple[float, float] = (-1.0, 1.0)) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.grid_size, self.order, self.grid_range = grid_size, order, grid_range
        lo, hi = grid_range
        step = (hi - lo) / grid_size
        knots = lo + step * torch.arange(-order, grid_size + order + 1, dtype=torch.float32)  # (G + 2k + 1,)
        self.register_buffer("knots", knots, persistent=False)
        self.weight = nn.Parameter(torch.empty(out_features, in_features * (1 + grid_size + order)))
        self.reset_parameters()

    def reset_parameters(self, noise_scale: float = 0.5) -> None:
        """pykan's initialisation: base weight w ~ U(+-1 / sqrt(in)) (scale_base); spline coefficients
        c = scale_sp * noise with scale_sp = 1 / sqrt(in) and noise ~ U(+-noise_scale / (2 G))."""
        per_input = self.weight.detach().view(self.out_features, self.in_features, 1 + self.grid_size + self.order)
        bound = 1.0 / math.sqrt(self.in_features)
        nn.init.uniform_(per_input[..., 0], -bound, bound)
        noise = noise_scale / (2 * self.grid_size)
        nn.init.uniform_(per_input[..., 1:], -noise * bound, noise * bound)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """[silu(x_i), B_j(clamp(x_i))] per input i: (N, in) -> (N, in * (1 + G + k))."""
        lo, hi = self.grid_range
        splines = bspline_basis(x.clamp(lo, hi), self.knots.to(x.dtype), self.order)  # (N, in, G + k)
        return torch.cat([F.silu(x).unsqueeze(-1), splines], dim=-1).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-1] == self.in_features, x.shape
        return F.linear(self.features(x), self.weight)  # (N, out)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, grid_size={self.grid_size}, "
                f"order={self.order}, grid_range={self.grid_range}")

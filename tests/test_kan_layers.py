"""KAN layers equal their naive per-edge formulas; their input domains hold; (..., in) inputs; edge functions."""

from __future__ import annotations

import math

import pytest
import torch

from kan_inr.models.layers import (BSplineKAN, ChebyshevKAN, FourierKAN, bspline_basis, chebyshev_basis, edge_functions,
                                   spread_frequencies)
from tests.reference_models import chebyshev_kan_coefficients, chebyshev_kan_einsum


def chebyshev_recurrence(t: torch.Tensor, degree: int) -> torch.Tensor:
    """T_0 = 1, T_1 = t, T_{k+1} = 2 t T_k - T_{k-1}: (N, in) -> (N, in, D + 1)."""
    terms = [torch.ones_like(t), t]
    for _ in range(degree - 1):
        terms.append(2 * t * terms[-1] - terms[-2])
    return torch.stack(terms[:degree + 1], dim=-1)


def bspline_naive(x: float, knots: list[float], j: int, p: int) -> float:
    """Cox-de Boor for one basis function at one point, scalar by scalar."""
    if p == 0:
        return 1.0 if knots[j] <= x < knots[j + 1] else 0.0
    left = (x - knots[j]) / (knots[j + p] - knots[j]) * bspline_naive(x, knots, j, p - 1)
    right = (knots[j + p + 1] - x) / (knots[j + p + 1] - knots[j + 1]) * bspline_naive(x, knots, j + 1, p - 1)
    return left + right


@pytest.mark.parametrize("degree", [0, 1, 5, 40])
def test_chebyshev_basis_equals_the_recurrence(degree: int) -> None:
    t = torch.linspace(-1, 1, 101, dtype=torch.float64).reshape(-1, 1)  # endpoints included
    torch.testing.assert_close(chebyshev_basis(t, degree), chebyshev_recurrence(t, degree), atol=1e-9, rtol=0)


def test_chebyshev_basis_gradient_is_finite_at_the_ends() -> None:
    """tanh saturates to exactly +-1 for large inputs; arccos' gradient there must not become NaN."""
    x = torch.tensor([[-30.0, -1.0, 0.0, 1.0, 30.0]], requires_grad=True)
    assert torch.tanh(x).abs().max() == 1.0
    chebyshev_basis(torch.tanh(x), 16).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_chebyshev_kan_equals_the_sl2a_einsum() -> None:
    torch.manual_seed(0)
    layer = ChebyshevKAN(3, 7, degree=12)
    x = torch.randn(50, 3)
    coeffs = chebyshev_kan_coefficients(layer.weight, 3)  # (in, out, D + 1)
    torch.testing.assert_close(layer(x), chebyshev_kan_einsum(x, coeffs), atol=1e-5, rtol=1e-5)


def test_chebyshev_kan_initialisation_is_xavier_on_the_3d_coefficients() -> None:
    torch.manual_seed(0)
    layer = ChebyshevKAN(2, 256, degree=256)
    bound = math.sqrt(6.0 / ((2 + 256) * 257))  # PyTorch fans of an (in, out, D + 1) tensor
    assert layer.weight.abs().max() <= bound
    assert layer.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.02)


def uniform_knots(grid_size: int, order: int, lo: float = -1.0, hi: float = 1.0) -> list[float]:
    """t_j = lo + (j - k) h for j = 0..G + 2k: the grid plus k knots on each side."""
    h = (hi - lo) / grid_size
    return [lo + (j - order) * h for j in range(grid_size + 2 * order + 1)]


@pytest.mark.parametrize(("grid_size", "order"), [(5, 3), (4, 1), (7, 2), (3, 0)])
def test_bspline_basis_equals_cox_de_boor(grid_size: int, order: int) -> None:
    xs = torch.linspace(-1, 1, 29, dtype=torch.float64)[:-1].reshape(-1, 1)  # [lo, hi): see the next test
    fast = bspline_basis(xs, (-1.0, 1.0), grid_size, order)[:, 0]  # (28, G + k)
    knots = uniform_knots(grid_size, order)
    naive = torch.tensor([[bspline_naive(x, knots, j, order) for j in range(grid_size + order)]
                          for x in xs[:, 0].tolist()], dtype=torch.float64)
    torch.testing.assert_close(fast, naive, atol=1e-12, rtol=0)


def test_bspline_basis_at_the_upper_end_is_the_limit_from_inside() -> None:
    """The naive half-open intervals would drop x = hi into the next interval; the basis stays continuous."""
    ends = torch.tensor([[1.0], [1.0 - 1e-9]], dtype=torch.float64)
    basis = bspline_basis(ends, (-1.0, 1.0), 5, 3)[:, 0]
    torch.testing.assert_close(basis[0], basis[1], atol=1e-8, rtol=0)
    assert basis[0, -1] == pytest.approx(1 / 6)  # cubic B-spline at a knot: 1/6, 2/3, 1/6


def test_bspline_basis_gradient_is_the_splines_derivative() -> None:
    x = torch.tensor([[0.123]], dtype=torch.float64, requires_grad=True)
    coeffs = torch.randn(8, dtype=torch.float64)
    value = lambda v: (bspline_basis(v, (-1.0, 1.0), 5, 3) * coeffs).sum()  # noqa: E731
    value(x).backward()
    eps = 1e-6
    numeric = (value(x.detach() + eps) - value(x.detach() - eps)) / (2 * eps)
    assert x.grad.item() == pytest.approx(numeric.item(), rel=1e-6)


def test_bspline_basis_is_a_partition_of_unity_on_the_grid_range() -> None:
    """The k extra knots on each side make the splines sum to 1 on all of [-1, 1], ends included."""
    xs = torch.linspace(-1, 1, 201).reshape(-1, 1)
    total = bspline_basis(xs, (-1.0, 1.0), 7, 3).sum(-1)
    torch.testing.assert_close(total, torch.ones_like(total), atol=1e-5, rtol=0)


def test_bspline_kan_equals_the_per_edge_formula() -> None:
    """y_o = sum_i w_oi silu(x_i) + sum_i sum_j c_oij B_j(x_i), edge by edge."""
    torch.manual_seed(0)
    layer = BSplineKAN(2, 3, grid_size=4, order=3)
    torch.nn.init.normal_(layer.weight)
    x = torch.rand(9, 2) * 2 - 1
    per_input = layer.weight.reshape(3, 2, -1)  # (out, in, 1 + G + k)
    knots = uniform_knots(4, 3)
    expected = torch.zeros(9, 3)
    for n in range(9):
        for o in range(3):
            for i in range(2):
                xi = x[n, i].item()
                expected[n, o] += per_input[o, i, 0] * torch.nn.functional.silu(x[n, i])
                for j in range(per_input.shape[2] - 1):
                    expected[n, o] += per_input[o, i, 1 + j] * bspline_naive(xi, knots, j, 3)
    torch.testing.assert_close(layer(x), expected, atol=1e-5, rtol=1e-5)


def test_bspline_kan_clamps_the_spline_branch_outside_its_grid() -> None:
    """Beyond the grid the spline keeps its edge value (never silently 0); SiLU sees the raw input."""
    torch.manual_seed(0)
    layer = BSplineKAN(1, 1, grid_size=4, order=3)
    torch.nn.init.normal_(layer.weight)
    base, splines = layer.weight[0, 0], layer.weight[0, 1:]
    outside, edge = torch.tensor([[1.7]]), torch.tensor([[1.0]])
    spline_at_edge = layer(edge) - base * torch.nn.functional.silu(edge)
    torch.testing.assert_close(layer(outside), base * torch.nn.functional.silu(outside) + spline_at_edge)
    assert spline_at_edge.abs().item() > 0 and splines.abs().sum() > 0


@pytest.mark.parametrize("make", [lambda: FourierKAN(3, 4, 6), lambda: ChebyshevKAN(3, 4, 6),
                                  lambda: BSplineKAN(3, 4, 6)], ids=["fourier", "chebyshev", "bspline"])
def test_layers_take_any_leading_dims_and_expose_their_edge_functions(make) -> None:
    torch.manual_seed(0)
    layer = make().double()
    x = torch.rand(2, 5, 3, dtype=torch.float64) * 2 - 1  # (2, 5, in)
    y = layer(x)
    assert y.shape == (2, 5, 4) and layer(x[0, 0]).shape == (4,)
    torch.testing.assert_close(y, layer(x.reshape(10, 3)).reshape(2, 5, 4), rtol=0, atol=0)
    # y_o(x) - y_o(0) = sum_i phi_oi(x_i) - phi_oi(0), summed from the sampled edge functions
    points = x.reshape(10, 3)
    summed = sum(edge_functions(layer, points[:, i])[:, :, i] for i in range(3))  # (10, out)
    torch.testing.assert_close(summed, layer(points) - layer(torch.zeros(3, dtype=torch.float64)))
    assert edge_functions(layer, torch.zeros(1, dtype=torch.float64)).abs().max() < 1e-12  # phi(0) = 0


def test_chebyshev_kan_over_a_band_uses_degree_zero_and_the_spread_degrees() -> None:
    torch.manual_seed(0)
    layer = ChebyshevKAN(1, 3, degree=10, band=500).double()
    degrees = torch.cat([torch.zeros(1), spread_frequencies(10, 500)]).double()  # (D + 1,)
    assert torch.equal(layer.degrees.double(), degrees)
    x = torch.randn(20, 1, dtype=torch.float64)
    basis = torch.cos(degrees * torch.arccos(torch.tanh(x)))  # (N, D + 1): T_k(tanh x) = cos(k arccos tanh x)
    torch.testing.assert_close(layer(x), basis @ layer.weight.T, rtol=1e-10, atol=1e-10)

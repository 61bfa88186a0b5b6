"""geometry.py: cell centres, cell widths, sub-cell offsets, Nyquist limits and the basis sizes they allow agree
with their naive formulas."""

from __future__ import annotations

import math

import pytest
import torch

from kan_inr import KanInrError
from kan_inr.geometry import (ANGULAR, CENTERS, CONVENTIONS, CYCLES, ENDPOINTS, INTERVALS, MAX_BASIS, cell_widths,
                              check_convention, nyquist, nyquist_basis, positions, spacing, subcell_offsets)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 255])
def test_centres_are_the_naive_formula_and_endpoints_are_linspace(n):
    index = torch.arange(n)
    naive = torch.tensor([(i + 0.5) / n * 2 - 1 for i in range(n)])  # pixel i covers [i, i + 1) / n
    torch.testing.assert_close(positions(index, n, CENTERS), naive)
    torch.testing.assert_close(positions(index, n, ENDPOINTS), torch.linspace(-1, 1, n) if n > 1 else torch.zeros(1))


@pytest.mark.parametrize("n", [2, 5, 64])
def test_a_cell_is_one_spacing_wide_and_the_cells_tile_the_extent(n):
    centres = positions(torch.arange(n), n, CENTERS)
    cell = spacing(n, CENTERS)
    assert cell * n == pytest.approx(2.0)
    assert (centres[0] - cell / 2).item() == pytest.approx(-1.0) and (centres[-1] + cell / 2).item() == pytest.approx(1.0)
    torch.testing.assert_close(centres.diff(), torch.full((n - 1,), cell))
    torch.testing.assert_close(positions(torch.arange(n), n, ENDPOINTS).diff(), torch.full((n - 1,), spacing(n, ENDPOINTS)))


def test_cell_widths_follow_the_extent():
    assert cell_widths((4, 8), CENTERS) == pytest.approx((0.5, 0.25))
    assert cell_widths((5,), ENDPOINTS, extent=((-1.0, 3.0),)) == pytest.approx((1.0,))  # 4 gaps over a 4-wide extent


@pytest.mark.parametrize("k, d", [(1, 2), (2, 2), (3, 1), (4, 2), (3, 3)])
def test_subcell_offsets_are_the_sub_cell_centres_and_average_to_the_centre(k, d):
    offsets = subcell_offsets(k, d)  # (k^d, d)
    assert offsets.shape == (k**d, d)
    torch.testing.assert_close(offsets.mean(0), torch.zeros(d))  # their mean is the cell's centre
    naive = torch.tensor([(i + 0.5) / k - 0.5 for i in range(k)])  # sub-cell i of k covers [i, i + 1) / k
    torch.testing.assert_close(offsets[:, -1], naive.repeat(k ** (d - 1)))  # last axis fastest
    torch.testing.assert_close(offsets[:, 0], naive.repeat_interleave(k ** (d - 1)))


def test_nyquist_of_centres_and_endpoints():
    assert nyquist(128, CENTERS) == pytest.approx(math.pi * 128 / 2)  # pi n / 2 on n cell centres
    assert nyquist(129, ENDPOINTS) == pytest.approx(math.pi * 128 / 2)  # pi (n - 1) / 2 on n endpoint samples
    assert nyquist(128, CENTERS) > nyquist(128, ENDPOINTS)


def test_unknown_conventions_are_refused():
    with pytest.raises(KanInrError, match="unknown grid convention"):
        check_convention("corners")
    with pytest.raises(KanInrError, match="unknown grid convention"):
        spacing(4, "corners")


def naive_basis(fraction: float, n: int, convention: str, unit: str) -> int:
    """The rule by hand, for an axis of n samples: K or D count angular frequencies up to pi n / 2 (pixel
    centres) or pi (n - 1) / 2 (endpoint samples); spline intervals G up to n or n - 1; cycles per unit
    length up to a quarter of that. ``fraction`` of it, rounded down, at least 1."""
    gaps = n if convention == CENTERS else max(n - 1, 1)
    limit = {ANGULAR: math.pi * gaps / 2, INTERVALS: gaps, CYCLES: gaps / 4}[unit]
    return max(1, math.floor(fraction * limit))


@pytest.mark.parametrize("shape", [(24, 24), (128, 128), (96, 160), (512, 512), (3,), (44_100,)])
@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("unit", [ANGULAR, INTERVALS, CYCLES])
@pytest.mark.parametrize("fraction", [1 / 16, 0.2, 0.5, 1.0])
def test_nyquist_basis_is_the_naive_rule(shape, convention, unit, fraction):
    smaller = nyquist_basis(fraction, shape, convention, unit, most=None)
    assert smaller == naive_basis(fraction, min(shape), convention, unit)
    assert nyquist_basis(fraction, shape, convention, unit, longest=True, most=None) == \
        naive_basis(fraction, max(shape), convention, unit)
    assert nyquist_basis(fraction, shape, convention, unit) == min(MAX_BASIS, smaller)  # bounded by default


def test_nyquist_basis_rounds_down_and_stays_within_its_bounds():
    assert nyquist_basis(0.5, (128, 128), CENTERS) == 100  # 0.5 pi 64 = 100.5: down, so within the fraction
    assert nyquist_basis(0.2, (512, 512), CENTERS) == 160  # 160.8: fkan's default K at 512 px
    assert nyquist_basis(0.5, (96, 160), CENTERS) == 75  # the smaller axis: 0.5 pi 48 = 75.4
    assert nyquist_basis(1.0, (96, 160), CENTERS, longest=True) == 251  # the longer one: pi 80 = 251.3
    assert nyquist_basis(1 / 16, (3,), ENDPOINTS) == 1  # at least 1
    assert nyquist_basis(1.0, (2048, 2048), CENTERS) == MAX_BASIS == 1024  # pi 1024 = 3217, bounded
    assert nyquist_basis(1.0, (44_100,), CENTERS, CYCLES, most=None) == 11_025  # unbounded: 44,100 / 4

"""Grids, chunked grids and value-range mapping of kan_inr.signals.base."""

import math

import pytest
import torch

from kan_inr import KanInrError
from kan_inr.signals.base import Signal, denormalise, grid, grid_chunk, normalise


def test_grid_is_linspace_per_axis_row_major():
    g = grid((3, 5))
    assert g.shape == (15, 2)
    assert torch.allclose(g[:5, 0], torch.full((5,), -1.0))  # first row
    assert torch.allclose(g[:5, 1], torch.linspace(-1, 1, 5))
    assert torch.allclose(g[-1], torch.tensor([1.0, 1.0]))
    assert torch.equal(grid((1,)), torch.zeros(1, 1))


@pytest.mark.parametrize("shape", [(7,), (4, 6), (3, 1, 5)])
def test_grid_chunk_equals_slices_of_grid(shape):
    full = grid(shape)
    n = math.prod(shape)
    for start, stop in [(0, n), (0, 3), (2, n), (n - 1, n)]:
        assert torch.allclose(grid_chunk(shape, start, stop), full[start:stop], atol=1e-6)


def test_normalise_round_trip():
    v = torch.rand(10, 3)
    w = normalise(v, (0.0, 1.0), (-1.0, 1.0))
    assert w.min() >= -1 and w.max() <= 1
    assert torch.allclose(denormalise(w, (0.0, 1.0), (-1.0, 1.0)), v, atol=1e-6)


def test_signal_checks_shape_and_axis_size():
    with pytest.raises(ValueError):
        Signal(torch.zeros(5, 3), (2, 3), "image", (0.0, 1.0))
    with pytest.raises(KanInrError):
        grid((0, 3))

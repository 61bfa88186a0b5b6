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


def test_pixel_centres_and_endpoints():
    assert torch.allclose(grid((4,), convention="centers")[:, 0], torch.tensor([-0.75, -0.25, 0.25, 0.75]))
    assert torch.allclose(grid((3,), convention="endpoints")[:, 0], torch.tensor([-1.0, 0.0, 1.0]))
    assert torch.equal(grid((1, 1), convention="centers"), torch.zeros(1, 2))
    for shape in [(5, 3), (4,)]:
        n = math.prod(shape)
        assert torch.allclose(grid_chunk(shape, 1, n, convention="centers"), grid(shape, convention="centers")[1:])
    with pytest.raises(KanInrError, match="unknown grid convention"):
        grid((3,), convention="corners")


class Analytic(torch.nn.Module):
    """A continuous image f(y, x) on [-1, 1]^2: what an ideal INR would have learned."""

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        y, x = coords[:, :1], coords[:, 1:]
        return 0.5 + 0.25 * torch.sin(3 * y + 1) * torch.cos(5 * x) + 0.2 * x * y  # (N, 1)


@pytest.mark.parametrize("convention, exact", [("centers", True), ("endpoints", False)])
def test_a_2x_render_samples_the_2x_pixel_centres(convention, exact):
    """An image fitted at n pixels and rendered at 2n must show the scene at the centres of the 2n
    pixels, (j + 0.5) / 2n of the extent, as Pillow and OpenCV resizing do; the old linspace grid
    stretches it (up to a quarter of a source pixel at the edges)."""
    from kan_inr.pixels import POINT
    from kan_inr.render import Fitted, reconstruct

    n = 16
    rendered = reconstruct(Analytic(), Fitted((n, n), convention, (0.0, 1.0), (0.0, 1.0), POINT), (2 * n, 2 * n),
                           "cpu")  # (4 n^2, 1)
    centre = (torch.arange(2 * n, dtype=torch.float64) + 0.5) / (2 * n) * 2 - 1  # pixel centres on [-1, 1]
    mesh = torch.stack(torch.meshgrid(centre, centre, indexing="ij"), dim=-1).reshape(-1, 2)
    expected = Analytic()(mesh.float())
    error = (rendered - expected).abs().max().item()
    assert (error < 1e-6) if exact else (error > 0.02)

"""Hash-grid encoding: level resolutions, table sizes, the spatial hash and d-linear interpolation match the paper."""

from __future__ import annotations

import itertools

import pytest
import torch

from kan_inr import models
from kan_inr.models.hash_grid import PRIMES, HashGrid, HashGridConfig, HashGridEncoding, level_resolutions


def test_level_resolutions_grow_geometrically_from_coarsest_to_finest() -> None:
    resolutions = level_resolutions(HashGridConfig(levels=16, base_resolution=16, finest_resolution=512))
    assert resolutions[0] == 16 and resolutions[-1] == 512
    assert resolutions == sorted(resolutions) and len(resolutions) == 16
    assert level_resolutions(HashGridConfig(levels=3, base_resolution=16, finest_resolution=8)) == [16, 16, 16]


@pytest.mark.parametrize("in_dim", [1, 2, 3])
def test_table_rows_per_level_are_capped_at_t(in_dim: int) -> None:
    cfg = HashGridConfig(levels=4, table_size_log2=10, base_resolution=4, finest_resolution=64)
    encoding = HashGridEncoding(in_dim, cfg)
    expected = [min(2**10, (n + 1) ** in_dim) for n in level_resolutions(cfg)]
    assert encoding.size.tolist() == expected
    assert encoding.table.shape == (sum(expected), 2)
    assert encoding.dense.tolist() == [(n + 1) ** in_dim <= 2**10 for n in level_resolutions(cfg)]


@pytest.mark.parametrize("in_dim", [1, 2, 3])
def test_dense_levels_interpolate_linear_functions_exactly(in_dim: int) -> None:
    """d-linear interpolation reproduces any affine function of the vertex position."""
    cfg = HashGridConfig(levels=2, features_per_level=1, table_size_log2=16, base_resolution=5, finest_resolution=9)
    encoding = HashGridEncoding(in_dim, cfg).double()
    slope = torch.arange(1.0, in_dim + 1, dtype=torch.float64)  # (d,)
    with torch.no_grad():
        for level, n in enumerate(level_resolutions(cfg)):
            # Dense rows: axis j has stride (n + 1)^j, so axis 0 varies fastest (product() varies the last).
            vertices = torch.tensor(list(itertools.product(range(n + 1), repeat=in_dim)), dtype=torch.float64)
            vertices = vertices.flip(-1)  # (rows, d)
            start = encoding.offset[level].item()
            encoding.table[start:start + (n + 1) ** in_dim, 0] = (vertices / n) @ slope + 0.5
    coords = torch.rand(40, in_dim, dtype=torch.float64) * 2 - 1
    coords[0] = 1.0  # the far corner uses the last cell
    expected = ((coords + 1) / 2) @ slope + 0.5  # (40,)
    features = encoding(coords)  # (40, L)
    torch.testing.assert_close(features, expected[:, None].expand(-1, 2), atol=1e-12, rtol=0)


def test_hashed_levels_use_the_papers_spatial_hash() -> None:
    """h(v) = (v_1 * 1 XOR v_2 * 2654435761 XOR v_3 * 805459861) mod T on 32-bit unsigned integers."""
    cfg = HashGridConfig(levels=2, table_size_log2=6, base_resolution=8, finest_resolution=16)
    encoding = HashGridEncoding(3, cfg)
    assert not encoding.dense.any()
    vertices = torch.randint(0, 9, (5, 2, 8, 3))  # (N, L, 2^d, d)
    rows = encoding.rows(vertices)
    for n, level, c in itertools.product(range(5), range(2), range(8)):
        v = vertices[n, level, c].tolist()
        h = 0
        for coord, prime in zip(v, PRIMES):
            h ^= (coord * prime) & 0xFFFFFFFF
        assert rows[n, level, c].item() == h % 64 + encoding.offset[level].item()


@pytest.mark.parametrize("in_dim", [1, 2, 3])
def test_model_shapes_and_gradients_reach_the_table(in_dim: int) -> None:
    torch.manual_seed(0)
    model = HashGrid(in_dim, 3, HashGridConfig(levels=4, table_size_log2=8, finest_resolution=32))
    coords = torch.rand(64, in_dim) * 2 - 1
    out = model(coords)
    assert out.shape == (64, 3)
    out.sum().backward()
    touched = (model.encoding.table.grad != 0).any(-1)
    assert 0 < touched.sum() <= 64 * 4 * 2**in_dim  # only the corners of the samples' cells


def test_preset_sets_the_finest_level_from_the_signal() -> None:
    preset = models.preset("hash-grid")
    assert preset.config_for((128, 96)).finest_resolution == 128
    assert preset.config_for((44100,)).finest_resolution == 44100

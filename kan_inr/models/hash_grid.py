"""Multiresolution hash encoding + small MLP (Instant-NGP, Mueller et al. SIGGRAPH 2022, arXiv 2201.05989),
in pure PyTorch for any input dimension d.

Level l of L has resolution N_l = floor(N_min b^l), b = exp((ln N_max - ln N_min) / (L - 1)) (eq. 2-3).
Its grid has (N_l + 1)^d vertices; each holds F trainable features in a table of min(T, (N_l + 1)^d)
rows: vertices index it directly while they fit ("dense" coarse levels), otherwise through the
spatial hash h(v) = (XOR_j v_j pi_j) mod T (eq. 4). A coordinate's features at each level are the
d-linear interpolation of its cell's 2^d corners; the L * F features go through an MLP of ReLU layers.

Coordinates in [-1, 1] are mapped to [0, 1]; values outside are clamped to the grid's edge. The
preset sets N_max from the signal's grid (one finest-level cell per sample), as the paper does for
images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from itertools import accumulate

import torch
from torch import nn

from kan_inr.errors import KanInrError

# The paper's primes (pi_1 = 1 keeps one axis cache-coherent), extended as tiny-cuda-nn does.
PRIMES = (1, 2654435761, 805459861, 3674653429, 2097192037, 1434869437, 2165219737)


@dataclass(frozen=True)
class HashGridConfig:
    levels: int = 16  # L
    features_per_level: int = 2  # F
    table_size_log2: int = 19  # T = 2^19 rows per level at most
    base_resolution: int = 16  # N_min
    finest_resolution: int = 512  # N_max (the preset sets it from the signal's grid)
    hidden_dim: int = 64
    hidden_layers: int = 2


def level_resolutions(cfg: HashGridConfig) -> list[int]:
    """N_l = floor(N_min b^l) for l = 0..L-1 (eq. 2-3); all N_min when N_max <= N_min."""
    finest = max(cfg.finest_resolution, cfg.base_resolution)
    growth = math.exp((math.log(finest) - math.log(cfg.base_resolution)) / max(cfg.levels - 1, 1))
    return [math.floor(cfg.base_resolution * growth**level + 1e-9) for level in range(cfg.levels)]


class HashGridEncoding(nn.Module):
    """(N, d) in [-1, 1] -> (N, L * F) interpolated features, all levels in one table with offsets."""

    resolution: torch.Tensor  # buffers (registered in __init__)
    size: torch.Tensor
    offset: torch.Tensor
    dense: torch.Tensor
    corners: torch.Tensor
    strides: torch.Tensor
    primes: torch.Tensor

    def __init__(self, in_dim: int, cfg: HashGridConfig) -> None:
        super().__init__()
        if in_dim > len(PRIMES):
            raise KanInrError(f"hash-grid supports up to {len(PRIMES)} input dimensions, got {in_dim}")
        self.in_dim, self.cfg = in_dim, cfg
        table_size = 2**cfg.table_size_log2
        resolutions = level_resolutions(cfg)
        sizes = [min(table_size, (n + 1) ** in_dim) for n in resolutions]
        offsets = [0, *accumulate(sizes)][:-1]
        self.table = nn.Parameter(torch.empty(sum(sizes), cfg.features_per_level))
        # Per level: resolution, rows, first row, dense or hashed; derived from the config, not saved.
        self.register_buffer("resolution", torch.tensor(resolutions), persistent=False)  # (L,)
        self.register_buffer("size", torch.tensor(sizes), persistent=False)  # (L,)
        self.register_buffer("offset", torch.tensor(offsets), persistent=False)  # (L,)
        self.register_buffer("dense", torch.tensor([(n + 1) ** in_dim <= table_size for n in resolutions]),
                             persistent=False)  # (L,)
        corners = torch.cartesian_prod(*[torch.tensor([0, 1])] * in_dim).reshape(-1, in_dim)  # (2^d, d)
        self.register_buffer("corners", corners, persistent=False)
        strides = torch.stack([(self.resolution + 1) ** j for j in range(in_dim)], dim=-1)  # (L, d)
        self.register_buffer("strides", strides, persistent=False)
        self.register_buffer("primes", torch.tensor(PRIMES[:in_dim]), persistent=False)  # (d,)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Table entries ~ U(-1e-4, 1e-4) (paper, sec. 4)."""
        nn.init.uniform_(self.table, -1e-4, 1e-4)

    def rows(self, vertices: torch.Tensor) -> torch.Tensor:
        """Table rows of integer grid vertices (N, L, 2^d, d) -> (N, L, 2^d)."""
        dense = (vertices * self.strides[:, None, :]).sum(-1)  # (N, L, 2^d) flat index, axis 0 fastest
        # Spatial hash on 32-bit unsigned arithmetic, as in the paper's CUDA code.
        hashed = (vertices * self.primes) & 0xFFFFFFFF  # (N, L, 2^d, d)
        mixed = hashed[..., 0]
        for j in range(1, self.in_dim):
            mixed = mixed ^ hashed[..., j]
        index = torch.where(self.dense[:, None], dense, mixed % self.size[:, None])  # (N, L, 2^d)
        return index + self.offset[:, None]

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        assert coords.shape[-1] == self.in_dim, coords.shape
        unit = ((coords + 1) / 2).clamp(0, 1)  # (N, d) in [0, 1]
        pos = unit[:, None, :] * self.resolution[:, None].to(unit.dtype)  # (N, L, d)
        cell = pos.floor().clamp(max=self.resolution[:, None] - 1).long()  # (N, L, d); x = 1 uses the last cell
        frac = pos - cell  # (N, L, d) in [0, 1]
        vertices = cell[:, :, None, :] + self.corners  # (N, L, 2^d, d)
        # d-linear weights: prod_j (frac_j if the corner is on the far side of axis j else 1 - frac_j).
        weights = torch.where(self.corners.bool(), frac[:, :, None, :], 1 - frac[:, :, None, :]).prod(-1)  # (N, L, 2^d)
        features = self.table[self.rows(vertices)]  # (N, L, 2^d, F)
        return (weights.unsqueeze(-1) * features).sum(2).flatten(1)  # (N, L * F)


class HashGrid(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, cfg: HashGridConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoding = HashGridEncoding(in_dim, cfg)
        width = cfg.levels * cfg.features_per_level
        layers: list[nn.Module] = []
        for _ in range(cfg.hidden_layers):
            layers += [nn.Linear(width, cfg.hidden_dim), nn.ReLU()]
            width = cfg.hidden_dim
        self.mlp = nn.Sequential(*layers, nn.Linear(width, out_dim))  # PyTorch default initialisation

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.encoding(coords))  # (N, out_dim)


def hash_grid_for_shape(cfg: HashGridConfig, shape: tuple[int, ...]) -> HashGridConfig:
    """Finest resolution = the signal's longest axis: the finest level has a cell per sample."""
    return replace(cfg, finest_resolution=max(shape))

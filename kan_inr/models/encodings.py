"""Coordinate encodings followed by a ReLU MLP: two baselines that differ only in the encoding.

- ``relu-pe``: NeRF's positional encoding (Mildenhall et al., ECCV 2020, arXiv 2003.08934),
  gamma(x) = [x, sin(2^l pi x), cos(2^l pi x) for l = 0..L-1], per coordinate, with the raw x kept as
  in the SIREN / WIRE / INCODE / SL2A codes. L comes from the grid's Nyquist limit by those codes'
  rule (``nyquist_frequencies``); the SL2A code's image setting gives L = 5 at 512 px and 204,035
  parameters for RGB with 3 hidden layers of 256.
- ``ffn``: random Fourier features (Tancik et al., NeurIPS 2020, arXiv 2006.10739, "Gaussian"
  mapping), gamma(x) = [cos(2 pi B x), sin(2 pi B x)] with B (m, d) ~ N(0, sigma^2), fixed after
  initialisation and saved with the weights (a persistent buffer, so a run folder renders the same
  function). Defaults m = 256, sigma = 10 on our [-1, 1] coordinates, the INCODE / SL2A notebooks'
  Gaussian-encoding setting ('scale_B': 10, 'mapping_input': 256). Tancik's images used sigma = 10
  on [0, 1] coordinates: ``--set sigma=5`` gives the same cycles per image on our grid.

The MLP: Linear + ReLU layers of ``hidden_dim`` (1 + ``hidden_layers`` of them), then a linear head,
all with PyTorch's default initialisation (the public codes set none). Our features are ordered
[x | sin | cos] rather than interleaved per frequency: a permutation of the first layer's inputs,
which the i.i.d. initialisation does not see.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from torch import nn

from kan_inr.geometry import CENTERS, CYCLES, nyquist_basis


def nyquist_frequencies(samples: int) -> int:
    """Octaves L of the NeRF encoding for ``samples`` samples along [-1, 1]: floor(log2(samples / 4)).

    The rule of the SIREN code's ``PosEncodingNeRF`` (Nyquist rate samples / 4 per unit length: the
    Nyquist limit in cycles of ``samples`` pixel centres, whatever the signal's convention), reused by
    WIRE, INCODE and SL2A; at least 0 (no sinusoids) for grids under 8 samples.
    """
    rate = nyquist_basis(1.0, (samples,), CENTERS, CYCLES, most=None)  # floor(samples / 4), at least 1
    return rate.bit_length() - 1  # floor(log2(rate)), exactly


def relu_pe_frequencies(shape: tuple[int, ...]) -> int:
    """L for a grid: images (2-D and up) use int(max(shape) / 3) samples, as the SL2A code (from WIRE's
    image scripts) passes to the Nyquist rule, giving 3 at 128 px, 5 at 512 px and 6 at 1024 px;
    a 1-D signal uses its length, as the SIREN code does for audio."""
    samples = int(max(shape) / 3) if len(shape) >= 2 else shape[0]
    return nyquist_frequencies(samples)


class PositionalEncoding(nn.Module):
    """[x, sin(2^l pi x), cos(2^l pi x)], l = 0..L-1: (N, d) -> (N, d (1 + 2L)), each block ordered
    coordinate-major (x_1 at l = 0..L-1, then x_2 ...)."""

    def __init__(self, num_frequencies: int) -> None:
        super().__init__()
        self.num_frequencies = num_frequencies

    def out_features(self, in_features: int) -> int:
        return in_features * (1 + 2 * self.num_frequencies)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        freqs = math.pi * 2.0 ** torch.arange(self.num_frequencies, device=x.device, dtype=x.dtype)  # (L,)
        angles = (x.unsqueeze(-1) * freqs).flatten(1)  # (N, d L)
        return torch.cat([x, torch.sin(angles), torch.cos(angles)], dim=-1)  # (N, d (1 + 2L))


class FourierFeatures(nn.Module):
    """[cos(2 pi B x), sin(2 pi B x)] with a fixed random B (m, d) ~ N(0, sigma^2): (N, d) -> (N, 2m)."""

    B: torch.Tensor  # buffer (registered in __init__)

    def __init__(self, in_features: int, mapping_size: int, sigma: float) -> None:
        super().__init__()
        self.sigma = sigma
        self.register_buffer("B", torch.empty(mapping_size, in_features), persistent=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """B ~ N(0, sigma^2), Tancik et al.'s Gaussian mapping; drawn from torch's (seeded) RNG."""
        nn.init.normal_(self.B, 0.0, self.sigma)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        angles = 2 * math.pi * (x @ self.B.T)  # (N, m)
        return torch.cat([torch.cos(angles), torch.sin(angles)], dim=-1)  # (N, 2m)


def relu_mlp(in_features: int, hidden_dim: int, hidden_layers: int) -> nn.Sequential:
    """Linear(in -> hidden) + ReLU, then ``hidden_layers`` x (Linear(hidden -> hidden) + ReLU)."""
    dims = [in_features] + [hidden_dim] * (hidden_layers + 1)
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers)


@dataclass(frozen=True)
class ReluPEConfig:
    hidden_dim: int = 256
    hidden_layers: int = 3  # hidden-to-hidden ReLU layers after the first one
    num_frequencies: int = 5  # L; the preset sets it from the grid (relu_pe_for_shape)


class ReluPE(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, cfg: ReluPEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoding = PositionalEncoding(cfg.num_frequencies)
        self.body = relu_mlp(self.encoding.out_features(in_dim), cfg.hidden_dim, cfg.hidden_layers)
        self.head = nn.Linear(cfg.hidden_dim, out_dim)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.encoding(coords)))  # (N, out_dim)


def relu_pe_for_shape(cfg: ReluPEConfig, shape: tuple[int, ...]) -> ReluPEConfig:
    """``Preset.adapt`` for relu-pe: ``num_frequencies`` from the grid shape."""
    return dataclasses.replace(cfg, num_frequencies=relu_pe_frequencies(shape))


@dataclass(frozen=True)
class FFNConfig:
    hidden_dim: int = 256
    hidden_layers: int = 3  # hidden-to-hidden ReLU layers after the first one
    mapping_size: int = 256  # m: rows of B; the encoding has 2m features
    sigma: float = 10.0  # std of B's entries, in cycles per unit of our [-1, 1] coordinates


class FFN(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, cfg: FFNConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoding = FourierFeatures(in_dim, cfg.mapping_size, cfg.sigma)
        self.body = relu_mlp(2 * cfg.mapping_size, cfg.hidden_dim, cfg.hidden_layers)
        self.head = nn.Linear(cfg.hidden_dim, out_dim)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.encoding(coords)))  # (N, out_dim)

"""NeAF: a stack of Fourier-KAN layers as an audio INR (the public NeAF code, github.com/lif314/NeAF,
``models/fourier_kan.py`` and ``opt.py``).

Every layer is a Fourier-KAN layer (``layers.FourierKAN``),

    y_o = b_o + sum_i sum_{k=1..K} A_oik cos(k x_i) + B_oik sin(k x_i),

integer k, no input scaling, coordinates on [-1, 1], and nothing else between the layers: no
normalisation, no other activation (the next layer's cos/sin is the nonlinearity). The network of
NeAF's README row "Fourier(1024) 4 x 64" (254K parameters, 35.2 dB SNR on the 7 s Bach clip), for a
mono clip: FourierKAN(1 -> 64, K = 1024) -> 3 x FourierKAN(64 -> 64, K = 5) -> FourierKAN(64 -> 1, K = 3),
131,136 + 3 x 41,024 + 385 = 254,593 parameters. The first layer's k = 1..1024 on [-1, 1] reach about
47 Hz on that clip; the hidden layers' harmonics of harmonics build the rest of the band.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from kan_inr.models.layers import FourierKAN


@dataclass(frozen=True)
class NeAFConfig:
    hidden_dim: int = 64  # width of every layer but the last
    hidden_layers: int = 3  # hidden-to-hidden Fourier-KAN layers between the first and the output layer
    first_grid: int = 1024  # K of the first layer (on the coordinates)
    hidden_grid: int = 5  # K of the hidden layers
    out_grid: int = 3  # K of the output layer


class NeAF(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, cfg: NeAFConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers = [FourierKAN(in_dim, cfg.hidden_dim, cfg.first_grid)]
        layers += [FourierKAN(cfg.hidden_dim, cfg.hidden_dim, cfg.hidden_grid) for _ in range(cfg.hidden_layers)]
        self.body = nn.Sequential(*layers)
        self.head = FourierKAN(cfg.hidden_dim, out_dim, cfg.out_grid)
        self.reset_parameters()

    @staticmethod
    def init_bound(out_features: int, grid_size: int) -> float:
        """r = sqrt(3 / (out sum_{k=1..K} k^2)): the NeAF code's "uniform" init bound of a layer."""
        return math.sqrt(3.0 / (out_features * sum(k * k for k in range(1, grid_size + 1))))

    def reset_parameters(self) -> None:
        """NeAF's default ("uniform") init: A, B ~ U(-r, r) with r = sqrt(3 / (out sum_{k=1..K} k^2)), bias 0.

        A uniform on (-r, r) has variance r^2 / 3 = 1 / (out sum k^2), so each edge's slope
        d y_o / d x_i = sum_k k (B_oik cos k x_i - A_oik sin k x_i) starts with variance 1 / out."""
        for layer in (*self.body, self.head):
            bound = self.init_bound(layer.out_features, layer.grid_size)
            nn.init.uniform_(layer.weight, -bound, bound)
            nn.init.zeros_(layer.bias)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        h = self.body(coords)  # (N, hidden_dim)
        # The output layer in fp32 in a bf16 step, as every model's output layer is (layers.exact_linear:
        # a bf16 output carries a rounding error of 2^-9 of its value). exact_linear takes an nn.Linear
        # over given features; a FourierKAN layer computes its cos/sin features inside its forward, so
        # autocast is switched off around the whole layer and its input raised to at least fp32 (64 inputs
        # x 2K = 384 features for K = 3: cheap).
        with torch.autocast(h.device.type, enabled=False):
            return self.head(h.to(torch.promote_types(h.dtype, torch.float32)))  # (N, out_dim)

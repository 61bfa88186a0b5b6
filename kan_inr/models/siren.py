"""SIREN: sinusoidal representation network (Sitzmann et al., NeurIPS 2020, arXiv 2006.09661).

y = W_L sin(omega_h (... sin(omega_0 (W_1 x + b_1)) ...)) + b_L. Initialisation (paper, sec. 3.2):
first layer W ~ U(+-1 / in), later layers W ~ U(+-sqrt(6 / in) / omega_h); biases PyTorch default.
The published image network (3 hidden layers of 256, omega 30; ``--recipe paper``) has 198,915 parameters
for RGB; the image default is a study's point (``presets.SIREN_TUNED``: 1 x 492, 245,511).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from kan_inr.models.layers import exact_linear
from kan_inr.geometry import capped_band
from kan_inr.space import SearchSpace, number


@dataclass(frozen=True)
class SirenConfig:
    hidden_dim: int = 256
    hidden_layers: int = 3  # hidden-to-hidden sine layers after the first one
    first_omega: float = 30.0  # omega_0 of the first layer (3000 for audio on [-1, 1])
    hidden_omega: float = 30.0


def search_space(cfg: SirenConfig, kind: str) -> SearchSpace:
    """SIREN's levers for ``kan-inr tune``: width, depth, the hidden omega_0 around the preset's, and the
    first omega_0: images around the preset's (a third to three times: 10-90); audio as the band of the
    first layer, a multiple of the audio presets' own (``band_scale``, 1/8 to 8 times the default network's)."""
    def derive(values: dict[str, Any], shape: tuple[int, ...], convention: str) -> dict[str, Any]:
        return {"first_omega": float(capped_band(values["band_scale"] * cfg.first_omega, shape[0]))}

    common = {"hidden_dim": number(64, 512, log=True, integer=True), "hidden_layers": number(1, 5, integer=True),
              "hidden_omega": number(cfg.hidden_omega / 3, cfg.hidden_omega * 2, log=True)}
    if kind == "audio":
        return SearchSpace({"band_scale": number(1 / 8, 8.0, log=True), **common},
                           {"band_scale": ("first_omega",)}, derive)
    return SearchSpace({**common, "first_omega": number(cfg.first_omega / 3, cfg.first_omega * 3, log=True)})


class SineLayer(nn.Module):
    """sin(omega (W x + b)) with SIREN's initialisation."""

    def __init__(self, in_features: int, out_features: int, omega: float, first: bool) -> None:
        super().__init__()
        self.omega, self.first = omega, first
        self.linear = nn.Linear(in_features, out_features)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        n = self.linear.in_features
        bound = 1.0 / n if self.first else math.sqrt(6.0 / n) / self.omega
        nn.init.uniform_(self.linear.weight, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the first layer's phases omega_0 (W x + b) in fp32 even in a bf16 step (layers.exact_linear)
        z = exact_linear(x, self.linear) if self.first else self.linear(x)  # (N, out)
        return self.activation(z)  # (N, out)

    def activation(self, z: torch.Tensor) -> torch.Tensor:
        """sin(omega z); variants of SIREN (e.g. FINER) override only this."""
        return torch.sin(self.omega * z)


class Siren(nn.Module):
    layer: type[SineLayer] = SineLayer  # the activation layer; variants (e.g. FINER) swap it

    def __init__(self, in_dim: int, out_dim: int, cfg: SirenConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers = [self.layer(in_dim, cfg.hidden_dim, cfg.first_omega, first=True)]
        layers += [self.layer(cfg.hidden_dim, cfg.hidden_dim, cfg.hidden_omega, first=False)
                   for _ in range(cfg.hidden_layers)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(cfg.hidden_dim, out_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Linear head W ~ U(+-sqrt(6 / in) / omega_h), as in the SIREN code's final layer."""
        bound = math.sqrt(6.0 / self.cfg.hidden_dim) / self.cfg.hidden_omega
        nn.init.uniform_(self.head.weight, -bound, bound)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        return exact_linear(self.body(coords), self.head)  # (N, out_dim), fp32 output in a bf16 step

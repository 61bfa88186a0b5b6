"""FINER: flexible spectral-bias tuning with variable-periodic activations (Liu et al., CVPR 2024,
arXiv 2312.02434).

A SIREN whose sine has a frequency that grows with the pre-activation's magnitude:

    z = W x + b,   y = sin(omega (|z| + 1) z),

with the scale (|z| + 1) treated as a constant in back-propagation (the public FINER code computes it
under ``no_grad``; the SL2A code's baseline does the same), so dy/dz = omega (|z| + 1) cos(omega (|z| + 1) z).
Initialisation: SIREN's weights (sec. 3.2 of the SIREN paper), and the first layer's bias drawn from
U(-k, k), k = 20 for images (the paper's image setting: a larger bias reaches the higher-frequency
part of the activation). Hidden biases keep PyTorch's default. The image preset (3 hidden layers of 256, omega 30)
has 198,915 parameters for RGB, as SIREN.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from kan_inr.models.siren import SineLayer, Siren, SirenConfig


@dataclass(frozen=True)
class FinerConfig(SirenConfig):
    first_bias_scale: float = 20.0  # k: first-layer bias ~ U(-k, k)


class FinerLayer(SineLayer):
    """sin(omega (|z| + 1) z) with the factor (|z| + 1) detached; SIREN's weight initialisation."""

    def activation(self, z: torch.Tensor) -> torch.Tensor:
        scale = z.detach().abs() + 1  # (N, out), no gradient through the variable period
        return torch.sin(self.omega * scale * z)


class Finer(Siren):
    layer = FinerLayer
    cfg: FinerConfig

    def __init__(self, in_dim: int, out_dim: int, cfg: FinerConfig) -> None:
        super().__init__(in_dim, out_dim, cfg)

    def reset_parameters(self) -> None:
        """SIREN's head initialisation, then the first layer's bias ~ U(-k, k) (FINER's bias initialisation)."""
        super().reset_parameters()
        k = self.cfg.first_bias_scale
        first = self.body[0]
        assert isinstance(first, SineLayer)
        nn.init.uniform_(first.linear.bias, -k, k)

"""WIRE: wavelet implicit neural representations (Saragadam et al., CVPR 2023, arXiv 2301.05187).

Each layer computes z = W h + b and the complex Gabor wavelet

    psi(z) = exp(j omega0 z - |s0 z|^2).

The first layer is real (real coordinates, real W), the later layers complex, and the output is the
real part of a complex linear head. The width is int(256 / sqrt 2) = 181 so that a complex layer holds
about as many real numbers as a real 256-wide one. All layers keep PyTorch's default initialisation
(as WIRE's code): real and imaginary parts each ~ U(+-1 / sqrt(in)).

Presets: omega0 = s0 = 30, as the SL2A code configures its WIRE baseline; WIRE's own image setting is
omega0 = 20, s0 = 10 (``--set first_omega=20 --set hidden_omega=20 --set scale=10``).

Implementation: complex numbers are stored and computed as real pairs, so the model is a real module
(Adam, bf16/TF32, ``weights_only`` checkpoints need no complex support). An activation of width n is
held as (N, 2n) = [Re | Im], and a complex layer is one real GEMM with the block matrix
[[Re W, -Im W], [Im W, Re W]]. Since only Re of the head is used, its imaginary bias (which never
reaches the output) is dropped.

Parameter count: we count real numbers (a complex weight = 2 parameters; ``num_params`` counts tensor
elements and our tensors are real): 543 + 3 x 65,884 + 1,089 = 199,284 for RGB, comparable to SIREN's
198,915 as WIRE's width rule intends. The public code's complex tensors counted by ``numel`` (one per
complex entry) give 99,915; the SL2A paper's table lists 91.6K, which neither count reproduces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from kan_inr.models.gauss import exp_neg


@dataclass(frozen=True)
class WireConfig:
    hidden_dim: int = 181  # int(256 / sqrt 2): complex width with the real parameters of a 256-wide MLP
    hidden_layers: int = 3  # complex hidden-to-hidden layers after the real first one
    first_omega: float = 30.0  # omega0 of the first layer (WIRE's own: 20)
    hidden_omega: float = 30.0  # omega0 of the later layers (WIRE's own: 20)
    scale: float = 30.0  # s0, the Gaussian envelope's inverse width (WIRE's own: 10)


def gabor(re: torch.Tensor, im: torch.Tensor | None, omega: float, scale: float) -> torch.Tensor:
    """exp(j omega z - |s z|^2) for z = re + j im (im None: z real), as [Re | Im]: (N, n) -> (N, 2n).

    exp(j omega z) = exp(-omega im) (cos(omega re) + j sin(omega re)); the envelope's exponent
    -omega im - s^2 (re^2 + im^2) is at most omega^2 / (4 s^2), so it cannot overflow, and envelopes
    under exp(-40) are set to 0 (``exp_neg``: subnormal floats slow CPU training several-fold).
    """
    decay = (scale * re) ** 2 if im is None else omega * im + scale**2 * (re**2 + im**2)
    envelope = exp_neg(decay)  # (N, n)
    phase = omega * re  # (N, n)
    return torch.cat([envelope * torch.cos(phase), envelope * torch.sin(phase)], dim=-1)  # (N, 2n)


class ComplexLinear(nn.Module):
    """z = W h + b with complex W (out, in), b (out,), h (in,), in real arithmetic on [Re | Im] halves.

    ``weight`` is (2, out, in) = [Re W, Im W]; ``bias`` is (2, out) = [Re b, Im b], or (1, out) when
    ``real_output`` (only Re z is returned, so Im b would have no effect).
    Input (N, 2 in) = [Re h | Im h]; output (N, 2 out) = [Re z | Im z], or (N, out) = Re z.
    """

    def __init__(self, in_features: int, out_features: int, real_output: bool = False) -> None:
        super().__init__()
        self.in_features, self.out_features, self.real_output = in_features, out_features, real_output
        self.weight = nn.Parameter(torch.empty(2, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(1 if real_output else 2, out_features))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default ``nn.Linear`` initialisation on a complex layer (what WIRE's code uses):
        Re and Im of W and b each ~ U(+-1 / sqrt(in))."""
        bound = 1.0 / math.sqrt(self.in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        assert h.shape[-1] == 2 * self.in_features, h.shape
        re, im = self.weight  # (out, in) each
        real_rows = torch.cat([re, -im], dim=1)  # (out, 2 in): Re z = Re W Re h - Im W Im h
        if self.real_output:
            return F.linear(h, real_rows, self.bias[0])  # (N, out)
        imag_rows = torch.cat([im, re], dim=1)  # (out, 2 in): Im z = Im W Re h + Re W Im h
        return F.linear(h, torch.cat([real_rows, imag_rows]), self.bias.flatten())  # (N, 2 out)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, real_output={self.real_output}"


class Wire(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, cfg: WireConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.first = nn.Linear(in_dim, cfg.hidden_dim)  # real weights on real coordinates
        self.hidden = nn.ModuleList(ComplexLinear(cfg.hidden_dim, cfg.hidden_dim) for _ in range(cfg.hidden_layers))
        self.head = ComplexLinear(cfg.hidden_dim, out_dim, real_output=True)

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        h = gabor(self.first(coords), None, cfg.first_omega, cfg.scale)  # (N, 2 hidden) = [Re | Im]
        for layer in self.hidden:
            re, im = layer(h).chunk(2, dim=-1)  # (N, hidden) each
            h = gabor(re, im, cfg.hidden_omega, cfg.scale)  # (N, 2 hidden)
        return self.head(h)  # (N, out_dim) = Re of the complex head

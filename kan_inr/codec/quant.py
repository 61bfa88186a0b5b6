"""Uniform weight quantisation and quantisation-aware fine-tuning.

Each parameter tensor w is stored as integers q = clamp(round(w / s), -L, L), L = 2^(b-1) - 1, with a
symmetric step s = max|w| / L taken per tensor or per output channel (row of a matrix); it decodes to
q * s (COIN, Dupont et al. 2021, sec. 3; Strumpler et al., ECCV 2022, sec. 3.3). Fine-tuning with
the quantiser in the forward pass uses the straight-through estimator (Bengio et al. 2013,
arXiv 1308.3432): the forward sees q * s, the backward treats rounding as the identity, so the
latent float weights keep learning while the network is judged at its stored precision.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize

MAX_BITS = 16  # integers must fit the entropy coder's int32 symbols with room to spare


@dataclass(frozen=True)
class QuantConfig:
    bits: int = 8  # b for matrices (the bulk of the parameters)
    vector_bits: int = 12  # b for 1-D tensors (biases, LayerNorm): few values, each matters more
    per_channel: bool = False  # one step per output row instead of one per tensor

    def __post_init__(self) -> None:
        for value in (self.bits, self.vector_bits):
            if not 2 <= value <= MAX_BITS:
                raise ValueError(f"quantiser bits must be in 2..{MAX_BITS}, got {value}")

    def bits_for(self, shape: tuple[int, ...]) -> int:
        return self.vector_bits if len(shape) <= 1 else self.bits

    def num_steps(self, shape: tuple[int, ...]) -> int:
        """How many steps a tensor of ``shape`` stores: one per row (per channel) or one."""
        return shape[0] if self.per_channel and len(shape) >= 2 else 1


def levels(bits: int) -> int:
    """L: the integers run over -L..L."""
    return 2 ** (bits - 1) - 1


def steps_for(weight: torch.Tensor, cfg: QuantConfig) -> torch.Tensor:
    """Step sizes s = max|w| / L, shaped to broadcast over ``weight``: (rows, 1, ...) or (1, ...)."""
    w = weight.detach()
    if cfg.num_steps(tuple(w.shape)) > 1:
        peak = w.abs().flatten(1).amax(dim=1).view(-1, *([1] * (w.ndim - 1)))  # (rows, 1, ...)
    else:
        peak = w.abs().amax().view(*([1] * w.ndim))
    # an all-zero tensor still gets a positive step (its integers are all 0 either way)
    return (peak / levels(cfg.bits_for(tuple(w.shape)))).clamp_min(torch.finfo(torch.float32).tiny).float()


def quantise(weight: torch.Tensor, cfg: QuantConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(integers q as int32 of weight's shape, steps (n,) float32) for one tensor."""
    step = steps_for(weight, cfg)
    limit = levels(cfg.bits_for(tuple(weight.shape)))
    q = torch.clamp(torch.round(weight.detach().float() / step), -limit, limit).to(torch.int32)
    return q, step.flatten()


def dequantise(q: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
    """q * s in float32: the decoder's weights, and what the fake quantiser's forward computes."""
    shape = (-1, *([1] * (q.ndim - 1))) if step.numel() > 1 else (1,) * max(q.ndim, 1)
    return q.float() * step.view(shape)


class FakeQuant(nn.Module):
    """A parametrisation: the module's weight reads as dequantise(quantise(w)), gradients pass straight."""

    def __init__(self, cfg: QuantConfig) -> None:
        super().__init__()
        self.cfg = cfg

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        q, step = quantise(weight, self.cfg)
        stored = dequantise(q, step).to(weight.dtype).view_as(weight)
        return weight + (stored - weight).detach()  # value of the stored weight, gradient of the identity


def parameter_slots(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """(module, attribute) of every parameter, in ``model.named_parameters()`` order."""
    slots = []
    for _, module in model.named_modules():
        for name, _ in module.named_parameters(recurse=False):
            slots.append((module, name))
    return slots


def attach(model: nn.Module, cfg: QuantConfig) -> nn.Module:
    """Make every parameter of ``model`` read through ``FakeQuant`` (in place); returns the model.
    ``kan_inr.training.fit`` then trains it unchanged: quantisation-aware fine-tuning."""
    for module, name in parameter_slots(model):
        parametrize.register_parametrization(module, name, FakeQuant(cfg))
    return model


def detach(model: nn.Module) -> nn.Module:
    """Undo ``attach``: the latent float weights become plain parameters again (in place)."""
    for module in list(model.modules()):
        if parametrize.is_parametrized(module):
            assert isinstance(module.parametrizations, nn.ModuleDict)
            for name in list(module.parametrizations.keys()):
                parametrize.remove_parametrizations(module, name, leave_parametrized=False)
    return model

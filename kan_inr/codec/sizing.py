"""How big a network a bit budget buys, per preset, and how a codec network is trained.

The rule (one per preset, all of the same form): a budget of B bits per pixel on an H x W image is
P = (B H W - header bits) / bits_per_param parameters, where bits_per_param is what a parameter
costs after quantisation and entropy coding (measured: ``scripts/codec_bench.py`` prints it). Each
preset is a family of networks indexed by one width w, with the presets' proportions kept:

- siren: SIREN with 3 hidden layers of width w (the preset is w = 256);
- fkan: a Fourier-KAN layer 2 -> w with K frequencies, LayerNorm, two FKAN blocks w -> 2w -> 2w, head;
- sl2a: a Chebyshev layer 2 -> w of degree D, LayerNorm, three low-rank layers of rank w / 2, head.

For the two KAN presets the first layer's coefficients (4 K w for FKAN, 2 (D + 1) w for SL2A) are
held near the rest of the network's (6 w^2 and 3 w^2 + ...), which ties K and D to the width:
K = D = ``basis_per_width`` * w, capped at the Nyquist limit of the image's longest axis in cos(k x)
units on [-1, 1] (``geometry.nyquist_basis`` for the grid's convention: pi n / 2 on n pixel centres;
frequencies above it alias) and at ``geometry.MAX_BASIS``. The largest w whose exact parameter count
(the model built on the meta device: no memory) fits P is taken.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable

import torch

from kan_inr.errors import KanInrError
from kan_inr import models
from kan_inr.codec.quant import QuantConfig
from kan_inr.geometry import CENTERS, nyquist_basis
from kan_inr.recipe import Recipe
from kan_inr.models.fkan import FKANConfig
from kan_inr.models.siren import SirenConfig
from kan_inr.models.sl2a import SL2AConfig

MIN_WIDTH = 4
MAX_WIDTH = 1024
HEADER_BITS = 1200  # typical container overhead (fileformat.py): magic, header, quantiser table, checksum


@dataclass(frozen=True)
class CodecRecipe:
    """Training of a codec network: a float fit (``train``, a recipe as every preset has), then
    quantisation-aware fine-tuning (``quant``) for ``qat_steps`` at ``qat_lr``."""

    train: Recipe
    qat_steps: int
    qat_lr: float
    bits_per_param: float  # the sizing rule's cost of one coded parameter
    basis_per_width: float = 0.0  # K (FKAN) or D (SL2A) per unit of width; 0 for SIREN
    quant: QuantConfig = QuantConfig()


def _siren(width: int, basis: int) -> SirenConfig:
    return SirenConfig(hidden_dim=width)


def _fkan(width: int, basis: int) -> FKANConfig:
    return FKANConfig(grid_size=basis, hidden_dim=width, block_dims=(2 * width, 2 * width))


def _sl2a(width: int, basis: int) -> SL2AConfig:
    return SL2AConfig(degree=basis, hidden_dim=width, rank=max(1, width // 2))


# Measured on div2k/00 at 256 px, 1 bpp (scripts/codec_bench.py's setting): 600 steps of 8,192 pixels
# at lr 1e-3 gave SIREN 22.2 dB, FKAN 19.8, SL2A 20.5; lr 3e-3 lifted FKAN to 20.7 and SL2A to 21.5,
# lr 1e-2 to 21.0 and 22.2. K = D = 4 w instead of 1.5 w: FKAN 19.2, SL2A 20.5 (lr 1e-3).
# A parameter cost 7.1-7.4 bits after 8-bit quantisation and range coding.
_TRAIN = Recipe(lr=1e-2, batch=8192, steps=600)
_RECIPE = CodecRecipe(_TRAIN, qat_steps=150, qat_lr=1e-3, bits_per_param=7.25)
RULES: dict[str, tuple[Callable[[int, int], Any], CodecRecipe]] = {
    "siren": (_siren, dataclasses.replace(_RECIPE, train=dataclasses.replace(_TRAIN, lr=1e-3, target_range=(-1.0, 1.0)),
                                          qat_lr=1e-4)),
    "fkan": (_fkan, dataclasses.replace(_RECIPE, basis_per_width=1.5)),
    "sl2a": (_sl2a, dataclasses.replace(_RECIPE, basis_per_width=1.5)),
}


def rule(model_name: str) -> tuple[Callable[[int, int], Any], CodecRecipe]:
    if model_name not in RULES:
        raise KanInrError(f"no codec for model '{model_name}' (codecs: {', '.join(RULES)})")
    return RULES[model_name]


def count_params(family: str, cfg: Any, in_dim: int, out_dim: int) -> int:
    """Exact parameter count of a network, built on the meta device (no memory, no initialisation cost)."""
    with torch.device("meta"):
        return models.num_params(models.build(family, in_dim, out_dim, cfg))


def config_at(model_name: str, width: int, shape: tuple[int, ...], convention: str = CENTERS) -> Any:
    """The preset's network of width ``width`` for an image of ``shape`` sampled by ``convention``."""
    make, recipe = rule(model_name)
    # The longest axis sets the cap, where the presets take the smallest (``models.NyquistCap``): a codec is
    # judged on its own grid, where a frequency between the two axes' limits still resolves detail along the
    # longer axis and only repeats (aliases onto) one the shorter axis carries; the presets are also judged
    # between the samples (a 2x render), where that alias shows.
    top = nyquist_basis(1.0, shape, convention, longest=True)  # the highest whole frequency the grid carries
    basis = min(top, max(1, round(recipe.basis_per_width * width)))
    return make(width, basis)


def size_for_budget(model_name: str, bpp: float, shape: tuple[int, ...], channels: int,
                    convention: str = CENTERS) -> tuple[Any, int]:
    """(model config, its parameter count) for the largest network of the preset the budget buys on an
    image of ``shape`` sampled by ``convention`` (images: pixel centres)."""
    if not (bpp > 0 and math.isfinite(bpp)):
        raise KanInrError(f"--bpp must be a positive number, got {bpp}")
    _, recipe = rule(model_name)
    family = models.preset(model_name).family
    budget = (bpp * math.prod(shape) - HEADER_BITS) / recipe.bits_per_param  # parameters

    def params(width: int) -> int:
        return count_params(family, config_at(model_name, width, shape, convention), len(shape), channels)

    if params(MIN_WIDTH) > budget:
        raise KanInrError(f"{bpp} bpp is too small a budget for a {model_name} codec on a "
                          f"{'x'.join(map(str, shape))} image (the smallest network needs about "
                          f"{(params(MIN_WIDTH) * recipe.bits_per_param + HEADER_BITS) / math.prod(shape):.3f} bpp)")
    lo, hi = MIN_WIDTH, MAX_WIDTH  # parameters grow with the width: bisect for the largest that fits
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if params(mid) <= budget else (lo, mid - 1)
    cfg = config_at(model_name, lo, shape, convention)
    return cfg, params(lo)

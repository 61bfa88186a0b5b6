"""The preset table: each family's named configurations and the recipes they train with, per signal kind
("image", "audio"); a kind without its own preset uses the image one, and a preset without an image one
(neaf: audio only) is for its own kinds only (``names_for``). ``Preset.adapt`` (optional) ties config
fields to the signal's grid shape (e.g. frequencies from the Nyquist limit, or from a clip's length): the
shape adapters are here (``band_capped``, ``NyquistCap``) or beside a family's config (``hash_grid``,
``encodings``). Looking a preset up by name, plug-ins included, is ``registry.preset``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

from kan_inr.errors import KanInrError
from kan_inr.config import FULL_BATCH
from kan_inr.geometry import ANGULAR, CENTERS, INTERVALS, capped_band, nyquist_basis
from kan_inr.models.encodings import FFNConfig, ReluPEConfig, relu_pe_for_shape
from kan_inr.models.finer import FinerConfig
from kan_inr.models.fkan import FKANConfig
from kan_inr.models.gauss import GaussConfig
from kan_inr.models.hash_grid import HashGridConfig, hash_grid_for_shape
from kan_inr.models.kan import BSplineKANConfig, ChebyKANConfig
from kan_inr.models.neaf import NeAFConfig
from kan_inr.models.siren import SirenConfig
from kan_inr.models.sl2a import SL2AConfig
from kan_inr.models.wire import WireConfig
from kan_inr.recipe import RECIPES, Recipe
from kan_inr.space import SearchSpace


@dataclass(frozen=True)
class Preset:
    """A family's configuration and how it is trained. Two recipe families: "default", the fastest
    route this project measured to a good fit on the grid with a 2x render scored too (``recipe``,
    ``adapt``; which reach bicubic between the samples: benchmarks/compare-ttq.json); "paper", the
    paper's published network and settings exactly (``published``, the config unadapted), for
    reproductions. ``published`` None: the default is the paper's."""

    family: str
    config: Any
    recipe: Recipe
    paper: str
    adapt: Callable[[Any, tuple[int, ...]], Any] | None = field(default=None, compare=False)
    published: Recipe | None = None
    tuned: Any = None  # the default recipe's network where a study chose one (``config`` stays the paper's)
    space: SearchSpace | None = field(default=None, compare=False)  # a plug-in's levers (``search_space``)

    def config_for(self, shape: tuple[int, ...], recipe: str = "default") -> Any:
        if recipe == "paper" and self.published is not None:
            return self.config  # the published size, whatever the grid
        cfg = self.tuned if self.tuned is not None else self.config
        return self.adapt(cfg, shape) if self.adapt else cfg

    def recipe_for(self, recipe: str = "default") -> Recipe:
        """The recipe of family ``recipe`` (one of ``RECIPES``)."""
        if recipe not in RECIPES:
            raise KanInrError(f"unknown recipe '{recipe}' (choose from {', '.join(RECIPES)})")
        return self.published if recipe == "paper" and self.published is not None else self.recipe



# Audio presets: one rule for every first layer and a fixed cost per sample (benchmarks/audio-band.json,
# scripts/audio_band.py). The first layer's band (FKAN's spread frequencies, SL2A's spread degrees, SIREN's
# omega_0), in the units of cos(k x) on [-1, 1], is a fixed number whatever the clip: SIREN's omega_0 for Bach,
# per coordinate unit, so it reaches fewer hertz on a longer clip (3.8 kHz on 0.25 s, 480 Hz on 2 s) and
# the sine layers behind it build the rest. Measured at 20 s per fit on Bach from 2.0 s (0.25, 1 and 2 s)
# and the whole speech clip (2.9 s): best or within 3.4 dB of the best on every clip, where a fixed
# fraction of the sample rate (1/16 to 1/2 of Nyquist) lost up to 21 dB on the longer ones (a band beyond
# what the fit has reached slows it). At most the clip's Nyquist limit (a clip of a few ms:
# geometry.capped_band).
# Random batches of AUDIO_BATCH samples: on the 63,000-sample speech clip full batch gave 29 steps in 30 s
# (0.9 dB), 8,192 gave 375 (20.6 dB) (a probe, not recorded).
AUDIO_BAND = 3000
AUDIO_BATCH = 8192
AUDIO_FREQUENCIES = 64  # K of fkan's first layer, D of sl2a's: a fixed cost per sample, whatever the band


def band_capped(field_name: str) -> Callable[[Any, tuple[int, ...]], Any]:
    """``Preset.adapt`` capping a first layer's band (``band``; SIREN's ``first_omega``) at the clip's
    Nyquist limit (``geometry.capped_band``)."""
    def adapt(cfg: Any, shape: tuple[int, ...]) -> Any:
        band = getattr(cfg, field_name)  # int (a spread basis) or float (SIREN's omega_0): kept as it is
        return dataclasses.replace(cfg, **{field_name: type(band)(capped_band(band, shape[0]))})

    return adapt



# fkan's audio network: 64 Fourier-KAN frequencies spread over the band, sin(), then three sine layers of
# 256 (SIREN's hidden layers, omega 30): 230,657 parameters. With LayerNorm after the first layer instead
# of sin() (the FKAN code's), 24.2 dB where sin() reached 51.3 (probes, not recorded: 60 s, Bach from 2.0 s,
# full batch, lr 1e-3); with the FKAN code's
# blocks the network is not periodic and reaches only the band of its first layer.
FKAN_AUDIO = FKANConfig(grid_size=AUDIO_FREQUENCIES, hidden_dim=256, block_dims=(256, 256, 256), omega=30.0,
                        block="sine", first="sine", band=AUDIO_BAND)
# sl2a's: the paper's fusion network behind 64 Chebyshev degrees spread over the same band. A band 8 times
# wider fits the grid better (benchmarks/audio-band-sl2a: 58.0 / 23.8 / 21.4 dB at 24,000 on Bach 0.5 s /
# Bach 2 s / speech, where 3,000 gave 39.4 / 18.3 / 11.7) but is wrong between the samples: fitted to Bach
# decimated 2x, its full-rate render scored 6.3 dB where 3,000 scored 39.7 and linear interpolation 38.5
# (benchmarks/precision-audio.json, audio-acceptance.json). Sine activations in the fusion layers (omega 30)
# did not learn (0.0 dB).
SL2A_AUDIO = SL2AConfig(degree=AUDIO_FREQUENCIES, band=AUDIO_BAND)
# SIREN's published audio network (3 x 256, first-layer omega_0 3000 on [-1, 1], hidden 30, constant Adam
# 1e-4, full batch) is its paper recipe. The default recipes: random batches of 8,192, a cosine schedule;
# fkan and siren at lr 1e-4. fkan at 1e-3 fits the grid far better (Bach 0.5 s from 2.0 s, 60 s: 85.8 dB
# against 41.3 for siren) but its render between the samples fails (benchmarks/audio-lr-2x.json: fitted to
# Bach decimated 2x for 700 steps, grid / full-rate SNR at lr 1e-3, 3e-4, 1e-4; linear interpolation 38.5).
# sl2a keeps SL2A's 1e-3 (its 2x render held: 39.7 dB).
SIREN_AUDIO_PAPER = Recipe(lr=1e-4, batch=FULL_BATCH, steps=2000, schedule="constant")
AUDIO_RECIPE = Recipe(lr=1e-4, batch=AUDIO_BATCH, steps=2000, schedule="cosine")
SL2A_AUDIO_RECIPE = Recipe(lr=1e-3, batch=AUDIO_BATCH, steps=2000, schedule="cosine")


# The image presets' default recipes: point samples, the full 128 px image as one batch (16,384 pixels;
# larger images in random batches of that size), a cosine schedule to lr/10, lengths in epochs so they
# scale with the image; why (the measurements behind them): benchmarks/notes.md, ttq-levers.
IMAGE_BOX = 0
IMAGE_BATCH = 16384
IMAGE_NYQUIST_FRACTION = 0.5  # image presets cap their first layer's basis at this fraction of Nyquist (measured: scripts/superres_remedies.py)


@dataclass(frozen=True)
class NyquistCap:
    """``Preset.adapt`` capping a first-layer basis size (``field_name``: K frequencies, Chebyshev degree D,
    B-spline intervals G) at ``fraction`` of the image grid's Nyquist limit, so the first layer holds no
    frequency the pixels cannot show (which would alias between them when rendered larger).

    An axis of n pixel centres on [-1, 1] is 2 / n apart and carries angular frequencies up to
    pi n / 2 (units of cos(k x), ``geometry.nyquist``); K and D count such frequencies (spectral.py); G cubic
    B-spline intervals of width 2 / G (``unit`` ``INTERVALS``) resolve up to about pi G / 2, so G is capped
    at ``fraction`` n (``geometry.nyquist_basis``). The smaller axis sets the cap. The published size stays
    available with ``--set``.

    SIREN's omega_0 (``first_omega``) is capped as if it were K: its first layer, sin(omega_0 (w . x + b))
    with w ~ U(+-1 / in), reaches omega_0 / in per axis, and the factor ``in`` leaves room for the harmonics
    its hidden sine layers add. Only grids below 75 px are capped (omega_0 58.5). Probes, not recorded
    (2x PSNR, 600 steps, DIV2K 00 / 05 reduced 2x): fitted at 64 px, omega_0 58.5 scored 23.10 / 23.59 dB
    and the cap's 50 23.17 / 23.66; at 32 px, 58.5 scored 20.34 / 20.85 and 29 22.12 / 21.68 (bicubic
    22.19 / 21.87); on the 24 px test image reduced to 12 (50 steps), 18.1 at 58.5 and 32.3 at 9.4
    (bicubic 30.6).
    """

    field_name: str
    fraction: float = IMAGE_NYQUIST_FRACTION
    unit: str = ANGULAR

    def __call__(self, cfg: Any, shape: tuple[int, ...]) -> Any:
        cap = nyquist_basis(self.fraction, shape, CENTERS, self.unit)
        size = getattr(cfg, self.field_name)  # int (a basis size) or float (omega_0): kept as it is
        return dataclasses.replace(cfg, **{self.field_name: type(size)(min(size, cap))})


# The papers' published settings (``--recipe paper``): point samples, the
# published network size (the config unadapted), the published optimiser and length.
FKAN_PAPER = Recipe(lr=1e-4, batch=4096, epochs=500)  # 500 epochs of 4,096 pixels, lr x 0.1^(epoch/500)
SL2A_PAPER = Recipe(lr=1e-3, batch=16384, epochs=501)  # 501 epochs of 16,384 pixels, lr x 0.1^(epoch/501)
# SIREN's: Adam 1e-4 on the full batch, constant; the paper gives no length for image fitting, so
# the length is this project's (2,000 steps), the one setting of this recipe not from the paper.
SIREN_PAPER = Recipe(lr=1e-4, batch=FULL_BATCH, steps=2000, schedule="constant", target_range=(-1.0, 1.0))  # images in [-1, 1]

# Where bf16 stalls the image recipes (grid PSNR, dB; benchmarks/precision-ceiling.json: DIV2K 00 fitted at
# 64 px for 1,000 epochs of each default): SIREN's bf16 fit ends at 66.6 dB where fp32 reaches 147.6,
# fkan's at 50.8 where fp32 reaches 67.7, sl2a's at 58.8 where fp32 reaches 61.4.
SIREN_BF16_CEILING = 66.6
FKAN_BF16_CEILING = 50.8
SL2A_BF16_CEILING = 58.8

# The image defaults of fkan and siren are the chosen points of the equal-effort study at the budget they
# are judged at, benchmarks/tune-ttq-120.json: 16 trials of 120 s per model on DIV2K 02 (256 px fitted at
# 128, the ttq geometry), every model on auto precision, objectives grid and 2x, the chosen point the best
# grid among the Pareto points whose 2x reaches bicubic's. On DIV2K 03 + 08, which the study did not see
# (benchmarks/tune-ttq-120-validation.json, mean dB, default -> chosen): fkan 31.41 -> 44.73 on the grid
# and 25.71 -> 27.42 at 2x (bicubic 27.24); siren 51.33 -> 60.19 on the grid and 27.97 -> 27.80 at 2x,
# both above bicubic, so the rule takes the grid. sl2a's chosen point was its own default (trial 0).
# A study under a clock does not choose a length: each length is the steps the point made in its study's
# 120 s, rounded up (one thread at 128 px with the other core busy: fkan 477 -> 500, siren 579 -> 600).
# fkan, study trial 14: five sine blocks of 294 behind a Fourier-KAN layer of 129, K at 0.09 of Nyquist.
FKAN_TUNED = FKANConfig(hidden_dim=129, block_dims=(294,) * 5, omega=11.4, block="sine")
FKAN_TUNED_NYQUIST_FRACTION = 0.09
FKAN_IMAGE = Recipe(lr=8e-4, batch=IMAGE_BATCH, epochs=500, schedule="cosine", box=IMAGE_BOX,
                    bf16_ceiling=FKAN_BF16_CEILING)
# siren, study trial 10: one hidden layer of 492, omega_0 58.5 (first) and 43.4 (hidden).
SIREN_TUNED = SirenConfig(hidden_dim=492, hidden_layers=1, first_omega=58.5, hidden_omega=43.4)
SIREN_IMAGE = Recipe(lr=4.2e-4, batch=IMAGE_BATCH, epochs=600, schedule="cosine", target_range=(-1.0, 1.0),
                     box=IMAGE_BOX, bf16_ceiling=SIREN_BF16_CEILING)

PRESETS: dict[str, dict[str, Preset]] = {
    "fkan": {
        "image": Preset("fkan", FKANConfig(), FKAN_IMAGE,
                        "FKAN, Mehrabian et al. 2024, arXiv 2409.09323",
                        adapt=NyquistCap("grid_size", FKAN_TUNED_NYQUIST_FRACTION),
                        published=FKAN_PAPER, tuned=FKAN_TUNED),
        "audio": Preset("fkan", FKANConfig(), AUDIO_RECIPE,
                        "FKAN, Mehrabian et al. 2024, arXiv 2409.09323 (audio: spread first layer, sine layers)",
                        adapt=band_capped("band"), published=FKAN_PAPER, tuned=FKAN_AUDIO),
    },
    "siren": {
        "image": Preset("siren", SirenConfig(), SIREN_IMAGE, "SIREN, Sitzmann et al. 2020, arXiv 2006.09661",
                        adapt=NyquistCap("first_omega"), published=SIREN_PAPER, tuned=SIREN_TUNED),
        "audio": Preset("siren", SirenConfig(first_omega=float(AUDIO_BAND)), AUDIO_RECIPE,
                        "SIREN, Sitzmann et al. 2020, arXiv 2006.09661 (audio)", adapt=band_capped("first_omega"),
                        published=SIREN_AUDIO_PAPER),
    },
    # SL2A code: Adam 1e-3, 16,384-pixel batches, 501 epochs of 16 batches at 512^2, lr * 0.1^(epoch/501).
    "sl2a": {
        "image": Preset("sl2a", SL2AConfig(), Recipe(lr=1e-3, batch=IMAGE_BATCH, epochs=501, schedule="cosine",
                                                           box=IMAGE_BOX, bf16_ceiling=SL2A_BF16_CEILING),
                        "SL2A-INR, Heidari et al. 2024, arXiv 2409.10836", adapt=NyquistCap("degree"),
                        published=SL2A_PAPER),
        "audio": Preset("sl2a", SL2AConfig(), SL2A_AUDIO_RECIPE,
                        "SL2A-INR, Heidari et al. 2024, arXiv 2409.10836 (audio: degrees spread over the band)",
                        adapt=band_capped("band"), published=SL2A_PAPER, tuned=SL2A_AUDIO),
    },
    # Plain KANs have no published INR recipe: they get SL2A's (protocol div2k-sl2a).
    "cheby-kan": {
        "image": Preset("cheby-kan", ChebyKANConfig(), Recipe(lr=1e-3, batch=16384, epochs=501, box=IMAGE_BOX),
                        "Chebyshev KAN, SS et al. 2024, arXiv 2405.07200", adapt=NyquistCap("first_degree")),
    },
    "bspline-kan": {
        "image": Preset("bspline-kan", BSplineKANConfig(), Recipe(lr=1e-3, batch=16384, epochs=501, box=IMAGE_BOX),
                        "KAN, Liu et al. 2024, arXiv 2404.19756 (efficient B-spline formulation)",
                        adapt=NyquistCap("first_grid_size", unit=INTERVALS)),
    },
    # Instant-NGP: Adam lr 1e-2 (its betas 0.9/0.99 and eps 1e-15 are not in Recipe: Adam defaults), 2^18 batch.
    "hash-grid": {
        "image": Preset("hash-grid", HashGridConfig(), Recipe(lr=1e-2, batch=2**18, steps=8000),
                        "Instant-NGP hash encoding, Mueller et al. SIGGRAPH 2022, arXiv 2201.05989",
                        adapt=hash_grid_for_shape),
    },
    # Baselines as the SL2A code trains them (its table's settings): its lr and batch, 501 epochs,
    # lr * 0.1^(epoch/501). ffn: Tancik's recipe (Adam 1e-3, full batch, 2000 steps).
    "finer": {
        "image": Preset("finer", FinerConfig(), Recipe(lr=1e-4, batch=16384, epochs=501),
                        "FINER, Liu et al. CVPR 2024, arXiv 2312.02434"),
    },
    "gauss": {
        "image": Preset("gauss", GaussConfig(), Recipe(lr=1e-4, batch=1024, epochs=501),
                        "Gaussian activations, Ramasinghe & Lucey ECCV 2022, arXiv 2111.15135"),
    },
    "wire": {
        "image": Preset("wire", WireConfig(), Recipe(lr=1e-3, batch=65536, epochs=501),
                        "WIRE, Saragadam et al. CVPR 2023, arXiv 2301.05187"),
    },
    "relu-pe": {
        "image": Preset("relu-pe", ReluPEConfig(), Recipe(lr=1e-3, batch=1024, epochs=501),
                        "ReLU MLP + NeRF positional encoding, Mildenhall et al. ECCV 2020, arXiv 2003.08934",
                        adapt=relu_pe_for_shape),
    },
    "ffn": {
        "image": Preset("ffn", FFNConfig(), Recipe(lr=1e-3, batch=FULL_BATCH, steps=2000),
                        "Fourier features, Tancik et al. NeurIPS 2020, arXiv 2006.10739"),
    },
    # Audio only. NeAF's opt.py: Adam 1e-4, CosineAnnealingLR(T_max = epochs, eta_min = lr / 100), 1,000 epochs of
    # shuffled 16,384-sample batches.
    "neaf": {
        "audio": Preset("neaf", NeAFConfig(),
                        Recipe(lr=1e-4, batch=16384, epochs=1000, schedule="cosine", lr_decay=0.01),
                        "NeAF stacked Fourier-KAN, Fourier(1024) 4 x 64 (lif314/NeAF)"),
    },
}


def names_for(kind: str) -> list[str]:
    """The built-in presets a signal of ``kind`` can be fitted with: those with a preset of that kind, and
    those with an image preset (the fallback); not e.g. an audio-only one on an image."""
    return [name for name, by_kind in PRESETS.items() if kind in by_kind or "image" in by_kind]


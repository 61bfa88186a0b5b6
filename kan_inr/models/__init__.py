"""The networks, one module per family (its config, its ``search_space``, its ``nn.Module``), and three
shared modules. A family is an ``nn.Module`` built as ``Model(in_dim, out_dim, cfg)`` with ``cfg``
a frozen dataclass (a plug-in model keeps the same contract).

- ``registry``: families by name (config class + model class), ``build``, plug-in loading, ``preset(name)``;
- ``presets``: the preset table, each family's named configurations and recipes per signal kind, and the
  shape adapters that size a preset to a signal's grid;
- ``layers``: the KAN basis layers (Fourier, Chebyshev, B-spline) the families are built from.

A recipe (how a preset trains) is plain data in ``kan_inr.recipe``, which imports no family; a study's
wiring of a preset's levers is ``tuning.spaces``. This module only re-exports, so ``models.preset(...)``,
``models.build(...)``, ``models.Recipe`` and the family classes keep one name each.
"""

from __future__ import annotations

from kan_inr.models.encodings import FFN, FFNConfig, ReluPE, ReluPEConfig
from kan_inr.models.finer import Finer, FinerConfig
from kan_inr.models.fkan import FKAN, FKANConfig
from kan_inr.models.gauss import Gauss, GaussConfig
from kan_inr.models.hash_grid import HashGrid, HashGridConfig
from kan_inr.models.kan import BSplineKANConfig, BSplineKANNet, ChebyKANConfig, ChebyKANNet
from kan_inr.models.neaf import NeAF, NeAFConfig
from kan_inr.models.presets import (AUDIO_BAND, AUDIO_BATCH, AUDIO_FREQUENCIES, AUDIO_RECIPE, FKAN_AUDIO, FKAN_PAPER,
                                    FKAN_TUNED, FKAN_TUNED_NYQUIST_FRACTION, IMAGE_BATCH, IMAGE_BOX,
                                    IMAGE_NYQUIST_FRACTION, PRESETS, SIREN_AUDIO_PAPER, SIREN_PAPER, SL2A_AUDIO,
                                    SL2A_AUDIO_RECIPE, SL2A_PAPER, NyquistCap, Preset, band_capped, names_for)
from kan_inr.models.registry import (FAMILIES, PLUGIN_RECIPE, build, config_from_dict, num_params, preset,
                                     resolve_family, with_overrides)
from kan_inr.models.siren import Siren, SirenConfig
from kan_inr.models.sl2a import SL2A, SL2AConfig
from kan_inr.models.wire import Wire, WireConfig
from kan_inr.recipe import RECIPES, Recipe

__all__ = [
    "AUDIO_BAND", "AUDIO_BATCH", "AUDIO_FREQUENCIES", "AUDIO_RECIPE", "BSplineKANConfig", "BSplineKANNet",
    "ChebyKANConfig", "ChebyKANNet", "FAMILIES", "FFN", "FFNConfig", "FKAN", "FKANConfig", "FKAN_AUDIO", "FKAN_PAPER",
    "FKAN_TUNED", "FKAN_TUNED_NYQUIST_FRACTION", "Finer", "FinerConfig", "Gauss", "GaussConfig", "HashGrid",
    "HashGridConfig", "IMAGE_BATCH", "IMAGE_BOX", "IMAGE_NYQUIST_FRACTION", "NeAF", "NeAFConfig", "NyquistCap",
    "PLUGIN_RECIPE", "PRESETS", "Preset", "RECIPES", "Recipe", "ReluPE", "ReluPEConfig", "SIREN_AUDIO_PAPER",
    "SIREN_PAPER", "SL2A", "SL2AConfig", "SL2A_AUDIO", "SL2A_AUDIO_RECIPE", "SL2A_PAPER", "Siren", "SirenConfig",
    "Wire", "WireConfig", "band_capped", "build", "config_from_dict", "names_for", "num_params", "preset",
    "resolve_family", "with_overrides",
]

"""The model registry: families (config class + model class) by name, plug-in models and presets loaded
on demand, and a preset looked up by name (the table's, ``presets.py``, or a plug-in's).

A *family* is an ``nn.Module`` built as ``Model(in_dim, out_dim, cfg)`` with ``cfg`` a frozen dataclass; a
run's config.json names it, so ``build`` and ``config_from_dict`` rebuild its network from plain data.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from torch import nn

from kan_inr.errors import KanInrError
from kan_inr import plugins
from kan_inr.config import check_fields, parse_field
from kan_inr.models.encodings import FFN, FFNConfig, ReluPE, ReluPEConfig
from kan_inr.models.finer import Finer, FinerConfig
from kan_inr.models.fkan import FKAN, FKANConfig
from kan_inr.models.gauss import Gauss, GaussConfig
from kan_inr.models.hash_grid import HashGrid, HashGridConfig
from kan_inr.models.kan import BSplineKANConfig, BSplineKANNet, ChebyKANConfig, ChebyKANNet
from kan_inr.models.neaf import NeAF, NeAFConfig
from kan_inr.models.presets import PRESETS, Preset
from kan_inr.models.siren import Siren, SirenConfig
from kan_inr.models.sl2a import SL2A, SL2AConfig
from kan_inr.models.wire import Wire, WireConfig
from kan_inr.recipe import Recipe
from kan_inr.space import SearchSpace

FAMILIES: dict[str, tuple[type, type[nn.Module]]] = {
    "fkan": (FKANConfig, FKAN),
    "siren": (SirenConfig, Siren),
    "sl2a": (SL2AConfig, SL2A),
    "cheby-kan": (ChebyKANConfig, ChebyKANNet),
    "bspline-kan": (BSplineKANConfig, BSplineKANNet),
    "hash-grid": (HashGridConfig, HashGrid),
    "finer": (FinerConfig, Finer),
    "gauss": (GaussConfig, Gauss),
    "wire": (WireConfig, Wire),
    "relu-pe": (ReluPEConfig, ReluPE),
    "ffn": (FFNConfig, FFN),
    "neaf": (NeAFConfig, NeAF),
}


PLUGIN_RECIPE = Recipe(lr=1e-4, batch=4096, steps=2000)  # a plug-in model's recipe unless it registers one


def preset(name: str, kind: str = "image") -> Preset:
    """The preset ``name`` for a signal kind, falling back to its image preset (a preset without one, e.g.
    the audio-only neaf, is refused on other kinds); else a plug-in: a preset registered with
    ``plugins.register_model`` (or an installed entry point), or a spec ``FILE.py:Class`` / ``module:Class``
    the user named (its class's default config and ``PLUGIN_RECIPE``)."""
    if name in PRESETS:
        by_kind = PRESETS[name]
        if kind not in by_kind and "image" not in by_kind:
            raise KanInrError(f"{name} is an {' and '.join(by_kind)} preset: fit it to {' or '.join(by_kind)} "
                              f"signals, not {kind}")
        return by_kind[kind] if kind in by_kind else by_kind["image"]
    if plugins.is_spec(name):
        model_cls = plugins.model_class(name, from_run=False)
        spec = plugins.spec_of(model_cls)
        return Preset(spec, plugins.default_config(model_cls), PLUGIN_RECIPE, f"plug-in {spec}")
    found = plugins.find_preset(name)
    if found is None:
        raise KanInrError(f"unknown model '{name}' (available: {', '.join(sorted([*PRESETS, *plugins.PRESETS]))}; "
                          f"or your own, FILE.py:Class)")
    space = found.space if isinstance(found.space, SearchSpace) or found.space is None else SearchSpace(dict(found.space))
    return Preset(found.spec, found.config, found.recipe or PLUGIN_RECIPE, found.paper or f"plug-in {found.spec}",
                  space=space)


def resolve_family(family: str) -> tuple[type, type[nn.Module]]:
    """(config class, model class) of a family: a built-in one, or a plug-in named by its spec (read from
    a run folder, so imported only with consent: ``plugins.model_class``)."""
    if family in FAMILIES:
        return FAMILIES[family]
    if plugins.is_spec(family):
        model_cls = plugins.model_class(family, from_run=True)
        return plugins.config_class(model_cls), model_cls
    raise KanInrError(f"unknown model family '{family}' (this kan-inr knows: {', '.join(sorted(FAMILIES))}; "
                      f"written by a newer kan-inr?)")


def build(family: str, in_dim: int, out_dim: int, cfg: Any) -> nn.Module:
    config_cls, model_cls = resolve_family(family)
    assert isinstance(cfg, config_cls), (family, type(cfg))
    return model_cls(in_dim, out_dim, cfg)


def num_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def with_overrides(cfg: Any, assignments: dict[str, Any]) -> Any:
    """``cfg`` with fields replaced from ``{"key": value}``: text (``--set``) parsed by the field's type,
    typed values (the API, TOML) checked against it."""
    return dataclasses.replace(cfg, **{k: parse_field(type(cfg), k, text) for k, text in assignments.items()})


def config_from_dict(family: str, data: dict[str, Any]) -> Any:
    """Rebuild a family's config (a plug-in's only with consent, ``resolve_family``) from the plain data
    stored in a run's config.json (checked field by field)."""
    config_cls = resolve_family(family)[0]
    return config_cls(**check_fields(config_cls, data, f"config for '{family}'"))

"""A study's search space: the preset's levers (``search_space``: its recipe's and its family's, declared
beside the family's config), changed by a ``--space FILE.toml``, fitted to the budget, and sampled for a
trial.

The file has one table per lever; a table narrows or widens a declared lever, fixes it, or adds a
model field or training option the preset does not search::

    [lr]                      # a declared lever: new bounds (any of low, high, log)
    low = 1e-4
    high = 1e-2
    [schedule]                # choices replace the range
    choices = ["cosine", "exp"]
    [hidden_dim]              # fixed: set in every trial, not searched
    fixed = 256
    [box]                     # a training option or model field not searched yet: declare it fully
    choices = [0, 2]

A name that is none of these, an unknown key or a value the option cannot take is one error, before
anything is written.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from pathlib import Path
from typing import Any, Callable

from kan_inr.errors import KanInrError
from kan_inr.config import SCHEDULES, TrainConfig
from kan_inr import models
from kan_inr.models import IMAGE_NYQUIST_FRACTION, with_overrides
from kan_inr.recipe import Recipe
from kan_inr.space import Param, SearchSpace, choice, number

# Training options a study may vary: those `kan-inr fit` takes, so the chosen point's best.toml is a
# config it reads (the seed, device, budget and evaluation cadence are the study's).
TRAIN_LEVERS = ("lr", "schedule", "epochs", "batch", "box", "precision")
KEYS = ("low", "high", "log", "choices", "fixed")


# The families' own levers for ``kan-inr tune``, declared beside each config (``space``).
SPACES: dict[str, Callable[[Any, str], SearchSpace]] = {
    "siren": models.siren.search_space, "finer": models.siren.search_space, "fkan": models.fkan.search_space,
    "sl2a": models.sl2a.search_space,
}


def recipe_space(recipe: Recipe) -> SearchSpace:
    """The levers every preset has: lr (a tenth to ten times the recipe's, log scale), schedule, and the
    length in epochs (a tenth to twice the recipe's; a recipe counted in steps, e.g. audio at full
    batch, counts them as epochs)."""
    length = recipe.epochs or recipe.steps or 1000
    return SearchSpace({"lr": number(recipe.lr / 10, min(1.0, recipe.lr * 10), log=True), "schedule": choice(*SCHEDULES),
                        "epochs": number(max(1, length / 10), length * 2, log=True, integer=True)})


def search_space(name: str, kind: str = "image") -> SearchSpace:
    """What ``kan-inr tune`` varies for preset ``name`` on a signal of ``kind``: its recipe's levers and
    its family's (a plug-in's own, if it declared them)."""
    found = models.preset(name, kind)
    default = found.tuned if found.tuned is not None else found.config  # spaces centre on the default network
    family = found.space or (SPACES[found.family](default, kind) if found.family in SPACES else None)
    base = recipe_space(found.recipe_for("default"))
    return base | family if family is not None else base


def read(path: Path) -> dict[str, dict[str, Any]]:
    """The tables of a space file (one per lever); a file that is not such TOML is a user error."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise KanInrError(f"no such space file: {path}") from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise KanInrError(f"cannot read space file {path}: {exc}") from None
    for name, table in data.items():
        if not isinstance(table, dict):
            raise KanInrError(f"{path}: '{name}' must be a table [{name}] of {', '.join(KEYS)}")
        unknown = sorted(set(table) - set(KEYS))
        if unknown:
            raise KanInrError(f"{path}: [{name}] has unknown key(s) {', '.join(unknown)} (valid: {', '.join(KEYS)})")
    return data


def changed(space: SearchSpace, tables: dict[str, dict[str, Any]], model_cfg: Any, where: str) -> SearchSpace:
    """``space`` with the levers of ``tables`` narrowed, widened, fixed or added (``model_cfg``: the
    preset's model config, whose fields may be added)."""
    model_fields = {f.name for f in dataclasses.fields(model_cfg)}
    params = dict(space.params)
    for name, table in tables.items():
        setters = [lever for lever, fields in space.derived.items() if name in fields]
        if setters:
            raise KanInrError(f"{where}: '{name}' is set by the lever '{setters[0]}': narrow or fix that instead")
        if name in params:
            old = params[name]
            base = Param(integer=old.integer) if "choices" in table or "fixed" in table else old
        elif name in TRAIN_LEVERS or name in model_fields:
            hint = typing.get_type_hints(TrainConfig if name in TRAIN_LEVERS else type(model_cfg))[name]
            base = Param(integer=hint is int or hint == int | None)
        else:
            raise KanInrError(f"{where}: unknown search parameter '{name}' (searched: {', '.join(params)}; "
                              f"or a training option: {', '.join(TRAIN_LEVERS)}; or a field of "
                              f"{type(model_cfg).__name__}: {', '.join(sorted(model_fields))})")
        given: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
        if isinstance(given.get("choices"), str) or "choices" in given and not isinstance(given["choices"], tuple):
            raise KanInrError(f"{where}: [{name}] choices must be a list, e.g. choices = [1, 2]")
        try:
            params[name] = dataclasses.replace(base, **given).check(name)
        except TypeError as exc:
            raise KanInrError(f"{where}: [{name}]: {exc}") from None
    return dataclasses.replace(space, params=params)


def within_budget(space: SearchSpace, epochs: float | None, seconds: float | None = None) -> SearchSpace:
    """The length lever (``epochs``) capped at an epochs budget: a trial trains at most the budget. Under
    a seconds budget the clock is the length (the lr schedule ends with it), so a sampled length that
    stops a trial early only wastes its budget: the lever is dropped unless the space fixes it."""
    length = space.params.get("epochs")
    if seconds is not None and length is not None and length.fixed is None:
        return dataclasses.replace(space, params={k: v for k, v in space.params.items() if k != "epochs"})
    if epochs is None or length is None:
        return space
    if length.fixed is not None or length.choices is not None:
        over = [v for v in length.extremes() if v > epochs]
        if over:
            raise KanInrError(f"the search space sets epochs to {over[0]}, above the budget of --epochs {epochs:g}")
        return space
    assert length.low is not None and length.high is not None  # a checked number param
    high = min(length.high, epochs)
    low = min(length.low, high)
    if low == high:  # the budget is at most the shortest length: every trial trains the whole budget
        capped = Param(fixed=int(high) if length.integer and high == int(high) else high)
    else:
        capped = dataclasses.replace(length, low=low, high=high, integer=length.integer and high == int(high))
    return dataclasses.replace(space, params={**space.params, "epochs": capped})


def split(settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model fields, training options) of a trial's settings."""
    train = {k: v for k, v in settings.items() if k in TRAIN_LEVERS}
    return {k: v for k, v in settings.items() if k not in train}, train


def check(space: SearchSpace, model_cfg: Any, shape: tuple[int, ...], convention: str, where: str) -> None:
    """Every lever at each of its bounds (the others at their lows) gives settings the model config and
    ``TrainConfig`` accept: a value a trial could not use is an error before the study starts."""
    low = {name: p.extremes()[0] for name, p in space.params.items()}
    corners = [low] + [{**low, name: value} for name, p in space.params.items() for value in p.extremes()[1:]]
    for values in corners:
        model, train = split(space.settings(values, shape, convention))
        try:
            with_overrides(model_cfg, model)
            TrainConfig(**train)
        except KanInrError as exc:
            raise KanInrError(f"{where}: {exc}") from None


def sample(trial: Any, space: SearchSpace) -> dict[str, Any]:
    """A trial's lever values: each searched lever suggested to Optuna's ``trial``, fixed ones as set."""
    values: dict[str, Any] = {}
    for name, p in space.params.items():
        if p.fixed is not None:
            values[name] = p.fixed
        elif p.choices is not None:
            values[name] = trial.suggest_categorical(name, list(p.choices))
        elif p.integer:
            values[name] = trial.suggest_int(name, int(p.low), int(p.high), log=p.log)  # type: ignore[arg-type]
        else:
            values[name] = trial.suggest_float(name, p.low, p.high, log=p.log)
    return values


def fixed_values(space: SearchSpace) -> dict[str, Any]:
    """The levers a space fixes (they are in no trial's ``params``)."""
    return {name: p.fixed for name, p in space.params.items() if p.fixed is not None}


def plain(space: SearchSpace) -> dict[str, Any]:
    """The space as JSON data: what a study stores to recognise a re-run of itself."""
    return {name: p.plain() for name, p in space.params.items()}


def from_plain(space: SearchSpace, data: dict[str, Any]) -> SearchSpace:
    """``space`` (the preset's, for its derived levers) with the levers a study stored (``plain``)."""
    def param(fields: dict[str, Any]) -> Param:
        given: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()}
        return Param(**given)

    return dataclasses.replace(space, params={name: param(fields) for name, fields in data.items()})


def default_point(space: SearchSpace, preset: Any, shape: tuple[int, ...], kind: str) -> dict[str, Any]:
    """The preset's own settings as a point of ``space`` (the first trial of a study, so that every study
    weighs its model's default): the recipe's lr and schedule, the config fields the space varies by
    name (uniform blocks as ``blocks`` x ``block_width``), a first-layer basis ``*_fraction`` of an image
    preset at the Nyquist fraction its ``adapt`` caps it at (``NyquistCap.fraction``), an audio preset's ``band_scale`` at 1 (its own band).
    Levers with no such value are left to the sampler."""
    recipe, cfg = preset.recipe_for("default"), preset.config_for(shape)
    known = {"lr": recipe.lr, "schedule": recipe.schedule, "epochs": recipe.epochs,
             **{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}}
    if len(set(getattr(cfg, "block_dims", ()))) == 1:  # uniform blocks: FKAN's (blocks, block_width) levers
        known |= {"blocks": len(cfg.block_dims), "block_width": cfg.block_dims[0]}
    if kind == "image":  # the fraction the preset caps its basis at (fkan: 0.2), IMAGE_NYQUIST_FRACTION by default
        fraction = getattr(preset.adapt, "fraction", IMAGE_NYQUIST_FRACTION)
        known |= {name: fraction for name in space.params if name.endswith("_fraction")}
    else:
        known |= {"band_scale": 1.0}
    point = {}
    for name, param in space.params.items():
        value = known.get(name)
        if value is None or param.fixed is not None:
            continue
        if param.choices is not None and value in param.choices:
            point[name] = value
        elif param.choices is None and isinstance(value, (int, float)) and param.low is not None \
                and param.high is not None and param.low <= value <= param.high:
            point[name] = value
    return point

"""Search spaces: the settings a study (``kan-inr tune``) may vary, declared beside what they vary.

Each family declares its own levers beside its config (``models/siren.py``, ``fkan.py``, ``sl2a.py``:
``search_space``), a study adds the recipe's (lr, schedule, length: ``tuning.spaces.recipe_space``), a
plug-in passes ``space=`` to ``register_model``, and ``kan-inr tune --space FILE.toml`` narrows or widens
them (``tuning.spaces``). A lever is a model field, a training option, or a *derived* lever that
sets fields through the space's ``derive`` (e.g. FKAN's ``grid_fraction``: K as a fraction of the grid's
Nyquist limit, ``geometry.nyquist_basis``, so one space suits every image size). ``Param`` is plain data,
so a study stores its space and refuses a re-run that asks for another.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from kan_inr.errors import KanInrError


@dataclass(frozen=True)
class Param:
    """One setting a study varies: a number in [low, high] (on a log scale when ``log``; whole numbers
    when ``integer``), one of ``choices``, or ``fixed`` to one value (set in every trial, not searched)."""

    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple[Any, ...] | None = None
    fixed: Any = None

    def check(self, name: str) -> Param:
        """This param if it is well formed, else a user error naming ``name``."""
        if self.fixed is not None:
            return self
        if self.choices is not None:
            if not self.choices or not all(isinstance(c, (bool, int, float, str)) for c in self.choices):
                raise KanInrError(f"search parameter '{name}': choices must be a non-empty list of numbers or strings")
            return self
        if not all(isinstance(b, (int, float)) and not isinstance(b, bool) and math.isfinite(b)
                   for b in (self.low, self.high)):
            raise KanInrError(f"search parameter '{name}': give low and high (finite numbers), choices or fixed")
        assert self.low is not None and self.high is not None  # checked just above (mypy)
        if self.low > self.high:
            raise KanInrError(f"search parameter '{name}': low {self.low:g} is above high {self.high:g}")
        if self.log and self.low <= 0:
            raise KanInrError(f"search parameter '{name}': a log scale needs low > 0, got {self.low:g}")
        if self.integer and (self.low != int(self.low) or self.high != int(self.high)):
            raise KanInrError(f"search parameter '{name}' takes whole numbers, got {self.low:g} .. {self.high:g}")
        return self

    def extremes(self) -> list[Any]:
        """The values that bound what this param can take: low and high, every choice, or the fixed value."""
        if self.fixed is not None:
            return [self.fixed]
        if self.choices is not None:
            return list(self.choices)
        assert self.low is not None and self.high is not None  # a checked number param
        return [int(b) if self.integer else float(b) for b in (self.low, self.high)]

    def plain(self) -> dict[str, Any]:
        """As JSON data (what a study stores): the fields that differ from their declared default, so that
        ``Param(**plain)`` (tuples from lists) is this param again, a ``fixed = 0`` or a ``low = 0`` included."""
        # compared by identity and type, not ==: fixed = False or fixed = 0 is a setting beside the default None
        return {f.name: list(v) if isinstance(v, tuple) else v for f in dataclasses.fields(self)
                if not _same(v := getattr(self, f.name), f.default)}


def _same(value: Any, default: Any) -> bool:
    """Whether a field's value is its declared default (``0 == False`` and ``0.0 == 0`` are not the same here)."""
    return type(value) is type(default) and value == default


def number(low: float, high: float, *, log: bool = False, integer: bool = False) -> Param:
    """A number in [low, high]; ``integer``: whole numbers (bounds rounded inwards)."""
    if integer:
        return Param(math.ceil(low), math.floor(high), log, True)
    return Param(float(low), float(high), log)


def choice(*choices: Any) -> Param:
    return Param(choices=tuple(choices))


Derive = Callable[[dict[str, Any], tuple[int, ...], str], dict[str, Any]]


@dataclass(frozen=True)
class SearchSpace:
    """``params``: lever name -> Param. A name is a model field or a training option, set as it is, or a
    derived lever listed in ``derived`` (lever -> the fields it sets), which ``derive(values, shape,
    convention)`` turns into those fields for a signal's grid."""

    params: dict[str, Param]
    derived: dict[str, tuple[str, ...]] = field(default_factory=dict)
    derive: Derive | None = None

    def __or__(self, other: SearchSpace) -> SearchSpace:
        """Both spaces' levers (``other``'s win a name both declare), derived levers derived by both."""
        mine, theirs = self.derive, other.derive
        if mine is not None and theirs is not None:
            def derive(values: dict[str, Any], shape: tuple[int, ...], convention: str) -> dict[str, Any]:
                return mine(values, shape, convention) | theirs(values, shape, convention)
        else:
            derive = mine or theirs  # type: ignore[assignment]
        return SearchSpace(self.params | other.params, self.derived | other.derived, derive)

    def settings(self, values: dict[str, Any], shape: tuple[int, ...], convention: str) -> dict[str, Any]:
        """Model fields and training options for a signal of grid ``shape`` from lever ``values``."""
        plain = {k: v for k, v in values.items() if k not in self.derived}
        return plain | (self.derive(values, shape, convention) if self.derive is not None else {})


"""Search-space declarations (kan_inr/space.py): a Param stored as plain data is the same Param read back."""

from __future__ import annotations

import json

import pytest

from kan_inr import models
from kan_inr.space import Param, SearchSpace
from kan_inr.tuning import spaces

# falsy settings beside their defaults (None, False): what a store that drops falsy values loses
FALSY = {"fixed_zero": Param(fixed=0), "fixed_false": Param(fixed=False), "fixed_empty": Param(fixed=""),
         "from_zero": Param(low=0, high=1), "zero_width": Param(low=0.0, high=0.0, integer=True),
         "choices_of_zero": Param(choices=(0, False, 0.0))}


def round_trip(space: SearchSpace) -> SearchSpace:
    """``space`` through what a study stores: ``spaces.plain``, JSON, ``spaces.from_plain``."""
    return spaces.from_plain(space, json.loads(json.dumps(spaces.plain(space))))


def test_falsy_settings_survive_the_store_exactly():
    space = SearchSpace(FALSY)
    back = round_trip(space).params
    assert back == space.params
    for name, param in space.params.items():  # == cannot tell 0 from False or 0.0: the types must survive too
        assert [type(getattr(back[name], f)) for f in ("low", "high", "fixed")] == \
            [type(getattr(param, f)) for f in ("low", "high", "fixed")], name
        assert [type(c) for c in back[name].choices or ()] == [type(c) for c in param.choices or ()], name


def test_plain_holds_only_what_differs_from_the_defaults():
    assert Param().plain() == {}
    assert Param(fixed=0).plain() == {"fixed": 0}
    assert Param(low=0, high=2, log=False, integer=True).plain() == {"low": 0, "high": 2, "integer": True}


@pytest.mark.parametrize("kind", ["image", "audio"])
def test_every_presets_space_round_trips(kind):
    for name in models.names_for(kind):
        space = spaces.search_space(name, kind)
        assert round_trip(space).params == space.params, name

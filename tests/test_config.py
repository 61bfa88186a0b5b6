"""Options declared once (kan_inr/config.py): a study's options (``TuneConfig``) are ``kan-inr tune``'s options
and ``kan_inr.tune``'s keywords, with the declared names, defaults and help, and are checked where declared."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest
import typer

import kan_inr
from kan_inr import KanInrError, cli
from kan_inr.tune_config import DEFAULT_TRIAL_SECONDS, TuneConfig
from kan_inr.tuning import objectives, study

DECLARED = {f.name: f for f in dataclasses.fields(TuneConfig)}
LOADING = {"resize", "channels", "start", "duration"}  # how the signal files are read, as for fit


def cli_tune_options() -> dict[str, Any]:
    """``kan-inr tune``'s parameters as click sees them: name -> click.Parameter."""
    return {p.name: p for p in typer.main.get_command(cli.app).commands["tune"].params}


def test_the_command_line_takes_the_declared_options():
    options = cli_tune_options()
    assert set(options) == {"signals", "model", "outputs", "quiet", *LOADING, *DECLARED}
    for name, f in DECLARED.items():
        assert (options[name].default, options[name].help) == (f.default, f.metadata["help"]), name
    assert options["seconds"].opts == ["--seconds"]  # the clock's name, as for fit


def test_the_api_takes_the_declared_options_with_their_defaults():
    params = inspect.signature(kan_inr.tune).parameters
    keywords = {n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert keywords == {"outputs", "progress", *LOADING, *DECLARED}
    assert {n: params[n].default for n in DECLARED} == {n: f.default for n, f in DECLARED.items()}
    # the study itself takes the declaration, not a copy of its defaults
    assert [p.default for p in inspect.signature(study.tune).parameters.values()] == [inspect.Parameter.empty] * 6


def test_the_objectives_are_the_declared_choices():
    assert tuple(objectives.OBJECTIVES) == DECLARED["objective"].metadata["choices"]


@pytest.mark.parametrize("options, message", [
    ({"trials": 0}, "trials must be at least 1, got 0"),
    ({"trials": 2.5}, "trials should be int, got 2.5"),
    ({"seconds": 10, "epochs": 2}, "give the budget per trial as seconds or as epochs, not both"),
    ({"epochs": -1}, "epochs must be positive, got -1"),
    ({"objective": "psnr"}, "unknown objective 'psnr' (choose from grid, 2x, both)"),
])
def test_a_study_option_is_checked_where_it_is_declared(options, message):
    with pytest.raises(KanInrError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TuneConfig(**options)


def test_a_study_trains_the_default_clock_unless_given_a_length():
    assert TuneConfig().budget() == (DEFAULT_TRIAL_SECONDS, None)
    assert TuneConfig(seconds=5).budget() == (5.0, None) and TuneConfig(epochs=3).budget() == (None, 3.0)

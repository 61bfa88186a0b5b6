"""Options declared once (kan_inr/config.py): every training option (``TrainConfig``) reaches a run's config.json
from ``kan-inr fit``, ``kan_inr.fit`` and a TOML file, and a bad one is refused in one line before any run folder
exists; a study's options (``TuneConfig``) are ``kan-inr tune``'s options and ``kan_inr.tune``'s keywords, with
the declared names, defaults and help, and are checked where declared."""

from __future__ import annotations

import dataclasses
import inspect
import json
import sys
import types
from pathlib import Path
from typing import Any

import imageio.v3 as iio
import numpy as np
import pytest
import typer

import kan_inr
from kan_inr import KanInrError, cli
from kan_inr.comparison import Budget
from kan_inr.config import TrainConfig
from kan_inr.device import resolve_device
from kan_inr.options import options_of
from kan_inr.tune_config import DEFAULT_TRIAL_SECONDS, TuneConfig
from kan_inr.tuning import objectives, study
from conftest import load_script, run_cli, smooth_image

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


# The training options. A value for every TrainConfig field, unlike both its declared default and the tiny fkan
# fit's recipe (checked below), so that reaching config.json shows the option was routed; a field added without
# a value here fails every test below that is parametrised over the fields.
SET: dict[str, Any] = {
    "steps": 3, "epochs": 1.0, "lr": 2e-3, "batch": 64, "schedule": "constant", "lr_decay": 0.5, "eval_every": 7,
    "log_every": 3, "seed": 5, "device": "cpu", "target_range": (-1.0, 1.0), "max_seconds": 0.05,
    "precision": "tf32", "bf16_until": 40.0, "compile": "off", "jitter": 0.5, "freq_penalty": 0.1, "freq_alpha": 3.0, "recipe": "paper",
    "box": 2}
BAD: dict[str, tuple[Any, str]] = {  # a value each field refuses, and the words of the refusal
    "steps": (0, "steps must be at least 1"), "epochs": (0, "epochs must be positive, got 0"),
    "lr": (0, "lr must be positive and at most 1, got 0"), "batch": (-1, "batch must be at least 0, got -1"),
    "schedule": ("linear", "unknown schedule 'linear'"), "lr_decay": (2, "lr_decay must be at most 1, got 2"),
    "eval_every": (0, "eval_every must be at least 1, got 0"), "log_every": (0, "log_every must be at least 1, got 0"),
    "seed": (-1, "seed must be at least 0"), "device": ("tpu", "unknown device 'tpu'"),
    "target_range": ((1.0, 0.0), "target_range must be (low, high) with low < high"),
    "max_seconds": (0, "seconds must be positive, got 0"), "precision": ("fp8", "unknown precision 'fp8'"),
    "bf16_until": (0, "bf16_until must be positive, got 0"),
    "compile": ("fast", "unknown compile 'fast'"), "jitter": (2, "jitter must be at most 1, got 2"),
    "freq_penalty": (-1, "freq_penalty must be at least 0, got -1"),
    "freq_alpha": (-1, "freq_alpha must be at least 0, got -1"), "recipe": ("nope", "unknown recipe 'nope'"),
    "box": (1, "box must be 0")}
LENGTHS = ("steps", "epochs", "max_seconds")  # a fit given none of these runs SHORT
SHORT = {"steps": 2}
TINY = {"grid_size": 4, "hidden_dim": 8, "block_dims": (8,)}  # an fkan of a few hundred parameters
FIELDS = [f.name for f in dataclasses.fields(TrainConfig)]
USER = {o.field: o.name for o in options_of(TrainConfig).values()}  # field -> the name users give it


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("signal") / "tiny.png"
    iio.imwrite(path, np.round(smooth_image() * 255).astype(np.uint8))
    return path


@pytest.fixture(scope="module")
def plain_train(image, tmp_path_factory) -> dict[str, Any]:
    """config.json's training options of the tiny fkan fit given no option but its length."""
    run = kan_inr.fit(image, "fkan", model_config=TINY, outputs=tmp_path_factory.mktemp("plain"), progress=False,
                      **SHORT)
    assert run is not None
    return run.config["train"]


def as_json(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def command_line(field: str, value: Any) -> list[str]:
    """The option as ``kan-inr fit`` takes it: its flag, then its value (a pair: two values)."""
    return [options_of(TrainConfig)[USER[field]].flag, *map(str, value if isinstance(value, tuple) else [value])]


def toml_line(field: str, value: Any) -> str:
    """The option as a ``--config`` file holds it."""
    shown = "[" + ", ".join(map(repr, value)) + "]" if isinstance(value, tuple) else \
        f'"{value}"' if isinstance(value, str) else repr(value)
    return f"{USER[field]} = {shown}"


def fit_command(image: Path, outputs: Path) -> list[Any]:
    tiny = [item for key, value in TINY.items()
            for item in ("--set", f"{key}={','.join(map(str, value)) if isinstance(value, tuple) else value}")]
    return ["fit", image, "--model", "fkan", *tiny, "--outputs", outputs, "--name", "run", "--quiet"]


def test_every_training_option_has_a_value_to_set_unlike_its_default_and_the_recipes(plain_train):
    assert set(SET) == set(BAD) == set(FIELDS)
    defaults = TrainConfig()
    for field, value in SET.items():
        assert as_json(value) != plain_train[field] and value != getattr(defaults, field), field


@pytest.mark.parametrize("route", ["api", "cli", "toml"])
@pytest.mark.parametrize("field", FIELDS)
def test_every_training_option_reaches_the_run_config(field, route, image, tmp_path, capsys, monkeypatch):
    value = SET[field]
    length = {} if field in LENGTHS else SHORT
    if route == "api":
        kan_inr.fit(image, "fkan", model_config=TINY, outputs=tmp_path, name="run", progress=False,
                    **{USER[field]: value}, **length)
    else:
        args = fit_command(image, tmp_path) + [item for k, v in length.items() for item in command_line(k, v)]
        if route == "cli":
            args += command_line(field, value)
        else:
            (tmp_path / "options.toml").write_text(toml_line(field, value) + "\n")
            args += ["--config", tmp_path / "options.toml"]
        code, _, err = run_cli(args, capsys, monkeypatch)
        assert code == 0, err
    train = json.loads((tmp_path / "run" / "config.json").read_text())["train"]
    assert train[field] == as_json(value)


@pytest.mark.parametrize("route", ["cli", "toml"])
@pytest.mark.parametrize("field", FIELDS)
def test_a_bad_training_option_is_one_line_and_leaves_no_run(field, route, image, tmp_path, capsys, monkeypatch):
    value, message = BAD[field]
    outputs = tmp_path / "outputs"
    args = fit_command(image, outputs)
    if route == "cli":
        args += command_line(field, value)
    else:
        (tmp_path / "options.toml").write_text(toml_line(field, value) + "\n")
        args += ["--config", tmp_path / "options.toml"]
    code, out, err = run_cli(args, capsys, monkeypatch)
    assert code == 2 and err.startswith("kan-inr: error: ") and message in err and err.count("\n") == 1, err
    assert not outputs.exists() or not any(outputs.iterdir())


def test_the_api_names_its_training_options_as_the_command_line_does(image, tmp_path):
    with pytest.raises(KanInrError, match=r"unknown option 'lr_deacy' for fit \(valid: steps, epochs, lr, "):
        kan_inr.fit(image, "fkan", model_config=TINY, lr_deacy=0.5, **SHORT)
    assert not any(tmp_path.iterdir())
    with pytest.warns(DeprecationWarning, match="fit: 'max_seconds' is deprecated, say 'seconds'"):
        run = kan_inr.fit(image, "fkan", model_config=TINY, max_seconds=0.05, progress=False)
    assert run is not None and run.config["train"]["max_seconds"] == 0.05
    with pytest.raises(KanInrError, match="give 'seconds' once, not also as 'max_seconds'"):
        kan_inr.fit(image, "fkan", model_config=TINY, max_seconds=1.0, seconds=2.0)


def test_the_fit_commands_take_every_training_option_with_its_declared_help():
    commands = typer.main.get_command(cli.app).commands
    for command in ("fit", "fit-many"):
        params = {p.name: p for p in commands[command].params}
        for o in options_of(TrainConfig).values():
            assert params[o.name].opts == [o.flag] and params[o.name].help.startswith(o.help), (command, o.name)
            assert params[o.name].default is None  # not given: the preset's recipe, else the declared default


def test_the_clock_is_seconds_for_every_command():
    commands = typer.main.get_command(cli.app).commands
    for command in ("fit", "fit-many", "tune", "compare"):
        assert [p.opts for p in commands[command].params if p.name == "seconds"] == [["--seconds"]], command
    assert "seconds" in inspect.signature(kan_inr.tune).parameters and "seconds" in USER.values()
    assert [f.name for f in dataclasses.fields(Budget) if "seconds" in f.name] == ["seconds"]


@pytest.mark.parametrize("old, new, value, budget", [
    ("--budget-seconds", "--seconds", "2.5", Budget(seconds=2.5)),
    ("--budget-steps", "--steps", "7", Budget(steps=7)),
])
def test_compare_takes_its_old_budget_flags_with_a_note(old, new, value, budget, capsys, monkeypatch):
    """An older command line's ``compare ... --budget-seconds 60`` still runs (with a note), under the name
    every other command uses."""
    taken = []
    done = types.SimpleNamespace(markdown="| compared |")

    def compare(signals, names, budget, **options):
        taken.append(budget)
        return done

    monkeypatch.setattr(kan_inr, "compare", compare)
    code, out, err = run_cli(["compare", "a.png", "--models", "siren", old, value], capsys, monkeypatch)
    assert code == 0 and out == "| compared |\n" and taken == [budget]
    assert err.startswith(f"kan-inr: note: {old} is deprecated, say {new}\n")
    code, _, err = run_cli(["compare", "a.png", new, value, old, value], capsys, monkeypatch)
    assert code == 2 and err == f"kan-inr: error: give {new} once ({old} is its old name)\n" and len(taken) == 1


def test_the_study_script_takes_tunes_options_and_defaults(monkeypatch):
    """scripts/study.py runs ``kan-inr tune`` per model: its study options are TuneConfig's, not a copy."""
    monkeypatch.setattr(sys, "argv", ["study.py", "--name", "s"])
    args = load_script("study").parse()
    defaults = TuneConfig()
    for name in ("trials", "objective", "seed", "storage"):
        assert getattr(args, name) == getattr(defaults, name), name
    assert (args.seconds, args.epochs) == defaults.budget() and args.device == str(resolve_device(defaults.device))
    monkeypatch.setattr(sys, "argv", ["study.py", "--name", "s", "--trials", "3", "--epochs", "2", "--objective", "2x"])
    args = load_script("study").parse()
    assert (args.trials, args.seconds, args.epochs, args.objective) == (3, None, 2.0, "2x")

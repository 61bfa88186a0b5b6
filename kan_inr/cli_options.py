"""The command line's options, declared once for the commands that share them (``cli`` uses them): typer
annotations whose help comes from the declarations in ``config.TrainConfig`` and ``tune_config.TuneConfig``."""

from __future__ import annotations

import dataclasses
import functools
import typing
from inspect import Parameter, signature
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from kan_inr.config import TrainConfig, help_of
from kan_inr.tune_config import TuneConfig


def recipe_help(name: str) -> str:
    """A fit option's help: its TrainConfig declaration, defaulting to the preset's recipe."""
    return f"{help_of(TrainConfig, name)} [default: the preset's recipe]"


# Options shared by fit, fit-many and compare, declared once.
ModelName = Annotated[str, typer.Option("--model", "-m", help="Model preset (see `kan-inr models`).")]
Steps = Annotated[Optional[int], typer.Option(help=recipe_help("steps"))]
Epochs = Annotated[Optional[float], typer.Option(help=recipe_help("epochs"))]
Seconds = Annotated[Optional[float], typer.Option("--seconds", help="Train for this many seconds (evaluation "
                                                  "excluded); the lr schedule ends with them.")]
Lr = Annotated[Optional[float], typer.Option(help=recipe_help("lr"))]
Batch = Annotated[Optional[int], typer.Option(help=recipe_help("batch"))]
Box = Annotated[Optional[int], typer.Option(help=recipe_help("box"))]
Schedule = Annotated[Optional[str], typer.Option(help=recipe_help("schedule"))]
EvalEvery = Annotated[Optional[int], typer.Option(help=help_of(TrainConfig, "eval_every"))]
Seed = Annotated[Optional[int], typer.Option(help=help_of(TrainConfig, "seed"))]
Device = Annotated[Optional[str], typer.Option(help=help_of(TrainConfig, "device"))]
Resize = Annotated[Optional[int], typer.Option(help="Images: shrink so the longest side is N pixels (area averaging).")]
Channels = Annotated[Optional[str], typer.Option(help="Audio: 'mono' averages the channels [default: all].")]
Start = Annotated[Optional[float], typer.Option(help="Audio: segment start in seconds.")]
Duration = Annotated[Optional[float], typer.Option(help="Audio: segment length in seconds [default: to the end].")]
SetFields = Annotated[list[str], typer.Option("--set", help="Model field, key=value (repeatable).")]
ConfigFile = Annotated[Optional[Path], typer.Option("--config", help="TOML file of options; [model] table = --set.")]
Outputs = Annotated[Path, typer.Option("--outputs", help="Folder that holds run folders.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout (for scripts).")]
NoLimits = Annotated[bool, typer.Option("--no-limits", help="Lift the size caps (kan_inr/limits.py): trusted input.")]
AllowCode = Annotated[bool, typer.Option("--allow-code", help="Let a run folder import the plug-in model module "
                                         "it names (only for runs you trust; installed plug-ins need no flag).")]
Recipe = Annotated[Optional[str], typer.Option("--recipe", help=help_of(TrainConfig, "recipe") + " [default: default]")]


def with_options(options: dict[str, tuple[Any, Any]]) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A decorator: ``command(..., given: dict)`` as a typer command that also takes ``options`` (name ->
    (annotation, default)), handed to it as one dict ``given``."""
    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        declared = signature(command, eval_str=True)
        own = [p for p in declared.parameters.values() if p.name != "given"]
        shared = [Parameter(name, Parameter.KEYWORD_ONLY, annotation=hint, default=default)
                  for name, (hint, default) in options.items()]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> None:
            given = {name: kwargs.pop(name) for name in options}
            command(given=given, **kwargs)

        setattr(wrapper, "__signature__", declared.replace(parameters=[*own, *shared]))  # what typer reads
        return wrapper
    return decorate


# The training options fit and fit-many share, declared once: ``fit_options`` adds them to a command's
# signature and hands them to it as one dict ``given`` (None = not given), which ``train_options``
# turns into TrainConfig fields.
FIT_OPTIONS: dict[str, Any] = {
    "recipe": Recipe, "steps": Steps, "epochs": Epochs, "seconds": Seconds, "lr": Lr, "batch": Batch, "box": Box,
    "schedule": Schedule, "eval_every": EvalEvery, "seed": Seed, "device": Device, "set_": SetFields,
    "config": ConfigFile,
}
fit_options = with_options({name: (hint, [] if name == "set_" else None) for name, hint in FIT_OPTIONS.items()})

# A study's options, from their one declaration (tune_config.TuneConfig): each field an option of that name,
# default and help; the clock spelled --seconds, as for fit.
TUNE_FLAGS = {"max_seconds": "--seconds"}
TUNE_OPTIONS: dict[str, tuple[Any, Any]] = {
    f.name: (Annotated[typing.get_type_hints(TuneConfig)[f.name],
                       typer.Option(TUNE_FLAGS.get(f.name, f"--{f.name}"), help=f.metadata["help"])], f.default)
    for f in dataclasses.fields(TuneConfig)}

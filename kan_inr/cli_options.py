"""The command line's options, declared once for the commands that share them (``cli`` uses them): fit's
training options and tune's study options are generated from their declarations (``config.TrainConfig``,
``tune_config.TuneConfig``, through ``options.options_of``): one option per field, its name, type and help."""

from __future__ import annotations

import functools
from inspect import Parameter, signature
from pathlib import Path
from typing import Annotated, Any, Callable, Optional

import typer

from kan_inr.config import TrainConfig, help_of
from kan_inr.options import Option, options_of
from kan_inr.tune_config import TuneConfig


def fit_help(o: Option) -> str:
    """A fit option's help: its declaration's, with what a fit takes when it is not given."""
    if o.recipe:
        return f"{o.help} [default: the preset's recipe]"
    return o.help if o.default is None else f"{o.help} [default: {o.default}]"


# Options shared by several commands, declared once.
ModelName = Annotated[str, typer.Option("--model", "-m", help="Model preset (see `kan-inr models`).")]
Steps = Annotated[Optional[int], typer.Option(help=fit_help(options_of(TrainConfig)["steps"]))]
Device = Annotated[Optional[str], typer.Option(help=help_of(TrainConfig, "device"))]
Resize = Annotated[Optional[int], typer.Option(help="Images: shrink so the longest side is N pixels (area averaging).")]
Channels = Annotated[Optional[str], typer.Option(help="Audio: 'mono' averages the channels [default: all].")]
Start = Annotated[Optional[float], typer.Option(help="Audio: segment start in seconds.")]
Duration = Annotated[Optional[float], typer.Option(help="Audio: segment length in seconds [default: to the end].")]
SetFields = Annotated[list[str], typer.Option("--set", help="Model field, key=value (repeatable).")]
Outputs = Annotated[Path, typer.Option("--outputs", help="Folder that holds run folders.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout (for scripts).")]
NoLimits = Annotated[bool, typer.Option("--no-limits", help="Lift the size caps (kan_inr/limits.py): trusted input.")]
AllowCode = Annotated[bool, typer.Option("--allow-code", help="Let a run folder import the plug-in model module "
                                         "it names (only for runs you trust; installed plug-ins need no flag).")]


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


# The training options fit and fit-many share: one per TrainConfig field, by its user name, default None (not
# given: the preset's recipe or the declared default); ``fit_options`` adds them to a command's signature and
# hands them to it as one dict ``given``, which ``options.train_options`` merges with a TOML file's.
TRAIN_OPTIONS: dict[str, tuple[Any, Any]] = {
    o.name: (Annotated[Optional[o.hint], typer.Option(o.flag, help=fit_help(o))], None)
    for o in options_of(TrainConfig).values()}
FIT_OPTIONS: dict[str, tuple[Any, Any]] = {
    **TRAIN_OPTIONS, "set_": (SetFields, []),
    "config": (Annotated[Optional[Path], typer.Option("--config", help="TOML file of the options above (their "
                                                      "names, underscores kept); a [model] table = --set.")], None)}
fit_options = with_options(FIT_OPTIONS)

# A study's options, from their one declaration (tune_config.TuneConfig): each field an option of its name,
# default and help.
TUNE_OPTIONS: dict[str, tuple[Any, Any]] = {
    o.name: (Annotated[o.hint, typer.Option(o.flag, help=o.help)], o.default) for o in options_of(TuneConfig).values()}

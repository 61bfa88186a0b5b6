"""A config dataclass's options as users give them, generated from their declarations (``config.option``): by
the name the command line's ``--name`` flag, the API's keyword and a TOML key share (``options_of``), with their
help (``options_help``), and back to the dataclass's fields (``fields_from``). ``cli_options`` builds the
command line's options from these, ``api.fit`` takes its training options through them. And the options
as the command line gives them: a TOML file (``--config``) and ``--set key=value`` items (``train_options``).
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kan_inr.errors import KanInrError


@dataclass(frozen=True)
class Option:
    """A field of a config dataclass as users give it, from its declaration (``option``): ``name`` is the
    CLI's ``--name`` (underscores as dashes), the API's keyword and the TOML key; ``field`` the dataclass
    field it sets; ``hint`` the field's type."""

    name: str
    field: str
    hint: Any
    default: Any
    help: str
    choices: tuple[str, ...] | None
    recipe: bool
    deprecated: tuple[str, ...]

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def options_of(cls: type) -> dict[str, Option]:
    """Every field of the config dataclass ``cls`` as an ``Option``, by its user name, in declared order."""
    hints = typing.get_type_hints(cls)
    options = [Option(f.metadata.get("name") or f.name, f.name, hints[f.name], f.default, f.metadata["help"],
                      f.metadata.get("choices"), f.metadata.get("recipe", False), f.metadata.get("deprecated", ()))
               for f in dataclasses.fields(cls)]
    return {o.name: o for o in options}


def options_help(cls: type, indent: int = 0) -> str:
    """The options of ``cls`` as a docstring lists them: one ``name``: help paragraph each (``options_of``)."""
    pad = " " * indent
    return "\n".join(f"{pad}``{o.name}``: {o.help}" for o in options_of(cls).values())


def fields_from(cls: type, given: dict[str, Any], where: str) -> dict[str, Any]:
    """The options ``given`` by their user names (``options_of``; None = not given, left out) as keyword
    arguments for ``cls``: an unknown name is a KanInrError listing the valid ones; a deprecated name
    works, with a DeprecationWarning naming the current one."""
    declared = options_of(cls)
    renamed = {old: o.name for o in declared.values() for old in o.deprecated}
    out: dict[str, Any] = {}
    for key, value in given.items():
        name = renamed.get(key, key)
        if name not in declared:
            raise KanInrError(f"unknown option '{key}' for {where} (valid: {', '.join(declared)})")
        if value is None:
            continue
        if name != key:
            if given.get(name) is not None:
                raise KanInrError(f"{where}: give '{name}' once, not also as '{key}'")
            warnings.warn(f"{where}: '{key}' is deprecated, say '{name}'", DeprecationWarning, stacklevel=3)
        out[declared[name].field] = value
    return out


# Options as the command line gives them: a TOML file and --set key=value items.

LENGTH_OPTIONS = ("steps", "epochs", "seconds")  # a fit's length, as the command line and its TOML name it


def parse_assignments(items: list[str]) -> dict[str, str]:
    """['key=value', ...] -> {'key': 'value'}; a malformed item is an error."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise KanInrError(f"--set expects key=value, got '{item}'")
        out[key.strip()] = value.strip()
    return out


def read_config_file(path: Path | None) -> dict[str, Any]:
    """Options from a TOML file: top-level keys are fit options, a [model] table holds --set fields."""
    if path is None:
        return {}
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise KanInrError(f"no such config file: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, IsADirectoryError) as exc:
        raise KanInrError(f"cannot read config file {path}: {exc}") from None


def train_options(config: Path | None, set_: list[str], **given: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model fields, TrainConfig options) from a TOML file (``--config``), ``key=value`` items
    (``--set``) and the fit options given (None = not given; they win over the file's, and a length
    given, steps, epochs or seconds, replaces all of the file's); a batch of 0 is FULL_BATCH. Values are
    checked where they are declared, by ``TrainConfig`` and the model's config class, before any run
    folder is touched."""
    file_options = read_config_file(config)
    table = file_options.pop("model", {})
    if not isinstance(table, dict):
        raise KanInrError(f"{config}: 'model' must be a [model] table of model fields, got {table!r}"[:300])
    model_fields = {**table, **parse_assignments(set_)}
    unknown = set(file_options) - set(given)
    if unknown:
        raise KanInrError(f"unknown option(s) in {config}: {', '.join(sorted(unknown))} (valid: {', '.join(given)}, [model])")
    if any(given.get(k) is not None for k in LENGTH_OPTIONS):  # a length on the command line replaces the file's
        file_options = {k: v for k, v in file_options.items() if k not in LENGTH_OPTIONS}
    options = {**file_options, **{k: v for k, v in given.items() if v is not None}}
    return model_fields, options

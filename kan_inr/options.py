"""A config dataclass's options as users give them, generated from their declarations (``config.option``): by
the name the command line's ``--name`` flag, the API's keyword and a TOML key share (``options_of``), with their
help (``options_help``), and back to the dataclass's fields (``fields_from``). ``cli_options`` builds the
command line's options from these, ``api.fit`` takes its training options through them.
"""

from __future__ import annotations

import dataclasses
import typing
import warnings
from dataclasses import dataclass
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

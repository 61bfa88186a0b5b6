"""pyproject.toml declares what the package uses: every third-party module kan_inr imports comes from a
declared dependency."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import kan_inr

PACKAGE = Path(kan_inr.__file__).parent
PYPROJECT = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    """The distributions [project] dependencies names (version bounds dropped)."""
    return {canonical(re.match(r"[A-Za-z0-9_.-]+", d).group()) for d in PYPROJECT["project"]["dependencies"]}


def imported() -> dict[str, str]:
    """Top-level third-party module -> one kan_inr file that imports it (function-level imports included)."""
    found: dict[str, str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "kan_inr":
                    found.setdefault(top, str(path.relative_to(PACKAGE.parent)))
    return found


def test_every_imported_module_comes_from_a_declared_dependency():
    providers = importlib.metadata.packages_distributions()  # module -> installed distributions providing it
    undeclared = [f"{module} ({where})" for module, where in imported().items()
                  if not {canonical(d) for d in providers.get(module, [module])} & declared()]
    assert not undeclared, "imported but not declared in pyproject.toml: " + ", ".join(undeclared)

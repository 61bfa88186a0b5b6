"""pyproject.toml declares what the package uses: every third-party module kan_inr imports comes from a
declared dependency, and the torch it accepts has every torch API the package calls."""

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


# torch APIs the package may call, as they appear in its source, and the torch release that brought each
TORCH_APIS = {"torch.compiler.is_compiling": (2, 3), "torch.compiler": (2, 1), "torch.func": (2, 0),
              "torch.vmap": (2, 0), "torch.compile(": (2, 0), "weights_only=": (1, 13), "OutOfMemoryError": (1, 13)}


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


def torch_floor() -> tuple[int, ...]:
    """The lowest torch version [project] dependencies accept (``torch>=X.Y``)."""
    (spec,) = [d for d in PYPROJECT["project"]["dependencies"] if canonical(re.match(r"[\w.-]+", d).group()) == "torch"]
    found = re.search(r">=\s*([\d.]+)", spec)
    assert found is not None, f"torch has no lower bound in pyproject.toml: {spec!r}"
    return tuple(int(part) for part in found.group(1).split("."))


def test_the_torch_floor_has_every_torch_api_the_package_calls():
    source = "\n".join(path.read_text() for path in sorted(PACKAGE.rglob("*.py")))
    needed = {api: version for api, version in TORCH_APIS.items() if api in source}
    assert "torch.compiler.is_compiling" in needed  # the table is live: the KAN layers call it
    newest = max(needed.values())
    assert torch_floor() >= newest, (f"pyproject.toml accepts torch {'.'.join(map(str, torch_floor()))}, but "
                                     f"{max(needed, key=needed.get)} needs {'.'.join(map(str, newest))}")

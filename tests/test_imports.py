"""Imports flow one way: no cycle between kan_inr's modules and no import that climbs the layer order
written in the package docstring (function-level imports included)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import kan_inr

PACKAGE = Path(kan_inr.__file__).parent


def layer_order() -> dict[str, int]:
    """Top-level module or subpackage name -> its layer, from kan_inr's docstring ("    3. models, plots")."""
    layers = {}
    for number, names in re.findall(r"^\s+(\d+)\. ([a-z_, ]+?)(?:\s{2,}|\s*$)", kan_inr.__doc__, re.MULTILINE):
        layers.update({name.strip(): int(number) for name in names.split(",")})
    return layers


def modules(root: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (a package is its __init__.py)."""
    found = {}
    for path in root.rglob("*.py"):
        parts = ["kan_inr", *path.relative_to(root).with_suffix("").parts]
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_edges(mods: dict[str, Path]) -> dict[str, dict[str, int]]:
    """module -> {imported kan_inr module: line}, from every import statement anywhere in the file.
    An import of an enclosing package (``from kan_inr import KanInrError``) is not an edge."""
    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, dict[str, int]] = {m: {} for m in mods}
    for module, path in mods.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from . import x, from ..y import z
                    base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + [base] * bool(base))
                names = [base, *(f"{base}.{a.name}" for a in node.names)]
            else:
                continue
            for name in names:
                target = resolve(name) if name.split(".")[0] == "kan_inr" else None
                if target and target != module and not module.startswith(target + "."):
                    edges[module].setdefault(target, node.lineno)
    return edges


def find_cycle(edges: dict[str, dict[str, int]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def top(module: str) -> str:
    """kan_inr.runs.load -> runs."""
    return module.split(".")[1]


def test_layer_order_names_every_module() -> None:
    layers = layer_order()
    assert len(layers) >= 9, layers
    assert {top(m) for m in modules() if m != "kan_inr"} == set(layers)


def test_no_import_cycle() -> None:
    cycle = find_cycle(import_edges(modules()))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_imports_flow_down_the_layers() -> None:
    layers, mods = layer_order(), modules()
    climbs = [f"{mods[m].relative_to(PACKAGE.parent)}:{line} imports {target} (layer {layers[top(target)]} is above "
              f"{top(m)}'s {layers[top(m)]})"
              for m, targets in import_edges(mods).items() if m != "kan_inr"
              for target, line in targets.items() if layers[top(target)] > layers[top(m)]]
    assert not climbs, "\n".join(climbs)


def test_function_level_imports_say_why() -> None:
    """An import inside a function is for start-up time or a heavy optional library, and says so."""
    silent = []
    for module, path in modules().items():
        lines = path.read_text().splitlines()
        for func in ast.walk(ast.parse(path.read_text())):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            imports = [n for n in ast.walk(func) if isinstance(n, (ast.Import, ast.ImportFrom))]
            if imports and not any("#" in lines[n.lineno - 1] for n in imports):
                silent.append(f"{path.relative_to(PACKAGE.parent)}:{imports[0].lineno}")
    assert not silent, "function-level imports without a comment saying why: " + ", ".join(silent)


def test_the_checker_sees_a_cycle_and_a_climb(tmp_path: Path) -> None:
    """The walk itself: a function-level import that closes a loop is a cycle and a climb."""
    (tmp_path / "a.py").write_text("import kan_inr.b\n")
    (tmp_path / "b.py").write_text("def f():\n    from kan_inr import a  # hidden in a function\n")
    mods = {"kan_inr.a": tmp_path / "a.py", "kan_inr.b": tmp_path / "b.py"}
    assert find_cycle(import_edges(mods)) == ["kan_inr.a", "kan_inr.b", "kan_inr.a"]


def test_no_module_below_the_api_imports_the_facade() -> None:
    """``KanInrError`` and ``__version__`` have homes of their own (errors.py, _version.py): a module
    below the public API that imports a name from ``kan_inr/__init__`` (not a submodule) would load
    the facade, and with it every lazily exported layer."""
    layers, mods = layer_order(), modules()
    offenders = []
    for module, path in mods.items():
        if module == "kan_inr" or layers[top(module)] >= layers["api"]:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "kan_inr" and not node.level:
                offenders += [f"{module}:{node.lineno} {a.name}" for a in node.names if f"kan_inr.{a.name}" not in mods]
            if isinstance(node, ast.Import) and any(a.name == "kan_inr" for a in node.names):
                offenders.append(f"{module}:{node.lineno} import kan_inr")
    assert not offenders, "modules importing the facade: " + ", ".join(offenders)


def test_no_module_refers_to_the_development_folders() -> None:
    """A user's clone has no ``../shared`` (benchmark data, design notes): no module may send a reader there."""
    for name, path in modules().items():
        text = path.read_text()
        for pattern in ("../shared", "shared/docs", "shared/data", "benchmarks.md", "reference-models.md"):
            assert pattern not in text, (name, pattern)


def test_a_recipe_loads_no_model_family() -> None:
    """``Recipe`` is plain data: reading one (the codec's sizing, the comparison's protocols) imports no
    model family, nor torch."""
    code = "import sys, kan_inr.recipe; print(sorted(m for m in sys.modules if m.startswith(('kan_inr.models', 'torch'))))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=PACKAGE.parent).stdout.strip()  # this checkout's kan_inr
    assert loaded == "[]"


def test_no_module_reaches_a_recipe_through_the_models_package() -> None:
    """Outside ``models``, ``Recipe`` and ``RECIPES`` are imported from ``kan_inr.recipe``, not from a module
    that imports every family to hand them on."""
    offenders = []
    for module, path in modules().items():
        if module.startswith("kan_inr.models"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("kan_inr.models"):
                offenders += [f"{module}:{node.lineno}" for a in node.names if a.name in ("Recipe", "RECIPES")]
            if isinstance(node, ast.Attribute) and node.attr in ("Recipe", "RECIPES") \
                    and isinstance(node.value, ast.Name) and node.value.id in ("models", "registry"):
                offenders.append(f"{module}:{node.lineno}")
    assert not offenders, "Recipe read through kan_inr.models: " + ", ".join(offenders)


def test_the_models_package_only_re_exports() -> None:
    """``models/__init__.py`` holds no logic: its docstring, imports, and an ``__all__`` naming exactly what
    it imports (the registry, the preset table and the families live in their own modules)."""
    tree = ast.parse((PACKAGE / "models" / "__init__.py").read_text())
    imported, listed = set(), None
    for i, node in enumerate(tree.body):
        if i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.ImportFrom):
            imported |= {a.asname or a.name for a in node.names if node.module != "__future__"}
        elif isinstance(node, ast.Assign) and [t.id for t in node.targets if isinstance(t, ast.Name)] == ["__all__"]:
            listed = set(ast.literal_eval(node.value))
        else:
            raise AssertionError(f"models/__init__.py:{node.lineno} is not a re-export: {ast.dump(node)[:80]}")
    assert listed == imported

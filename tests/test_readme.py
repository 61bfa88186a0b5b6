"""README.md keeps its promises: at most 300 lines, every Python block and every `kan-inr` command on a
bundled file runs, every number comes from a benchmark file, and benchmarks/README.md is generated."""

from __future__ import annotations

import re
import shlex
import shutil
import sys
import types
from pathlib import Path

import pytest

import kan_inr
import records
from conftest import run_cli

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

# The README's commands and examples train for a preset's whole recipe: minutes on a CPU. These tests
# check that each runs as written, end to end, not how good its fit is, so every fit is cut to two
# steps on the CPU (a study: two trials of two epochs), an image to 32 px and a clip to 0.1 s; renders then
# stay small as well.
FIT_LENGTH = ("--steps", "--epochs", "--seconds", "--trials")
SHORT = {"fit": ["--steps", "2", "--device", "cpu", "-q"], "compress": ["--steps", "2", "--device", "cpu", "-q"],
         "tune": ["--trials", "2", "--epochs", "2", "--device", "cpu", "-q"],
         "render": ["--device", "cpu"], "decompress": ["--device", "cpu"]}
SMALL_INPUT = {".png": ["--resize", "32"], ".wav": ["--duration", "0.1"]}


def fenced(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def readme_commands() -> list[list[str]]:
    """The arguments of every `kan-inr` line of the README's bash blocks, comments dropped."""
    lines = "\n".join(fenced("bash")).replace("\\\n", " ").splitlines()
    return [args[1:] for args in map(lambda line: shlex.split(line, comments=True), lines) if args[:1] == ["kan-inr"]]


def shortened(args: list[str]) -> list[str]:
    """``args`` with the fit length replaced by two CPU steps and the bundled input made small (SHORT)."""
    out, i = [], 0
    while i < len(args):
        if args[i] in FIT_LENGTH + ("--duration",):
            i += 2
            continue
        out.append(args[i])
        i += 1
    extra = list(SHORT.get(args[0], []))
    if args[0] in ("fit", "compress", "tune"):
        extra += next((v for a in args if a.startswith("data/") for k, v in SMALL_INPUT.items() if a.endswith(k)), [])
    return out + extra


def on_bundled_file(args: list[str], cwd: Path) -> bool:
    """A command reads a bundled file (data/...) or what such a command wrote before it."""
    operands = [a for a in args[1:] if not a.startswith("-")]
    return any(a.startswith("data/") or ("/" in a or "." in a) and (cwd / a).exists() for a in operands)


def test_readme_is_short():
    assert len(README.read_text().splitlines()) <= 300


def test_readme_commands_on_bundled_files_run(tmp_path, capsys, monkeypatch):
    shutil.copytree(REPO / "data", tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    ran = []
    for args in readme_commands():
        if not on_bundled_file(args, tmp_path):
            continue
        for operand in (a for a in args if a.startswith("data/")):
            assert (tmp_path / operand).exists(), f"README names {operand}, which is not bundled"
        code, out, err = run_cli(shortened(args), capsys, monkeypatch)
        assert code == 0, f"kan-inr {shlex.join(args)}: {err}"
        ran.append(args[0])
    # The demo's chain (fit, render, inspect), audio, and compression round trip are all on bundled files.
    assert {"fit", "render", "inspect", "models", "compress", "decompress", "tune"} <= set(ran), ran
    assert (tmp_path / "outputs" / "astronaut-fkan" / "config.json").is_file()


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    blocks = fenced("python")
    assert blocks
    shutil.copytree(REPO / "data", tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    real_fit = kan_inr.fit

    def short_fit(signal, *args, **kwargs):  # as SHORT above: two CPU steps on a 32 px image
        kwargs.update(steps=2, epochs=None, max_seconds=None, device="cpu", progress=False)
        if str(signal).endswith(".png"):
            kwargs["resize"] = 32
        return real_fit(signal, *args, **kwargs)

    monkeypatch.setattr(kan_inr, "fit", short_fit)
    module = types.ModuleType("readme")  # a module, as a script is: dataclasses look theirs up
    monkeypatch.setitem(sys.modules, "readme", module)
    for block in blocks:
        exec(compile(block, "README.md", "exec"), module.__dict__)
    assert (tmp_path / "outputs" / "astronaut-fkan" / "config.json").is_file()


def test_readme_shows_no_superseded_benchmark():
    shown = {m["name"] for m in records.BLOCK.finditer(README.read_text())}
    assert not shown & set(records.SUPERSEDED)


def test_readme_pictures_exist():
    for target in re.findall(r"!\[[^]]*\]\(([^)]+)\)", README.read_text()):
        assert (REPO / target).is_file(), target


def test_benchmarks_readme_is_generated():
    assert records.check_benchmarks_readme() == [], "run python scripts/sync_readme.py"


@pytest.mark.parametrize("name", sorted(records.SUPERSEDED))
def test_superseded_benchmarks_exist(name):
    """A superseded entry names a committed file (a typo would silently list nothing as older)."""
    assert (records.BENCH_DIR / f"{name}.json").is_file()


def test_readme_paths_exist():
    """Every repository path the README names in backticks (a file or folder; run outputs aside) exists."""
    named = set(re.findall(r"`((?:kan_inr|scripts|examples|benchmarks|data|tests)/[\w./-]*)`", README.read_text()))
    assert "kan_inr/models/layers.py" in named
    assert [p for p in sorted(named) if not (REPO / p).exists()] == []


def test_readme_says_where_the_kan_layers_live():
    assert {kan_inr.FourierKAN.__module__, kan_inr.ChebyshevKAN.__module__, kan_inr.BSplineKAN.__module__} \
        == {"kan_inr.models.layers"}
    assert "layers: `kan_inr/models/layers.py`" in README.read_text()


def test_readme_names_the_pinned_torch():
    (pin,) = re.findall(r"^torch==([\d.]+)$", (REPO / "constraints.txt").read_text(), re.M)
    text = " ".join(README.read_text().split())
    assert f"the versions the tests ran with (torch {pin})" in text and f"first install torch {pin}" in text


def test_readme_says_how_the_demo_render_compares_with_bicubic():
    """The demo's picture is described as its benchmark file measured it: above or below bicubic."""
    rows = {r["method"]: r for r in records.load("superres-demo")["results"]}
    model = next(iter(rows))
    side = "above" if rows[model]["psnr"] > rows["bicubic"]["psnr"] else "below"
    assert f"{model}'s render scores {side} bicubic" in " ".join(README.read_text().split())

"""README.md keeps its promises: at most 300 lines (its demo measured too), every Python block and every
`kan-inr` command on a bundled file runs, every number comes from a benchmark file recorded at a commit of
this history or from the code (checked against it), and benchmarks/README.md is generated."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

import kan_inr
import records
from kan_inr import models
from kan_inr.config import BF16_SWITCH_MARGIN_DB
from conftest import load_script, run_cli

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
    """Every repository path the README names in backticks (a file or folder; run outputs aside, and the
    record a block still to be measured names) exists."""
    text = README.read_text()
    for name in records.not_measured_blocks():
        text = text.replace(records.not_measured(name), "")
    named = set(re.findall(r"`((?:kan_inr|scripts|examples|benchmarks|data|tests)/[\w./-]*)`", text))
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


def prose() -> str:
    """The README's own words, whitespace joined (what a test reads a claim from)."""
    return " ".join(README.read_text().split())


def test_readme_fits_in_300_lines_once_its_demo_is_measured():
    """The demo block holds one line until scripts/demo_record.py has run; measured, it must still fit."""
    demo = load_script("demo_record")
    rows = [{"method": m, "psnr": 25.0, "ssim": 0.8} for m in ("fkan", "bicubic", "lanczos")]
    filled = len(demo.markdown("outputs/astronaut-fkan: psnr 30.0", rows, "r").splitlines()) + 2  # + provenance
    measured = (records.BENCH_DIR / "demo.json").exists()  # then the README holds the filled block already
    lines = len(README.read_text().splitlines())
    assert lines <= 300 and (measured or lines - 1 + filled <= 300), lines


def test_every_readme_figure_is_at_a_named_commit():
    """Each measured README block names a commit that holds the code that measured it."""
    assert records.unreproducible_blocks() == []


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)


@pytest.mark.skipif(git("rev-parse", "HEAD").returncode != 0, reason="not a git checkout")
@pytest.mark.parametrize("path", sorted(records.BENCH_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_a_benchmark_records_commits_are_in_this_history(path):
    """The commit a record ran at, and the one holding its code, are commits of this history: a record
    made on a branch never merged, or typed by hand, names none."""
    data = json.loads(path.read_text())
    for key in ("commit", "code_commit"):
        if data.get(key):
            assert git("merge-base", "--is-ancestor", data[key], "HEAD").returncode == 0, (key, data[key])


def test_the_demo_picture_is_the_demo_records():
    """Once benchmarks/demo.json exists, benchmarks/demo-2x.png is the picture that run wrote."""
    if not (records.BENCH_DIR / "demo.json").exists():
        assert "demo-2x.png" not in README.read_text()  # no picture shown before the demo is measured
        return
    results = records.load("demo")["results"]
    picture = REPO / results["picture"]
    assert hashlib.sha256(picture.read_bytes()).hexdigest() == results["picture_sha256"]


def test_readme_parameter_counts_are_the_codes():
    fkan = next(r for r in kan_inr.presets() if r["name"] == "fkan")
    assert fkan["shape"] == [512, 512] and fkan["paper_params"] == 436_367 - 12  # 3 unused scalars in 4 blocks
    assert f"fkan at 512 px: {fkan['params']:,} and {fkan['paper_params']:,}, the FKAN notebook's 436,367" in prose()


def test_readme_names_the_torch_floor_of_pyproject():
    import tomllib

    (spec,) = [d for d in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
               if d.startswith("torch>=")]
    assert f"any torch >= {spec.split('>=')[1].split(',')[0].strip()}" in README.read_text()


def test_readme_precision_numbers_are_the_records_and_the_recipes():
    """The precision bullet's ceilings are the recipes' bf16_ceiling and the ceiling record's bf16 fits; its
    switch margin is BF16_SWITCH_MARGIN_DB; its step ratios are the budget records' (auto / fp32 steps)."""
    rows = {r["model"]: r["runs"] for r in records.load("precision-ceiling")["results"]["rows"]}
    stalled = {m: round(runs["bf16"]["best_grid"], 1) for m, runs in rows.items()
               if runs["fp32"]["grid"] - runs["bf16"]["best_grid"] > 1.0}
    assert set(stalled) == {"siren", "fkan", "sl2a"}  # each default's bf16 fit stalls below its fp32 fit
    assert {m: models.preset(m).recipe.bf16_ceiling for m in stalled} == stalled
    assert f"SIREN {stalled['siren']:.1f} dB, fkan {stalled['fkan']:.1f}, sl2a {stalled['sl2a']:.1f}" in prose()
    assert f"from the first evaluation {BF16_SWITCH_MARGIN_DB:g} dB below it" in prose()
    ratios: dict[str, list[float]] = {}
    for name in ("precision-budget-siren", "precision-budget-kan"):
        for row in records.load(name)["results"]["rows"]:
            runs = row["runs"]
            ratios.setdefault(row["model"], []).append(runs["auto"]["steps"] / runs["fp32"]["steps"])
    shown = {m: f"{min(r):.2f}-{max(r):.2f}x" if len(r) > 1 else f"{r[0]:.2f}x" for m, r in ratios.items()}
    assert f"SIREN {shown['siren']} the steps of fp32, sl2a {shown['sl2a']}, fkan {shown['fkan']}" in prose()
    assert not any(models.preset(m, "audio").recipe.bf16_ceiling for m in ("siren", "fkan", "sl2a"))
    assert "audio runs fp32" in prose()


def test_bf16_keeps_in_fp32_the_layers_the_readme_names():
    """In a bf16 step the output layers of fkan, sl2a, SIREN and FINER and SIREN's and FINER's first layers
    compute in fp32; the KAN first layers (Fourier-KAN, Chebyshev) in bf16."""
    assert ("bf16 leaves in fp32 the output layers of fkan, sl2a, SIREN and FINER and the first layers of SIREN "
            "and FINER (`exact_linear`), not the KAN first layers") in prose()
    coords = torch.rand(8, 2) * 2 - 1  # (N, 2)
    first = {"fkan": "kan", "sl2a": "kan", "siren": "body.0", "finer": "body.0"}
    for name, layer in first.items():
        preset = models.preset(name)
        model = models.build(preset.family, 2, 3, preset.config_for((32, 32)))
        seen = {}
        model.get_submodule(layer).register_forward_hook(lambda m, a, out: seen.update(first=out.dtype))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(coords)  # (N, 3)
        kan = name in ("fkan", "sl2a")
        assert out.dtype == torch.float32 and seen["first"] == (torch.bfloat16 if kan else torch.float32), name


def two_x(markdown: str) -> dict[str, float]:
    """Mean 2x PSNR per method of a comparison's "Super-resolution" table: method -> dB."""
    table = markdown.split("### Super-resolution")[1].split("\n\n")[2]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:]]
    return {row[0]: float(row[2].split()[0]) for row in cells}


def grid_psnr(markdown: str) -> dict[str, float]:
    """Mean grid PSNR per model of a comparison's first table: model -> dB."""
    table = next(block for block in markdown.split("\n\n") if block.startswith("| model | params"))
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in table.splitlines()[2:]]
    return {row[0]: float(row[4].split()[0]) for row in cells}


def test_readme_verdict_is_compare_ttq():
    """The verdict's leader, its grid scores and which 2x renders reach bicubic (and Lanczos): compare-ttq's
    tables, and the recipes bullet names the same models."""
    markdown = records.load("compare-ttq")["markdown"]
    scores, grid = two_x(markdown), grid_psnr(markdown)
    assert set(grid) == {"siren", "fkan", "sl2a"} and max(grid, key=grid.get) == "siren"
    reached = {m for m in grid if scores[m] >= scores["bicubic"]}
    assert reached == {"siren", "fkan"} and not any(scores[m] >= scores["lanczos"] for m in grid), scores
    assert (f"**siren** leads on the grid ({grid['siren']:.2f} dB; sl2a {grid['sl2a']:.2f}, fkan {grid['fkan']:.2f}); "
            f"at 2x siren ({scores['siren']:.2f} dB) and fkan ({scores['fkan']:.2f}) reach bicubic "
            f"({scores['bicubic']:.2f}) and none reaches Lanczos ({scores['lanczos']:.2f})") in prose()
    assert "between the samples siren's and fkan's reach bicubic" in prose()


def test_readme_says_the_length_is_tuned_under_epochs_only():
    from kan_inr.tuning import spaces

    space = spaces.search_space("siren", "image")
    assert "epochs" in spaces.within_budget(space, 30.0, None).params
    assert "epochs" not in spaces.within_budget(space, None, 30.0).params
    assert "and under `--epochs` the length: under `--seconds` the clock is the length" in prose()

"""Budgets users think in (epochs, seconds) and the two recipe families (default, paper): issue 18."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import kan_inr
from kan_inr import jobs, models, runs, step
from kan_inr.comparison.report import time_to_quality
from kan_inr.config import EVALS_PER_CURVE, FULL_BATCH, MAX_STEPS, TrainConfig, batch_size, epoch_steps, with_length
from kan_inr.errors import KanInrError
from kan_inr.logging import NullLog
from conftest import run_cli

TINY = {"hidden_dim": 8, "hidden_layers": 1}


@pytest.fixture(autouse=True)
def quiet_runs(monkeypatch):
    monkeypatch.setattr(jobs, "RunLog", lambda *a, **k: NullLog())


STEP_S = 1 / 64  # a training step's time on the fake clock: a binary fraction, so sums of it are exact


@pytest.fixture
def step_clock(monkeypatch):
    """A clock that moves only inside a training step, by STEP_S each: a time budget then ends after an
    exact number of steps, whatever the machine's speed or load (no wall time is measured)."""
    now = [0.0]
    real_train = step.ModelStep.train

    def timed_train(self, *args, **kwargs):
        now[0] += STEP_S
        return real_train(self, *args, **kwargs)

    monkeypatch.setattr(step.ModelStep, "train", timed_train)
    monkeypatch.setattr(time, "perf_counter", lambda: now[0])


def test_epochs_count_passes_over_the_samples() -> None:
    assert epoch_steps(3, 144, 576) == 12  # 4 batches an epoch
    assert epoch_steps(2.5, 100, 576) == 13  # 5 batches an epoch (remainder dropped), 12.5 rounded up
    assert epoch_steps(7, FULL_BATCH, 576) == 7  # full batch: one step an epoch
    assert with_length(TrainConfig(epochs=3, batch=144), 576).steps == 12
    with pytest.raises(KanInrError, match="epochs must be positive"):
        TrainConfig(epochs=0)


def test_fit_epochs_and_seconds(image_file: Path, tmp_path: Path, step_clock) -> None:
    run = kan_inr.fit(image_file, "siren", epochs=3, batch=144, box=0, model_config=TINY, device="cpu",
                      progress=False)
    assert run.metrics["steps"] == 12 and run.config["train"]["epochs"] == 3
    with pytest.raises(KanInrError, match="steps or as epochs, not both"):
        kan_inr.fit(image_file, "siren", steps=5, epochs=1, model_config=TINY, device="cpu", progress=False)
    run = kan_inr.fit(image_file, "siren", max_seconds=1.0, model_config=TINY, device="cpu", progress=False)
    train = run.config["train"]
    assert train["steps"] == MAX_STEPS and train["max_seconds"] == 1.0  # the clock ends the schedule
    # the clock stops the fit at the first step that reaches it: 1 s of 1/64 s steps is 64 steps
    assert run.metrics["steps"] == 64 < MAX_STEPS and run.metrics["train_s"] == 1.0
    # evaluations spread over the budget, not one per eval_every steps
    assert 5 <= len(run.history) <= EVALS_PER_CURVE + 1, len(run.history)


def test_recipe_paper_is_the_published_network_and_settings(image_file: Path) -> None:
    default = kan_inr.fit(image_file, "fkan", steps=1, device="cpu", progress=False,
                          model_config={"hidden_dim": 8, "block_dims": (8,)})
    paper = kan_inr.fit(image_file, "fkan", recipe="paper", steps=1, device="cpu", progress=False,
                        model_config={"hidden_dim": 8, "block_dims": (8,)})
    assert default.config["train"]["recipe"] == "default" and paper.config["train"]["recipe"] == "paper"
    assert paper.config["model"]["config"]["grid_size"] == 270  # the paper's K, above this grid's Nyquist limit
    assert default.config["model"]["config"]["grid_size"] < 270  # the default caps it for the grid
    assert paper.config["train"]["box"] == 0 and paper.config["train"]["lr"] == 1e-4
    assert paper.config["train"]["batch"] == 4096  # its epochs gave way to the steps given
    assert models.preset("fkan").recipe_for("paper").epochs == 500
    with pytest.raises(KanInrError, match="unknown recipe"):
        kan_inr.fit(image_file, "fkan", recipe="fastest", steps=1, device="cpu", progress=False)


def test_paper_recipe_length_from_epochs(image_file: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    code, out, err = run_cli(["fit", image_file, "--model", "siren", "--recipe", "paper", "--set", "hidden_dim=8",
                              "--set", "hidden_layers=1", "--device", "cpu", "-q", "--epochs", "4",
                              "--outputs", tmp_path], capsys, monkeypatch)
    assert code == 0, err
    config = json.loads((tmp_path / "tiny-siren" / runs.CONFIG).read_text())
    assert config["train"]["recipe"] == "paper" and config["train"]["steps"] == 4  # full batch: a step an epoch
    assert config["train"]["schedule"] == "constant" and config["train"]["target_range"] == [-1.0, 1.0]


def test_models_table_states_lengths_and_pixels(capsys, monkeypatch) -> None:
    code, out, _ = run_cli(["models"], capsys, monkeypatch)
    assert code == 0
    line = next(row for row in out.splitlines() if row.lstrip("│ ").startswith("fkan "))
    assert ("epochs" in line or "steps" in line) and ("box" in line or "point" in line), line
    rows = kan_inr.presets()
    fkan = next(r for r in rows if r["name"] == "fkan")
    assert fkan["paper_recipe"] == "500 epochs"


def test_time_to_quality_reads_the_mean_curve() -> None:
    def result(model: str, points: list[tuple[float, float]]) -> SimpleNamespace:
        return SimpleNamespace(run=SimpleNamespace(model=model), history=[{"time_s": t, "psnr": p} for t, p in points])

    rows = time_to_quality([result("a", [(0, 20), (10, 40)]), result("a", [(0, 20), (10, 30)]),
                            result("b", [(0, 10), (10, 20)])], "psnr")
    table = [r for r in rows if r.startswith("| a") or r.startswith("| b")]
    a, b = (r.split("|")[2:5] for r in table)
    # a's mean curve: 20 -> 35 over 10 s, linear between the evaluations: 30 dB at 6.67 s, 35 at 10 s
    assert [c.strip() for c in a] == ["6.7", "10.0", "never"]
    assert [c.strip() for c in b] == ["never", "never", "never"]


@pytest.mark.parametrize("how", ["flag", "toml"])
def test_cli_seconds_from_the_flag_or_the_config_file(how: str, image_file: Path, tmp_path: Path, capsys,
                                                      monkeypatch, step_clock) -> None:
    toml = tmp_path / "options.toml"
    toml.write_text("seconds = 0.5\n")
    length = ["--seconds", "0.5"] if how == "flag" else ["--config", toml]
    code, out, err = run_cli(["fit", image_file, "--model", "siren", "--set", "hidden_dim=8", "--set",
                              "hidden_layers=1", "--device", "cpu", "-q", *length, "--outputs", tmp_path / "out"],
                             capsys, monkeypatch)
    assert code == 0, err
    config = json.loads((tmp_path / "out" / "tiny-siren" / runs.CONFIG).read_text())
    assert config["train"]["max_seconds"] == 0.5 and config["train"]["steps"] == MAX_STEPS
    metrics = json.loads((tmp_path / "out" / "tiny-siren" / runs.METRICS).read_text())
    assert metrics["steps"] == 32 < MAX_STEPS and metrics["train_s"] == 0.5  # 0.5 s of 1/64 s steps (step_clock)


def test_one_value_means_full_batch(image_file: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    """A batch of 0 (FULL_BATCH) is the whole signal on the command line, in a TOML file, in the API and in
    a recipe, and the run records it as 0 (older runs: test_safe_load)."""
    assert batch_size(FULL_BATCH, 576) == batch_size(10**6, 576) == 576 and batch_size(100, 576) == 100
    (tmp_path / "full.toml").write_text("batch = 0\n")
    for options in (["--batch", "0"], ["--config", tmp_path / "full.toml"]):
        code, _, err = run_cli(["fit", image_file, "--model", "ffn", "--set", "hidden_dim=8", "--steps", "1",
                                "--device", "cpu", "-q", "--outputs", tmp_path, "--overwrite", *options],
                               capsys, monkeypatch)
        assert code == 0, err
        run = tmp_path / f"{image_file.stem}-ffn"
        assert json.loads((run / "config.json").read_text())["train"]["batch"] == FULL_BATCH
        assert json.loads((run / "metrics.json").read_text())["batch"] == 24 * 24
    assert models.preset("ffn").recipe.batch == FULL_BATCH  # Tancik's recipe: the full batch
    run = kan_inr.fit(image_file, "siren", steps=1, batch=FULL_BATCH, model_config={"hidden_dim": 8},
                      device="cpu", progress=False)
    assert run.metrics["batch"] == 24 * 24

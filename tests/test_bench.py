"""scripts/bench.py at tiny sizes: rows have the protocol's fields, naive references equal ours, JSON is written."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from kan_inr.models.layers import FourierKAN
from conftest import load_script



@pytest.fixture(scope="module")
def bench():
    return load_script("bench")


def test_model_row_has_speed_and_memory(bench):
    row = bench.measure_step(torch.nn.Linear(2, 3), 64, torch.device("cpu"), "fp32", "off", budget_s=0.01)
    assert row["samples"] == 64 and row["compile"] == "eager" and row["timed_steps"] >= 1
    assert row["samples_per_s"] == pytest.approx(64 * row["steps_per_s"])
    assert row["peak_mb"] > 0 and row["memory_method"]


def test_naive_fourier_kan_reference_equals_ours_and_costs_more_memory(bench):
    torch.manual_seed(0)
    ours = FourierKAN(2, 16, 32)
    row = bench.compare("fkan-layer", ours, bench.NaiveFourierKAN(ours), 512, 2, 16, torch.device("cpu"),
                        budget_s=0.01, targets={"max_abs_diff": 1e-4})
    assert row["max_abs_diff"] < 1e-4 and row["pass"]
    # the naive form materialises (N, out, in, K) = 512 * 16 * 2 * 32 floats = 2 MiB at least
    assert row["naive_mb"] > 2.0 > row["ours_mb"] and row["memory_ratio"] == row["naive_mb"] / row["ours_mb"]


def test_command_writes_json_and_refuses_bad_batches(bench, tmp_path):
    app = bench.typer.Typer()
    app.command()(bench.main)
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(app, ["--device", "cpu", "--models", "siren", "--batches", "32", "--seconds", "0.01",
                                      "--no-references", "--json", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    (row,) = data["models"]
    assert row["model"] == "siren" and row["params"] == 245_511 and row["batch"] == 32 and "error" not in row
    assert data["env"]["torch"] == torch.__version__ and data["references"] == []
    assert "siren" in result.output  # the rich table
    bad = CliRunner().invoke(app, ["--device", "cpu", "--batches", "0", "--no-references"])
    assert bad.exit_code != 0 and "batch sizes are integers" in bad.output


def test_record_writes_the_readme_tables_with_provenance(bench, tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "BENCH_DIR", tmp_path)
    app = bench.typer.Typer()
    app.command()(bench.main)
    result = CliRunner().invoke(app, ["--device", "cpu", "--models", "siren", "--batches", "32", "--seconds", "0.01",
                                      "--no-references", "--record", "bench-test"])
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "bench-test.json").read_text())
    (row,) = data["results"]["models"]
    assert data["markdown"] == bench.markdown(data["results"]) + "\n" and data["torch"] == torch.__version__
    assert f"| siren | 245,511 | 32 | fp32 | eager | {row['step_ms']:.1f} |" in data["markdown"]
    bad = CliRunner().invoke(app, ["--device", "cpu", "--no-references", "--record", "../x"])
    assert bad.exit_code != 0 and not (tmp_path.parent / "x.json").exists()


def test_markdown_says_whether_the_fkan_step_targets_are_met(bench):
    row = {"reference": "fkan-network", "batch": 4096, "speedup": 7.3, "memory_ratio": 12.5, "ours_ms": 10.0,
           "naive_ms": 72.5, "ours_mb": 8.0, "naive_mb": 100.0, "max_abs_diff": 1e-7,
           "targets": {"speedup": 10.0, "memory_ratio": 10.0}, "pass": False}
    text = bench.markdown({"references": [row], "models": [], "memory_method": "m"})
    assert "| whole FKAN training step, our first layer vs the notebook's | 4,096 | 7.3x | 12.5x | 10.0 / 72.5 |" in text
    assert ("7.3x faster (target >= 10x: **not met**), 12.5x less peak memory (target >= 10x: met)" in text)

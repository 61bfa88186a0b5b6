"""Plug-in models: fit, render and resume in new processes, consent before a run imports code, entry points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import kan_inr
from kan_inr import KanInrError, jobs, plugins, runs
from kan_inr.signals import image
from conftest import constant_psnr, run_cli

KAN_INR = [sys.executable, "-m", "kan_inr.cli"]

# A plug-in file: a sinc-activation INR; importing it leaves a marker file beside it.
PLUGIN = '''
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

(Path(__file__).parent / "imported.marker").touch()


@dataclass(frozen=True)
class SincConfig:
    hidden_dim: int = 16
    omega: float = 10.0


class SincINR(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, cfg: SincConfig) -> None:
        super().__init__()
        self.hidden, self.out, self.omega = nn.Linear(in_dim, cfg.hidden_dim), nn.Linear(cfg.hidden_dim, out_dim), cfg.omega

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        return self.out(torch.sinc(self.omega * self.hidden(coords) / torch.pi))  # (N, out_dim)
'''
TRAIN = ["--steps", "500", "--lr", "0.1", "--batch", "0", "--device", "cpu", "-q"]  # 21.7 dB: 8.4 above the best constant


def kan_inr_cli(*args, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`kan-inr ARGS` in a new process."""
    return subprocess.run([*KAN_INR, *map(str, args)], capture_output=True, text=True, timeout=240,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def plugin_file(tmp_path: Path) -> Path:
    folder = tmp_path / "plug"
    folder.mkdir()
    path = folder / "sinc_inr.py"
    path.write_text(PLUGIN)
    return path


@pytest.mark.slow  # 8 s: new processes; plug-in fits are held by the tests below, resume by test_resume.py
def test_plugin_fits_and_resumes_in_new_processes(image_file, plugin_file, tmp_path):
    spec = f"{plugin_file}:SincINR"
    done = kan_inr_cli("fit", image_file, "--model", spec, *TRAIN, "--outputs", tmp_path / "o", "--json")
    assert done.returncode == 0, done.stderr
    metrics = json.loads(done.stdout)
    run_dir = Path(metrics["run_dir"])
    assert run_dir.name == "tiny-SincINR" and metrics["final_psnr"] > constant_psnr(image_file) + 5, metrics
    config = json.loads((run_dir / runs.CONFIG).read_text())
    assert config["model"]["family"] == spec and config["model"]["config_class"] == f"{plugin_file}:SincConfig"
    assert config["model"]["config"] == {"hidden_dim": 16, "omega": 10.0}

    # a run stopped before its first checkpoint, resumed by a new process, equals an uninterrupted fit
    options = dict(steps=30, lr=1e-2, batch=10**9, device="cpu", seed=0)
    reference = kan_inr.fit(image_file, spec, progress=False, **options)
    job = jobs.start_run(image_file, spec, outputs=tmp_path / "o", name="stopped", console=False, **options)
    job.writer.close()
    resumed = kan_inr_cli("fit", "--resume", job.writer.run_dir, "-q", "--allow-code")
    assert resumed.returncode == 0, resumed.stderr
    after = kan_inr.load(job.writer.run_dir)
    assert after.status == "complete"
    assert all(torch.equal(a, b) for a, b in zip(reference.model.state_dict().values(),
                                                  after.model.state_dict().values()))


def test_run_imports_no_plugin_without_consent(image_file, plugin_file, tmp_path):
    run = kan_inr.fit(image_file, f"{plugin_file}:SincINR", steps=2, device="cpu", progress=False,
                      outputs=tmp_path / "o")
    marker = plugin_file.parent / "imported.marker"
    marker.unlink()
    probe = ("import kan_inr, sys\ntry:\n    kan_inr.load(sys.argv[1])\nexcept kan_inr.KanInrError as e:\n"
             "    print(e)\n")
    loaded = subprocess.run([sys.executable, "-c", probe, str(run.run_dir)], capture_output=True, text=True, timeout=240)
    assert "pass --allow-code" in loaded.stdout and not marker.exists()
    refused = kan_inr_cli("render", run.run_dir)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "--allow-code" in refused.stderr and not marker.exists()
    allowed = kan_inr_cli("render", run.run_dir, "--scale", "2", "--allow-code")  # renders in a new process
    assert allowed.returncode == 0 and marker.exists(), allowed.stderr
    assert image.read_array(Path(allowed.stdout.strip())).shape == (48, 48, 3)


def test_missing_plugin_module_is_one_line(image_file, plugin_file, tmp_path, capsys, monkeypatch):
    run = kan_inr.fit(image_file, f"{plugin_file}:SincINR", steps=2, device="cpu", progress=False,
                      outputs=tmp_path / "o")
    config_path = run.run_dir / runs.CONFIG
    config = json.loads(config_path.read_text())
    config["model"]["family"] = str(tmp_path / "gone" / "sinc_inr.py") + ":SincINR"
    config_path.write_text(json.dumps(config))
    code, out, err = run_cli(["render", run.run_dir, "--allow-code"], capsys, monkeypatch)
    assert code == 2 and err.count("\n") == 1 and "gone/sinc_inr.py is not there" in err
    config["model"]["family"] = "no_such_package.models:SincINR"
    config_path.write_text(json.dumps(config))
    with pytest.raises(KanInrError, match="plug-in module 'no_such_package.models' cannot be imported"):
        kan_inr.load(run.run_dir, allow_code=True)


def test_installed_entry_point_adds_presets_and_needs_no_consent(image_file, tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "sincpkg").mkdir(parents=True)
    (site / "sincpkg" / "models.py").write_text(PLUGIN.replace("class SincINR", "@register_model(\"tiny-sinc\", recipe="
                                                               "Recipe(lr=1e-2, batch=0, steps=20), paper=\"a test\")\nclass SincINR")
                                                .replace("from torch import nn", "from torch import nn\n\nfrom kan_inr import Recipe, register_model"))
    (site / "sincpkg" / "__init__.py").write_text("")
    dist = site / "sincpkg-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: sincpkg\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[{plugins.GROUP}]\nsincpkg = sincpkg.models\n")
    env = {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    monkeypatch.syspath_prepend(str(site))  # installed for this process too
    monkeypatch.setattr(plugins, "_entry_points_loaded", False)
    monkeypatch.setattr(plugins, "PRESETS", {})
    row = next(r for r in kan_inr.presets(image_file) if r["name"] == "tiny-sinc")
    assert row["family"] == "sincpkg.models:SincINR" and row["steps"] == 20 and row["params"] == 2 * 16 + 16 + 17 * 3
    fitted = kan_inr_cli("fit", image_file, "--model", "tiny-sinc", "--device", "cpu", "-q", "--outputs", tmp_path, env=env)
    assert fitted.returncode == 0, fitted.stderr
    assert json.loads((tmp_path / "tiny-tiny-sinc" / runs.METRICS).read_text())["steps"] == 20  # its recipe
    rendered = kan_inr_cli("render", tmp_path / "tiny-tiny-sinc", env=env)  # installed: no --allow-code needed
    assert rendered.returncode == 0, rendered.stderr


def test_class_plugin_in_compare_and_contract_errors(image_file, tmp_path, plugin_file):
    module = plugins.model_class(f"{plugin_file}:SincINR", from_run=False)
    result = kan_inr.compare([image_file], ["siren", module], 5, outputs=tmp_path, progress=False)
    assert [r["model"] for r in result.rows if r["signal"] == "tiny"] == ["siren", plugins.spec_of(module)]
    assert (result.out_dir / "runs" / "tiny-SincINR" / "weights.pt").is_file()

    class NoConfig(torch.nn.Module):
        def __init__(self, in_dim: int, out_dim: int, cfg: dict) -> None:
            super().__init__()

    with pytest.raises(KanInrError, match="frozen dataclass"):
        kan_inr.fit(image_file, NoConfig, steps=1, progress=False)
    with pytest.raises(KanInrError, match="FILE.py:Class or package.module:Class"):
        kan_inr.fit(image_file, ":SincINR", steps=1, progress=False)
    with pytest.raises(KanInrError, match="has no 'Nope'"):
        kan_inr.fit(image_file, f"{plugin_file}:Nope", steps=1, progress=False)
    assert np.isfinite(kan_inr.fit(image_file, module, steps=2, progress=False).render()).all()

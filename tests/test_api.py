"""The public API: equals the CLI, runs round-trip, array signals, JSON output (the README's examples: test_readme.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import kan_inr
from kan_inr import KanInrError, models
from kan_inr.signals import image
from conftest import run_cli, smooth_image

REPO = Path(__file__).resolve().parents[1]
TINY_CLI = ["--model", "siren", "--set", "hidden_dim=16", "--set", "hidden_layers=1", "--steps", "20",
            "--batch", "64", "--seed", "3", "--device", "cpu", "-q"]
TINY_API = dict(model="siren", model_config={"hidden_dim": 16, "hidden_layers": 1}, steps=20, batch=64, seed=3,
                device="cpu", progress=False)


def test_api_fit_load_render_equals_the_cli(image_file, tmp_path, capsys, monkeypatch):
    code, out, err = run_cli(["fit", image_file, *TINY_CLI, "--outputs", tmp_path / "cli", "--json"], capsys, monkeypatch)
    assert code == 0, err
    printed = json.loads(out)
    cli_run = Path(printed["run_dir"])
    in_memory = kan_inr.fit(image_file, **TINY_API)
    assert in_memory.run_dir is None and in_memory.metrics["final_psnr"] == printed["final_psnr"]
    written = image.read_array(cli_run / "reconstruction.png")  # (24, 24, 3) uint8
    np.testing.assert_array_equal(np.round(in_memory.render() * 255).astype(np.uint8), written)

    on_disk = kan_inr.fit(image_file, outputs=tmp_path / "api", **TINY_API)
    loaded = kan_inr.load(on_disk.run_dir)
    assert loaded.config == json.loads((cli_run / "config.json").read_text())
    untimed = [[{k: v for k, v in row.items() if k != "time_s"} for row in run.history] for run in (loaded, in_memory)]
    assert untimed[0] == untimed[1] and loaded.status == "complete"
    np.testing.assert_array_equal(loaded.render(scale=2), in_memory.render(scale=2))
    code, out, err = run_cli(["render", cli_run, "--size", "30x20", "-o", tmp_path / "cli.png"], capsys, monkeypatch)
    assert code == 0, err
    exported = loaded.export(tmp_path / "api.png", size=(20, 30))
    np.testing.assert_array_equal(image.read_array(exported), image.read_array(tmp_path / "cli.png"))

    saved = kan_inr.load(in_memory.save(tmp_path / "saved"))
    np.testing.assert_array_equal(saved.render(), in_memory.render())
    assert saved.metrics["final_psnr"] == in_memory.metrics["final_psnr"]
    with pytest.raises(KanInrError, match="already exists"):
        in_memory.save(tmp_path / "saved")
    with pytest.raises(KanInrError, match="no folder: give the path"):
        in_memory.export()


def test_array_signals_keep_their_range():
    ramp = (smooth_image(16, 16, 1) * 255).astype(np.float32)[:, :, 0]  # (16, 16) in 0..255
    signal = kan_inr.load_signal(torch.from_numpy(ramp), kind="image", value_range=(0, 255))
    assert signal.shape == (16, 16) and 0 <= signal.values.min() and signal.values.max() <= 1
    run = kan_inr.fit(signal, model="siren", steps=60, lr=1e-3, device="cpu", progress=False,
                      model_config={"hidden_dim": 32, "hidden_layers": 1})
    out = run.render()  # (16, 16, 1) back in 0..255
    assert out.shape == (16, 16, 1) and out.max() <= 255 and out.max() > 100
    assert 20 * np.log10(255 / np.sqrt(np.mean((out[:, :, 0] - ramp) ** 2))) == pytest.approx(
        run.metrics["final_psnr"], abs=0.01)

    clip = np.sin(np.linspace(0, 20, 200, dtype=np.float32))  # (T,) at 1 kHz
    sound = kan_inr.fit(kan_inr.load_signal(clip, kind="audio", sample_rate=1000), model="siren", steps=5,
                        device="cpu", progress=False, model_config={"hidden_dim": 16, "hidden_layers": 1})
    assert sound.render(rate=2000).shape == (400, 1) and np.abs(sound.render()).max() <= 1

    with pytest.raises(KanInrError, match="needs kind="):
        kan_inr.load_signal(ramp)
    with pytest.raises(KanInrError, match="needs sample_rate"):
        kan_inr.load_signal(clip, kind="audio")
    with pytest.raises(KanInrError, match="for arrays only"):
        kan_inr.load_signal("x.png", kind="image")


def test_models_names_are_whole_at_80_columns_and_json(tmp_path):
    env = {**os.environ, "COLUMNS": "80"}
    table = subprocess.run([sys.executable, "-m", "kan_inr.cli", "models"], capture_output=True, text=True,
                           env=env, timeout=240)  # stdout is a pipe
    assert table.returncode == 0, table.stderr
    shown = [line.split("│")[1].strip() for line in table.stdout.splitlines() if line.count("│") > 2]
    assert set(models.PRESETS) <= set(shown)
    assert "bspline-kan" in re.findall(r"[\w-]+", table.stdout)
    rows = json.loads(subprocess.run([sys.executable, "-m", "kan_inr.cli", "models", "--json"], capture_output=True,
                                     text=True, env=env, timeout=240).stdout)
    assert [r["name"] for r in rows][:len(models.PRESETS)] == list(models.PRESETS)
    fkan = models.preset("fkan")  # its default network at 512 x 512 (the paper's has 436,355 parameters)
    assert rows[0]["params"] == models.num_params(models.build("fkan", 2, 3, fkan.config_for((512, 512))))
    assert rows[0]["lr"] == fkan.recipe.lr


def test_compare_json(image_file, tmp_path, capsys, monkeypatch):
    code, out, err = run_cli(["compare", image_file, "--models", "siren", "--steps", "3", "--outputs", tmp_path,
                              "--device", "cpu", "-q", "--json"], capsys, monkeypatch)
    assert code == 0, err
    printed = json.loads(out)
    assert Path(printed["out_dir"]) == tmp_path / "compare-steps3" and printed["fitted"] == ["tiny-siren"]
    assert printed["rows"][0]["model"] == "siren" and printed["rows"][0]["steps"] == 3

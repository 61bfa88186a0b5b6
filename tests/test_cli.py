"""The command line end to end: fit -> run folder -> render, the models table, and one-line errors."""

import json

import numpy as np
import pytest

from kan_inr import models

from kan_inr.signals import image
from conftest import constant_psnr, run_cli, tb_scalars

SMALL = ["--model", "siren", "--set", "hidden_dim=32", "--set", "hidden_layers=1", "--steps", "40",
         "--lr", "3e-3", "--quiet"]  # about 25 dB on the 24x24 test image: 11 dB above the best constant


def test_fit_then_render(image_file, tmp_path, capsys, monkeypatch):
    outputs = tmp_path / "out"
    # one evaluation, at the end (a fit given no cadence is evaluated EVALS_PER_CURVE times: jobs.with_budget)
    code, out, err = run_cli(["fit", image_file, *SMALL, "--eval-every", "40", "--outputs", outputs], capsys,
                             monkeypatch)
    assert code == 0, err
    run = outputs / "tiny-siren"
    assert "psnr" in out and str(run) in out
    assert {"config.json", "weights.pt", "metrics.json", "history.json", "reconstruction.png", "tb"} <= \
        {p.name for p in run.iterdir()}
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["config"]["hidden_dim"] == 32 and config["train"]["steps"] == 40
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["steps"] == 40 and metrics["final_psnr"] > constant_psnr(image_file) + 5, metrics["final_psnr"]
    logged = tb_scalars(run / "tb")  # TensorBoard holds the run's curves, not just a file
    assert logged["eval/psnr"] == {40: pytest.approx(metrics["final_psnr"], rel=1e-6)}
    loss, lr = logged["train/loss"], logged["lr"]
    assert list(loss) == list(lr) == [10, 20, 30, 40] and loss[40] < loss[10] / 2  # it learned
    assert 3e-3 > lr[10] > lr[20] > lr[30] > lr[40] > 0  # the decaying schedule from --lr 3e-3

    moved = tmp_path / "elsewhere" / "run"  # relocatable: render needs nothing but the folder
    moved.parent.mkdir()
    run.rename(moved)
    code, out, err = run_cli(["render", moved, "--scale", "2", "-o", tmp_path / "big.png"], capsys, monkeypatch)
    assert code == 0, err
    assert image.read_array(tmp_path / "big.png").shape == (48, 48, 3)
    code, out, err = run_cli(["render", moved, "--size", "30x20"], capsys, monkeypatch)
    assert code == 0, err
    assert image.read_array(moved / "render-20x30.png").shape == (20, 30, 3)
    # the same-size render reproduces reconstruction.png exactly
    code, out, err = run_cli(["render", moved, "-o", tmp_path / "same.png"], capsys, monkeypatch)
    np.testing.assert_array_equal(image.read_array(tmp_path / "same.png"), image.read_array(moved / "reconstruction.png"))

    code, out, err = run_cli(["fit", image_file, *SMALL, "--outputs", tmp_path / "elsewhere", "--name", "run"],
                             capsys, monkeypatch)
    assert code == 2 and "already exists" in err and "--overwrite" in err
    code, out, err = run_cli(["fit", image_file, *SMALL, "--outputs", tmp_path / "elsewhere", "--name", "run",
                              "--overwrite"], capsys, monkeypatch)
    assert code == 0, err


def test_models_table(capsys, monkeypatch, image_file):
    code, out, _ = run_cli(["models"], capsys, monkeypatch)
    fkan = models.preset("fkan")  # the table shows each preset's default network (fkan's is the study's)
    assert code == 0 and f"{models.num_params(models.build('fkan', 2, 3, fkan.config_for((512, 512)))):,}" in out
    assert "245,511" in out and "198,915" in out  # siren's default (the study's point); its paper network's size
    code, out, _ = run_cli(["models", "--for", image_file], capsys, monkeypatch)
    assert code == 0 and "24x24" in out


def test_config_file(image_file, tmp_path, capsys, monkeypatch):
    cfg = tmp_path / "c.toml"
    cfg.write_text('steps = 5\nlr = 1e-3\n[model]\nhidden_dim = 8\nhidden_layers = 1\n')
    code, _, err = run_cli(["fit", image_file, "--model", "siren", "--config", cfg, "--quiet",
                            "--outputs", tmp_path], capsys, monkeypatch)
    assert code == 0, err
    config = json.loads((tmp_path / "tiny-siren" / "config.json").read_text())
    assert config["train"]["steps"] == 5 and config["model"]["config"]["hidden_dim"] == 8


def _corrupt_run(tmp_path, image_file, capsys, monkeypatch):
    code, _, err = run_cli(["fit", image_file, *SMALL, "--steps", "2", "--outputs", tmp_path], capsys, monkeypatch)
    assert code == 0, err
    run = tmp_path / "tiny-siren"
    (run / "weights.pt").write_bytes(b"garbage")
    return run


@pytest.mark.parametrize("args,message", [
    (["fit", "{tmp}/missing.png"], "no such file"),
    (["fit", "{tmp}/notes.png"], "cannot read image"),
    (["fit", "{tmp}/notes.txt"], "unknown file type"),
    (["fit", "{img}", "--model", "nope"], "unknown model 'nope'"),
    (["fit", "{img}", "--set", "width=3"], "unknown model field 'width'"),
    (["fit", "{img}", "--set", "grid_size"], "expects key=value"),
    (["fit", "{img}", "--set", "grid_size=abc"], "expected a value of type int"),
    (["fit", "{img}", "--steps", "-5"], "steps must be at least 1"),
    (["fit", "{img}", "--lr", "0"], "lr must be positive"),
    (["fit", "{img}", "--steps", "ten"], "Invalid value for '--steps'"),
    (["fit", "{img}", "--resize", "0"], "--resize must be a positive"),
    (["fit", "{img}", "--schedule", "linear"], "unknown schedule"),
    (["fit", "{img}", "--box", "1"], "box must be 0"),
    (["render", "{tmp}"], "not a kan-inr run folder"),
    (["render", "{tmp}/nowhere"], "no such run folder"),
    (["render", "{corrupt}"], "cannot load"),
    (["render", "{corrupt}", "--scale", "-1"], "--scale must be a positive"),
    (["render", "{corrupt}", "--size", "big"], "--size expects WxH"),
])
def test_errors_are_one_line_and_write_nothing(args, message, image_file, tmp_path, capsys, monkeypatch):
    (tmp_path / "notes.png").write_text("not an image")
    (tmp_path / "notes.txt").write_text("not an image")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    if "{corrupt}" in args:
        corrupt = _corrupt_run(corrupt, image_file, capsys, monkeypatch)
    outputs = tmp_path / "outputs"
    args = [a.format(tmp=tmp_path, img=image_file, corrupt=corrupt) for a in args]
    if args[0] == "fit":
        args += ["--outputs", outputs, "--quiet"] + ([] if "--steps" in args else ["--steps", "2"])
    code, out, err = run_cli(args, capsys, monkeypatch)
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not outputs.exists() or not any(outputs.iterdir())


@pytest.mark.parametrize("option", [["--seed", "0"], ["--steps", "5"], ["--set", "hidden_dim=8"]])
def test_resume_refuses_options_of_a_new_fit(option, image_file, tmp_path, capsys, monkeypatch):
    """--resume keeps the run's own options: any fit option given beside it, a zero included, is named."""
    code, _, err = run_cli(["fit", "--resume", tmp_path / "run", *option], capsys, monkeypatch)
    assert code == 2 and err.startswith("kan-inr: error: --resume continues a run with the options it was "
                                        "started with: drop "), err
    assert option[0] in err


def test_a_length_on_the_command_line_replaces_the_config_files(image_file, tmp_path, capsys, monkeypatch):
    cfg = tmp_path / "c.toml"
    cfg.write_text('epochs = 50\nseconds = 30.0\nlr = 1e-3\n[model]\nhidden_dim = 8\nhidden_layers = 1\n')
    code, _, err = run_cli(["fit", image_file, "--model", "siren", "--config", cfg, "--steps", "3", "--quiet",
                            "--outputs", tmp_path], capsys, monkeypatch)
    assert code == 0, err
    train = json.loads((tmp_path / "tiny-siren" / "config.json").read_text())["train"]
    assert (train["steps"], train["epochs"], train["max_seconds"], train["lr"]) == (3, None, None, 1e-3)

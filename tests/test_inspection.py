"""inspection.py (`kan-inr inspect RUN`): the first KAN layer's functions and spectrum as a PNG and in TensorBoard."""

from __future__ import annotations

import imageio.v3 as iio
import pytest
import torch

from kan_inr import jobs
from kan_inr.inspection import edge_functions
from kan_inr.models.layers import FourierKAN
from conftest import run_cli, tb_events


def test_edge_functions_are_the_per_input_sums():
    layer = FourierKAN(2, 3, 5)
    x, phi = edge_functions(layer, points=7)
    assert phi.shape == (7, 2, 3)
    w = layer.weight.detach().view(3, 2, 2, 5)  # (out, in, cos/sin, K)
    k = torch.arange(1, 6, dtype=torch.float32)
    xs = torch.from_numpy(x)[:, None] * k  # (7, K)
    direct = torch.cos(xs) @ w[:, 1, 0].T + torch.sin(xs) @ w[:, 1, 1].T - w[:, 1, 0].sum(dim=1)  # input 1, minus phi(0)
    assert torch.allclose(torch.from_numpy(phi[:, 1]), direct, atol=1e-5)


def test_inspect_writes_png_and_tensorboard_figure(image_file, tmp_path, capsys, monkeypatch, one_thread):
    run, _ = jobs.fit_file(image_file, "fkan", outputs=tmp_path, name="run", console=False, steps=2, device="cpu",
                           model_overrides={"hidden_dim": "8", "block_dims": "(8,)"})
    code, out, err = run_cli(["inspect", run], capsys, monkeypatch)
    assert code == 0, err
    png = run / "inspect.png"
    assert out.strip() == str(png) and png.read_bytes()[:4] == b"\x89PNG"
    (figure,) = tb_events(run / "tb").Images("inspect/first_layer")  # the same figure, in TensorBoard
    height, width = iio.imread(png).shape[:2]
    assert figure.step == 2 and figure.encoded_image_string[:4] == b"\x89PNG"
    assert figure.width / figure.height == pytest.approx(width / height, rel=0.02)


def test_inspect_refuses_a_model_without_kan_layer(image_file, tmp_path, capsys, monkeypatch):
    run, _ = jobs.fit_file(image_file, "siren", outputs=tmp_path, name="s", console=False, steps=1, device="cpu",
                           model_overrides={"hidden_dim": "8"})
    code, _, err = run_cli(["inspect", run], capsys, monkeypatch)
    assert code == 2 and "has no KAN layer" in err and err.count("\n") == 1

"""NeAF: the stacked Fourier-KAN equals its formula written out; its size, init bound and recipe; a short fit."""

import dataclasses
import math

import pytest
import torch

from kan_inr import metrics, models
from kan_inr.errors import KanInrError
from kan_inr.jobs import train_config_for
from kan_inr.models.neaf import NeAF, NeAFConfig
from kan_inr.signals.base import Signal, grid
from kan_inr.training import fit


def naive_layer(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, grid_size: int) -> torch.Tensor:
    """y_o = b_o + sum_i sum_{k=1..K} A_oik cos(k x_i) + B_oik sin(k x_i), broadcast over (N, out, in, K);
    ``weight`` (out, in * 2K) holds [A_oi1..A_oiK, B_oi1..B_oiK] per input i (``layers.FourierKAN``)."""
    n_out = weight.shape[0]
    coeffs = weight.view(n_out, -1, 2, grid_size)  # (out, in, 2, K)
    a, b = coeffs[:, :, 0], coeffs[:, :, 1]  # (out, in, K) each
    k = torch.arange(1, grid_size + 1, dtype=x.dtype)  # (K,)
    kx = x[:, None, :, None] * k  # (N, 1, in, K)
    return (a * torch.cos(kx) + b * torch.sin(kx)).sum(dim=(2, 3)) + bias  # (N, out)


def naive_neaf(model: NeAF, x: torch.Tensor) -> torch.Tensor:
    """The network as NeAF writes it: one Fourier-KAN layer after another, nothing in between."""
    for layer in (*model.body, model.head):
        x = naive_layer(x, layer.weight, layer.bias, layer.grid_size)
    return x


@pytest.mark.parametrize(("in_dim", "out_dim", "cfg"), [
    (1, 1, NeAFConfig()),  # the published network
    (2, 3, NeAFConfig(hidden_dim=6, hidden_layers=2, first_grid=9, hidden_grid=4, out_grid=2)),
])
def test_neaf_equals_the_naive_formula(in_dim: int, out_dim: int, cfg: NeAFConfig) -> None:
    torch.manual_seed(0)
    model = NeAF(in_dim, out_dim, cfg).double()
    for layer in (*model.body, model.head):  # nonzero biases, so the test sees them
        torch.nn.init.normal_(layer.bias, std=0.1)
    x = torch.rand(13, in_dim, dtype=torch.float64) * 2 - 1  # (13, in) on [-1, 1]
    torch.testing.assert_close(model(x), naive_neaf(model, x), rtol=1e-10, atol=1e-10)


def test_published_parameter_count() -> None:
    """131,136 + 3 x 41,024 + 385: NeAF README's "Fourier(1024) 4 x 64, 254K" for a mono clip."""
    assert models.num_params(models.build("neaf", 1, 1, NeAFConfig())) == 254_593
    assert models.num_params(models.build("neaf", 1, 1, models.preset("neaf", "audio").config)) == 254_593


def test_init_bound_is_neafs_uniform_rule() -> None:
    torch.manual_seed(0)
    model = NeAF(1, 1, NeAFConfig())
    for layer in (*model.body, model.head):
        bound = math.sqrt(3 / (layer.out_features * sum(k * k for k in range(1, layer.grid_size + 1))))
        assert NeAF.init_bound(layer.out_features, layer.grid_size) == pytest.approx(bound, rel=1e-12)
        w = layer.weight.abs().max().item()
        assert bound * 0.95 < w <= bound, (layer, w, bound)  # U(-r, r), nearly reaching r (>= 384 draws)
        assert torch.count_nonzero(layer.bias) == 0
    assert math.isclose(NeAF.init_bound(1, 3), math.sqrt(3 / 14))


def test_output_layer_stays_fp32_in_a_bf16_step() -> None:
    model = NeAF(1, 1, NeAFConfig(hidden_dim=8, first_grid=16))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        pred = model(torch.rand(5, 1) * 2 - 1)
    assert pred.dtype == torch.float32


def test_preset_is_neafs_recipe_and_audio_only() -> None:
    """Adam 1e-4 cosine-annealed to lr / 100, 1,000 epochs of 16,384 samples; refused on images."""
    preset = models.preset("neaf", "audio")
    train = train_config_for(preset)
    assert (train.lr, train.schedule, train.lr_decay, train.batch, train.epochs) == (1e-4, "cosine", 0.01, 16_384, 1000)
    assert "neaf" in models.names_for("audio") and "neaf" not in models.names_for("image")
    with pytest.raises(KanInrError, match="neaf is an audio preset"):
        models.preset("neaf", "image")


def test_short_fit_raises_snr() -> None:
    """100 steps of the preset's recipe on 2,000 samples of three sinusoids, with the published first
    layer (K = 1024) and a narrower stack (width 16, for the test's speed): the SNR rises by at least
    25 dB, to at least 20 dB (a constant would score 0 dB)."""
    n = 2000
    t = grid((n,))  # (n, 1) on [-1, 1]
    values = 0.5 * torch.sin(3 * math.pi * t) + 0.3 * torch.sin(11 * math.pi * t + 1) + 0.15 * torch.sin(29 * math.pi * t + 2)
    signal = Signal(values, (n,), "audio", (-1.0, 1.0), {"sample_rate": 8000})
    preset = models.preset("neaf", "audio")
    torch.manual_seed(0)
    model = models.build("neaf", 1, 1, dataclasses.replace(preset.config, hidden_dim=16))
    with torch.no_grad():
        before = metrics.snr(model(signal.coords()), values)
    result = fit(model, signal, train_config_for(preset, steps=100, eval_every=100, device="cpu"))
    after = result.metrics["final_snr"]
    assert after >= 20 and after - before >= 25, (before, after)

"""spectral.py: coefficient frequencies, the frequency penalty lowers high-frequency energy, the
render prefilter averages the first layer over each cell, the Nyquist cap of the presets."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from kan_inr import KanInrError, models, signals, spectral
from kan_inr.config import TrainConfig
from kan_inr.training import fit
from kan_inr.jobs import start_run
from kan_inr.models.fkan import FKANConfig
from kan_inr.models.layers import ChebyshevKAN, FourierKAN
from kan_inr.models.siren import SirenConfig
from kan_inr.signals.base import grid


def test_column_frequencies_follow_the_weight_layout():
    layer = FourierKAN(2, 3, 4)
    k, axis = spectral.column_frequencies(layer)
    assert k.tolist() == [1, 2, 3, 4, 1, 2, 3, 4] * 2 and axis.tolist() == [0] * 8 + [1] * 8
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[:, 2] = 1.0  # A_{o, 0, 3}: cos(3 x_0)
    x = torch.tensor([[0.3, -0.2]])
    assert torch.allclose(layer(x), torch.cos(torch.tensor(0.9)).expand(1, 3))
    k, _ = spectral.column_frequencies(ChebyshevKAN(1, 2, 5))
    assert k.tolist() == [0, 1, 2, 3, 4, 5]
    ks, energy = spectral.energy_per_frequency(layer)
    assert ks.tolist() == [1, 2, 3, 4] and energy.tolist() == [0, 0, 3, 0]


def high_share(model: nn.Module, limit: float) -> float:
    ks, energy = spectral.energy_per_frequency(spectral.first_basis_layer(model))
    return (energy[ks > limit].sum() / energy.sum()).item()


def test_frequency_penalty_lowers_high_frequency_energy(image_file):
    signal = signals.load(image_file)  # 24 x 24: Nyquist 12 pi ~ 37.7
    cfg = FKANConfig(grid_size=36, hidden_dim=16, block_dims=(32,))
    shares = {}
    for strength in (0.0, 0.1):
        torch.manual_seed(0)
        model = models.build("fkan", 2, 3, cfg)
        fit(model, signal, TrainConfig(steps=60, lr=1e-2, eval_every=60, device="cpu", freq_penalty=strength))
        shares[strength] = high_share(model, 18)
    assert shares[0.1] < 0.5 * shares[0.0]
    with pytest.raises(KanInrError, match="Fourier or Chebyshev"):
        spectral.frequency_penalty(models.build("siren", 2, 3, SirenConfig(hidden_dim=8)), 1.0, 2.0, 10.0)


def test_prefiltered_render_is_the_cell_average_of_a_fourier_layer():
    torch.manual_seed(0)
    model = nn.Sequential(FourierKAN(2, 1, 40))  # energy at every k up to 40, far above a 16-px Nyquist (8 pi)
    m, fine = 16, 32
    coarse = grid((m, m), convention="centers")  # (m^2, 2)
    sub = (torch.arange(fine, dtype=torch.float32) + 0.5) / fine - 0.5  # sub-sample offsets in cells
    offsets = torch.stack(torch.meshgrid(sub, sub, indexing="ij"), -1).reshape(-1, 2) * (2 / m)  # (fine^2, 2)
    with torch.no_grad():
        truth = model((coarse[:, None] + offsets[None]).reshape(-1, 2)).reshape(m * m, -1).mean(dim=1)  # cell means
        plain = model(coarse)[:, 0]
        cells = spectral.render_cells((64, 64), (m, m), "centers")
        assert cells == (2 / m, 2 / m)
        with spectral.prefiltered(model, cells) as filtered:
            smooth = model(coarse)[:, 0]
    assert filtered and (smooth - truth).abs().max() < 0.01 * (plain - truth).abs().max()
    assert torch.equal(model(coarse)[:, 0].detach(), plain)  # weights restored after the block
    assert spectral.render_cells((64, 64), (128, 32), "centers") == (None, 2 / 32)  # only coarser axes


def test_kan_presets_cap_their_basis_at_nyquist_unless_set(image_file):
    fraction = models.IMAGE_NYQUIST_FRACTION
    assert 0 < fraction <= 1
    fkan_fraction = models.FKAN_TUNED_NYQUIST_FRACTION  # the study's fkan caps K at 0.09 of Nyquist
    for name, field, cap in [("fkan", "grid_size", fkan_fraction), ("sl2a", "degree", fraction),
                             ("cheby-kan", "first_degree", fraction)]:
        preset = models.preset(name)
        full = getattr(preset.config, field)
        assert getattr(preset.config_for((512, 512)), field) == min(full, math.floor(cap * 256 * math.pi))
        assert getattr(preset.config_for((24, 24)), field) == math.floor(cap * 12 * math.pi)  # of pi n / 2
    assert models.preset("bspline-kan").config_for((24, 24)).first_grid_size == math.floor(fraction * 24)
    siren = models.preset("siren")  # omega_0 capped as if it were K, a float still; the paper's uncapped
    assert siren.config_for((24, 24)).first_omega == float(math.floor(fraction * 12 * math.pi)) == 18.0
    assert siren.config_for((128, 128)).first_omega == siren.tuned.first_omega == 58.5
    assert siren.config_for((24, 24), "paper").first_omega == 30.0
    job = start_run(image_file, "fkan", write=False, model_overrides={"grid_size": "270"}, device="cpu")
    assert job.model.kan.grid_size == 270  # the published K, with --set
    assert start_run(image_file, "fkan", write=False, device="cpu").model.kan.grid_size == \
        math.floor(fkan_fraction * 12 * math.pi)


def test_column_frequencies_of_a_layer_over_a_band_are_its_spread_frequencies():
    layer = FourierKAN(1, 2, 10, band=1000)
    k, axis = spectral.column_frequencies(layer)
    assert torch.equal(k, layer.frequencies.repeat(2)) and k.max() > 500 and axis.tolist() == [0] * 20
    k, _ = spectral.column_frequencies(ChebyshevKAN(1, 2, 10, band=1000))
    assert k[0] == 0 and torch.equal(k[1:], layer.frequencies)

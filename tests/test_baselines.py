"""The non-KAN baselines (finer, gauss, wire, relu-pe, ffn) against their papers' formulas and counts."""

from __future__ import annotations

import math

import pytest
import torch

from kan_inr import models
from kan_inr.jobs import fit_file
from kan_inr.models.encodings import FFN, FFNConfig, PositionalEncoding, nyquist_frequencies, relu_pe_frequencies
from kan_inr.models.finer import Finer, FinerConfig, FinerLayer
from kan_inr.models.gauss import UNDERFLOW, GaussLayer, exp_neg
from kan_inr.models.siren import Siren, SirenConfig
from kan_inr.models.wire import Wire, WireConfig, gabor
from kan_inr.runs import load_run


def random_coords(n: int, in_dim: int = 2, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, in_dim, generator=generator, dtype=torch.float64) * 2 - 1  # (n, in_dim)


# --- FINER -----------------------------------------------------------------------------------------

def test_finer_activation_and_its_detached_gradient() -> None:
    """y = sin(w (|z|+1) z); dy/dz = w (|z|+1) cos(w (|z|+1) z): the factor (|z|+1) is a constant."""
    omega = 30.0
    layer = FinerLayer(1, 1, omega, first=False)
    z = torch.linspace(-1.5, 1.5, 101, dtype=torch.float64, requires_grad=True)
    y = layer.activation(z)
    y.sum().backward()
    scale = z.detach().abs() + 1
    torch.testing.assert_close(y.detach(), torch.sin(omega * scale * z.detach()), rtol=0, atol=1e-12)
    torch.testing.assert_close(z.grad, omega * scale * torch.cos(omega * scale * z.detach()), rtol=0, atol=1e-9)
    # The undetached derivative w (2|z|+1) cos(...) differs: the test would catch a missing detach.
    full = omega * (2 * z.detach().abs() + 1) * torch.cos(omega * scale * z.detach())
    assert (z.grad - full).abs().max() > 1.0


def test_finer_is_siren_with_its_first_bias() -> None:
    """Same module layout as SIREN (reused layers); first bias ~ U(-20, 20), SIREN's weight bounds."""
    torch.manual_seed(0)
    finer = Finer(2, 3, FinerConfig())
    assert list(finer.state_dict()) == list(Siren(2, 3, SirenConfig()).state_dict())
    first_bias = finer.body[0].linear.bias
    assert first_bias.abs().max() <= 20 and first_bias.abs().max() > 18  # 256 draws from U(-20, 20)
    assert finer.body[0].linear.weight.abs().max() <= 1 / 2  # U(+-1 / in), in = 2
    assert finer.body[1].linear.weight.abs().max() <= math.sqrt(6 / 256) / 30
    assert finer.body[1].linear.bias.abs().max() <= 1 / math.sqrt(256)  # PyTorch default, unchanged


# --- Gauss -----------------------------------------------------------------------------------------

def test_gauss_layer_is_a_gaussian_of_the_preactivation() -> None:
    layer = GaussLayer(2, 5, scale=30.0).double()
    x = random_coords(17)
    z = x @ layer.linear.weight.T + layer.linear.bias
    torch.testing.assert_close(layer(x), torch.exp(-(30.0 * z) ** 2), rtol=1e-12, atol=1e-17)


def test_exp_neg_has_no_subnormal_values_or_gradients() -> None:
    """exp(-t) is exact down to exp(-40), then exactly 0: no subnormal floats (slow on CPUs) either way."""
    t = torch.linspace(0, 200, 2001, requires_grad=True)
    y = exp_neg(t)
    y.sum().backward()
    tiny = torch.finfo(torch.float32).tiny  # smallest normal float32
    for values in (y.detach(), t.grad):
        assert ((values == 0) | (values.abs() >= tiny)).all()
    kept = t.detach() <= UNDERFLOW
    torch.testing.assert_close(y[kept].detach(), torch.exp(-t[kept].detach()))
    assert (y[~kept] == 0).all()


# --- WIRE ------------------------------------------------------------------------------------------

def naive_wire(model: Wire, coords: torch.Tensor) -> torch.Tensor:
    """WIRE as its public code computes it, with complex tensors: exp(j w z - |s z|^2), Re of the head."""
    cfg = model.cfg

    def complex_of(pair: torch.Tensor) -> torch.Tensor:
        return torch.complex(pair[0], pair[1])

    z = (coords @ model.first.weight.T + model.first.bias).to(torch.complex128)  # (N, hidden), real
    h = torch.exp(1j * cfg.first_omega * z - (cfg.scale * z).abs().square())
    for layer in model.hidden:
        z = h @ complex_of(layer.weight).T + complex_of(layer.bias)  # (N, hidden)
        h = torch.exp(1j * cfg.hidden_omega * z - (cfg.scale * z).abs().square())
    head_bias = torch.complex(model.head.bias[0], torch.zeros_like(model.head.bias[0]))
    return (h @ complex_of(model.head.weight).T + head_bias).real  # (N, out)


@pytest.mark.parametrize(("omega", "scale"), [(30.0, 30.0), (20.0, 10.0), (5.0, 2.0)])
def test_wire_equals_the_naive_complex_formula(omega: float, scale: float) -> None:
    torch.manual_seed(0)
    cfg = WireConfig(hidden_dim=12, hidden_layers=2, first_omega=omega, hidden_omega=omega, scale=scale)
    model = Wire(2, 3, cfg).double()
    coords = random_coords(64) * 0.1  # small coordinates keep the envelopes away from 0 at s = 30
    pred, ref = model(coords), naive_wire(model, coords)
    assert ref.abs().max() > 1e-3  # a non-trivial comparison
    torch.testing.assert_close(pred, ref, rtol=1e-10, atol=1e-12)


def test_gabor_cannot_overflow() -> None:
    """The envelope exp(-w im - s^2 |z|^2) is at most exp(w^2 / (4 s^2)) however large z gets."""
    re = torch.tensor([0.0, 1e3, -1e6])
    im = torch.tensor([-1e3, -1e6, 1e6])
    out = gabor(re, im, omega=30.0, scale=1.0)
    assert torch.isfinite(out).all() and out.abs().max() <= math.exp(30.0**2 / 4)


def test_wire_counts_a_complex_weight_as_two_parameters() -> None:
    """Width int(256 / sqrt 2) = 181; real parameters of the public code's layers, Im of the head's bias
    dropped (it never reaches the real output)."""
    cfg = models.preset("wire").config_for((512, 512))
    assert cfg.hidden_dim == int(256 / math.sqrt(2)) == 181
    public = [torch.nn.Linear(2, 181)] + [torch.nn.Linear(181, 181, dtype=torch.cfloat) for _ in range(3)]
    public.append(torch.nn.Linear(181, 3, dtype=torch.cfloat))
    real_numbers = sum(p.numel() * (2 if p.is_complex() else 1) for m in public for p in m.parameters())
    model = models.build("wire", 2, 3, cfg)
    assert models.num_params(model) == real_numbers - 3 == 199_284
    assert all(not p.is_complex() for p in model.parameters())


# --- ReLU + positional encoding ----------------------------------------------------------------------

def naive_octaves(samples: int) -> int:
    """The largest L with 2^L <= samples / 4 (0 if none): the Nyquist rule counted by hand."""
    octaves = 0
    while 2 ** (octaves + 1) <= samples / 4:
        octaves += 1
    return octaves


@pytest.mark.parametrize("samples", [1, 7, 8, 15, 16, 42, 170, 341, 1024, 44_100])
def test_nyquist_frequencies(samples: int) -> None:
    assert nyquist_frequencies(samples) == naive_octaves(samples)


@pytest.mark.parametrize(("shape", "expected"), [((512, 512), 5), ((128, 128), 3), ((256, 256), 4),
                                                 ((768, 1024), 6), ((16, 16), 0), ((44_100,), 13)])
def test_relu_pe_frequencies_from_the_grid(shape: tuple[int, ...], expected: int) -> None:
    """Images: int(max side / 3) samples (the SL2A code), so 5 at 512 px; 1-D: the clip's length."""
    assert relu_pe_frequencies(shape) == expected
    cfg = models.preset("relu-pe").config_for(shape)
    assert cfg.num_frequencies == expected
    model = models.build("relu-pe", len(shape), 3, cfg)
    assert model.body[0].in_features == len(shape) * (1 + 2 * expected)


def test_positional_encoding_values() -> None:
    x = random_coords(9)
    encoded = PositionalEncoding(3)(x)
    columns = [x[:, 0], x[:, 1]]
    columns += [torch.sin(2**f * math.pi * x[:, j]) for j in range(2) for f in range(3)]
    columns += [torch.cos(2**f * math.pi * x[:, j]) for j in range(2) for f in range(3)]
    torch.testing.assert_close(encoded, torch.stack(columns, dim=1), rtol=1e-12, atol=1e-12)


# --- FFN ---------------------------------------------------------------------------------------------

def test_ffn_mapping_matrix_is_gaussian_fixed_and_not_a_parameter() -> None:
    torch.manual_seed(0)
    model = FFN(2, 3, FFNConfig(mapping_size=4096, sigma=10.0))
    B = model.encoding.B
    assert B.shape == (4096, 2) and not B.requires_grad
    assert "encoding.B" in model.state_dict() and "encoding.B" not in dict(model.named_parameters())
    assert abs(B.std().item() - 10.0) < 0.5 and abs(B.mean().item()) < 0.5
    x, B = random_coords(5), B.double()  # angles reach ~200 rad: compare in float64
    angles = 2 * math.pi * x @ B.T  # (5, 4096)
    torch.testing.assert_close(model.encoding.double()(x), torch.cat([torch.cos(angles), torch.sin(angles)], 1))


def test_ffn_mapping_matrix_round_trips_through_a_run_folder(image_file, tmp_path) -> None:
    """B is saved with the weights: the loaded run has the trained model's B and outputs, not a new draw."""
    run_dir, _ = fit_file(image_file, "ffn", outputs=tmp_path / "runs", steps=3, eval_every=3,
                          device="cpu", console=False, model_overrides={"hidden_dim": "16", "mapping_size": "32"})
    torch.manual_seed(0)  # fit_file builds under seed 0: the same B is redrawn...
    reference = models.build("ffn", 2, 3, FFNConfig(hidden_dim=16, mapping_size=32))
    torch.manual_seed(123)  # ...while the loader builds under another seed before loading the weights
    run = load_run(run_dir)
    torch.testing.assert_close(run.model.encoding.B, reference.encoding.B, rtol=0, atol=0)
    saved = torch.load(run_dir / "weights.pt", weights_only=True)
    torch.testing.assert_close(saved["encoding.B"], reference.encoding.B, rtol=0, atol=0)
    coords = random_coords(32).float()
    torch.manual_seed(123)
    fresh = models.build("ffn", 2, 3, FFNConfig(hidden_dim=16, mapping_size=32))
    assert not torch.equal(fresh.encoding.B, run.model.encoding.B)
    fresh.load_state_dict(saved)
    torch.testing.assert_close(fresh(coords), run.model(coords), rtol=0, atol=0)


# --- Published parameter counts ------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "params"), [("finer", 198_915), ("gauss", 198_915), ("relu-pe", 204_035),
                                              ("wire", 199_284), ("ffn", 329_475)])
def test_parameter_counts_at_512_rgb(name: str, params: int) -> None:
    """FINER, Gauss, ReLU+PE: the SL2A paper's table; WIRE and FFN: ours (see their docstrings)."""
    preset = models.preset(name)
    model = models.build(preset.family, 2, 3, preset.config_for((512, 512)))
    assert models.num_params(model) == params

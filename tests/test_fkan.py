"""FKAN: the basis + matmul Fourier-KAN layer equals the naive per-edge formula; the network's size and init."""

import math
import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from kan_inr.models import build, num_params
from kan_inr.models.fkan import FKANConfig
from kan_inr.models.layers import FourierKAN, spread_frequencies
from tests.reference_models import fourier_kan_coefficients, fourier_kan_naive


def test_fourier_kan_equals_naive_per_edge_formula():
    torch.manual_seed(0)
    layer = FourierKAN(3, 5, grid_size=7).double()
    torch.nn.init.normal_(layer.bias)
    x = torch.rand(11, 3, dtype=torch.float64) * 2 - 1
    a, b = fourier_kan_coefficients(layer.weight, 3)
    # y_o = b_o + sum_i sum_k A_oik cos(k x_i) + B_oik sin(k x_i), written out loop by loop
    slow = torch.zeros(11, 5, dtype=torch.float64)
    for o in range(5):
        for i in range(3):
            for k in range(1, 8):
                slow[:, o] += a[o, i, k - 1] * torch.cos(k * x[:, i]) + b[o, i, k - 1] * torch.sin(k * x[:, i])
        slow[:, o] += layer.bias[o]
    fast = layer(x)
    torch.testing.assert_close(fast, slow, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fourier_kan_naive(x, a, b, layer.bias), slow, rtol=1e-12, atol=1e-12)


def test_fourier_kan_init_scale():
    torch.manual_seed(0)
    layer = FourierKAN(2, 128, grid_size=270)
    assert abs(layer.weight.std().item() - 1 / math.sqrt(2 * 270)) < 2e-3  # N(0, 1) / (sqrt(in) sqrt(K))
    assert torch.count_nonzero(layer.bias) == 0


def test_fkan_rgb_parameter_count_and_block_init():
    torch.manual_seed(0)
    model = build("fkan", 2, 3, FKANConfig())
    assert num_params(model) == 436_355  # reference-models.md: the notebook's 436,367 less 3 unused scalars x 4
    first_block = model.blocks[0].linear.weight
    assert first_block.abs().max() <= math.sqrt(6 / 128) / 30
    assert model.head.weight.abs().max() <= math.sqrt(6 / 128) / 30  # uses 128, not 512
    assert model.head.weight.abs().max() > 0.9 * math.sqrt(6 / 128) / 30


class _LiveTensors(TorchDispatchMode):
    """Counts the op outputs with at least ``numel`` elements that are alive at the same time."""

    def __init__(self, numel: int) -> None:
        super().__init__()
        self.numel, self.live, self.peak = numel, 0, 0

    def _freed(self) -> None:
        self.live -= 1

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor) and t.numel() >= self.numel:
                self.live += 1
                self.peak = max(self.peak, self.live)
                weakref.finalize(t, self._freed)
        return out


def test_naive_reference_keeps_one_materialised_term_alive_like_the_notebook():
    """The FKAN notebook adds the cos term, then the sin term: one (N, out, in, K) product at a time.
    A reference that held both (and their sum) would charge the notebook three times its memory."""
    n, n_in, n_out, k = 64, 2, 16, 9
    a = torch.randn(n_out, n_in, k, requires_grad=True)
    b = torch.randn(n_out, n_in, k, requires_grad=True)
    x = torch.rand(n, n_in) * 2 - 1
    with _LiveTensors(n * n_out * n_in * k) as tracker:
        y = fourier_kan_naive(x, a, b, torch.zeros(n_out))
    assert y.shape == (n, n_out) and tracker.peak == 1


def test_fourier_kan_over_a_band_equals_the_formula_at_its_spread_frequencies():
    torch.manual_seed(0)
    layer = FourierKAN(2, 4, grid_size=12, band=3000).double()
    k = spread_frequencies(12, 3000).double()  # the frequencies the layer says it uses
    assert torch.equal(layer.frequencies.double(), k)
    a, b = fourier_kan_coefficients(layer.weight, 2)
    x = torch.rand(9, 2, dtype=torch.float64) * 2 - 1
    slow = layer.bias.expand(9, 4).clone()
    for i in range(2):
        for j in range(12):
            slow += torch.outer(torch.cos(k[j] * x[:, i]), a[:, i, j]) + torch.outer(torch.sin(k[j] * x[:, i]), b[:, i, j])
    torch.testing.assert_close(layer(x), slow, rtol=1e-10, atol=1e-10)


def test_spread_frequencies_are_distinct_integers_covering_the_band_and_rebuild_identically():
    for count, band in [(64, 3000), (64, 65), (64, 70), (9, 10), (100, 100_000)]:
        k = spread_frequencies(count, band)
        assert k.numel() == count and len(set(k.tolist())) == count  # distinct: no feature repeats
        assert torch.equal(k, k.round()) and k.min() == 1 and k.max() <= band
        assert torch.equal(k, spread_frequencies(count, band))  # a config rebuilds the same layer
    k = spread_frequencies(64, 3000)
    assert k[:8].tolist() == list(range(1, 9)) and k.max() > 2900  # the slow shapes, then up to the band
    gaps = k[8:].diff()
    assert gaps.max() < 2 * 3000 / 56  # one per equal run: no wide hole in the band
    assert torch.equal(spread_frequencies(16, 16), torch.arange(1, 17.0))  # band <= K: the paper's 1..K


def test_fkan_audio_form_is_a_sine_network_behind_a_spread_fourier_layer():
    cfg = FKANConfig(grid_size=64, band=3000, hidden_dim=256, block_dims=(256, 256, 256), omega=30.0, block="sine",
                     first="sine")
    model = build("fkan", 1, 1, cfg)
    assert num_params(model) == 230_657  # 2 * 64 * 256 + 256 + 3 * 65,792 + 257: no LayerNorm
    x = torch.rand(5, 1) * 2 - 1
    h = torch.sin(model.kan(x))
    for block in model.blocks:
        h = torch.sin(30.0 * block.linear(h))
    torch.testing.assert_close(model(x), model.head(h))

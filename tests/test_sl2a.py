"""SL2A-INR equals the public code's formulation (einsum Chebyshev layer, fused low-rank layers), with its sizes and init."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from tests.reference_models import chebyshev_kan_coefficients, chebyshev_kan_einsum
from kan_inr.models.sl2a import SL2A, SL2AConfig


def sl2a_naive(model: SL2A, coords: torch.Tensor) -> torch.Tensor:
    """The SL2A forward pass written out from the paper and code, with the einsum first layer."""
    coeffs = chebyshev_kan_coefficients(model.kan.weight, coords.shape[1])  # (in, out, D + 1)
    z1 = F.layer_norm(chebyshev_kan_einsum(coords, coeffs), (model.cfg.hidden_dim,),
                      model.norm.weight, model.norm.bias)  # (N, hidden)
    y = z1
    for layer in model.layers:
        y = torch.relu(torch.mm(torch.mm(z1 * y, layer.left), layer.right) + layer.bias)
    return F.linear(z1 * y, model.head.weight, model.head.bias)


def test_image_preset_matches_the_public_code_on_coordinates() -> None:
    torch.manual_seed(0)
    model = SL2A(2, 3, SL2AConfig())
    coords = torch.rand(512, 2) * 2 - 1
    coeffs = chebyshev_kan_coefficients(model.kan.weight, 2)
    torch.testing.assert_close(model.kan(coords), chebyshev_kan_einsum(coords, coeffs), atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(model(coords), sl2a_naive(model, coords), atol=1e-5, rtol=1e-5)


def test_parameter_count_by_part() -> None:
    """131,584 + 512 + 3 * 65,792 + 771 = 330,243 (reference-models.md)."""
    model = SL2A(2, 3, SL2AConfig())
    parts = {name: sum(p.numel() for p in module.parameters()) for name, module in model.named_children()}
    assert parts == {"kan": 131_584, "norm": 512, "layers": 3 * 65_792, "head": 771}
    assert sum(parts.values()) == 330_243


def test_low_rank_initialisation_bounds() -> None:
    """kaiming_uniform(a = sqrt 5) gives U(+-1 / sqrt(fan_in)) with fan_in = size(1) of the stored tensor."""
    torch.manual_seed(0)
    layer = SL2A(2, 3, SL2AConfig()).layers[0]
    for tensor, bound in ((layer.left, 1 / math.sqrt(128)), (layer.right, 1 / math.sqrt(256)),
                          (layer.bias, 1 / math.sqrt(128))):
        assert tensor.abs().max() <= bound
        assert tensor.abs().max() > 0.95 * bound


def test_first_layer_output_modulates_the_head() -> None:
    """The head sees z_1 * y_3: with the LayerNorm scaled to zero only the head's bias remains."""
    torch.manual_seed(0)
    model = SL2A(2, 3, SL2AConfig(degree=8, hidden_dim=16, rank=4))
    with torch.no_grad():
        model.norm.weight.zero_()
        model.norm.bias.zero_()
        out = model(torch.rand(5, 2) * 2 - 1)
    torch.testing.assert_close(out, model.head.bias.expand(5, 3))

"""Stacked KAN INRs: layer layout of their presets and the input-range rule of bspline-kan."""

from __future__ import annotations

import pytest
import torch

from kan_inr import KanInrError
from kan_inr.models.kan import BSplineKANConfig, BSplineKANNet, ChebyKANConfig, ChebyKANNet


def test_cheby_kan_uses_the_first_degree_on_coordinates_only() -> None:
    model = ChebyKANNet(2, 3, ChebyKANConfig(first_degree=32, degree=4, hidden_dims=(8, 8)))
    assert [layer.degree for layer in model.layers] == [32, 4, 4]
    assert [(layer.in_features, layer.out_features) for layer in model.layers] == [(2, 8), (8, 8), (8, 3)]


def test_cheby_kan_accepts_any_real_input() -> None:
    """Each layer squashes its inputs with tanh, the domain of T_k: far-away inputs give finite outputs."""
    model = ChebyKANNet(2, 3, ChebyKANConfig(first_degree=16, degree=4, hidden_dims=(8,)))
    out = model(torch.tensor([[-50.0, 3.0], [1e4, 0.0]]))
    assert torch.isfinite(out).all()


def test_bspline_kan_rejects_coordinates_outside_its_grid() -> None:
    model = BSplineKANNet(2, 3, BSplineKANConfig(first_grid_size=8, grid_size=4, hidden_dims=(8,)))
    model(torch.tensor([[-1.0, 1.0], [0.0, 0.5]]))  # the grid's ends are inside
    with pytest.raises(KanInrError, match=r"coordinates in \[-1, 1\].*got values in \[-1, 1.5\]"):
        model(torch.tensor([[-1.0, 1.5]]))


def test_bspline_kan_hidden_layers_see_inputs_inside_their_grid() -> None:
    """LayerNorm then tanh keeps every hidden input in (-1, 1), so no spline is ever clamped there."""
    torch.manual_seed(0)
    model = BSplineKANNet(2, 3, BSplineKANConfig(first_grid_size=8, grid_size=4, hidden_dims=(8, 8)))
    seen = []
    for layer in model.layers[1:]:
        layer.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    model(torch.rand(100, 2) * 2 - 1)
    assert len(seen) == 2 and all(x.abs().max() < 1 for x in seen)

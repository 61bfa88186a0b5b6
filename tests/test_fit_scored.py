"""One fit-and-score (kan_inr/superres.py ``fit_scored``): its 2x score is the same weights rendered at the
original's samples and scored there, its grid score their evaluation on the fitted grid, and a diverged fit
is scored on its best weights and says where it diverged instead of raising."""

from __future__ import annotations

import math

import pytest
import torch

import kan_inr
from kan_inr import superres
from kan_inr.jobs import start_run
from kan_inr.render import Fitted, reconstruct
from conftest import smooth_image

TINY = {"hidden_dim": 8, "hidden_layers": 1}


def signals() -> tuple[kan_inr.Signal, kan_inr.Signal]:
    original = kan_inr.load_signal(smooth_image(16, 16), kind="image")
    return original, superres.downsample(original, 2)  # 16x16 and its 8x8 area reduction


def naive_psnr(pred: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR of an image prediction (N, C) clamped to [0, 1], in float64."""
    mse = ((pred.double().clamp(0, 1) - target.double()) ** 2).mean().item()
    return 10 * math.log10(1 / mse)


def rendered(model: torch.nn.Module, config: dict, shape: tuple[int, ...]) -> torch.Tensor:
    return reconstruct(model, Fitted.of_run(config), shape, "cpu")  # (prod(shape), C)


def test_the_scores_are_the_same_weights_rendered_and_scored_on_each_grid():
    original, low = signals()
    fitted = superres.fit_scored("smooth.png", "siren", signal=low, original=original, factor=2, steps=20,
                                 device="cpu", precision="fp32", model_overrides=TINY)
    assert fitted.diverged_at is None
    assert fitted.upsampled == pytest.approx(naive_psnr(rendered(fitted.model, fitted.config, (16, 16)),
                                                        original.values), abs=1e-3)
    assert fitted.grid == pytest.approx(naive_psnr(rendered(fitted.model, fitted.config, (8, 8)), low.values), abs=1e-3)
    assert abs(fitted.grid - fitted.upsampled) > 0.01  # two different measures


def test_without_an_original_only_the_grid_is_scored():
    _, low = signals()
    fitted = superres.fit_scored("smooth.png", "siren", signal=low, steps=3, device="cpu", model_overrides=TINY)
    assert fitted.upsampled is None and fitted.grid == fitted.result.metrics["final_psnr"]


def test_a_diverged_fit_is_scored_on_its_best_weights():
    """Targets of order 1e30 overflow the squared error at the first step, before any evaluation: the best
    weights are the seeded initial ones, and both scores are theirs."""
    original, low = signals()
    options = dict(steps=20, device="cpu", precision="fp32", model_overrides=TINY, target_range=(-1e30, 1e30))
    initial = start_run("smooth.png", "siren", signal=low, write=False, **options).model.eval()  # seeded as the fit's
    fitted = superres.fit_scored("smooth.png", "siren", signal=low, original=original, **options)
    assert fitted.diverged_at == 1
    weights = fitted.model.state_dict()
    assert all(torch.equal(weights[k].cpu(), v) for k, v in initial.state_dict().items())
    assert fitted.upsampled == pytest.approx(naive_psnr(rendered(initial, fitted.config, (16, 16)), original.values),
                                             abs=1e-3)
    assert fitted.grid == pytest.approx(naive_psnr(rendered(initial, fitted.config, (8, 8)), low.values), abs=1e-3)

"""Metric definitions against independent formulas and scikit-image's SSIM."""

import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from kan_inr import metrics


def test_psnr_matches_definition():
    target = torch.rand(100, 3)
    pred = target + 0.01
    assert metrics.psnr(pred, target) == pytest.approx(40.0, abs=1e-4)  # 10 log10(1 / 1e-4); float32 offset
    assert metrics.psnr(target, target) == math.inf


@pytest.mark.parametrize("shape", [(32, 40, 3), (64, 64, 1), (16, 16, 4)])
def test_ssim_matches_scikit_image(shape):
    rng = np.random.default_rng(0)
    x = rng.random(shape)
    y = np.clip(x + 0.1 * rng.standard_normal(shape), 0, 1)
    ref = structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                data_range=1.0, channel_axis=-1)
    assert metrics.ssim(torch.from_numpy(y), torch.from_numpy(x)) == pytest.approx(ref, abs=1e-6)


def test_ssim_of_identical_images_is_one():
    x = torch.rand(20, 20, 3)
    assert metrics.ssim(x, x) == pytest.approx(1.0, abs=1e-9)


def test_snr_matches_definition():
    y = torch.sin(torch.linspace(0, 20, 1000)).unsqueeze(1)
    noise = 0.01 * torch.cos(torch.linspace(0, 200, 1000)).unsqueeze(1)
    expected = 10 * math.log10(float((y.double() ** 2).sum() / (noise.double() ** 2).sum()))
    assert metrics.snr(y + noise, y) == pytest.approx(expected, rel=1e-6)


def test_lsd_zero_for_identical_and_positive_otherwise():
    y = torch.randn(4096, 2) * 0.1
    assert metrics.lsd(y, y) == pytest.approx(0.0, abs=1e-9)
    assert metrics.lsd(y * 0.5, y) > 0.5  # a 6 dB gain error is log10(4) = 0.6 per bin

"""scripts/rate_distortion.py: PSNR at a matched rate and the Bjontegaard deltas on curves with known answers."""

import math

import pytest

import rate_distortion


def test_bjontegaard_deltas():
    rates, psnr = [0.25, 0.5, 1.0, 2.0, 4.0], [20.0, 23.5, 26.0, 29.5, 32.0]
    assert rate_distortion.bd_rate((rates, psnr), (rates, psnr)) == pytest.approx(0.0, abs=1e-9)
    assert rate_distortion.bd_rate((rates, psnr), ([r / 2 for r in rates], psnr)) == pytest.approx(-50.0)
    assert rate_distortion.bd_psnr((rates, psnr), (rates, [p + 1.5 for p in psnr])) == pytest.approx(1.5)
    assert rate_distortion.bd_psnr((rates, psnr), ([8.0, 9.0], [40.0, 41.0])) is None  # no shared range
    assert rate_distortion.psnr_at((rates, psnr), 0.5) == 23.5 and rate_distortion.psnr_at((rates, psnr), 8.0) is None
    assert rate_distortion.psnr_at((rates, psnr), math.sqrt(0.5)) == pytest.approx(24.75)

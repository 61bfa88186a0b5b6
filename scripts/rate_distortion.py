"""Rate-distortion comparisons for ``scripts/codec_bench.py``: PSNR at a matched rate, and Bjontegaard
deltas (G. Bjontegaard, "Calculation of average PSNR differences between RD-curves", VCEG-M33, 2001).

A curve is (rates in bits per pixel, PSNR in dB), one point per file. BD-PSNR fits a cubic of PSNR
in log10(rate) to each curve and averages their difference over the rates both cover; BD-rate fits
log10(rate) as a cubic in PSNR and turns the mean difference over the shared PSNR range into a
percentage of the reference's rate (negative = fewer bits for the same quality).
"""

from __future__ import annotations

import math

import numpy as np

Curve = tuple[list[float], list[float]]  # (bpp, psnr), any order


def _sorted(curve: Curve, by: int) -> tuple[np.ndarray, np.ndarray]:
    rate, psnr = (np.asarray(v, dtype=np.float64) for v in curve)
    order = np.argsort((rate, psnr)[by])
    return rate[order], psnr[order]


def psnr_at(curve: Curve, bpp: float) -> float | None:
    """A curve's PSNR at ``bpp``, linear in log(rate) between its points; None outside its rates."""
    rate, psnr = _sorted(curve, 0)
    if not rate[0] <= bpp <= rate[-1]:
        return None
    return float(np.interp(math.log(bpp), np.log(rate), psnr))


def _mean_gap(x_ref: np.ndarray, y_ref: np.ndarray, x_new: np.ndarray, y_new: np.ndarray) -> float | None:
    """Mean of (cubic fit of new) - (cubic fit of ref) over the x range both cover; None without overlap."""
    lo, hi = max(x_ref.min(), x_new.min()), min(x_ref.max(), x_new.max())
    if not hi > lo:
        return None
    degree = min(3, len(x_ref) - 1, len(x_new) - 1)
    ref, new = (np.polyint(np.polyfit(x, y, degree)) for x, y in ((x_ref, y_ref), (x_new, y_new)))
    return float((np.polyval(new, hi) - np.polyval(new, lo) - np.polyval(ref, hi) + np.polyval(ref, lo)) / (hi - lo))


def bd_psnr(reference: Curve, test: Curve) -> float | None:
    """Mean PSNR gain (dB) of ``test`` over ``reference`` at equal rate."""
    (r0, p0), (r1, p1) = _sorted(reference, 0), _sorted(test, 0)
    return _mean_gap(np.log10(r0), p0, np.log10(r1), p1)


def bd_rate(reference: Curve, test: Curve) -> float | None:
    """Mean rate change (%) of ``test`` against ``reference`` at equal PSNR."""
    (r0, p0), (r1, p1) = _sorted(reference, 1), _sorted(test, 1)
    gap = _mean_gap(p0, np.log10(r0), p1, np.log10(r1))
    return None if gap is None else float((10**gap - 1) * 100)

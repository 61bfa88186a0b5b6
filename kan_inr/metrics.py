"""Quality metrics: pure functions on tensors, one definition used by the CLI, scripts and tests.

Definitions, one for every table and test: PSNR = 10 log10(peak^2 / MSE); SSIM is the standard
single-scale SSIM of Wang et al. 2004 (Gaussian window 11, sigma 1.5, K1 0.01, K2 0.03), mean over
channels; SNR = 10 log10(sum y^2 / sum (y - y_hat)^2); LSD is the log-spectral distance on an STFT.
Callers clamp predictions to the signal's range first; nothing here rescales. ``mean_std`` is the
one definition of "mean +- std over signals" in every table kan-inr writes.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.mean((pred.double() - target.double()) ** 2)


def psnr(pred: torch.Tensor, target: torch.Tensor, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB over all samples and channels; inf for an exact match."""
    err = mse(pred, target).item()
    return math.inf if err == 0 else 10.0 * math.log10(peak**2 / err)


def _gaussian_window(size: int = 11, sigma: float = 1.5, device=None) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    w = torch.exp(-(x**2) / (2 * sigma**2))
    return w / w.sum()  # (size,)


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> float:
    """Single-scale SSIM of two images (H, W, C), mean over the valid (un-padded) windows and channels.

    Matches ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=1, channel_axis=-1)``: its border-affected windows are
    cropped, which equals a 'valid' convolution here. Images smaller than the window are compared
    with a window shrunk to the image.
    """
    x = pred.double().permute(2, 0, 1).unsqueeze(1)  # (C, 1, H, W)
    y = target.double().permute(2, 0, 1).unsqueeze(1)
    size = min(11, *x.shape[-2:])
    size -= 1 - size % 2  # odd window
    w = _gaussian_window(size, 1.5 * size / 11, x.device)

    def blur(img: torch.Tensor) -> torch.Tensor:  # separable 'valid' Gaussian filter
        img = F.conv2d(img, w.view(1, 1, -1, 1))
        return F.conv2d(img, w.view(1, 1, 1, -1))

    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean().item()


def snr(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Signal-to-noise ratio in dB of a waveform reconstruction."""
    noise = torch.sum((target.double() - pred.double()) ** 2).item()
    power = torch.sum(target.double() ** 2).item()
    if noise == 0:
        return math.inf
    return -math.inf if power == 0 else 10.0 * math.log10(power / noise)


def lsd(pred: torch.Tensor, target: torch.Tensor, n_fft: int = 2048, hop: int = 512) -> float:
    """Log-spectral distance (dB-free natural form) between waveforms (T, C), averaged over channels.

    LSD = mean over frames of sqrt(mean over bins of (log10 |X|^2 - log10 |X_hat|^2)^2).
    Clips shorter than ``n_fft`` use the largest power-of-two frame that fits (at least 2 samples);
    frames are zero-padded at the ends (centred STFT), so any length >= 1 works.
    """
    n_fft = min(n_fft, max(2, 2 ** int(math.log2(max(target.shape[0], 2)))))
    hop = max(1, min(hop, n_fft // 4))
    window = torch.hann_window(n_fft, dtype=torch.float64, device=target.device)

    def power(x: torch.Tensor) -> torch.Tensor:  # (C, T) -> (C, bins, frames)
        spec = torch.stft(x.double(), n_fft, hop, window=window, return_complex=True, center=True,
                          pad_mode="constant")
        return torch.log10(spec.abs() ** 2 + 1e-10)

    diff = power(pred.T) - power(target.T)  # (C, bins, frames)
    return torch.sqrt((diff**2).mean(dim=1)).mean().item()


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (n - 1 in the denominator; 0 for a single value) of ``values``."""
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0

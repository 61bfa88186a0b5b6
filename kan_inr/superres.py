"""Super-resolution: is an INR right between its samples? (benchmarks.md, protocol 6 "superres")

A signal is reduced by a factor F (images: each output pixel the mean of an F x F block, area
averaging; audio: every F-th sample, plain decimation without a band-limiting filter), the model is
fitted to the reduced signal, rendered at the original's samples and scored against the original
with the kind's metrics (PSNR / SSIM; SNR / LSD). Beside it: the classical answers to the same
question from the same reduced input (images: Pillow bicubic and Lanczos; audio: linear
interpolation and a band-limited windowed-sinc resampler).

Geometry (``signals.base``): the reduced image's pixel j covers original pixels [jF, (j + 1)F), so
the original's pixel centres are the centres of an F-times finer grid over the same extent; the
reduced clip's sample j is the original's sample jF, so original sample i sits at reduced index i / F.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import torch
from torch import nn

from kan_inr import KanInrError, signals
from kan_inr.render import reconstruct
from kan_inr.signals.base import Signal
from kan_inr.signals.image import area_matrix

SINC_HALF_TAPS = 32  # band-limited resampler: windowed sinc over 2 x 32 input samples


def downsample(signal: Signal, factor: int) -> Signal:
    """``signal`` reduced by ``factor``: images by area averaging (sizes rounded down, at least 1),
    audio by keeping every ``factor``-th sample (the first one included) at 1 / factor of the rate."""
    if factor < 1:
        raise KanInrError(f"--downsample must be a whole factor of at least 1, got {factor}")
    meta = {**signal.meta, "downsampled_by": factor, "original_shape": list(signal.shape)}
    if signal.kind == "image":
        h, w = signal.shape
        h2, w2 = max(1, h // factor), max(1, w // factor)
        image = signal.values.reshape(h, w, -1).double()  # (H, W, C)
        low = torch.einsum("ih,hwc,jw->ijc", area_matrix(h, h2), image, area_matrix(w, w2)).float()  # (h2, w2, C)
        return dataclasses.replace(signal, values=low.reshape(h2 * w2, -1), shape=(h2, w2), meta=meta)
    if signal.kind == "audio":
        values = signal.values[::factor].contiguous()  # (ceil(T / F), C)
        meta["sample_rate"] = signal.meta["sample_rate"] / factor
        return dataclasses.replace(signal, values=values, shape=(values.shape[0],), meta=meta)
    raise KanInrError(f"no super-resolution measure for {signal.kind} signals")


def original_extent(low: Signal, shape: tuple[int, ...]) -> tuple[tuple[float, float], ...] | None:
    """Where the original's samples lie in the reduced signal's coordinates (``render.predict_grid``'s
    ``extent``): images None (the same extent, finer cells); audio the endpoints of sample 0 and T - 1
    at reduced indices 0 and (T - 1) / F."""
    if low.kind != "audio":
        return None
    (t_low,), (t,) = low.shape, shape
    factor = low.meta["downsampled_by"]
    last = -1.0 + 2.0 * ((t - 1) / factor) / max(t_low - 1, 1)
    return ((-1.0, last),)


def model_upsampled(model: nn.Module, config: dict[str, Any], low: Signal, shape: tuple[int, ...],
                    device: torch.device | str) -> torch.Tensor:
    """A fitted run's INR at the original's samples: (prod(shape), C) in the signal's range, on the CPU."""
    return reconstruct(model, config, shape, device, extent=original_extent(low, shape))


def pillow_upsampled(low: Signal, shape: tuple[int, ...], method: str) -> torch.Tensor:
    """Pillow's ``method`` ("bicubic", "lanczos") resize of the reduced image to ``shape``, each
    channel as a float image (no 8-bit rounding): (prod(shape), C)."""
    from PIL import Image

    resample = {"bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}[method]
    h, w = low.shape
    image = low.values.reshape(h, w, -1).numpy().astype(np.float32)  # (h, w, C)
    channels = [np.asarray(Image.fromarray(image[:, :, c], mode="F").resize((shape[1], shape[0]), resample))
                for c in range(image.shape[2])]
    return torch.from_numpy(np.stack(channels, axis=-1).reshape(shape[0] * shape[1], -1))


def linear_upsampled(low: Signal, shape: tuple[int, ...]) -> torch.Tensor:
    """Linear interpolation of the reduced clip at the original's sample times: (T, C)."""
    (t,), factor = shape, low.meta["downsampled_by"]
    where = np.arange(t) / factor  # (T,) reduced indices
    known = np.arange(low.shape[0])
    values = low.values.double().numpy()
    return torch.from_numpy(np.stack([np.interp(where, known, values[:, c]) for c in range(values.shape[1])],
                                     axis=-1)).float()


def sinc_upsampled(low: Signal, shape: tuple[int, ...], half_taps: int = SINC_HALF_TAPS) -> torch.Tensor:
    """Band-limited resampling of the reduced clip at the original's sample times: (T, C).

    x(t) = sum_j x_j sinc(t - j) w(t - j) (Whittaker-Shannon, t in reduced samples), with a Hann
    window w of ``half_taps`` samples each side; the clip is mirrored at both ends so the window
    always sees samples.
    """
    (t,), factor = shape, low.meta["downsampled_by"]
    values = low.values.double()  # (n, C)
    n = values.shape[0]
    pad = min(half_taps, n - 1)
    padded = torch.cat([values[1:pad + 1].flip(0), values, values[-pad - 1:-1].flip(0)]) if pad else values
    where = torch.arange(t, dtype=torch.float64) / factor  # (T,)
    base = torch.floor(where).long()  # (T,)
    offsets = torch.arange(-half_taps + 1, half_taps + 1)  # (2 half_taps,)
    taps = base[:, None] + offsets  # (T, 2 half_taps) reduced indices
    distance = where[:, None] - taps  # (T, 2 half_taps)
    window = 0.5 * (1 + torch.cos(math.pi * distance / half_taps))
    weights = torch.sinc(distance) * window  # (T, 2 half_taps)
    index = (taps + pad).clamp(0, padded.shape[0] - 1)
    return torch.einsum("tk,tkc->tc", weights, padded[index]).float()  # (T, C)


def classical(low: Signal, shape: tuple[int, ...]) -> dict[str, torch.Tensor]:
    """The classical upsamplers of the reduced signal at the original's samples, by name."""
    if low.kind == "image":
        return {"bicubic": pillow_upsampled(low, shape, "bicubic"), "lanczos": pillow_upsampled(low, shape, "lanczos")}
    return {"linear": linear_upsampled(low, shape), "sinc": sinc_upsampled(low, shape)}


def score(pred: torch.Tensor, original: Signal) -> dict[str, float]:
    """The kind's metrics of a prediction (N, C) of the original signal."""
    return signals.module(original.kind).evaluate(pred, original.values, original.shape)



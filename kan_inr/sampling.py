"""Where a training step samples the signal: sub-pixel jitter (training between the pixels).

A pixel is a cell (``signals.base``): its value is the mean of the scene over the cell (a box
prefilter), not the scene's value at the centre. Drawing each step's positions uniformly inside the
cells, with the pixel's value as the target, asks the INR for a function whose cell averages are the
pixels (in expectation, the MSE to a box-filtered signal), instead of one that only passes through
the centres and may do anything in between. Evaluation stays on the centres.
"""

from __future__ import annotations

import torch

from kan_inr.signals.base import spacing


def jitter(coords: torch.Tensor, shape: tuple[int, ...], convention: str, width: float = 1.0) -> torch.Tensor:
    """``coords`` (B, d) moved uniformly within ``width`` times each sample's cell: (B, d).

    The cell of an axis of n samples is its spacing wide (``base.spacing``); ``width`` 1 covers the
    whole cell, 0.5 its central half. Positions stay inside [-1, 1] (an endpoint sample's cell is
    clipped there). Draws from torch's global generator of the coordinates' device, which a
    checkpoint saves, so a resumed fit draws the same positions.
    """
    cell = torch.tensor([spacing(n, convention) for n in shape], dtype=coords.dtype, device=coords.device)  # (d,)
    offset = (torch.rand(coords.shape, dtype=coords.dtype, device=coords.device) - 0.5) * (width * cell)  # (B, d)
    return (coords + offset).clamp(-1.0, 1.0)

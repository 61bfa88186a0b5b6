"""Where a training step samples the signal: sub-pixel jitter and the box pixel model (training
between the pixels).

A pixel is a cell (``signals.base``): its value is the mean of the scene over the cell (a box
prefilter), not the scene's value at the centre. Drawing each step's positions uniformly inside the
cells, with the pixel's value as the target, asks the INR for a function whose cell averages are the
pixels (in expectation, the MSE to a box-filtered signal), instead of one that only passes through
the centres and may do anything in between. Evaluation stays on the centres.

The box pixel model (``TrainConfig.box`` = k) takes the cell literally in training and rendering
alike: a pixel is the INR's *mean* over its cell, estimated from k^d samples, so the fit inverts the
area averaging that made the pixels (a camera's, or a downsampler's) instead of asking every point of
the cell to equal the pixel. Training draws one uniform position in each of the k^d sub-cells
(stratified, ``box_positions``); rendering takes the sub-cell centres (the midpoint rule,
``cell_offsets``; ``render.predict_grid``). Plain jitter's loss, E[(f(x) - y)^2] = (mean f - y)^2 +
var f over the cell, also punishes any detail inside a cell; the box model's loss is
(mean f - y)^2 plus only a residual of that variance (stratification shrinks it well below var f / k^d).
"""

from __future__ import annotations

import torch

from kan_inr.errors import KanInrError
from kan_inr.signals.base import CENTERS, spacing


def step_generator(seed: int, step: int, device: torch.device | str) -> torch.Generator:
    """The generator of step ``step``'s sub-pixel positions, seeded by (seed, step): a network fitted
    alone, in a batch of networks (``batched``) or resumed from a checkpoint draws the same positions
    at the same step, with no generator state to save."""
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + step)


def jitter(coords: torch.Tensor, shape: tuple[int, ...], convention: str, width: float = 1.0,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """``coords`` (B, d) moved uniformly within ``width`` times each sample's cell: (B, d).

    The cell of an axis of n samples is its spacing wide (``base.spacing``); ``width`` 1 covers the
    whole cell, 0.5 its central half. Positions stay inside [-1, 1] (an endpoint sample's cell is
    clipped there). Draws from ``generator`` (None: torch's global one).
    """
    cell = torch.tensor([spacing(n, convention) for n in shape], dtype=coords.dtype, device=coords.device)  # (d,)
    offset = (torch.rand(coords.shape, dtype=coords.dtype, device=coords.device, generator=generator) - 0.5) * (width * cell)  # (B, d)
    return (coords + offset).clamp(-1.0, 1.0)


def cell_offsets(k: int, d: int, device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The centres of the k^d equal sub-cells of a cell, in cell widths from its centre: (k^d, d), each
    coordinate in (-1/2, 1/2), row-major (last axis fastest)."""
    centres = (torch.arange(k, device=device, dtype=dtype) + 0.5) / k - 0.5  # (k,)
    return torch.stack(torch.meshgrid(*[centres] * d, indexing="ij"), dim=-1).reshape(-1, d)


def box_positions(coords: torch.Tensor, shape: tuple[int, ...], convention: str, k: int,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Training positions of the box pixel model: for each sample of ``coords`` (B, d), one uniform
    draw inside each of its cell's k^d sub-cells: (k^d, B, d), clipped to [-1, 1]. The mean of the INR
    over the first axis is an unbiased estimate of its mean over the cell."""
    cell = torch.tensor([spacing(n, convention) for n in shape], dtype=coords.dtype, device=coords.device)  # (d,)
    offsets = cell_offsets(k, coords.shape[1], coords.device, coords.dtype)  # (S, d)
    inside = (torch.rand((offsets.shape[0], *coords.shape), dtype=coords.dtype, device=coords.device,
                         generator=generator) - 0.5) / k  # (S, B, d)
    return (coords + (offsets[:, None] + inside) * cell).clamp(-1.0, 1.0)


def check_options(jitter_width: float, box: int, convention: str) -> None:
    """A user error for sampling options that contradict each other or the grid."""
    if box < 0 or box == 1:
        raise KanInrError(f"box must be 0 (a pixel is its centre's value) or at least 2 samples per axis, got {box}")
    if box and jitter_width:
        raise KanInrError("choose one of jitter and box: the box pixel model already samples inside the cells")
    if box and convention != CENTERS:
        raise KanInrError("the box pixel model needs a grid of cells (images); this signal's samples are instants")


def training_positions(coords: torch.Tensor, shape: tuple[int, ...], convention: str, jitter_width: float,
                       box: int, seed: int = 0, step: int = 0) -> torch.Tensor:
    """Where training step ``step`` evaluates the INR for the samples at ``coords`` (B, d): (S * B, d),
    sample-major, with S = box^d for the box pixel model (``step.mse_loss`` averages each sample's S
    predictions) and S = 1 otherwise (jittered when ``jitter_width`` > 0); random draws from
    ``step_generator(seed, step)``."""
    if box:
        generator = step_generator(seed, step, coords.device)
        return box_positions(coords, shape, convention, box, generator).reshape(-1, coords.shape[1])
    if jitter_width:
        return jitter(coords, shape, convention, jitter_width, step_generator(seed, step, coords.device))
    return coords

"""Chunked inference of a model on any grid: model x grid -> values (evaluation passes,
super-resolution, new sample rates). Loading a run and writing a render is ``jobs.render_run``.

Coordinates are generated chunk by chunk (``base.grid_chunk``), so a 4K image or a long clip needs
memory for one chunk of coordinates and outputs only, plus the (N, C) result on the host.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from kan_inr.sampling import cell_offsets
from kan_inr.signals.base import ENDPOINTS, denormalise, grid_chunk, spacing
from kan_inr.spectral import prefiltered, render_cells

DEFAULT_CHUNK = 2**16


@torch.no_grad()
def predict_grid(model: nn.Module, shape: tuple[int, ...], device: torch.device | str,
                 chunk: int = DEFAULT_CHUNK, out_device: torch.device | str | None = None,
                 extent: tuple[tuple[float, float], ...] | None = None, convention: str = ENDPOINTS,
                 box: int = 0) -> torch.Tensor:
    """Model outputs on every sample of ``grid(shape, convention=convention)``: (prod(shape), out_dim) on ``out_device``
    (default: ``device``). Runs in eval mode and restores the model's previous mode.

    ``extent`` ((lo, hi) per axis) maps the grid's [-1, 1] affinely onto [lo, hi]: a clip rendered at a
    new sample rate, or a part of it. None = the training grid itself.

    ``box`` >= 2: each sample is the mean of the model at the centres of its cell's box^d sub-cells
    (the box pixel model, ``sampling``), the cell being this grid's, so a render at any size averages
    over its own pixels; 0 = the model at the sample itself.

    A chunk that runs out of CUDA memory is retried at half the size (down to one sample), so a big
    render on a busy GPU slows down instead of failing."""
    was_training = model.training
    model.eval()
    n = math.prod(shape)
    offsets = None
    if box:
        scale = [1.0] * len(shape) if extent is None else [(hi - lo) / 2 for lo, hi in extent]
        cell = torch.tensor([spacing(m, convention) * s for m, s in zip(shape, scale)], device=device)  # (d,)
        offsets = cell_offsets(box, len(shape), device) * cell  # (S, d) from a sample to its sub-cell centres
        chunk = max(1, chunk // len(offsets))  # S model calls per sample: keep a chunk's memory
    outputs = []
    start = 0
    try:
        while start < n:
            stop = min(start + chunk, n)
            try:
                coords = grid_chunk(shape, start, stop, device, convention)  # (M, d)
                if extent is not None:
                    lo, hi = (torch.tensor(e, dtype=coords.dtype, device=coords.device) for e in zip(*extent))  # (d,)
                    coords = lo + (coords + 1) * (0.5 * (hi - lo))
                if offsets is None:
                    pred = model(coords).float()  # (M, out_dim)
                else:
                    points = (coords + offsets[:, None]).reshape(-1, coords.shape[1])  # (S * M, d)
                    pred = model(points).float().reshape(len(offsets), len(coords), -1).mean(0)  # (M, out_dim)
                outputs.append(pred.to(out_device or device))
            except torch.cuda.OutOfMemoryError:
                if chunk == 1:
                    raise
                chunk = max(1, chunk // 2)
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()  # return the failed chunk's blocks before retrying
                continue
            start = stop
    finally:
        model.train(was_training)
    return torch.cat(outputs)


def reconstruct(model: nn.Module, config: dict, shape: tuple[int, ...], device: torch.device | str,
                chunk: int = DEFAULT_CHUNK, extent: tuple[tuple[float, float], ...] | None = None,
                prefilter: bool = True) -> torch.Tensor:
    """A run's model on ``grid(shape)``, mapped back to the signal's value range: (N, C) on the CPU.
    ``prefilter``: a render coarser than the fitted grid box-filters the first KAN layer
    (``spectral.prefiltered``) instead of aliasing. A run fitted with the box pixel model renders
    each pixel as its cell's mean (``predict_grid``), at any size."""
    signal = config["signal"]
    value_range = tuple(signal["value_range"])
    target_range = tuple(config["train"].get("target_range") or value_range)
    cells = render_cells(tuple(signal["shape"]), tuple(shape), signal["convention"], extent)
    with prefiltered(model, cells if prefilter else (None,) * len(cells)):
        pred = predict_grid(model, shape, device, chunk, out_device="cpu", extent=extent,
                            convention=signal["convention"], box=config["train"].get("box", 0))
    return denormalise(pred, value_range, target_range)

"""Chunked inference of a model on any grid: model x grid -> values (evaluation passes,
super-resolution, new sample rates). Loading a run and writing a render is ``jobs.render_run``.

Coordinates are generated chunk by chunk (``base.grid_chunk``), so a 4K image or a long clip needs
memory for one chunk of coordinates and outputs only, plus the (N, C) result on the host.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from kan_inr.config import TrainConfig, train_config
from kan_inr.geometry import ENDPOINTS, cell_widths
from kan_inr.pixels import PixelModel
from kan_inr.signals.base import Signal, denormalise, grid_chunk
from kan_inr.spectral import prefiltered, render_cells

DEFAULT_CHUNK = 2**16


@dataclass(frozen=True)
class Fitted:
    """What training and rendering need to know of the fit behind a model: the grid it was fitted on
    (``shape``, where its samples sit: ``convention``), the signal's value range, the range the model was
    trained on, and the pixel model it was trained with (``of_grid``, from the training options)."""

    shape: tuple[int, ...]
    convention: str
    value_range: tuple[float, float]
    target_range: tuple[float, float]
    pixels: PixelModel

    @classmethod
    def of(cls, signal: Signal, train: TrainConfig) -> Fitted:
        """The fit of ``signal`` with ``train``."""
        return cls.of_grid(signal.shape, signal.convention, signal.value_range, train)

    @classmethod
    def of_run(cls, config: dict[str, Any]) -> Fitted:
        """The fit a run's config.json records (validated: ``runs.load_config``)."""
        signal = config["signal"]
        value_range = (float(signal["value_range"][0]), float(signal["value_range"][1]))
        return cls.of_grid(tuple(signal["shape"]), signal["convention"], value_range, train_config(config))

    @classmethod
    def of_grid(cls, shape: tuple[int, ...], convention: str, value_range: tuple[float, float],
             train: TrainConfig) -> Fitted:
        """The one place a fit's training options become its pixel model and target range: a user error
        for a pixel model this grid cannot have (``PixelModel.check``)."""
        pixels = PixelModel.of(train)
        pixels.check(convention)
        return cls(shape, convention, value_range, train.target_range or value_range, pixels)


@torch.no_grad()
def predict_grid(model: nn.Module, shape: tuple[int, ...], device: torch.device | str,
                 chunk: int = DEFAULT_CHUNK, out_device: torch.device | str | None = None,
                 extent: tuple[tuple[float, float], ...] | None = None, convention: str = ENDPOINTS, *,
                 pixels: PixelModel) -> torch.Tensor:
    """Model outputs on every sample of ``grid(shape, convention=convention)``: (prod(shape), out_dim) on ``out_device``
    (default: ``device``). Runs in eval mode and restores the model's previous mode.

    ``extent`` ((lo, hi) per axis) maps the grid's [-1, 1] affinely onto [lo, hi]: a clip rendered at a
    new sample rate, or a part of it. None = the training grid itself.

    ``pixels``: how a sample is rendered (``pixels.PixelModel``): the model at the sample itself (point),
    or the mean of the model at the centres of its cell's k^d sub-cells (box k), the cell being this
    grid's, so a render at any size averages over its own pixels.

    A chunk that runs out of CUDA memory is retried at half the size (down to one sample), so a big
    render on a busy GPU slows down instead of failing."""
    was_training = model.training
    model.eval()
    n = math.prod(shape)
    offsets = pixels.render_offsets(cell_widths(shape, convention, extent), device)  # (S, d) or None: points
    if offsets is not None:
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
                    pred = pixels.reduce(model(points).float(), len(coords))  # (S * M, out_dim) -> (M, out_dim)
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


def reconstruct(model: nn.Module, fitted: Fitted, shape: tuple[int, ...], device: torch.device | str,
                chunk: int = DEFAULT_CHUNK, extent: tuple[tuple[float, float], ...] | None = None,
                prefilter: bool = True) -> torch.Tensor:
    """A model ``fitted`` as it says on ``grid(shape)``, mapped back to the signal's value range: (N, C) on
    the CPU. ``prefilter``: a render coarser than the fitted grid box-filters the first KAN layer
    (``spectral.prefiltered``) instead of aliasing. A fit with the box pixel model renders each pixel
    as its cell's mean (``predict_grid``), at any size."""
    cells = render_cells(fitted.shape, tuple(shape), fitted.convention, extent)
    with prefiltered(model, cells if prefilter else (None,) * len(cells)):
        pred = predict_grid(model, shape, device, chunk, out_device="cpu", extent=extent,
                            convention=fitted.convention, pixels=fitted.pixels)
    return denormalise(pred, fitted.value_range, fitted.target_range)

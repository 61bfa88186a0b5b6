"""Chunked inference of a model on any grid: evaluation passes, super-resolution, new sample rates.

Coordinates are generated chunk by chunk (``base.grid_chunk``), so a 4K image or a long clip needs
memory for one chunk of coordinates and outputs only, plus the (N, C) result on the host.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from kan_inr.signals.base import ENDPOINTS, grid_chunk
from kan_inr.spectral import prefiltered, render_cells

DEFAULT_CHUNK = 2**16


@torch.no_grad()
def predict_grid(model: nn.Module, shape: tuple[int, ...], device: torch.device | str,
                 chunk: int = DEFAULT_CHUNK, out_device: torch.device | str | None = None,
                 extent: tuple[tuple[float, float], ...] | None = None, convention: str = ENDPOINTS) -> torch.Tensor:
    """Model outputs on every sample of ``grid(shape, convention=convention)``: (prod(shape), out_dim) on ``out_device``
    (default: ``device``). Runs in eval mode and restores the model's previous mode.

    ``extent`` ((lo, hi) per axis) maps the grid's [-1, 1] affinely onto [lo, hi]: a clip rendered at a
    new sample rate, or a part of it. None = the training grid itself.

    A chunk that runs out of CUDA memory is retried at half the size (down to one sample), so a big
    render on a busy GPU slows down instead of failing."""
    was_training = model.training
    model.eval()
    n = math.prod(shape)
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
                outputs.append(model(coords).float().to(out_device or device))  # (M, out_dim)
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
    (``spectral.prefiltered``) instead of aliasing."""
    from kan_inr.signals.base import denormalise

    signal = config["signal"]
    value_range = tuple(signal["value_range"])
    target_range = tuple(config["train"].get("target_range") or value_range)
    cells = render_cells(tuple(signal["shape"]), tuple(shape), signal["convention"], extent)
    with prefiltered(model, cells if prefilter else (None,) * len(cells)):
        pred = predict_grid(model, shape, device, chunk, out_device="cpu", extent=extent,
                            convention=signal["convention"])
    return denormalise(pred, value_range, target_range)


@dataclass(frozen=True)
class RenderPlan:
    """What to render: the grid, the meta the kind's writer needs (sample rate ...), the coordinate
    extent per axis (None = [-1, 1]) and extra keyword options for the kind's ``save``."""

    shape: tuple[int, ...]
    meta: dict[str, Any]
    extent: tuple[tuple[float, float], ...] | None = None
    save_options: dict[str, Any] = field(default_factory=dict)


def target_shape(signal: dict, scale: float | None = None, size: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """The grid to render: the source's, scaled by ``scale``, or an explicit ``size`` (same order)."""
    from kan_inr import KanInrError

    shape = tuple(signal["shape"])
    if size is not None:
        if len(size) != len(shape) or min(size) < 1:
            raise KanInrError(f"render size {size} does not fit a {len(shape)}-d {signal['kind']} signal")
        return tuple(size)
    if scale is not None:
        if not (scale > 0 and math.isfinite(scale)):
            raise KanInrError(f"--scale must be a positive number, got {scale}")
        return tuple(max(1, round(n * scale)) for n in shape)
    return shape


def plan(signal: dict, scale: float | None = None, size: tuple[int, ...] | None = None,
         **kind_options: Any) -> RenderPlan:
    """The kind's ``render_plan`` when it has one (audio: --rate, --duration, --subtype), else the
    source grid scaled or resized; options a kind does not take are one clear error."""
    from kan_inr import KanInrError, signals

    kind = signals.module(signal["kind"])
    kind_options = {k: v for k, v in kind_options.items() if v is not None}
    if hasattr(kind, "render_plan"):
        return kind.render_plan(signal, scale=scale, size=size, **kind_options)
    if kind_options:
        flags = ", ".join(f"--{k}" for k in kind_options)
        raise KanInrError(f"{flags}: not an option for {signal['kind']} runs")
    return RenderPlan(target_shape(signal, scale, size), signal["meta"])


def render_run(run_dir, out=None, scale: float | None = None, size: tuple[int, ...] | None = None,
               device: str = "auto", chunk: int = DEFAULT_CHUNK, prefilter: bool = True, **kind_options: Any):
    """Render a run folder's INR on a new grid and write it with the signal kind's writer.
    ``kind_options`` go to the kind's ``render_plan`` (audio: rate, duration, subtype). ``prefilter``:
    a render coarser than the fitted grid box-filters the first KAN layer (``spectral.prefiltered``)."""
    from pathlib import Path

    from kan_inr import signals
    from kan_inr.fit import resolve_device
    from kan_inr.runs import load_config, load_run

    todo = plan(load_config(Path(run_dir))["signal"], scale, size, **kind_options)  # check options before the weights
    dev = resolve_device(device)
    run = load_run(run_dir, dev)
    kind = signals.module(run.signal["kind"])
    out = Path(out) if out else run.run_dir / f"render-{'x'.join(map(str, todo.shape))}{kind.RECONSTRUCTION_SUFFIX}"
    return render_model(run.model, run.config, todo, out, dev, chunk, prefilter)


def render_model(model: nn.Module, config: dict, todo: RenderPlan, out, device: torch.device | str,
                 chunk: int = DEFAULT_CHUNK, prefilter: bool = True):
    """Write ``model`` (on ``device``) rendered as ``todo`` plans to the file ``out`` with its kind's writer."""
    from kan_inr import signals

    values = reconstruct(model, config, todo.shape, device, chunk, todo.extent, prefilter)
    return signals.module(config["signal"]["kind"]).save(values, todo.shape, todo.meta, out, **todo.save_options)

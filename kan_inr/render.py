"""Chunked inference of a model on any grid: evaluation passes, super-resolution, new sample rates.

Coordinates are generated chunk by chunk (``base.grid_chunk``), so a 4K image or a long clip needs
memory for one chunk of coordinates and outputs only, plus the (N, C) result on the host.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from kan_inr.signals.base import grid_chunk

DEFAULT_CHUNK = 2**16


@torch.no_grad()
def predict_grid(model: nn.Module, shape: tuple[int, ...], device: torch.device | str,
                 chunk: int = DEFAULT_CHUNK, out_device: torch.device | str | None = None) -> torch.Tensor:
    """Model outputs on every sample of ``grid(shape)``: (prod(shape), out_dim) on ``out_device``
    (default: ``device``). Runs in eval mode and restores the model's previous mode.

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
                coords = grid_chunk(shape, start, stop, device)  # (M, d)
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
                chunk: int = DEFAULT_CHUNK) -> torch.Tensor:
    """A run's model on ``grid(shape)``, mapped back to the signal's value range: (N, C) on the CPU."""
    from kan_inr.signals.base import denormalise

    signal = config["signal"]
    value_range = tuple(signal["value_range"])
    target_range = tuple(config["train"].get("target_range") or value_range)
    pred = predict_grid(model, shape, device, chunk, out_device="cpu")
    return denormalise(pred, value_range, target_range)


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


def render_run(run_dir, out=None, scale: float | None = None, size: tuple[int, ...] | None = None,
               device: str = "auto", chunk: int = DEFAULT_CHUNK):
    """Render a run folder's INR on a new grid and write it with the signal kind's writer."""
    from pathlib import Path

    from kan_inr import signals
    from kan_inr.fit import resolve_device
    from kan_inr.runs import load_run

    dev = resolve_device(device)
    run = load_run(run_dir, dev)
    shape = target_shape(run.signal, scale, size)
    kind = signals.module(run.signal["kind"])
    out = Path(out) if out else run.run_dir / f"render-{'x'.join(map(str, shape))}{kind.RECONSTRUCTION_SUFFIX}"
    values = reconstruct(run.model, run.config, shape, dev, chunk)
    return kind.save(values, shape, run.signal["meta"], out)

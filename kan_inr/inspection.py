"""`kan-inr inspect RUN`: what the first KAN layer of a fitted run learned (named inspection, not
`inspect`, so it never shadows the standard library module).

Left: the learned one-dimensional functions phi_oi(x) of the first layer (a grid of small plots, one
per edge from input i to output o, as pykan's ``model.plot()`` shows a KAN), over the whole extent
[-1, 1] with the fitted samples' spacing marked. Right: the energy of the layer's coefficients per
frequency k (Fourier) or degree k (Chebyshev), with the grid's Nyquist limit (``geometry.nyquist``):
energy beyond it is detail the samples cannot show, which aliases between them in a larger render.
Written as ``inspect.png`` in the run folder and as a TensorBoard figure in its ``tb/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from kan_inr.errors import KanInrError
from kan_inr import plots, spectral
from kan_inr.geometry import nyquist
from kan_inr.models.layers import KANLayer
from kan_inr.runs import load_run

MAX_EDGES = 16  # edges drawn per input (the first outputs)
CURVE_POINTS = 1000


@torch.no_grad()
def edge_functions(layer: KANLayer, points: int = CURVE_POINTS, outputs: int = MAX_EDGES
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(x (P,), phi (P, in, out')) for the first ``outputs`` outputs: phi_oi(x) - phi_oi(0).

    A KAN layer is additive over its inputs, y_o(x) = sum_i phi_oi(x_i) (+ bias), so moving input i
    alone from 0 to x changes y_o by phi_oi(x) - phi_oi(0): the edge function up to a constant.
    """
    x = torch.linspace(-1.0, 1.0, points, device=layer.weight.device)  # (P,)
    n_in = layer.in_features
    zero = layer(torch.zeros(1, n_in, device=x.device))[:, :outputs]  # (1, out')
    curves = []
    for i in range(n_in):
        inputs = torch.zeros(points, n_in, device=x.device)
        inputs[:, i] = x
        curves.append(layer(inputs)[:, :outputs] - zero)  # (P, out')
    return x.cpu().numpy(), torch.stack(curves, dim=1).float().cpu().numpy()


def figure(layer: KANLayer, shape: tuple[int, ...], convention: str, title: str) -> Figure:
    """The inspect figure of a first KAN layer fitted on a grid of ``shape``."""
    x, phi = edge_functions(layer)  # (P,), (P, in, out')
    n_in, n_out = phi.shape[1], phi.shape[2]
    cols = min(n_out, 8)
    rows = n_in * -(-n_out // cols)
    fig = Figure(figsize=(2.0 * cols + 5.5, 1.3 * rows + 1.2), layout="constrained")
    left, right = fig.subfigures(1, 2, squeeze=False, width_ratios=[2.0 * cols, 5.5])[0]
    axes = left.subplots(rows, cols, squeeze=False, sharex=True)
    per_input = rows // n_in
    for i in range(n_in):
        for o in range(n_out):
            ax = axes[i * per_input + o // cols, o % cols]
            ax.plot(x, phi[:, i, o], linewidth=0.8)
            ax.set_title(f"x{i} -> {o}", fontsize=7)
            ax.tick_params(labelsize=6)
    left.suptitle(f"learned functions phi(x) - phi(0) of the first layer (first {n_out} outputs per input)",
                  fontsize=9)
    ax = right.subplots()
    columns = spectral.column_frequencies(layer)
    if columns is None:
        ax.text(0.5, 0.5, f"{type(layer).__name__}: no frequency basis", ha="center", va="center")
        ax.set_axis_off()
    else:
        ks, energy = spectral.energy_per_frequency(layer)
        ax.semilogy(ks.numpy(), np.maximum(energy.numpy(), 1e-30), linewidth=0.8)
        word = "frequency" if isinstance(layer, spectral.FourierKAN) else "degree"
        for a, n in enumerate(dict.fromkeys(shape)):
            limit = nyquist(n, convention)
            ax.axvline(limit, color="red", linestyle="--", linewidth=1,
                       label=f"Nyquist of {n} samples: {limit:.0f}" if a == 0 or len(shape) > 1 else None)
        ax.set_xlabel(f"{word} k")
        ax.set_ylabel("energy (sum of squared coefficients)")
        ax.legend(fontsize=8)
        ax.set_title(f"first-layer energy per {word}", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return fig


def inspect_run(run_dir: str | Path, out: str | Path | None = None, device: str = "cpu") -> Path:
    """Draw the first KAN layer of a run: ``<run>/inspect.png`` (or ``out``) and the same figure in
    TensorBoard (tag ``inspect/first_layer`` under ``<run>/tb``). Returns the PNG's path."""
    run = load_run(run_dir, device)
    layer = spectral.first_basis_layer(run.model)
    if layer is None:
        raise KanInrError(f"{run.run_dir}: model '{run.config['model']['name']}' has no KAN layer to inspect "
                          f"(inspect shows Fourier-, Chebyshev- and B-spline-KAN layers)")
    shape = tuple(run.signal["shape"])
    title = (f"{run.run_dir.name}: {run.config['model']['name']} fitted on {'x'.join(map(str, shape))} "
             f"({run.signal['convention']})")
    fig = figure(layer, shape, run.signal["convention"], title)
    path = plots.save(fig, Path(out) if out is not None else run.run_dir / "inspect.png")
    _to_tensorboard(run.run_dir / "tb", fig, run)
    return path


def _to_tensorboard(tb_dir: Path, fig: Figure, run: Any) -> None:
    from torch.utils.tensorboard import SummaryWriter  # optional heavy library, loaded only when a figure is logged

    writer = SummaryWriter(str(tb_dir))
    try:
        step = int((run.config.get("train") or {}).get("steps", 0))
        writer.add_figure("inspect/first_layer", fig, step)
    finally:
        writer.close()

"""Figures of a comparison: quality curves (mean over signals) and crops of reconstructions with errors.

Drawn with matplotlib's object API on the Agg canvas (``Figure`` + ``savefig``), never pyplot, so no
global backend is set and nothing opens a window. Inputs are plain numpy arrays; ``comparison.report``
decides what to draw. Every figure is written atomically (``atomic.atomic_write``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from kan_inr.atomic import atomic_write

Curve = tuple[np.ndarray, np.ndarray]  # (x (E,), y (E,)) one run's evaluations


def mean_curve(curves: list[Curve]) -> Curve:
    """Mean of several curves on the union of their x values, within the x range all of them cover
    (each curve linearly interpolated; runs of unequal speed share no time stamps)."""
    if len(curves) == 1:
        return curves[0]
    lo = max(float(x[0]) for x, _ in curves)
    hi = min(float(x[-1]) for x, _ in curves)
    xs = np.unique(np.concatenate([x for x, _ in curves]))
    xs = xs[(xs >= lo) & (xs <= hi)]
    if xs.size == 0:  # disjoint ranges: fall back to the shared end point
        xs = np.array([hi])
    ys = np.mean([np.interp(xs, x, y) for x, y in curves], axis=0)  # (E,)
    return xs, ys


def curves(path: Path, by_model: dict[str, list[Curve]], labels: dict[str, str], xlabel: str, ylabel: str,
           title: str) -> Path:
    """One line per model: the mean of its runs' curves."""
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for model, runs in by_model.items():
        x, y = mean_curve(runs)
        finite = np.isfinite(y)
        ax.plot(x[finite], y[finite], marker="o", markersize=3, label=labels.get(model, model))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return save(fig, path)


def detail_window(gray: np.ndarray, side: int) -> tuple[int, int]:
    """Top-left (row, col) of the ``side`` x ``side`` window of ``gray`` (H, W) with the largest
    variance: the most detailed region, where models differ most."""
    h, w = gray.shape
    stride = max(1, side // 4)
    best, where = -1.0, (0, 0)
    for r in range(0, h - side + 1, stride):
        for c in range(0, w - side + 1, stride):
            v = float(gray[r:r + side, c:c + side].var())
            if v > best:
                best, where = v, (r, c)
    return where


def _display(values: np.ndarray) -> np.ndarray:
    """(h, w, C) in [0, 1] -> something imshow draws: gray (h, w) or RGB (h, w, 3)."""
    values = np.clip(values, 0.0, 1.0)
    return values[:, :, 0] if values.shape[2] < 3 else values[:, :, :3]


def image_crops(path: Path, target: np.ndarray, preds: dict[str, tuple[np.ndarray, float]],
                shape: tuple[int, ...], metric: str, unit: str, title: str) -> Path:
    """Top row: the ground-truth crop and each model's reconstruction of it (titled with the full
    image's metric); bottom row: the full image with the crop marked, and each model's absolute
    error on the crop (mean over channels, one colour scale for all models).

    target: (N, C) in [0, 1]; preds: model -> ((N, C), metric value); shape: (H, W).
    """
    h, w = shape
    image = target.reshape(h, w, -1)  # (H, W, C)
    side = min(h, w, max(64, min(h, w) // 4))
    r, c = detail_window(image.mean(axis=2), side)
    crop = (slice(r, r + side), slice(c, c + side))
    errors = {m: np.abs(p.reshape(h, w, -1)[crop] - image[crop]).mean(axis=2) for m, (p, _) in preds.items()}
    vmax = max([float(np.percentile(e, 99.5)) for e in errors.values()] + [1e-6])
    gray = "gray" if image.shape[2] < 3 else None

    cols = 1 + len(preds)
    fig = Figure(figsize=(2.4 * cols + 0.8, 5.2), layout="constrained")
    axes = fig.subplots(2, cols, squeeze=False)
    axes[0, 0].imshow(_display(image[crop]), cmap=gray, vmin=0, vmax=1, interpolation="nearest")
    axes[0, 0].set_title(f"ground truth\ncrop {side}x{side} at ({r}, {c})", fontsize=9)
    axes[1, 0].imshow(_display(image), cmap=gray, vmin=0, vmax=1)
    axes[1, 0].add_patch(Rectangle((c - 0.5, r - 0.5), side, side, fill=False, edgecolor="red", linewidth=1.5))
    axes[1, 0].set_title(f"full {w}x{h}", fontsize=9)
    shown = None
    for j, (model, (pred, value)) in enumerate(preds.items(), start=1):
        axes[0, j].imshow(_display(pred.reshape(h, w, -1)[crop]), cmap=gray, vmin=0, vmax=1,
                          interpolation="nearest")
        axes[0, j].set_title(f"{model}\n{metric.upper()} {value:.2f} {unit}",
                             fontsize=9)
        shown = axes[1, j].imshow(errors[model], cmap="inferno", vmin=0, vmax=vmax, interpolation="nearest")
        axes[1, j].set_title(f"|error|, mean {errors[model].mean():.4f}", fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    if shown is not None:
        fig.colorbar(shown, ax=axes[1, 1:].tolist(), shrink=0.9, label="|prediction - target|")
    fig.suptitle(title, fontsize=11)
    return save(fig, path)


def waveform_crops(path: Path, target: np.ndarray, preds: dict[str, tuple[np.ndarray, float]], length: int,
                   metric: str, unit: str, title: str, sample_rate: int | None) -> Path:
    """Audio: per model, a short window of the waveform (target and reconstruction, first channel)
    above its error. target: (T, C); preds: model -> ((T, C), metric value)."""
    window = min(length, 1024)
    wave = target[:, 0]  # (T,)
    energy = np.convolve(wave**2, np.ones(window), mode="valid")  # (T - window + 1,)
    start = int(np.argmax(energy))
    span = slice(start, start + window)
    t = np.arange(start, start + window) / (sample_rate or 1)
    xlabel = "time (s)" if sample_rate else "sample"
    fig = Figure(figsize=(8, 2.6 * len(preds)), layout="constrained")
    axes = fig.subplots(len(preds), 2, squeeze=False)
    for i, (model, (pred, value)) in enumerate(preds.items()):
        axes[i, 0].plot(t, wave[span], color="black", linewidth=1, label="target")
        axes[i, 0].plot(t, pred[span, 0], color="tab:orange", linewidth=0.8, label=model)
        axes[i, 0].set_title(f"{model}: {metric.upper()} {value:.2f} {unit}", fontsize=9)
        axes[i, 0].set_xlabel(xlabel)
        axes[i, 0].set_ylabel("amplitude")
        axes[i, 0].legend(fontsize=7)
        axes[i, 1].plot(t, pred[span, 0] - wave[span], color="tab:red", linewidth=0.8)
        axes[i, 1].set_title(f"{model}: error", fontsize=9)
        axes[i, 1].set_xlabel(xlabel)
        axes[i, 1].set_ylabel("prediction - target")
    fig.suptitle(title, fontsize=11)
    return save(fig, path)


def save(fig: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=110))
    return path

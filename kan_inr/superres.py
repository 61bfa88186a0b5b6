"""Super-resolution: is an INR right between its samples? (the protocols "superres", "bach-superres",
"speech-superres" and the ttq ones)

A signal is reduced by a factor F (images: each output pixel the mean of an F x F block, area
averaging; audio: every F-th sample, plain decimation without a band-limiting filter), the model is
fitted to the reduced signal, rendered at the original's samples and scored against the original
with the kind's metrics (PSNR / SSIM; SNR / LSD). Beside it: the classical answers to the same
question from the same reduced input (images: Pillow bicubic and Lanczos; audio: linear
interpolation and a band-limited windowed-sinc resampler).

Geometry (``signals.base``): the reduced image's pixel j covers original pixels [jF, (j + 1)F), so
the original's pixel centres are the centres of an F-times finer grid over the same extent; the
reduced clip's sample j is the original's sample jF, so original sample i sits at reduced index i / F.

``fit_scored`` is the one "fit, then score on the grid and at the original's samples" that the API's
in-memory fit, the tuning trials and the benchmark scripts share, with one divergence policy.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from kan_inr.errors import KanInrError
from kan_inr import plots, signals
from kan_inr.atomic import write_json, write_text
from kan_inr.device import resolve_device
from kan_inr.jobs import start_run
from kan_inr.logging import NullLog
from kan_inr.metrics import mean_std
from kan_inr.render import Fitted, reconstruct
from kan_inr.runs import load_run, read_status
from kan_inr.training import FitResult, fit
from kan_inr.signals.base import Signal
from kan_inr.signals.image import area_matrix

SINC_HALF_TAPS = 32  # band-limited resampler: windowed sinc over 2 x 32 input samples


def downsample(signal: Signal, factor: int) -> Signal:
    """``signal`` reduced by ``factor``: images by area averaging (sizes rounded down, at least 1),
    audio by keeping every ``factor``-th sample (the first one included) at 1 / factor of the rate."""
    if factor < 1:
        raise KanInrError(f"--downsample must be a whole factor of at least 1, got {factor}")
    meta = dict(signal.meta)
    if signal.kind == "image":
        h, w = signal.shape
        h2, w2 = max(1, h // factor), max(1, w // factor)
        image = signal.values.reshape(h, w, -1).double()  # (H, W, C)
        low = torch.einsum("ih,hwc,jw->ijc", area_matrix(h, h2), image, area_matrix(w, w2)).float()  # (h2, w2, C)
        return dataclasses.replace(signal, values=low.reshape(h2 * w2, -1), shape=(h2, w2), meta=meta)
    if signal.kind == "audio":
        values = signal.values[::factor].contiguous()  # (ceil(T / F), C)
        meta["sample_rate"] = round(signal.meta["sample_rate"] / factor)  # a file's rate is whole hertz
        return dataclasses.replace(signal, values=values, shape=(values.shape[0],), meta=meta)
    raise KanInrError(f"no super-resolution measure for {signal.kind} signals")


def original_extent(low: Signal, shape: tuple[int, ...], factor: int) -> tuple[tuple[float, float], ...] | None:
    """Where the original's samples lie in the reduced signal's coordinates (``render.predict_grid``'s
    ``extent``): images None (the same extent, finer cells); audio the endpoints of sample 0 and T - 1
    at reduced indices 0 and (T - 1) / F."""
    if low.kind != "audio":
        return None
    (t_low,), (t,) = low.shape, shape
    last = -1.0 + 2.0 * ((t - 1) / factor) / max(t_low - 1, 1)
    return ((-1.0, last),)


def model_upsampled(model: nn.Module, config: dict[str, Any], low: Signal, shape: tuple[int, ...], factor: int,
                    device: torch.device | str) -> torch.Tensor:
    """A fitted run's INR at the original's samples: (prod(shape), C) in the signal's range, on the CPU."""
    return reconstruct(model, Fitted.of_run(config), shape, device, extent=original_extent(low, shape, factor))


def pillow_upsampled(low: Signal, shape: tuple[int, ...], method: str) -> torch.Tensor:
    """Pillow's ``method`` ("bicubic", "lanczos") resize of the reduced image to ``shape``, each
    channel as a float image (no 8-bit rounding): (prod(shape), C)."""
    from PIL import Image  # Pillow: only for the classical baselines

    resample = {"bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS}[method]
    h, w = low.shape
    image = low.values.reshape(h, w, -1).numpy().astype(np.float32)  # (h, w, C)
    channels = [np.asarray(Image.fromarray(image[:, :, c], mode="F").resize((shape[1], shape[0]), resample))
                for c in range(image.shape[2])]
    return torch.from_numpy(np.stack(channels, axis=-1).reshape(shape[0] * shape[1], -1))


def linear_upsampled(low: Signal, shape: tuple[int, ...], factor: int) -> torch.Tensor:
    """Linear interpolation of the reduced clip at the original's sample times: (T, C)."""
    (t,) = shape
    where = np.arange(t) / factor  # (T,) reduced indices
    known = np.arange(low.shape[0])
    values = low.values.double().numpy()
    return torch.from_numpy(np.stack([np.interp(where, known, values[:, c]) for c in range(values.shape[1])],
                                     axis=-1)).float()


def sinc_upsampled(low: Signal, shape: tuple[int, ...], factor: int, half_taps: int = SINC_HALF_TAPS) -> torch.Tensor:
    """Band-limited resampling of the reduced clip at the original's sample times: (T, C).

    x(t) = sum_j x_j sinc(t - j) w(t - j) (Whittaker-Shannon, t in reduced samples), with a Hann
    window w of ``half_taps`` samples each side; the clip is extended past both ends by point
    reflection so the window always sees samples.
    """
    (t,) = shape
    values = low.values.double()  # (n, C)
    n = values.shape[0]
    pad = min(half_taps, n - 1)
    # point reflection (2 x_0 - x_j) continues the clip's value and slope across each end: less ringing
    # there than a mirror, whose kink is broadband
    padded = torch.cat([2 * values[:1] - values[1:pad + 1].flip(0), values,
                        2 * values[-1:] - values[-pad - 1:-1].flip(0)]) if pad else values
    where = torch.arange(t, dtype=torch.float64) / factor  # (T,)
    base = torch.floor(where).long()  # (T,)
    offsets = torch.arange(-half_taps + 1, half_taps + 1)  # (2 half_taps,)
    taps = base[:, None] + offsets  # (T, 2 half_taps) reduced indices
    distance = where[:, None] - taps  # (T, 2 half_taps)
    window = 0.5 * (1 + torch.cos(math.pi * distance / half_taps))
    weights = torch.sinc(distance) * window  # (T, 2 half_taps)
    index = (taps + pad).clamp(0, padded.shape[0] - 1)
    return torch.einsum("tk,tkc->tc", weights, padded[index]).float()  # (T, C)


def classical(low: Signal, shape: tuple[int, ...], factor: int) -> dict[str, torch.Tensor]:
    """The classical upsamplers of the reduced signal at the original's samples, by name."""
    if low.kind == "image":
        return {"bicubic": pillow_upsampled(low, shape, "bicubic"), "lanczos": pillow_upsampled(low, shape, "lanczos")}
    return {"linear": linear_upsampled(low, shape, factor), "sinc": sinc_upsampled(low, shape, factor)}


def score(pred: torch.Tensor, original: Signal) -> dict[str, float]:
    """The kind's metrics of a prediction (N, C) of the original signal."""
    return signals.module(original.kind).evaluate(pred, original.values, original.shape)


@dataclass
class FitScores:
    """A fit in memory and its headline scores (PSNR for images, SNR for audio, in dB)."""

    model: nn.Module  # the fitted network in eval mode, on its training device
    config: dict[str, Any]  # its config.json, as a run folder would hold it
    result: FitResult
    grid: float  # on the grid it was fitted to: the fit's last full-grid evaluation (``final_<headline>``)
    upsampled: float | None  # rendered at the original's samples and scored against it; None without one

    @property
    def diverged_at(self) -> int | None:
        """The step whose loss was not finite, or None."""
        return self.result.diverged_at


def fit_scored(path: str | Path, model: str, *, signal: Signal | None = None, original: Signal | None = None,
               factor: int = 2, log: NullLog = NullLog(), **options: Any) -> FitScores:
    """Fit ``model`` to ``signal`` (or the file ``path``) in memory with ``options`` (``jobs.start_run``'s:
    training options, ``model_overrides``, ``load_options``) and score it on its grid and, when
    ``original`` is given (``signal`` being it reduced by ``factor``, ``downsample``), at the original's
    samples.

    Divergence: a fit whose loss turned non-finite keeps the best weights its evaluations saw
    (``training.train``: the initial ones if it diverged before its first evaluation) and is scored on
    them, both numbers, as any fit is: its grid score is those weights' full-grid evaluation, its 2x
    score their render. It is not an error here; ``diverged_at`` says it happened, and a caller that
    hands the weights to a user (``api.fit``) refuses them as a run folder does."""
    job = start_run(path, model, signal=signal, write=False, **options)
    result = fit(job.model, job.signal, job.train, log)
    fitted = job.model.eval()
    headline = signals.module(job.signal.kind).HEADLINE
    upsampled = None
    if original is not None:
        pred = model_upsampled(fitted, job.config, job.signal, original.shape, factor,
                               next(fitted.parameters()).device)  # (N, C)
        upsampled = score(pred, original)[headline]
    return FitScores(fitted, job.config, result, float(result.metrics[f"final_{headline}"]), upsampled)



def prepare(paths: list[Path], factor: int, folder: Path, load_options: dict[str, Any]
            ) -> tuple[list[Path], dict[str, Signal]]:
    """Load each signal (``load_options``), reduce it by ``factor`` and write the reduced signal to
    ``folder/<stem><suffix>`` (images as 16-bit PNG, so the block means keep 16 bits; audio as float
    WAV): (the reduced files, which are what gets fitted; the originals by stem)."""
    folder.mkdir(parents=True, exist_ok=True)
    reduced, originals = [], {}
    for path in paths:
        original = signals.load(path, **load_options)
        low = downsample(original, factor)
        kind = signals.module(low.kind)
        meta = {**low.meta, "bit_depth": 16} if low.kind == "image" else {**low.meta, "subtype": "FLOAT"}
        reduced.append(kind.save(low.values, low.shape, meta, folder / f"{path.stem}{kind.RECONSTRUCTION_SUFFIX}"))
        originals[path.stem] = original
    return reduced, originals


@dataclass
class Scored:
    """One row of the super-resolution table: a model's run or a classical upsampler on one signal."""

    signal: str
    method: str
    upsampled: dict[str, float]  # the kind's metrics of the prediction of the original
    grid: dict[str, float] = field(default_factory=dict)  # a model's metrics on the grid it was fitted to
    pred: torch.Tensor | None = field(default=None, repr=False)  # (N, C) prediction of the original


def evaluate_runs(runs: list[tuple[str, str, Path]], low_paths: dict[str, Path], originals: dict[str, Signal],
                  factor: int, device: str | None) -> list[Scored]:
    """Score every (signal, model, run folder) and the classical upsamplers of every signal."""
    dev = resolve_device(device or "auto")
    scored: list[Scored] = []
    for name, original in originals.items():
        low = signals.load(low_paths[name], **({"convention": original.convention} if original.kind == "image" else {}))
        for method, pred in classical(low, original.shape, factor).items():
            scored.append(Scored(name, method, score(pred, original), pred=pred))
        for signal_name, model, run_dir in runs:
            if signal_name != name:
                continue
            run = load_run(run_dir, dev)
            pred = model_upsampled(run.model, run.config, low, original.shape, factor, dev)
            grid = read_status(run_dir)
            scored.append(Scored(name, model, score(pred, original),
                                 {k[6:]: v for k, v in grid.items() if k.startswith("final_")}, pred))
    return scored


def table(scored: list[Scored], kind: str, factor: int) -> tuple[list[dict[str, Any]], str]:
    """(rows, markdown): per method the mean (+- std over signals) of its upsampled metrics and, for
    models, of its grid metric; then the headline per signal."""
    headline = signals.module(kind).HEADLINE
    names = list(scored[0].upsampled)
    methods = list(dict.fromkeys(s.method for s in scored))
    signal_names = list(dict.fromkeys(s.signal for s in scored))
    rows = [{"signal": s.signal, "method": s.method, **{f"upsampled_{k}": v for k, v in s.upsampled.items()},
             **{f"grid_{k}": v for k, v in s.grid.items()}} for s in scored]
    unit = " (dB)" if headline in ("psnr", "snr") else ""
    cols = ["method", f"grid {headline.upper()}{unit}", *[f"{factor}x {m.upper()}" for m in names]]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for method in methods:
        mine = [s for s in scored if s.method == method]
        cells = [method, _mean_std_cell([s.grid[headline] for s in mine if headline in s.grid], headline)]
        cells += [_mean_std_cell([s.upsampled[m] for s in mine], m) for m in names]
        lines.append("| " + " | ".join(cells) + " |")
    if len(signal_names) > 1:
        lines += ["", f"{factor}x {headline.upper()}{unit} per signal:", "",
                  "| signal | " + " | ".join(methods) + " |", "|" + "---|" * (len(methods) + 1)]
        for name in signal_names:
            by_method = {s.method: s.upsampled[headline] for s in scored if s.signal == name}
            lines.append(f"| {name} | " + " | ".join(f"{by_method[m]:.2f}" for m in methods) + " |")
    return rows, "\n".join(lines) + "\n"


def _mean_std_cell(values: list[float], metric: str) -> str:
    """A table cell: the mean, and +- the std over signals when there are several (``metrics.mean_std``)."""
    if not values:
        return "-"
    digits = 2 if metric in ("psnr", "snr") else 3
    mean, std = mean_std(values)
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if len(values) > 1 else "")


def figures(scored: list[Scored], originals: dict[str, Signal], out_dir: Path, factor: int) -> list[Path]:
    """Per signal, crops of the original, each classical upsampler and each model's render at the
    original size, with error maps (images), or waveform windows (audio)."""
    paths = []
    for name, original in originals.items():
        preds = {s.method: (s.pred.numpy(), s.upsampled[signals.module(original.kind).HEADLINE])
                 for s in scored if s.signal == name and s.pred is not None}
        headline = signals.module(original.kind).HEADLINE
        title = f"{name}: fitted at 1/{factor}, rendered at the original size"
        path = out_dir / f"superres_{name}.png"
        if original.kind == "image":
            paths.append(plots.image_crops(path, original.values.numpy(), preds, original.shape, headline, "dB", title))
        else:
            paths.append(plots.waveform_crops(path, original.values.numpy(), preds, original.shape[0], headline, "dB",
                                              title, original.meta.get("sample_rate")))
    return paths


def report(runs: list[tuple[str, str, Path]], low_paths: list[Path], originals: dict[str, Signal], factor: int,
           out_dir: Path, device: str | None) -> str:
    """Score the runs of a comparison fitted to reduced signals; write ``superres.json`` (rows),
    ``superres.md`` and the crops figures to ``out_dir``; return the markdown section."""
    scored = evaluate_runs(runs, {p.stem: p for p in low_paths}, originals, factor, device)
    kind = next(iter(originals.values())).kind
    rows, markdown = table(scored, kind, factor)
    shapes = {"x".join(map(str, s.shape)) for s in originals.values()}
    text = (f"### Super-resolution x{factor}\n\nEach signal reduced by {factor} "
            f"({'area averaging' if kind == 'image' else 'plain decimation'}), fitted, rendered at the original "
            f"size ({', '.join(sorted(shapes))}) and scored against the original; grid = the model on the "
            f"reduced grid it was fitted to.\n\n{markdown}")
    figs = figures(scored, originals, out_dir, factor)
    write_json(out_dir / "superres.json", {"factor": factor, "kind": kind, "rows": rows, "markdown": text})
    write_text(out_dir / "superres.md", text)
    return text + "\n" + "\n".join(f"![{f.stem}]({f.name})" for f in figs) + "\n"

"""Reporting: results tables (CSV, Markdown), mean and standard deviation over signals, figures and
the README's results block; used by ``compare`` and by ``fit-many``'s summaries."""

from __future__ import annotations

import datetime
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kan_inr._version import __version__
from kan_inr import models, plots, signals
from kan_inr.comparison.protocols import Budget, PlannedRun, Protocol
from kan_inr.metrics import mean_std
from kan_inr.config import batch_size
from kan_inr.runs import HISTORY, METRICS, load_config
from kan_inr.signals import Signal
from kan_inr.tables import markdown_table



@dataclass
class RunResult:
    run: PlannedRun
    metrics: dict[str, Any]
    history: list[dict[str, float]]
    config: dict[str, Any]


def load_result(run: PlannedRun) -> RunResult:
    return RunResult(run, json.loads((run.run_dir / METRICS).read_text()),
                     json.loads((run.run_dir / HISTORY).read_text()), load_config(run.run_dir))


def metric_names(results: list[RunResult]) -> list[str]:
    """Quality metrics present in the runs' metrics.json (``final_<name>``), in their stored order."""
    names: list[str] = []
    for r in results:
        names += [k[6:] for k in r.metrics if k.startswith("final_") and k[6:] not in names]
    return names


def table_rows(results: list[RunResult], proto: Protocol | None) -> list[dict[str, Any]]:
    """Rows of results.csv: one per run, then per model its mean and (sample) std over signals."""
    names = metric_names(results)
    published = sorted({m for p in (proto.published.values() if proto else ()) for m in p.values})
    rows = []
    for r in results:
        pub = proto.published.get(r.run.model) if proto else None
        row = {"signal": r.run.signal_name, "model": r.run.model, "kind": r.config["signal"]["kind"],
               "params": r.metrics["params"], "steps": r.metrics["steps"], "batch": r.metrics["batch"],
               "lr": r.config["train"]["lr"], "wall_s": r.metrics["train_s"],
               "samples_per_s": r.metrics["samples_per_s"], "device": r.metrics["device"],
               **{m: r.metrics.get(f"final_{m}") for m in names}}
        for m in published:
            row[f"published_{m}"] = pub.per_signal.get(r.run.signal_name, {}).get(m) if pub else None
        row["run_dir"] = str(r.run.run_dir)
        rows.append(row)
    per_run = list(rows)
    for model in dict.fromkeys(r["model"] for r in per_run):
        mine = [r for r in per_run if r["model"] == model]
        pub = proto.published.get(model) if proto else None
        for stat in ("mean", "std"):
            row = {"signal": stat, "model": model, "kind": mine[0]["kind"]}
            for key in ("params", "steps", "batch", "lr", "wall_s", "samples_per_s", *names):
                values = [r[key] for r in mine if r[key] is not None]
                row[key] = mean_std(values)[stat == "std"] if values else None
            row["device"] = ", ".join(dict.fromkeys(r["device"] for r in mine))
            for m in published:
                row[f"published_{m}"] = pub.values.get(m) if pub and stat == "mean" else None
            row["run_dir"] = ""
            rows.append(row)
    return rows


def _fmt(metric: str, value: float | None) -> str:
    """dB metrics with 2 decimals, others (SSIM, LSD) with 3."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if metric in ("psnr", "snr"):
        return f"{value:.2f}"
    return f"{value:.3f}"


_UNITS = {"psnr": " (dB)", "snr": " (dB)"}


def results_markdown(rows: list[dict[str, Any]], header: str, proto: Protocol | None, budget: Budget,
                     results: list[RunResult], figures: list[Path], out_dir: Path) -> str:
    """results.md: the header, a mean +- std table per model, a per-signal table, recipes, figures."""
    names = metric_names(results)
    means = {r["model"]: r for r in rows if r["signal"] == "mean"}
    stds = {r["model"]: r for r in rows if r["signal"] == "std"}
    published = [k[10:] for k in rows[0] if k.startswith("published_")]
    cols = ["model", "params", "steps", "batch",
            *[f"{m.upper()}{_UNITS.get(m, '')}" for m in names],
            *[f"published {m.upper()}" for m in published], "published params",
            "wall time (s)", "samples/s", "device"]
    if proto is None:
        cols.remove("published params")
    table = []
    n_signals = len({r.run.signal_name for r in results})
    for model, mean in means.items():
        std = stds[model]
        pub = proto.published.get(model) if proto else None
        cells = [model, f"{mean['params']:,.0f}", f"{mean['steps']:,.0f}", f"{mean['batch']:,.0f}"]
        cells += [_fmt(m, mean[m]) + (f" ± {_fmt(m, std[m])}" if n_signals > 1 else "") for m in names]
        cells += [_fmt(m, mean[f"published_{m}"]) for m in published]
        if proto is not None:
            cells.append(f"{pub.params:,}" if pub and pub.params else "-")
        cells += [f"{mean['wall_s']:.1f}", f"{mean['samples_per_s']:,.0f}", mean["device"]]
        table.append(cells)
    lines = [header, "", *markdown_table(cols, table)]
    headline = names[0]
    if n_signals > 1 or any(r.get(f"published_{headline}") for r in rows if r["signal"] not in ("mean", "std")):
        model_list = list(means)
        lines += ["", f"{headline.upper()}{_UNITS.get(headline, '')} per signal"
                  + (" (published in parentheses)" if proto and any(p.per_signal for p in proto.published.values())
                     else "") + ":", ""]
        table = []
        for signal_name in dict.fromkeys(r.run.signal_name for r in results):
            cells = [signal_name]
            for model in model_list:
                row = next(r for r in rows if r["signal"] == signal_name and r["model"] == model)
                pub = row.get(f"published_{headline}")
                cells.append(_fmt(headline, row[headline]) + (f" ({_fmt(headline, pub)})" if pub else ""))
            table.append(cells)
        lines += markdown_table(["signal", *model_list], table)
    if budget.seconds is not None:
        lines += ["", *time_to_quality(results, headline)]
    lines += ["", "Training settings per model (Adam, MSE; lr schedule to lr x 0.1):", ""]
    lines += [f"- {line}" for line in recipe_notes(results, proto, budget)]
    if figures:
        lines += ["", *[f"![{f.stem}]({f.relative_to(out_dir).as_posix()})" for f in figures]]
    return "\n".join(lines) + "\n"


QUALITY_LEVELS = (30.0, 35.0, 40.0)  # dB marks of the time-to-quality table


def crossing(ts: np.ndarray, ys: np.ndarray, level: float) -> float | None:
    """The first time the curve (ts, ys), linear between its points, reaches ``level``; None if never."""
    above = np.flatnonzero(ys >= level)
    if above.size == 0:
        return None
    i = int(above[0])
    if i == 0:
        return float(ts[0])
    t0, t1, y0, y1 = ts[i - 1], ts[i], ys[i - 1], ys[i]
    return float(t0 + (level - y0) * (t1 - t0) / (y1 - y0))


def time_to_quality(results: list[RunResult], headline: str) -> list[str]:
    """Markdown lines: per model, the training time at which the mean of its runs' curves against time
    (``plots.mean_curve``) first reaches each of ``QUALITY_LEVELS``, or "never" within the budget."""
    by_model: dict[str, list[RunResult]] = {}
    for r in results:
        if r.history:
            by_model.setdefault(r.run.model, []).append(r)
    cells = []
    for model, runs in by_model.items():
        ts, ys = plots.mean_curve([(np.array([h["time_s"] for h in r.history]),
                                    np.array([h[headline] for h in r.history])) for r in runs])
        reached = [crossing(ts, ys, level) for level in QUALITY_LEVELS]
        cells.append([model, *("never" if t is None else f"{t:.1f}" for t in reached)])
    unit = _UNITS.get(headline, "")
    return [f"Training time (s, evaluation excluded) until the mean {headline.upper()} over the signals first "
            f"reaches each level (linear between evaluations):", "",
            *markdown_table(["model", *(f"{level:g}{unit}" for level in QUALITY_LEVELS)], cells)]


def recipe_notes(results: list[RunResult], proto: Protocol | None, budget: Budget) -> list[str]:
    """Per model: the settings it ran with, and where they differ from its preset's published recipe."""
    notes = []
    seen = set()
    for r in results:
        if r.run.model in seen:
            continue
        seen.add(r.run.model)
        train = r.config["train"]
        recipe = models.preset(r.run.model, r.config["signal"]["kind"]).recipe_for(train["recipe"])
        n = math.prod(r.config["signal"]["shape"])
        full = batch_size(train["batch"], n) == n
        batch = "full batch" if full else f"batch {train['batch']:,}"
        ran = f"lr {train['lr']:g}, {batch}, {train['schedule']} schedule"
        ran += f", {train['max_seconds']:g} s" if train.get("max_seconds") else f", {train['steps']:,} steps"
        ran += f", box pixels ({train['box']}x{train['box']} samples per pixel)" if train.get("box") else ""
        preset_batch = "full batch" if batch_size(recipe.batch, n) == n else f"batch {recipe.batch:,}"
        differs = [v for v, mine in ((f"lr {recipe.lr:g}", f"lr {train['lr']:g}"), (preset_batch, batch),
                                     (f"{recipe.schedule} schedule", f"{train['schedule']} schedule")) if v != mine]
        note = f"**{r.run.model}**: {ran}"
        if differs:
            in_protocol = proto is not None and r.run.model in proto.recipes
            name = proto.name if proto is not None else ""
            source = (f"protocol {name}'s recipe" if in_protocol and budget.recipe is not None else
                      f"the shared budget and protocol {name}'s lr" if in_protocol else "the shared budget")
            note += f" (from {source}; the preset's own recipe: {', '.join(differs)})"
        notes.append(note)
    return notes


def results_header(command: str | None, name: str, budget: Budget, proto: Protocol | None, results: list[RunResult]) -> str:
    devices = ", ".join(dict.fromkeys(r.metrics["device"] for r in results))
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"### Comparison `{name}`", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines.append(f"{budget.describe().capitalize()}; seed {results[0].config['train']['seed']}; "
                 f"device {devices}; torch {torch.__version__}; kan-inr {__version__}; {date}. "
                 f"Metrics from a full-grid pass of the final weights; ± is the standard deviation over signals.")
    if proto is not None:
        lines += ["", f"Protocol `{proto.name}`: {proto.description}"]
    return "\n".join(lines)


def results_figures(out_dir: Path, results: list[RunResult], loaded: dict[str, Signal], kind: str) -> list[Path]:
    """Curves of the headline metric vs step and vs time (mean over signals), and per signal a
    side-by-side figure of crops of the reconstructions and their errors."""
    headline = signals.module(kind).HEADLINE
    unit = _UNITS.get(headline, "")
    curves: dict[str, dict[str, list[tuple[np.ndarray, np.ndarray]]]] = {"step": {}, "time_s": {}}
    labels = {}
    for r in results:
        ys = np.array([h[headline] for h in r.history], dtype=np.float64)
        for axis in curves:
            xs = np.array([h[axis] for h in r.history], dtype=np.float64)
            curves[axis].setdefault(r.run.model, []).append((xs, ys))
        labels[r.run.model] = f"{r.run.model} ({r.metrics['params'] / 1e3:.1f}K params)"
    n = len(loaded)
    mean_of = f"mean over {n} signals" if n > 1 else next(iter(loaded))
    figures = [
        plots.curves(out_dir / f"{headline}_vs_step.png", curves["step"], labels, "training step",
                     f"{headline.upper()}{unit}", f"{headline.upper()} vs step ({mean_of})"),
        plots.curves(out_dir / f"{headline}_vs_time.png", curves["time_s"], labels,
                     "training time (s, evaluation excluded)", f"{headline.upper()}{unit}",
                     f"{headline.upper()} vs wall-clock time ({mean_of}{', each model cut at its shortest run' if n > 1 else ''}, "
                     f"{results[0].metrics['device']})"),
    ]
    module = signals.module(kind)
    for signal_name, signal in loaded.items():
        preds = {}
        for r in results:
            if r.run.signal_name == signal_name:
                recon = signals.load(r.run.run_dir / f"reconstruction{module.RECONSTRUCTION_SUFFIX}")
                preds[r.run.model] = (recon.values.numpy(), r.metrics[f"final_{headline}"])
        target = signal.values.numpy()
        path = out_dir / f"crops_{signal_name}.png"
        if len(signal.shape) == 2:
            figures.append(plots.image_crops(path, target, preds, signal.shape, headline, unit.strip(" ()"),
                                             signal_name))
        elif len(signal.shape) == 1:
            figures.append(plots.waveform_crops(path, target, preds, signal.shape[0], headline, unit.strip(" ()"),
                                                signal_name, signal.meta.get("sample_rate")))
    return figures


def readme_body(markdown: str) -> str:
    """A comparison's results.md as a README block shows it (``scripts/record_compare.py``): without its
    figure links (the figures live in the git-ignored outputs folder), surrounding blank lines stripped."""
    return "\n".join(line for line in markdown.splitlines() if not line.startswith("![")).strip()

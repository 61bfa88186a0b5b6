"""Comparisons: several models fitted to the same signals, with the same seed and the same evaluation.

A comparison lives in ``<outputs>/compare-<name>/``: one run folder per (signal, model) under
``runs/``, then ``results.csv``, ``results.md`` and the figures (``plots.py``). Every fit goes through
``jobs.fit_file``, so each run folder is an ordinary one (``kan-inr render`` works on it).

Budgets (one per comparison):
1. steps: every model takes the same number of steps of the same batch (default ``DEFAULT_BATCH``);
   each keeps its own learning rate and schedule (its protocol recipe's, else its preset's);
2. seconds: every model trains for the same wall-clock time (``TrainConfig.max_seconds``);
3. recipe: every model under its own published recipe: the protocol's, else its preset's.

Named protocols (``PROTOCOLS``) are those of ``shared/docs/benchmarks.md``: their signals, models,
per-model recipes as the papers' code ran them (defined here and nowhere else) and the published
numbers printed beside ours. Published PSNR/SSIM of the SL2A and FKAN code come from reconstructions
stitched from training batches and SSIM after min-max rescaling; ours are a clean full-grid pass.

Resumable: a run folder whose ``metrics.json`` is complete and whose config matches the requested
one is skipped, an unfinished one (interrupted or killed) continues from its last checkpoint
(``jobs.resume_run``), and one made with other settings is an error (use another ``--name``).
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kan_inr import KanInrError, __version__, models, plots, plugins, signals, superres
from kan_inr.jobs import fit_file, resume_run, start_run
from kan_inr.logging import NullLog
from kan_inr.runs import COMPLETE, CONFIG, HISTORY, METRICS, load_config, read_status
from kan_inr.atomic import write_text
from kan_inr.signals import Signal

DEFAULT_BATCH = 4096  # shared batch of the steps and seconds budgets (the FKAN recipe's minibatch)
SECONDS_STEP_CAP = 10**7  # step limit of a seconds budget: the clock stops it first
CURVE_POINTS = 20  # evaluations per run, for the PSNR-vs-step and -vs-time curves
REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"  # the benchmark signals beside a clone
README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"
RUN_METRICS = ("params", "steps", "batch", "train_s", "samples_per_s", "device")  # a complete metrics.json


@dataclass(frozen=True)
class Recipe:
    """How a paper's code trained one model: Adam at ``lr``, ``schedule`` decaying to lr * 0.1, and
    either ``epochs`` passes of random minibatches (steps = epochs * (N // batch)) or ``steps``."""

    lr: float
    batch: int | None = None  # coordinates per step; None = full batch
    epochs: int | None = None
    steps: int | None = None
    schedule: str = "exp"

    def train_options(self, num_samples: int) -> dict[str, Any]:
        batch = num_samples if self.batch is None else min(self.batch, num_samples)
        steps = self.steps if self.epochs is None else self.epochs * (num_samples // batch)
        return {"lr": self.lr, "batch": batch, "steps": steps, "schedule": self.schedule}


@dataclass(frozen=True)
class Published:
    """A paper's number for one model: metric -> mean over the protocol's signals, and per signal."""

    values: dict[str, float]
    params: int | None = None
    per_signal: dict[str, dict[str, float]] = field(default_factory=dict)  # signal stem -> metric -> value


@dataclass(frozen=True)
class Budget:
    """What every model of a comparison gets: ``steps``, ``seconds`` or its own ``recipe``."""

    steps: int | None = None
    seconds: float | None = None
    recipe: bool = False
    batch: int | None = None  # shared batch of a steps/seconds budget; 0 = full batch; None = DEFAULT_BATCH

    def __post_init__(self) -> None:
        given = sum([self.seconds is not None, self.recipe, self.steps is not None and self.seconds is None])
        if given != 1:
            raise KanInrError("give one budget: --budget-steps N, --budget-seconds S or --recipe")
        if self.steps is not None and self.steps < 1:
            raise KanInrError(f"--budget-steps must be at least 1, got {self.steps}")
        if self.seconds is not None and not self.seconds > 0:
            raise KanInrError(f"--budget-seconds must be positive, got {self.seconds}")
        if self.batch is not None and self.batch < 0:
            raise KanInrError(f"--batch must be 0 (full batch) or positive, got {self.batch}")
        if self.recipe and self.batch is not None:
            raise KanInrError("--batch sets the shared batch of a steps or seconds budget, not of --recipe")

    def describe(self) -> str:
        if self.recipe:
            return "each model under its own published recipe"
        batch = "full batch" if self.batch == 0 else f"batch {self.batch or DEFAULT_BATCH:,}"
        if self.seconds is not None:
            return f"{self.seconds:g} s of training per model, {batch}"
        return f"{self.steps:,} steps per model, {batch}"

    def slug(self) -> str:
        if self.recipe:
            return "recipe"
        return f"seconds{self.seconds:g}" if self.seconds is not None else f"steps{self.steps}"


@dataclass(frozen=True)
class Protocol:
    name: str
    description: str
    signals: tuple[str, ...]  # relative to the data folder
    models: tuple[str, ...]  # () = every registered preset
    budget: Budget
    recipes: dict[str, Recipe] = field(default_factory=dict)  # model -> the protocol's recipe
    model_overrides: dict[str, dict[str, str]] = field(default_factory=dict)  # model -> {field: value}
    published: dict[str, Published] = field(default_factory=dict)
    resize: int | None = None
    kind: str = "image"
    downsample: int | None = None  # superres: fit the signals reduced by this factor (superres.py)
    convention: str | None = None  # image grid convention (signals.base); None = the loader's default
    load_options: dict[str, Any] = field(default_factory=dict)  # more loader options (audio: duration)


_SL2A_PER_IMAGE = {"00": {"psnr": 33.40}, "05": {"psnr": 34.02}, "10": {"psnr": 41.04}, "15": {"psnr": 36.70}}

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    Protocol(
        "div2k-sl2a",
        "Image quality vs the SL2A paper's table (Heidari et al. 2024, arXiv 2409.10836): DIV2K 00, 05, 10, "
        "15 at 512x512, each model with the lr and batch the SL2A code used for it, 501 epochs of random "
        "minibatches, lr x 0.1^(epoch/501) (the same epochs and decay for every model are assumed).",
        tuple(f"div2k/{i:02d}.png" for i in (0, 5, 10, 15)),
        ("sl2a", "finer", "relu-pe", "gauss", "siren", "wire"),
        Budget(recipe=True),
        recipes={"sl2a": Recipe(1e-3, 16_384, epochs=501), "finer": Recipe(1e-4, 16_384, epochs=501),
                 "relu-pe": Recipe(1e-3, 1_024, epochs=501), "gauss": Recipe(1e-4, 1_024, epochs=501),
                 "siren": Recipe(1e-3, 65_536, epochs=501), "wire": Recipe(1e-3, 65_536, epochs=501)},
        published={"sl2a": Published({"psnr": 36.88, "ssim": 0.933}, 330_200, _SL2A_PER_IMAGE),
                   "finer": Published({"psnr": 36.35, "ssim": 0.924}, 198_900),
                   "relu-pe": Published({"psnr": 35.27, "ssim": 0.916}, 204_000),
                   "gauss": Published({"psnr": 34.96, "ssim": 0.914}, 198_900),
                   "siren": Published({"psnr": 33.47, "ssim": 0.896}, 198_900),
                   "wire": Published({"psnr": 30.63, "ssim": 0.818}, 91_600)},
        convention="endpoints",  # the SL2A code samples linspace(-1, 1)
    ),
    Protocol(
        "div2k-16",
        "All 16 DIV2K crops (512x512), every registered model under one equal budget (same steps, same "
        "batch); mean +- std and per-image values.",
        tuple(f"div2k/{i:02d}.png" for i in range(16)),
        (),
        Budget(steps=2000, batch=16_384),
    ),
    Protocol(
        "fkan-recipe",
        "The FKAN paper's public recipe (Mehrabian et al. 2024, arXiv 2409.09323): Adam lr 1e-4 x "
        "0.1^(epoch/500), 500 epochs of 4,096-pixel minibatches, on Kodak kodim03 (768x512; not shipped: "
        "put it at <data>/kodak/kodim03.png). The published 43.86 dB is PSNR on stitched training batches.",
        ("kodak/kodim03.png",),
        ("fkan",),
        Budget(recipe=True),
        recipes={"fkan": Recipe(1e-4, 4_096, epochs=500)},
        published={"fkan": Published({"psnr": 43.86}, 436_367)},
        model_overrides={"fkan": {"grid_size": "270"}},  # the paper's K, above the 768x512 grid's Nyquist cap
        convention="endpoints",  # the FKAN notebook samples linspace(-1, 1)
    ),
    Protocol(
        "superres",
        "Super-resolution (benchmarks.md, protocol 6): DIV2K 00, 05, 10, 15 shrunk to 256x256 (area), "
        "area-downsampled 2x to 128x128, fitted, rendered at 256x256 and scored against the 256x256 image, "
        "beside Pillow bicubic and Lanczos of the same 128x128 input.",
        tuple(f"div2k/{i:02d}.png" for i in (0, 5, 10, 15)),
        ("fkan", "sl2a", "siren"),
        Budget(steps=1000, batch=0),
        resize=256,
        downsample=2,
    ),
    Protocol(
        "bach-superres",
        "Audio super-resolution (benchmarks.md, protocol 6): the first 0.5 s of the SIREN Bach clip, every "
        "other sample kept (22.05 kHz, plain decimation), fitted, rendered at 44.1 kHz and scored against the "
        "original, beside linear interpolation and a windowed-sinc resampler of the same samples.",
        ("audio/bach.wav",),
        ("siren", "fkan", "sl2a"),
        Budget(steps=1000, batch=0),
        kind="audio",
        downsample=2,
        load_options={"duration": 0.5},
    ),
    Protocol(
        "bach",
        "Audio: the SIREN Bach clip (44.1 kHz, 308,207 samples). Published SNR from the NeAF benchmark "
        "(1,000 epochs of 8,192-sample batches): SIREN 36.2 dB, SIREN with first-layer w0 = 3000 37.3 dB "
        "(the 'siren' row: our audio preset), Fourier-KAN 36.3 dB (the 'fkan' row). Recipe: Adam lr 1e-4, "
        "constant, 1,000 epochs of 8,192 samples.",
        ("audio/bach.wav",),
        ("siren", "fkan"),
        Budget(recipe=True),
        recipes={"siren": Recipe(1e-4, 8_192, epochs=1000, schedule="constant"),
                 "fkan": Recipe(1e-4, 8_192, epochs=1000, schedule="constant")},
        published={"siren": Published({"snr": 37.3}), "fkan": Published({"snr": 36.3})},
        kind="audio",
    ),
)}


@dataclass(frozen=True)
class PlannedRun:
    signal_path: Path
    signal_name: str
    model: str
    run_dir: Path
    train: dict[str, Any]  # TrainConfig fields for fit_file
    model_overrides: dict[str, str]


@dataclass
class Comparison:
    """What a finished comparison wrote."""

    out_dir: Path
    rows: list[dict[str, Any]]  # one per (signal, model), then per model a "mean" and a "std" row
    markdown: str
    figures: list[Path]
    fitted: list[str]  # run folder names fitted now
    skipped: list[str]  # run folder names that were already finished


def resolve_protocol(name: str | None) -> Protocol | None:
    if name is None:
        return None
    if name not in PROTOCOLS:
        raise KanInrError(f"unknown protocol '{name}' (available: {', '.join(PROTOCOLS)})")
    return PROTOCOLS[name]


def make_budget(steps: int | None, seconds: float | None, recipe: bool, batch: int | None,
                protocol: str | None) -> Budget | None:
    """The budget the options give; None (the protocol's own) when none is given. ``batch`` alone
    changes the shared batch of the protocol's budget."""
    if steps is not None or seconds is not None or recipe:
        return Budget(steps=steps, seconds=seconds, recipe=recipe, batch=batch)
    proto = resolve_protocol(protocol)
    if batch is None:
        return None
    if proto is None:
        raise KanInrError("--batch needs a budget: --budget-steps N or --budget-seconds S")
    return dataclasses.replace(proto.budget, batch=batch)


def train_options(model: str, signal: Signal, budget: Budget, protocol: Protocol | None, seed: int,
                  device: str | None, eval_every: int | None) -> dict[str, Any]:
    """The TrainConfig fields of one run: the budget's, the protocol's recipe, else the preset's."""
    recipe = protocol.recipes.get(model) if protocol else None
    n = signal.num_samples
    options: dict[str, Any] = {"seed": seed, "device": device}
    if budget.recipe:
        if recipe is not None:
            options |= recipe.train_options(n)
        steps = options.get("steps") or models.preset(model, signal.kind).recipe.steps
    else:
        if recipe is not None:  # the model's own lr and schedule; steps and batch are the budget's
            options |= {"lr": recipe.lr, "schedule": recipe.schedule}
        batch = budget.batch if budget.batch is not None else DEFAULT_BATCH
        options["batch"] = n if batch == 0 else min(batch, n)
        if budget.seconds is not None:
            options |= {"max_seconds": budget.seconds, "steps": budget.steps or SECONDS_STEP_CAP}
        else:
            options["steps"] = budget.steps
        steps = options["steps"]
    options["eval_every"] = eval_every or (100 if budget.seconds is not None else max(1, steps // CURVE_POINTS))
    return options


def plan(signal_paths: list[Path], model_names: list[str], budget: Budget, protocol: Protocol | None,
         out_dir: Path, load_options: dict[str, Any], seed: int, device: str | None,
         eval_every: int | None) -> tuple[list[PlannedRun], dict[str, Signal]]:
    """One PlannedRun per (signal, model), in signal-major order, and the loaded signals by name."""
    loaded: dict[str, Signal] = {}
    names: dict[str, Path] = {}
    for path in signal_paths:
        name = path.stem
        if name in names:
            raise KanInrError(f"two signals are named '{name}' ({names[name]} and {path}): rename one")
        names[name] = path
        loaded[name] = signals.load(path, **load_options)
    kinds = {s.kind for s in loaded.values()}
    if len(kinds) > 1:
        raise KanInrError(f"a comparison holds one kind of signal, got {', '.join(sorted(kinds))}")
    runs = []
    for name, path in names.items():
        signal = loaded[name]
        for model in model_names:
            overrides = dict(protocol.model_overrides.get(model, {})) if protocol else {}
            runs.append(PlannedRun(path, name, model, out_dir / "runs" / f"{name}-{plugins.label(model)}",
                                   train_options(model, signal, budget, protocol, seed, device, eval_every),
                                   overrides))
    return runs, loaded


def differences(existing: dict[str, Any], planned: dict[str, Any]) -> list[str]:
    """Settings in which a run's config.json differs from the planned one: the model, its config, the
    signal's shape and the training fields both know (a field added by a newer kan-inr is ignored)."""
    try:
        pairs = {"model": (existing["model"]["name"], planned["model"]["name"]),
                 "signal shape": (existing["signal"]["shape"], planned["signal"]["shape"])}
        old_cfg, new_cfg = existing["model"]["config"], planned["model"]["config"]
        old_train, new_train = existing["train"], planned["train"]
    except (KeyError, TypeError):
        return ["config.json unreadable"]
    pairs |= {f"model.{k}": (old_cfg.get(k), new_cfg.get(k)) for k in new_cfg}
    pairs |= {f"train.{k}": (old_train[k], new_train[k]) for k in new_train if k in old_train}
    return [f"{key} {old} (wanted {new})" for key, (old, new) in pairs.items() if old != new]


def run_state(run: PlannedRun, signal: Signal) -> str:
    """"new" (no run folder), "complete" (finished with the planned settings) or "unfinished" (stopped
    or killed: resumable from its last checkpoint); a folder made with other settings is an error."""
    if not (run.run_dir / CONFIG).is_file():
        return "new"
    job = start_run(run.signal_path, run.model, signal=signal, write=False,
                    model_overrides=run.model_overrides, **run.train)
    changed = differences(load_config(run.run_dir), job.config)
    if changed:
        raise KanInrError(f"{run.run_dir} was made with other settings ({'; '.join(changed[:3])}): "
                          f"use another --name, or delete that folder")
    status = read_status(run.run_dir)
    complete = status["status"] == COMPLETE and all(k in status for k in RUN_METRICS) \
        and any(k.startswith("final_") for k in status) and (run.run_dir / HISTORY).is_file()
    return "complete" if complete else "unfinished"


def run_comparison(signal_paths: list[str | Path], model_names: list[str] | None = None,
                   budget: Budget | None = None, *, protocol: str | None = None, name: str | None = None,
                   outputs: str | Path = "outputs", data_dir: str | Path | None = None,
                   resize: int | None = None, seed: int = 0, device: str | None = None,
                   eval_every: int | None = None, console: bool = False, command: str | None = None,
                   log: NullLog = NullLog(), downsample: int | None = None) -> Comparison:
    """Fit every model to every signal (skipping finished runs), then write the table and figures."""
    proto = resolve_protocol(protocol)
    if proto is not None and proto.kind not in signals.KINDS:
        raise KanInrError(f"protocol '{proto.name}' needs {proto.kind} signals, which this kan-inr cannot "
                          f"read yet (no kan_inr/signals/{proto.kind}.py)")
    paths = [Path(p) for p in signal_paths]
    if not paths:
        if proto is None:
            raise KanInrError("give signal files, or --protocol NAME")
        data = Path(data_dir) if data_dir is not None else DEFAULT_DATA
        paths = [data / rel for rel in proto.signals]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise KanInrError(f"protocol '{proto.name}' needs {', '.join(missing)} (not found; use --data DIR "
                              f"or give the signal files)")
    model_names = _models(model_names, proto, log)
    budget = budget if budget is not None else (proto.budget if proto else None)
    if budget is None:
        raise KanInrError("give one budget: --budget-steps N, --budget-seconds S or --recipe")
    resize = resize if resize is not None else (proto.resize if proto else None)
    downsample = downsample if downsample is not None else (proto.downsample if proto else None)
    name = name or (proto.name if proto else budget.slug() + (f"-r{resize}" if resize else "")
                    + (f"-x{downsample}" if downsample else ""))
    if not re.fullmatch(r"[A-Za-z0-9._+-]+", name):
        raise KanInrError(f"--name may hold letters, digits and . _ + - only, got '{name}'")
    out_dir = Path(outputs) / f"compare-{name}"
    load_options = {"resize_to": resize, "convention": proto.convention if proto else None,
                    **(proto.load_options if proto else {})}
    if downsample:  # fit the reduced signals, written once to inputs/; the originals score the renders
        paths, originals = superres.prepare(paths, downsample, out_dir / "inputs", load_options)
        load_options = {"convention": load_options["convention"]}  # the reduced files are already cut
    runs, loaded = plan(paths, model_names, budget, proto, out_dir, load_options, seed, device, eval_every)

    fitted, skipped = [], []
    for i, run in enumerate(runs, 1):
        label = f"[{i}/{len(runs)}] {run.signal_name} {run.model}"
        state = run_state(run, loaded[run.signal_name])
        if state == "complete":
            log.message(f"{label}: skipped, {run.run_dir} is finished")
            skipped.append(run.run_dir.name)
            continue
        if state == "unfinished":
            log.message(f"{label}: resuming {run.run_dir} from its last checkpoint")
            _, result = resume_run(run.run_dir, run.signal_path, console=console, device=run.train["device"])
        else:
            log.message(f"{label}: fitting ({_describe_train(run.train)})")
            _, result = fit_file(run.signal_path, run.model, outputs=run.run_dir.parent, name=run.run_dir.name,
                                 model_overrides=run.model_overrides, load_options=load_options,
                                 console=console, **run.train)
        if result.interrupted_at is not None:
            raise KanInrError(f"interrupted after step {result.interrupted_at} of {run.run_dir} (checkpointed): "
                              f"run the same command again to resume")
        shown = "  ".join(f"{k[6:]} {v:.4g}" for k, v in result.metrics.items() if k.startswith("final_"))
        log.message(f"{label}: {shown}  ({result.metrics['train_s']:.1f} s)")
        fitted.append(run.run_dir.name)

    kind = next(iter(loaded.values())).kind
    results = [_load_result(run) for run in runs]
    rows = table_rows(results, proto)
    header = _header(command, name, budget, proto, results)
    figures = _figures(out_dir, results, loaded, kind)
    markdown = results_markdown(rows, header, proto, budget, results, figures, out_dir)
    if downsample:
        markdown += "\n" + superres.report([(r.signal_name, r.model, r.run_dir) for r in runs], paths, originals,
                                           downsample, out_dir, device)
    write_text(out_dir / "results.csv", rows_to_csv(rows))
    write_text(out_dir / "results.md", markdown)
    log.message(f"wrote {out_dir / 'results.md'}, {out_dir / 'results.csv'} and {len(figures)} figures")
    return Comparison(out_dir, rows, markdown, figures, fitted, skipped)


def _models(names: list[str] | None, proto: Protocol | None, log: NullLog) -> list[str]:
    """The requested models, all of them registered; a protocol's missing ones are skipped with a note."""
    if names:
        for model in names:
            models.preset(model)  # an unknown name is an error listing the registered ones
        if len(set(names)) != len(names):
            raise KanInrError(f"--models lists a model twice: {','.join(names)}")
        return list(names)
    wanted = list(proto.models) if proto and proto.models else list(models.PRESETS)
    missing = [m for m in wanted if m not in models.PRESETS]
    if missing:
        log.message(f"not registered in this kan-inr, left out: {', '.join(missing)}")
    present = [m for m in wanted if m in models.PRESETS]
    if not present:
        raise KanInrError("none of the protocol's models is registered in this kan-inr")
    return present


def _describe_train(train: dict[str, Any]) -> str:
    parts = [f"{train['steps']:,} steps" if "max_seconds" not in train else f"{train['max_seconds']:g} s"]
    if "batch" in train:
        parts.append(f"batch {train['batch']:,}")
    if "lr" in train:
        parts.append(f"lr {train['lr']:g}")
    return ", ".join(parts)


@dataclass
class RunResult:
    run: PlannedRun
    metrics: dict[str, Any]
    history: list[dict[str, float]]
    config: dict[str, Any]


def _load_result(run: PlannedRun) -> RunResult:
    return RunResult(run, json.loads((run.run_dir / METRICS).read_text()),
                     json.loads((run.run_dir / HISTORY).read_text()), json.loads((run.run_dir / CONFIG).read_text()))


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
                row[key] = _stat(values, stat) if values else None
            row["device"] = ", ".join(dict.fromkeys(r["device"] for r in mine))
            for m in published:
                row[f"published_{m}"] = pub.values.get(m) if pub and stat == "mean" else None
            row["run_dir"] = ""
            rows.append(row)
    return rows


def _stat(values: list[float], stat: str) -> float:
    array = np.asarray(values, dtype=np.float64)
    if stat == "mean":
        return float(array.mean())
    return float(array.std(ddof=1)) if len(array) > 1 else 0.0


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows([{k: "" if v is None else v for k, v in row.items()} for row in rows])
    return buffer.getvalue()


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
    lines = [header, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
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
        lines.append("| " + " | ".join(cells) + " |")
    headline = names[0]
    if n_signals > 1 or any(r.get(f"published_{headline}") for r in rows if r["signal"] not in ("mean", "std")):
        model_list = list(means)
        lines += ["", f"{headline.upper()}{_UNITS.get(headline, '')} per signal"
                  + (" (published in parentheses)" if proto and any(p.per_signal for p in proto.published.values())
                     else "") + ":", "",
                  "| signal | " + " | ".join(model_list) + " |", "|" + "---|" * (len(model_list) + 1)]
        for signal_name in dict.fromkeys(r.run.signal_name for r in results):
            cells = [signal_name]
            for model in model_list:
                row = next(r for r in rows if r["signal"] == signal_name and r["model"] == model)
                pub = row.get(f"published_{headline}")
                cells.append(_fmt(headline, row[headline]) + (f" ({_fmt(headline, pub)})" if pub else ""))
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Training settings per model (Adam, MSE; lr schedule to lr x 0.1):", ""]
    lines += [f"- {line}" for line in recipe_notes(results, proto, budget)]
    if figures:
        lines += ["", *[f"![{f.stem}]({f.relative_to(out_dir).as_posix()})" for f in figures]]
    return "\n".join(lines) + "\n"


def recipe_notes(results: list[RunResult], proto: Protocol | None, budget: Budget) -> list[str]:
    """Per model: the settings it ran with, and where they differ from its preset's published recipe."""
    notes = []
    seen = set()
    for r in results:
        if r.run.model in seen:
            continue
        seen.add(r.run.model)
        train = r.config["train"]
        recipe = models.preset(r.run.model, r.config["signal"]["kind"]).recipe
        full = train["batch"] is None or train["batch"] >= math.prod(r.config["signal"]["shape"])
        batch = "full batch" if full else f"batch {train['batch']:,}"
        ran = f"lr {train['lr']:g}, {batch}, {train['schedule']} schedule"
        ran += f", {train['max_seconds']:g} s" if train.get("max_seconds") else f", {train['steps']:,} steps"
        preset_batch = "full batch" if recipe.batch is None else f"batch {recipe.batch:,}"
        differs = [v for v, mine in ((f"lr {recipe.lr:g}", f"lr {train['lr']:g}"), (preset_batch, batch),
                                     (f"{recipe.schedule} schedule", f"{train['schedule']} schedule")) if v != mine]
        note = f"**{r.run.model}**: {ran}"
        if differs:
            in_protocol = proto is not None and r.run.model in proto.recipes
            source = (f"protocol {proto.name}'s recipe" if in_protocol and budget.recipe else
                      f"the shared budget and protocol {proto.name}'s lr" if in_protocol else "the shared budget")
            note += f" (from {source}; the preset's own recipe: {', '.join(differs)})"
        notes.append(note)
    return notes


def _header(command: str | None, name: str, budget: Budget, proto: Protocol | None, results: list[RunResult]) -> str:
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


def _figures(out_dir: Path, results: list[RunResult], loaded: dict[str, Signal], kind: str) -> list[Path]:
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




def update_readme(readme: str | Path, markdown: str) -> Path:
    """Replace the text between the README's results markers with ``markdown`` (figure links dropped:
    figures live in the git-ignored outputs folder)."""
    readme = Path(readme)
    try:
        text = readme.read_text()
    except OSError as exc:
        raise KanInrError(f"cannot read {readme}: {exc.strerror or exc}") from None
    if text.count(README_START) != 1 or text.count(README_END) != 1 or text.index(README_START) > text.index(README_END):
        raise KanInrError(f"{readme} needs one '{README_START}' line followed by one '{README_END}' line")
    body = "\n".join(line for line in markdown.splitlines() if not line.startswith("!["))
    head, rest = text.split(README_START)
    _, tail = rest.split(README_END)
    write_text(readme, f"{head}{README_START}\n{body.strip()}\n{README_END}{tail}")
    return readme


__all__ = ["Budget", "Comparison", "DEFAULT_BATCH", "PROTOCOLS", "Protocol", "Published", "Recipe",
           "run_comparison", "update_readme"]

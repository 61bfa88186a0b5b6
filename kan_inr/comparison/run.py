"""Running a comparison: several models fitted to the same signals, with the same seed and the same evaluation.

A comparison lives in ``<outputs>/compare-<name>/``: one run folder per (signal, model) under
``runs/``, then ``results.csv``, ``results.md`` and the figures (``report``). Every fit goes through
``jobs.fit_file``, so each run folder is an ordinary one (``kan-inr render`` works on it). Budgets and
protocols: ``protocols``.

Resumable: a run folder whose ``metrics.json`` is complete and whose config matches the requested
one is skipped, an unfinished one (interrupted or killed) continues from its last checkpoint
(``jobs.resume_run``), and one made with other settings is an error (use another ``--name``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kan_inr.errors import KanInrError
from kan_inr import models, plugins, signals, superres
from kan_inr.atomic import write_text
from kan_inr.comparison.protocols import Budget, PlannedRun, Protocol, budget_fields, resolve_protocol
from kan_inr.comparison.report import load_result, results_figures, results_header, results_markdown, table_rows
from kan_inr.jobs import fit_file, resume_run, start_run
from kan_inr.logging import NullLog
from kan_inr.runs import COMPLETE, CONFIG, HISTORY, load_config, read_status
from kan_inr.signals import Signal
from kan_inr.tables import rows_to_csv

DATA_ENV = "KAN_INR_DATA"  # the folder of the protocols' signals when no --data is given
# The samples kan-inr ships (data/README.md): a bundled protocol's folder when no --data is given. data/ sits
# beside the package in a source checkout (an editable install too); a wheel does not carry it.
BUNDLED_DATA = Path(__file__).resolve().parents[2] / "data"
RUN_METRICS = ("params", "steps", "batch", "train_s", "samples_per_s", "device")  # a complete metrics.json


@dataclass
class Comparison:
    """What a finished comparison wrote."""

    out_dir: Path
    rows: list[dict[str, Any]]  # one per (signal, model), then per model a "mean" and a "std" row
    markdown: str
    figures: list[Path]
    fitted: list[str]  # run folder names fitted now
    skipped: list[str]  # run folder names that were already finished


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
                                   budget_fields(model, signal, budget, protocol, seed, device, eval_every),
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
        if data_dir is None:  # $KAN_INR_DATA names the shared data, not the samples kan-inr ships
            data_dir = BUNDLED_DATA if proto.bundled else os.environ.get(DATA_ENV) or None
        if data_dir is None:
            raise KanInrError(f"protocol '{proto.name}' reads {', '.join(proto.signals)} from a data folder: put "
                              f"them under DIR and give --data DIR (or set {DATA_ENV}=DIR), or give the signal files")
        paths = [Path(data_dir) / rel for rel in proto.signals]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise KanInrError(f"protocol '{proto.name}' needs {', '.join(missing)} (not found; use --data DIR "
                              f"or give the signal files)")
    model_names = _models(model_names, proto, proto.kind if proto else signals.kind_of(paths[0]), log)
    budget = budget if budget is not None else (proto.budget if proto else None)
    if budget is None:
        raise KanInrError("give one budget: --steps N, --seconds S or --recipe default|paper")
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
    results = [load_result(run) for run in runs]
    rows = table_rows(results, proto)
    header = results_header(command, name, budget, proto, results)
    figures = results_figures(out_dir, results, loaded, kind)
    markdown = results_markdown(rows, header, proto, budget, results, figures, out_dir)
    if downsample:
        markdown += "\n" + superres.report([(r.signal_name, r.model, r.run_dir) for r in runs], paths, originals,
                                           downsample, out_dir, device)
    write_text(out_dir / "results.csv", rows_to_csv(rows))
    write_text(out_dir / "results.md", markdown)
    log.message(f"wrote {out_dir / 'results.md'}, {out_dir / 'results.csv'} and {len(figures)} figures")
    return Comparison(out_dir, rows, markdown, figures, fitted, skipped)


def _models(names: list[str] | None, proto: Protocol | None, kind: str, log: NullLog) -> list[str]:
    """The requested models, all of them registered and fit for signals of ``kind``; a protocol's missing
    ones are skipped with a note; none requested: every preset for that kind (``models.names_for``)."""
    if names:
        for model in names:
            models.preset(model, kind)  # an unknown name (or one for other kinds) is an error saying which
        if len(set(names)) != len(names):
            raise KanInrError(f"--models lists a model twice: {','.join(names)}")
        return list(names)
    wanted = list(proto.models) if proto and proto.models else models.names_for(kind)
    missing = [m for m in wanted if m not in models.PRESETS]
    if missing:
        log.message(f"not registered in this kan-inr, left out: {', '.join(missing)}")
    present = [m for m in wanted if m in models.PRESETS]
    if not present:
        raise KanInrError("none of the protocol's models is registered in this kan-inr")
    return present


def _describe_train(train: dict[str, Any]) -> str:
    if "max_seconds" in train:
        parts = [f"{train['max_seconds']:g} s"]
    else:  # a protocol recipe in epochs (bach's) states no steps
        parts = [f"{train['steps']:,} steps" if "steps" in train else f"{train['epochs']:g} epochs"]
    if "batch" in train:
        parts.append(f"batch {train['batch']:,}")
    if "lr" in train:
        parts.append(f"lr {train['lr']:g}")
    return ", ".join(parts)

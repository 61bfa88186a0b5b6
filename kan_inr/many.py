"""fit-many: fit every signal of a folder or glob, one run folder each, and summarise (mean +- std).

    <outputs>/<name>/<stem>/     a run folder per signal, exactly as ``kan-inr fit`` writes it (tb/ inside)
    <outputs>/<name>/summary.csv per-signal metrics, then a mean and a (sample) std row
    <outputs>/<name>/summary.md  the same as a Markdown table, with mean +- std

Resumable: a re-run skips every signal whose run is complete (status in metrics.json, see ``runs``),
continues runs stopped after a checkpoint and fits the rest. Batched (default on CUDA): pending
signals of equal kind and shape are fitted together as a batch of independent networks
(``jobs.fit_group``, identical to fitting each alone), checkpointed per run and resumed as a group
(runs checkpointed after the same step); a signal with no partner goes through ``jobs.fit_one``. Sharded: under torchrun, rank r fits pending signals r, r + W, ... and writes their
runs; rank 0 writes the summary after a barrier, from the run folders, so it equals the single-process
summary. A rank that dies loses only its unfinished signals: a re-run completes them.
"""

from __future__ import annotations

import glob
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kan_inr.errors import KanInrError
from kan_inr import signals
from kan_inr.checkpoint import CheckpointPolicy
from kan_inr.device import resolve_device
from kan_inr.distributed import session
from kan_inr.training import FitResult
from kan_inr.jobs import Job, fit_group, fit_one, reopen_run, start_run
from kan_inr.metrics import mean_std
from kan_inr.logging import NullLog
from kan_inr.atomic import write_text
from kan_inr.runs import CHECKPOINT, COMPLETE, load_checkpoint, load_config, read_status
from kan_inr.signals import Signal
from kan_inr.tables import markdown_table, rows_to_csv

SUMMARY_CSV, SUMMARY_MD = "summary.csv", "summary.md"
DEFAULT_GROUP = 64  # networks fitted together at most: bounds device memory and open TensorBoard writers


@dataclass
class ManyResult:
    group_dir: Path
    fitted: list[Path] = field(default_factory=list)  # runs this process wrote
    skipped: list[Path] = field(default_factory=list)  # signals whose run was already complete
    summary: Path | None = None  # summary.csv (rank 0 only)
    missing: list[str] = field(default_factory=list)  # runs still incomplete after all ranks finished (rank 0 only)
    failed: dict[str, str] = field(default_factory=dict)  # signal file -> why this process could not fit it


def find_signals(sources: list[str]) -> list[Path]:
    """Signal files named by folders (every file of a known type inside), globs or plain paths,
    sorted and de-duplicated; run folders are named by file stem, so stems must be unique."""
    known = {ext for module in signals.KINDS.values() for ext in module.EXTENSIONS}
    found: set[Path] = set()
    for source in sources:
        path = Path(source)
        if path.is_dir():
            found.update(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in known)
        elif glob.has_magic(source):
            found.update(Path(p) for p in glob.glob(source) if Path(p).is_file() and Path(p).suffix.lower() in known)
        elif path.is_file():
            signals.kind_of(path)  # an unknown extension is an error for a file named explicitly
            found.add(path)
        else:
            raise KanInrError(f"no such file or folder: {source}")
    if not found:
        raise KanInrError(f"no signal files in {' '.join(sources)} (supported: {' '.join(sorted(known))})")
    paths = sorted(found)
    stems: dict[str, Path] = {}
    for p in paths:
        if p.stem in stems:
            raise KanInrError(f"two signals would share the run folder '{p.stem}': {stems[p.stem]} and {p}")
        stems[p.stem] = p
    return paths


def default_name(sources: list[str], model_name: str) -> str:
    """'<folder>-<model>': the first source's folder name (its parent's for a file or a glob)."""
    first = Path(sources[0])
    folder = first if first.is_dir() else Path(glob.escape(str(first.parent)))
    return f"{folder.resolve().name or 'signals'}-{model_name}"


def is_complete(run_dir: Path) -> bool:
    """A run folder exists from a fit's start; its metrics.json says "complete" once the fit finished."""
    return run_dir.is_dir() and read_status(run_dir).get("status") == COMPLETE


def fit_many(sources: list[str], model_name: str, *, outputs: str | Path = "outputs", name: str | None = None,
             batched: bool | None = None, group: int = DEFAULT_GROUP, model_overrides: dict[str, str] | None = None,
             load_options: dict[str, Any] | None = None, log: NullLog = NullLog(),
             policy: CheckpointPolicy = CheckpointPolicy(), **train_overrides: Any) -> ManyResult:
    """Fit ``model_name`` to every signal of ``sources`` (see the module docstring for the layout).

    ``train_overrides`` are TrainConfig fields, None meaning the preset's. ``batched`` None = batched on
    CUDA, sequential on a CPU (torch's CPU batched matmul is slower than one matmul per network: measured
    0.6x by scripts/bench_many.py, so batching only pays where kernel launches dominate, on a GPU);
    ``group`` caps how many networks one batched fit trains together; ``policy`` says when every run
    checkpoints.
    """
    if group < 1:
        raise KanInrError(f"--group must be at least 1, got {group}")
    paths = find_signals(sources)
    result = ManyResult(Path(outputs) / (name or default_name(sources, model_name)))
    with session(train_overrides.get("device")) as ctx:
        overrides = {**train_overrides, "device": ctx.device}
        prefix = f"rank {ctx.rank}/{ctx.world_size}: " if ctx.world_size > 1 else ""
        pending: list[Path] = []
        for path in paths:
            (result.skipped if is_complete(result.group_dir / path.stem) else pending).append(path)
        ctx.barrier()  # every rank has listed the pending signals before any rank writes a run
        mine = ctx.shard(pending)
        if ctx.is_main and result.skipped:
            log.message(f"{len(result.skipped)} of {len(paths)} signals already fitted in {result.group_dir}: skipped")
        # A run stopped after a checkpoint continues from it, exactly (a batched group as a group: its
        # runs checkpointed after the same step); any other unfinished run starts again from its seed.
        resumable = [p for p in mine if (result.group_dir / p.stem / CHECKPOINT).is_file()]
        fresh = [p for p in mine if p not in resumable]
        if batched is None:
            batched = resolve_device(ctx.device).type == "cuda"
        chunks = [("resume", members[i:i + group])
                  for members in _group_resumable(resumable, result.group_dir, batched)
                  for i in range(0, len(members), group)]
        groups: list[list[tuple[Path, Signal | None]]] = (
            _group_by_shape(fresh, load_options, result.failed) if batched else [[(p, None)] for p in fresh])
        for members in groups:
            chunks += [("fresh", members[i:i + group]) for i in range(0, len(members), group)]
        options = dict(model_overrides=model_overrides, load_options=load_options, **overrides)
        for how, chunk in chunks:
            try:
                done = _fit_chunk(how, chunk, model_name, result.group_dir, options, policy)
            except KanInrError as exc:
                if len(chunk) > 1 or how != "fresh":
                    raise  # a group's or a resumed run's error is not one signal's
                result.failed[str(chunk[0][0])] = str(exc)  # an unreadable or failing signal: the others go on
                log.message(f"{prefix}{chunk[0][0]}: not fitted: {exc}")
                continue
            for run_dir, fit_result in done:
                if fit_result.interrupted_at is not None:
                    raise KanInrError(f"stopped: {run_dir} checkpointed at step {fit_result.interrupted_at}; "
                                      f"run the same command again to finish")
                result.fitted.append(run_dir)
                log.message(f"{prefix}{len(result.fitted)}/{len(mine)} {run_dir.name}: {_headline(fit_result)}")
        ctx.barrier()  # every rank's runs are complete (or failed) before the summary reads them
        if ctx.is_main:
            run_dirs = [result.group_dir / p.stem for p in paths]
            result.missing = [run_dir.name for run_dir in run_dirs if not is_complete(run_dir)]
            result.summary = write_summary(result.group_dir, run_dirs)
    return result


def _group_by_shape(paths: list[Path], load_options: dict[str, Any] | None,
                    failed: dict[str, str]) -> list[list[tuple[Path, Signal | None]]]:
    """Load ``paths`` and group them by (kind, shape, channels, value range), first-seen order; a file
    that cannot be read goes into ``failed`` (path -> why) instead."""
    groups: dict[tuple, list[tuple[Path, Signal | None]]] = {}
    for path in paths:
        try:
            signal = signals.load(path, **(load_options or {}))
        except KanInrError as exc:
            failed[str(path)] = str(exc)
            continue
        key = (signal.kind, signal.shape, signal.out_dim, signal.value_range)
        groups.setdefault(key, []).append((path, signal))
    return list(groups.values())


def _group_resumable(paths: list[Path], group_dir: Path, batched: bool) -> list[list[tuple[Path, Signal | None]]]:
    """Resumable runs grouped by (kind, shape, checkpoint step) when ``batched``, else one by one."""
    if not batched:
        return [[(p, None)] for p in paths]
    groups: dict[tuple, list[tuple[Path, Signal | None]]] = {}
    for path in paths:
        run_dir = group_dir / path.stem
        signal, state = load_config(run_dir)["signal"], load_checkpoint(run_dir)
        key = (signal["kind"], tuple(signal["shape"]), state["step"] if isinstance(state, dict) else None)
        groups.setdefault(key, []).append((path, None))
    return list(groups.values())


def _fit_chunk(how: str, members: list[tuple[Path, Signal | None]], model_name: str, group_dir: Path,
               options: dict[str, Any], policy: CheckpointPolicy) -> list[tuple[Path, FitResult]]:
    """Fit one chunk: runs stopped after a checkpoint continue (``jobs.reopen_run``), fresh ones start
    (``jobs.start_run``; an unfinished run of the same name is replaced); one network through
    ``jobs.fit_one``, several of one shape together through ``jobs.fit_group``."""
    jobs: list[Job] = []
    states: list[dict[str, Any] | None] = []
    try:
        for path, signal in members:
            if how == "resume":
                job, state = reopen_run(group_dir / path.stem, path, console=False, device=options.get("device"))
                states.append(state)
            else:
                job = start_run(path, model_name, outputs=group_dir, name=path.stem, console=False, signal=signal,
                                overwrite=(group_dir / path.stem).exists(), **options)
            jobs.append(job)
    except BaseException as exc:
        for job in jobs:
            if job.writer is not None:
                job.writer.discard(exc)
        raise
    # A run without a checkpoint (None) starts again from step 0: a group of them as a fresh group.
    resume = [s for s in states if s is not None] if how == "resume" else None
    done = ([fit_one(jobs[0], policy, resume[0] if resume else None)] if len(jobs) == 1
            else fit_group(jobs, policy, resume or None))
    fitted = []
    for run_dir, result in done:
        assert run_dir is not None  # every job here writes its run folder (start_run, reopen_run)
        fitted.append((run_dir, result))
    return fitted


def _headline(result: FitResult) -> str:
    m = result.metrics
    return "  ".join(f"{k[6:]} {v:.4f}" for k, v in m.items() if k.startswith("final_"))


def read_rows(run_dirs: list[Path]) -> tuple[list[dict[str, Any]], list[str]]:
    """One summary row per complete run: signal, final metrics, best headline and its step, params,
    steps, diverged_at; plus the names of the runs that are missing."""
    rows, missing = [], []
    for run_dir in run_dirs:
        if not is_complete(run_dir):
            missing.append(run_dir.name)
            continue
        metrics = read_status(run_dir)
        row: dict[str, Any] = {"signal": run_dir.name}
        row.update({k: v for k, v in metrics.items() if k.startswith(("final_", "best_"))})
        row.update({k: metrics.get(k) for k in ("params", "steps", "diverged_at")})
        rows.append(row)
    return rows, missing


def _stats(rows: list[dict[str, Any]], columns: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Mean and standard deviation (``metrics.mean_std``) of each metric column."""
    mean: dict[str, Any] = {"signal": "mean"}
    std: dict[str, Any] = {"signal": "std"}
    for col in columns[1:]:
        values = [r[col] for r in rows if isinstance(r.get(col), (int, float)) and math.isfinite(r[col])]
        if values and col.startswith(("final_", "best_")) and col != "best_step":
            mean[col], std[col] = mean_std(values)
    return mean, std


def write_summary(group_dir: Path, run_dirs: list[Path]) -> Path:
    """Write summary.csv and summary.md for ``run_dirs`` (in that order); returns summary.csv's path.
    Only deterministic quantities go in (no wall times), so a sharded run's summary equals a
    single-process one."""
    rows, missing = read_rows(run_dirs)
    columns = ["signal"] + [k for k in dict.fromkeys(k for r in rows for k in r) if k != "signal"]
    mean, std = _stats(rows, columns)
    write_text(group_dir / SUMMARY_CSV, rows_to_csv([*rows, *([mean, std] if rows else [])], columns))
    write_text(group_dir / SUMMARY_MD, _markdown(group_dir.name, rows, columns, mean, std, missing))
    return group_dir / SUMMARY_CSV


def _markdown(title: str, rows: list[dict[str, Any]], columns: list[str], mean: dict[str, Any],
              std: dict[str, Any], missing: list[str]) -> str:
    def cell(value: Any) -> str:
        if value is None or value == "":
            return ""
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    cells = [[cell(r.get(c)) for c in columns] for r in rows]
    if rows:
        cells.append(["**mean ± std**", *(f"{mean[c]:.4f} ± {std[c]:.4f}" if c in mean else "" for c in columns[1:])])
    lines = [f"# {title}: {len(rows)} signals", "", *markdown_table(columns, cells, set(columns[1:]))]
    if missing:
        lines += ["", f"Missing (not fitted yet or failed; re-run to complete): {', '.join(missing)}"]
    return "\n".join(lines) + "\n"

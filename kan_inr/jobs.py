"""Jobs: from a file to a finished run folder, and from a run folder to a render; the path shared by
the CLI, compare and fit-many.

signal file -> Signal -> preset (+ overrides) -> model (seeded) -> fit -> run folder -> render.

A run folder exists (valid, locked) from the start and receives periodic checkpoints; SIGINT or
SIGTERM stops a fit after its current step with a checkpoint, and ``resume_run`` finishes it exactly.
Every mode goes through ``run_jobs``: one network (``training.fit``), a batched group (``batched.fit_batch``,
one run folder per network) and DDP (``distributed.fit_ddp``, rank 0 writes).
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from kan_inr.errors import KanInrError, first_line, is_out_of_memory
from kan_inr import models, plugins, precision, signals
from kan_inr.atomic import save_weights, write_json
from kan_inr.batched import fit_batch
from kan_inr.checkpoint import Checkpointer, CheckpointPolicy, stop_on_signals
from kan_inr.config import (MAX_STEPS, TrainConfig, batch_size, eval_every_for, make_config, replace, to_plain, train_config,
                             with_length)
from kan_inr.device import resolve_device
from kan_inr.distributed import fit_ddp, session
from kan_inr.training import FitResult, check_train_config, fit
from kan_inr.logging import NullLog, RunLog
from kan_inr.render import DEFAULT_CHUNK, Fitted, reconstruct
from kan_inr.runs import (HISTORY, WEIGHTS, RunWriter, build_model, load_checkpoint, load_config, load_run,
                          signal_digest)
from kan_inr.signals import Signal


def train_config_for(preset: models.Preset, num_samples: int | None = None, **overrides: Any) -> TrainConfig:
    """The preset's recipe of the family ``overrides["recipe"]`` (default "default") with the options
    given (None = not given) and their budget (``with_budget``)."""
    family = overrides.get("recipe") or "default"
    return with_budget(TrainConfig(**preset.recipe_for(family).train_fields(), recipe=family), num_samples,
                       **overrides)


def with_budget(base: TrainConfig, num_samples: int | None = None, **overrides: Any) -> TrainConfig:
    """``base`` (a recipe's options) with the options given (None = not given) and their budget: the one
    conversion of a budget into training options, for every entry point (``fit`` through ``start_run``,
    ``compare``'s ``budget_fields``, ``tune``'s ``budget_options``). The length, by one rule:

    1. a length given (``steps`` or ``epochs``, not both) replaces the recipe's, never adds to it;
    2. ``max_seconds`` alone: the clock ends the fit and its lr schedule (steps ``MAX_STEPS``, no epochs);
       with steps, the steps cap it;
    3. otherwise the recipe's length.

    With ``num_samples`` (the signal's size) epochs become steps (``config.with_length``) and a fit given
    no ``eval_every`` is evaluated ``EVALS_PER_CURVE`` times over its length, or at as many marks of
    its clock (``config.eval_every_for``). Without it, only a clock's cadence is set."""
    given = {k: v for k, v in overrides.items() if v is not None}
    if "steps" in given and "epochs" in given:
        raise KanInrError("give the length as steps or as epochs, not both")
    if given.get("precision", "auto") != "auto" and "bf16_until" not in given:
        base = dataclasses.replace(base, bf16_until=None)  # a precision the user forces runs the whole fit
    if "steps" in given or "epochs" in given:
        base = dataclasses.replace(base, epochs=None)
    elif "max_seconds" in given:
        base = dataclasses.replace(base, steps=MAX_STEPS, epochs=None)
    train = replace(base, **given)
    if num_samples is not None:
        train = with_length(train, num_samples)
    if "eval_every" not in given and (num_samples is not None or train.max_seconds is not None):
        train = dataclasses.replace(train, eval_every=eval_every_for(train.steps, train.max_seconds))
    return train


@dataclass
class Job:
    """A fit about to run: the signal, its seeded model, its config.json, and where the run goes.
    ``writer`` is None for a job that writes no run folder (a DDP rank other than 0). ``fitted``: the fit
    as training and rendering read it (pixel model, target range), made once from ``train``."""

    signal: Signal
    train: TrainConfig
    model: nn.Module
    config: dict[str, Any]
    writer: RunWriter | None
    log: NullLog
    fitted: Fitted


def start_run(path: str | Path, model_name: str, *, outputs: str | Path = "outputs", name: str | None = None,
              overwrite: bool = False, model_overrides: dict[str, str] | None = None,
              load_options: dict[str, Any] | None = None, console: bool = True, signal: Signal | None = None,
              write: bool = True, **train_overrides: Any) -> Job:
    """Everything up to the training loop: load (unless ``signal`` is given), resolve the preset, build
    the model after ``torch.manual_seed(seed)``, and create the run folder (when ``write``)."""
    signal = signal if signal is not None else signals.load(path, **(load_options or {}))
    preset = models.preset(model_name, signal.kind)
    train = train_config_for(preset, signal.num_samples, **train_overrides)
    model_cfg = models.with_overrides(preset.config_for(signal.shape, train.recipe), model_overrides or {})
    # Everything that can refuse the job does so here, before any run folder is created or replaced.
    run_dir = run_path(outputs, name or f"{Path(path).stem}-{model_name}") if write else None
    fitted = Fitted.of(signal, train)  # a pixel model the grid cannot have is refused here
    device = check_train_config(train, signal.num_samples)[1]  # the device exists, the batch is sane
    plan = precision.plan(train.precision, device, train.bf16_until)
    # config.json stores what runs (auto resolved; bf16_until only acts on bf16): a resume, on any machine,
    # runs it again
    train = dataclasses.replace(train, precision=plan.start)
    torch.manual_seed(train.seed)
    model = build_checked(model_name, preset.family, signal.in_dim, signal.out_dim, model_cfg)
    config = make_config(model_name, preset.family, model_cfg, signal.in_dim, signal.out_dim, train,
                         signal.describe(), load_options, signal_digest(signal.values),
                         plugins.spec_of(type(model_cfg)) if plugins.is_spec(preset.family) else None)
    config["precision"] = plan.describe()
    job = Job(signal, train, model, config, None, NullLog(), fitted)
    if run_dir is None:
        return job
    job = open_run(job, run_dir, overwrite, console)
    job.log.message(f"precision {plan.start}: {plan.why}")
    return job


def run_path(outputs: str | Path, name: str) -> Path:
    """``<outputs>/<name>`` for a run name that is one plain folder name: no separators, not '.' or
    '..', not hidden (hidden names are the staging folders')."""
    if not isinstance(name, str) or not name.strip() or name in (".", "..") or name.startswith(".") \
            or "/" in name or "\\" in name or "\0" in name:
        raise KanInrError(f"run name {name!r} must be a plain folder name (no '/', not '.' or '..', not hidden)")
    return Path(outputs) / name


def build_checked(model_name: str, family: str, in_dim: int, out_dim: int, model_cfg: Any) -> nn.Module:
    """``models.build``, with any failure or empty layer (e.g. ``--set hidden_dim=0``, which torch only
    warns about) as one user error."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = models.build(family, in_dim, out_dim, model_cfg)
        except (TypeError, ValueError, RuntimeError, AssertionError, ArithmeticError, MemoryError) as exc:
            raise KanInrError(f"cannot build '{model_name}' with these settings: {first_line(exc)}") from None
    params = list(model.parameters())
    if not params or any(p.numel() == 0 for p in params):
        reason = first_line(caught[0].message) if caught else "a layer has no parameters"
        raise KanInrError(f"cannot build '{model_name}' with these settings: {reason}")
    for w in caught:  # a healthy model: pass its warnings on as they were
        warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return model


def open_run(job: Job, run_dir: Path, overwrite: bool = False, console: bool = True) -> Job:
    """Create ``run_dir`` for ``job`` (config.json, initial weights; locked) and log into it."""
    job.writer = RunWriter(run_dir, overwrite)
    job.writer.create(job.config, job.model)
    job.log = RunLog(job.writer.run_dir / "tb", console=console)
    return job


def finish_run(job: Job, model: nn.Module, result: FitResult) -> Path:
    """Write the fitted ``model`` (the raw module), history and reconstruction, then the metrics with
    status "complete" (``RunWriter.commit``)."""
    assert job.writer is not None
    run_dir, signal = job.writer.run_dir, job.signal
    save_weights(run_dir / WEIGHTS, model)
    write_json(run_dir / HISTORY, result.history)
    kind = signals.module(signal.kind)
    values = reconstruct(model, job.fitted, signal.shape, next(model.parameters()).device)
    kind.save(values, signal.shape, signal.meta, run_dir / f"reconstruction{kind.RECONSTRUCTION_SUFFIX}")
    return job.writer.commit({**result.metrics, "diverged_at": result.diverged_at})


FitFn = Callable[[Checkpointer], list[FitResult]]


def run_jobs(jobs: list[Job], train: FitFn, policy: CheckpointPolicy = CheckpointPolicy(),
             resume: list[dict[str, Any]] | None = None) -> list[tuple[Path | None, FitResult]]:
    """Fit started jobs with ``train`` (one FitResult per job), checkpointing into their run folders,
    and finish them. SIGINT / SIGTERM stop it after the current step with a checkpoint
    (``result.interrupted_at``, runs marked interrupted); an error leaves resumable runs, or none where
    a fit failed before it made progress (``RunWriter.discard``). A job without a writer (a DDP rank
    other than 0) only trains."""
    writers = [job.writer for job in jobs if job.writer is not None]

    def save(states: list[dict[str, Any]]) -> None:
        for writer, state in zip(writers, states):
            writer.checkpoint(state)

    try:
        with stop_on_signals() as stop:
            try:
                results = train(Checkpointer(save if writers else None, policy, stop, resume))
            except (MemoryError, RuntimeError) as exc:  # torch.cuda.OutOfMemoryError is a RuntimeError
                if not is_out_of_memory(exc):
                    raise
                raise KanInrError(_oom_advice(jobs[0])) from None
        done, diverged = [], []
        for job, result in zip(jobs, results):
            if result.interrupted_at is not None:
                result.exit_code = stop.exit_code
                if job.writer is not None:
                    job.writer.interrupt()
            elif result.diverged_at is not None:
                diverged.append(_diverged(job, result))
            elif job.writer is not None:
                finish_run(job, job.model, result)
            done.append((None if job.writer is None else job.writer.target, result))
        if diverged:
            raise KanInrError("; ".join(diverged))
        return done
    except BaseException as exc:
        for writer in writers:
            writer.discard(exc)
        raise


def _diverged(job: Job, result: FitResult) -> str:
    """A diverged fit is an error. A run that never checkpointed is discarded (a replaced run stays as
    it was); one that did keeps its best weights, marked complete with ``diverged_at``, for inspection.
    Returns the error's words."""
    what = f"training diverged at step {result.diverged_at} (the loss became NaN or infinite)"
    best = result.metrics.get(f"best_{signals.module(job.signal.kind).HEADLINE}")
    writer = job.writer
    if writer is None:
        return f"{what}; try a lower --lr"
    if writer.fresh and writer.progress["step"] == 0:
        writer.discard(RuntimeError(what))
        return f"{what}: no run written (a run it would replace is unchanged); try a lower --lr"
    finish_run(job, job.model, result)
    shown = f" ({best:.2f} dB)" if isinstance(best, (int, float)) else ""
    return f"{what}; its best weights{shown} are in {writer.target}; try a lower --lr"


def _oom_advice(job: Job) -> str:
    n = job.signal.num_samples
    batch = batch_size(job.train.batch, n)
    if batch < n:
        lower = f"lower --batch (now {batch:,}, e.g. --batch {max(1, batch // 2):,})"
    else:
        lower = f"train on minibatches, e.g. --batch {min(2**16, max(1, n // 4)):,} (now the full {n:,} samples)"
    return f"out of device memory while training: {lower}, or shrink the signal with --resize"


def fit_one(job: Job, policy: CheckpointPolicy = CheckpointPolicy(), resume: dict[str, Any] | None = None
            ) -> tuple[Path | None, FitResult]:
    """One job through ``training.fit``."""
    return run_jobs([job], lambda ck: [fit(job.model, job.signal, job.train, job.log, ck)], policy,
                    None if resume is None else [resume])[0]


def fit_group(jobs: list[Job], policy: CheckpointPolicy = CheckpointPolicy(),
              resume: list[dict[str, Any]] | None = None) -> list[tuple[Path | None, FitResult]]:
    """Jobs of one shape and one recipe fitted together (``batched.fit_batch``), resumed as a group."""
    if len({job.train for job in jobs}) != 1:
        raise KanInrError("a batched group needs one training recipe for all its signals")
    return run_jobs(jobs, lambda ck: fit_batch([j.model for j in jobs], [j.signal for j in jobs], jobs[0].train,
                                               [j.log for j in jobs], ck), policy, resume)


def fit_file(path: str | Path, model_name: str, *, outputs: str | Path = "outputs", name: str | None = None,
             overwrite: bool = False, model_overrides: dict[str, str] | None = None,
             load_options: dict[str, Any] | None = None, console: bool = True,
             policy: CheckpointPolicy = CheckpointPolicy(), **train_overrides: Any) -> tuple[Path, FitResult]:
    """Fit ``model_name`` to the signal in ``path`` and write ``<outputs>/<name>``, checkpointing by
    ``policy``; a stopped fit returns with ``result.interrupted_at`` set (see ``resume_run``).

    ``train_overrides`` are TrainConfig fields (steps, lr, batch, seed, ...); None means "the preset's".
    """
    job = start_run(path, model_name, outputs=outputs, name=name, overwrite=overwrite,
                    model_overrides=model_overrides, load_options=load_options, console=console, **train_overrides)
    run_dir, result = fit_one(job, policy)
    assert run_dir is not None  # start_run wrote a run folder (write=True)
    return run_dir, result


def fit_file_ddp(path: str | Path, model_name: str, *, outputs: str | Path = "outputs", name: str | None = None,
                 overwrite: bool = False, model_overrides: dict[str, str] | None = None,
                 load_options: dict[str, Any] | None = None, console: bool = True,
                 policy: CheckpointPolicy = CheckpointPolicy(), **train_overrides: Any) -> tuple[Path | None, FitResult]:
    """``fit_file`` data-parallel over the torchrun ranks: one network, ``batch`` coordinates per rank per
    step (the run's config holds the global batch, W x batch), gradients averaged; rank 0 writes and
    checkpoints the run. Returns (run folder on rank 0 else None, result)."""
    with session(train_overrides.get("device")) as ctx:
        job = start_run(path, model_name, model_overrides=model_overrides, load_options=load_options,
                        write=False, **{**train_overrides, "device": ctx.device})
        if batch_size(job.train.batch, job.signal.num_samples) < job.signal.num_samples:
            job.train = dataclasses.replace(job.train, batch=job.train.batch * ctx.world_size)
            job.config["train"] = to_plain(job.train)
        if ctx.is_main:
            open_run(job, run_path(outputs, name or f"{Path(path).stem}-{model_name}"), overwrite, console)
        return run_jobs([job], lambda ck: [fit_ddp(job.model, job.signal, job.train, ctx, job.log, ck)], policy)[0]


def reopen_run(run_dir: str | Path, signal_path: str | Path | None = None, *, console: bool = True,
               device: str | None = None, write: bool = True) -> tuple[Job, dict[str, Any] | None]:
    """An unfinished run as a Job (locked when ``write``) and its last checkpoint (None: start again from
    step 0, which the seed reproduces exactly); ``signal_path`` replaces the file named in its config
    (e.g. moved), ``device`` its device."""
    writer = RunWriter.reopen(Path(run_dir)) if write else None
    try:
        config = load_config(Path(run_dir))
        state = load_checkpoint(Path(run_dir))
        source = Path(signal_path) if signal_path is not None else Path(config["signal"]["meta"].get("source", ""))
        if signal_path is None and not source.is_file():
            raise KanInrError(f"the signal file this run was fitted on ({source}) is not there: give its path, "
                              f"kan-inr fit FILE --resume {run_dir}")
        signal = signals.load(source, **config["signal"]["load_options"])
        if config["signal"].get("digest") not in (None, signal_digest(signal.values)):
            raise KanInrError(f"{source} is not the signal run {run_dir} was fitted on (its values differ)")
        train = replace(train_config(config), device=device)
        fitted = Fitted.of(signal, train)
        torch.manual_seed(train.seed)
        model = build_model(config)
    except BaseException:
        if writer is not None:
            writer.close()
        raise
    log = RunLog(writer.run_dir / "tb", console=console) if writer is not None else NullLog()
    return Job(signal, train, model, config, writer, log, fitted), state


def resume_run(run_dir: str | Path, signal_path: str | Path | None = None, *, console: bool = True,
               policy: CheckpointPolicy = CheckpointPolicy(), device: str | None = None,
               distributed: bool = False) -> tuple[Path | None, FitResult]:
    """Continue an unfinished run from its last checkpoint with the options it was started with (see
    ``reopen_run``). On the CPU the result equals the uninterrupted fit's. ``distributed``: over the
    torchrun ranks (DDP), on any number of processes that divides the run's global batch."""
    if not distributed:
        job, state = reopen_run(run_dir, signal_path, console=console, device=device)
        return fit_one(job, policy, state)
    with session(device) as ctx:
        job, state = reopen_run(run_dir, signal_path, console=console, device=ctx.device, write=ctx.is_main)
        return run_jobs([job], lambda ck: [fit_ddp(job.model, job.signal, job.train, ctx, job.log, ck)], policy,
                        None if state is None else [state])[0]


def render_run(run_dir: str | Path, out: str | Path | None = None, scale: float | None = None,
               size: tuple[int, ...] | None = None, device: str = "auto", chunk: int = DEFAULT_CHUNK,
               prefilter: bool = True, **kind_options: Any) -> Path:
    """Render a run folder's INR on a new grid and write it with the signal kind's writer.
    ``kind_options`` go to the kind's ``render_plan`` (audio: rate, duration, subtype); ``prefilter``
    as in ``render.reconstruct``."""
    todo = signals.render_plan(load_config(Path(run_dir))["signal"], scale, size, **kind_options)  # before the weights
    dev = resolve_device(device)
    run = load_run(run_dir, dev)
    kind = signals.module(run.signal["kind"])
    out = Path(out) if out else run.run_dir / f"render-{'x'.join(map(str, todo.shape))}{kind.RECONSTRUCTION_SUFFIX}"
    return render_model(run.model, run.config, todo, out, dev, chunk, prefilter)


def render_model(model: nn.Module, config: dict[str, Any], todo: signals.RenderPlan, out: str | Path,
                 device: torch.device | str, chunk: int = DEFAULT_CHUNK, prefilter: bool = True) -> Path:
    """Write ``model`` (on ``device``) rendered as ``todo`` plans to the file ``out`` with its kind's writer."""
    with signals.plan.out_of_memory_as_error(todo.shape):
        values = reconstruct(model, Fitted.of_run(config), todo.shape, device, chunk, todo.extent, prefilter)
    return signals.module(config["signal"]["kind"]).save(values, todo.shape, todo.meta, out, **todo.save_options)

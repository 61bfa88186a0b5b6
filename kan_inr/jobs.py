"""One fit from a file to a finished run folder: the path shared by the CLI, compare and fit-many.

signal file -> Signal -> preset (+ overrides) -> model (seeded) -> fit -> run folder.

The run folder exists (valid, locked) from the start and receives periodic checkpoints; SIGINT or
SIGTERM stops a fit after its current step with a checkpoint, and ``resume_run`` finishes it exactly.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kan_inr import KanInrError, models, signals
from kan_inr.checkpoint import Checkpointer, CheckpointPolicy, stop_on_signals
from kan_inr.fit import FitResult, TrainConfig, fit, replace
from kan_inr.logging import NullLog, RunLog
from kan_inr.render import reconstruct
from kan_inr.atomic import save_weights, write_json
from kan_inr.runs import (HISTORY, WEIGHTS, RunWriter, build_model, load_checkpoint, load_config, make_config,
                          signal_digest, train_config)
from kan_inr.signals import Signal


def train_config_for(preset: models.Preset, **overrides: Any) -> TrainConfig:
    """The preset's published recipe, with the options the user gave (None = not given)."""
    r = preset.recipe
    base = TrainConfig(steps=r.steps, lr=r.lr, batch=r.batch, schedule=r.schedule, target_range=r.target_range)
    return replace(base, **overrides)


@dataclass
class Job:
    """A fit about to run: the signal, its seeded model, its config.json, and where the run goes.
    ``writer`` is None for a job that writes no run folder (a DDP rank other than 0)."""

    signal: Signal
    train: TrainConfig
    model: nn.Module
    config: dict[str, Any]
    writer: RunWriter | None
    log: NullLog


def start_run(path: str | Path, model_name: str, *, outputs: str | Path = "outputs", name: str | None = None,
              overwrite: bool = False, model_overrides: dict[str, str] | None = None,
              load_options: dict[str, Any] | None = None, console: bool = True, signal: Signal | None = None,
              write: bool = True, **train_overrides: Any) -> Job:
    """Everything up to the training loop: load (unless ``signal`` is given), resolve the preset, build
    the model after ``torch.manual_seed(seed)``, and stage ``config.json`` (when ``write``)."""
    signal = signal if signal is not None else signals.load(path, **(load_options or {}))
    preset = models.preset(model_name, signal.kind)
    model_cfg = models.with_overrides(preset.config_for(signal.shape), model_overrides or {})
    train = train_config_for(preset, **train_overrides)
    torch.manual_seed(train.seed)
    try:
        model = models.build(preset.family, signal.in_dim, signal.out_dim, model_cfg)
    except (TypeError, ValueError, RuntimeError, AssertionError, ArithmeticError) as exc:  # e.g. --set hidden_dim=0
        raise KanInrError(f"cannot build '{model_name}' with these settings: "
                          f"{str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}") from None
    config = make_config(model_name, preset.family, model_cfg, signal.in_dim, signal.out_dim,
                         json.loads(json.dumps(dataclasses.asdict(train))), signal.describe(),
                         load_options, signal_digest(signal.values))
    if not write:
        return Job(signal, train, model, config, None, NullLog())
    writer = RunWriter(Path(outputs) / (name or f"{Path(path).stem}-{model_name}"), overwrite)
    writer.create(config, model)
    return Job(signal, train, model, config, writer, RunLog(writer.run_dir / "tb", console=console))


def finish_run(job: Job, model: nn.Module, result: FitResult) -> Path:
    """Write the fitted ``model`` (the raw module), history and reconstruction, then the metrics with
    status "complete" (``RunWriter.commit``)."""
    assert job.writer is not None
    run_dir, signal = job.writer.run_dir, job.signal
    save_weights(run_dir / WEIGHTS, model)
    write_json(run_dir / HISTORY, result.history)
    kind = signals.module(signal.kind)
    values = reconstruct(model, job.config, signal.shape, next(model.parameters()).device)
    kind.save(values, signal.shape, signal.meta, run_dir / f"reconstruction{kind.RECONSTRUCTION_SUFFIX}")
    return job.writer.commit({**result.metrics, "diverged_at": result.diverged_at})


def run_job(job: Job, policy: CheckpointPolicy = CheckpointPolicy(), resume: dict[str, Any] | None = None
            ) -> tuple[Path, FitResult]:
    """Fit a started job with checkpoints into its run folder and finish it. SIGINT / SIGTERM stop it
    after the current step with a checkpoint (``result.interrupted_at``, run marked interrupted); an
    error leaves a resumable run, or none if it made no progress (``RunWriter.discard``)."""
    assert job.writer is not None
    try:
        with stop_on_signals() as stop:
            checkpoints = Checkpointer(job.writer.checkpoint, policy, stop, resume)
            try:
                result = fit(job.model, job.signal, job.train, job.log, checkpoints)
            except torch.cuda.OutOfMemoryError:
                raise KanInrError(_oom_advice(job)) from None
        if result.interrupted_at is not None:
            job.writer.interrupt()
            return job.writer.run_dir, result
        return finish_run(job, job.model, result), result
    except BaseException:
        job.writer.discard()
        raise


def _oom_advice(job: Job) -> str:
    n, batch = job.signal.num_samples, job.train.batch
    if batch is not None and batch < n:
        lower = f"lower --batch (now {batch:,}, e.g. --batch {max(1, batch // 2):,})"
    else:
        lower = f"train on minibatches, e.g. --batch {min(2**16, max(1, n // 4)):,} (now the full {n:,} samples)"
    return f"out of device memory while training: {lower}, or shrink the signal with --resize"


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
    return run_job(job, policy)


def resume_run(run_dir: str | Path, signal_path: str | Path | None = None, *, console: bool = True,
               policy: CheckpointPolicy = CheckpointPolicy(), device: str | None = None) -> tuple[Path, FitResult]:
    """Continue an unfinished run from its last checkpoint (or from step 0 if it has none) with the
    options it was started with; ``signal_path`` replaces the file named in its config (e.g. moved),
    ``device`` its device. On the CPU the result equals the uninterrupted fit's."""
    writer = RunWriter.reopen(Path(run_dir))
    try:
        config = load_config(writer.run_dir)
        state = load_checkpoint(writer.run_dir)
        source = Path(signal_path) if signal_path is not None else Path(config["signal"]["meta"].get("source", ""))
        if signal_path is None and not source.is_file():
            raise KanInrError(f"the signal file this run was fitted on ({source}) is not there: give its path, "
                              f"kan-inr fit FILE --resume {writer.run_dir}")
        signal = signals.load(source, **config["signal"]["load_options"])
        if config["signal"].get("digest") not in (None, signal_digest(signal.values)):
            raise KanInrError(f"{source} is not the signal run {writer.run_dir} was fitted on (its values differ)")
        train = replace(train_config(config), device=device)
        torch.manual_seed(train.seed)
        model = build_model(config)
    except BaseException:
        writer.close()
        raise
    job = Job(signal, train, model, config, writer, RunLog(writer.run_dir / "tb", console=console))
    return run_job(job, policy, state)

"""One fit from a file to a finished run folder: the path shared by the CLI, compare and fit-many.

signal file -> Signal -> preset (+ overrides) -> model (seeded) -> fit -> run folder.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kan_inr import models, signals
from kan_inr.fit import FitResult, TrainConfig, fit, replace
from kan_inr.logging import NullLog, RunLog
from kan_inr.render import reconstruct
from kan_inr.runs import CONFIG, HISTORY, METRICS, WEIGHTS, RunWriter, make_config, save_weights, write_json
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
    writer = RunWriter(Path(outputs) / (name or f"{Path(path).stem}-{model_name}"), overwrite) if write else None
    try:
        torch.manual_seed(train.seed)
        model = models.build(preset.family, signal.in_dim, signal.out_dim, model_cfg)
        config = make_config(model_name, preset.family, model_cfg, signal.in_dim, signal.out_dim,
                             json.loads(json.dumps(dataclasses.asdict(train))), signal.describe())
        if writer is None:
            return Job(signal, train, model, config, None, NullLog())
        write_json(writer.staging / CONFIG, config)
        return Job(signal, train, model, config, writer, RunLog(writer.staging / "tb", console=console))
    except BaseException:
        if writer is not None:
            writer.discard()
        raise


def finish_run(job: Job, model: nn.Module, result: FitResult) -> Path:
    """Write the fitted ``model`` (the raw module), metrics, history and reconstruction; commit the run."""
    assert job.writer is not None
    staging, signal = job.writer.staging, job.signal
    save_weights(staging / WEIGHTS, model)
    write_json(staging / METRICS, {**result.metrics, "diverged_at": result.diverged_at})
    write_json(staging / HISTORY, result.history)
    kind = signals.module(signal.kind)
    values = reconstruct(model, job.config, signal.shape, next(model.parameters()).device)
    kind.save(values, signal.shape, signal.meta, staging / f"reconstruction{kind.RECONSTRUCTION_SUFFIX}")
    return job.writer.commit()


def fit_file(path: str | Path, model_name: str, *, outputs: str | Path = "outputs", name: str | None = None,
             overwrite: bool = False, model_overrides: dict[str, str] | None = None,
             load_options: dict[str, Any] | None = None, console: bool = True,
             **train_overrides: Any) -> tuple[Path, FitResult]:
    """Fit ``model_name`` to the signal in ``path`` and write ``<outputs>/<name>``.

    ``train_overrides`` are TrainConfig fields (steps, lr, batch, seed, ...); None means "the preset's".
    """
    job = start_run(path, model_name, outputs=outputs, name=name, overwrite=overwrite,
                    model_overrides=model_overrides, load_options=load_options, console=console, **train_overrides)
    try:
        result = fit(job.model, job.signal, job.train, job.log)
        return finish_run(job, job.model, result), result
    except BaseException:
        job.writer.discard()
        raise

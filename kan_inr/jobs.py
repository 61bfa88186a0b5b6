"""One fit from a file to a finished run folder: the path shared by the CLI, compare and fit-many.

signal file -> Signal -> preset (+ overrides) -> model (seeded) -> fit -> run folder.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import torch

from kan_inr import models, signals
from kan_inr.fit import FitResult, TrainConfig, fit, replace
from kan_inr.logging import RunLog
from kan_inr.render import reconstruct
from kan_inr.runs import CONFIG, HISTORY, METRICS, WEIGHTS, RunWriter, make_config, save_weights, write_json


def train_config_for(preset: models.Preset, **overrides: Any) -> TrainConfig:
    """The preset's published recipe, with the options the user gave (None = not given)."""
    r = preset.recipe
    base = TrainConfig(steps=r.steps, lr=r.lr, batch=r.batch, schedule=r.schedule, target_range=r.target_range)
    return replace(base, **overrides)


def fit_file(path: str | Path, model_name: str, *, outputs: str | Path = "outputs", name: str | None = None,
             overwrite: bool = False, model_overrides: dict[str, str] | None = None,
             load_options: dict[str, Any] | None = None, console: bool = True,
             **train_overrides: Any) -> tuple[Path, FitResult]:
    """Fit ``model_name`` to the signal in ``path`` and write ``<outputs>/<name>``.

    ``train_overrides`` are TrainConfig fields (steps, lr, batch, seed, ...); None means "the preset's".
    """
    signal = signals.load(path, **(load_options or {}))
    preset = models.preset(model_name, signal.kind)
    model_cfg = models.with_overrides(preset.config_for(signal.shape), model_overrides or {})
    train = train_config_for(preset, **train_overrides)
    writer = RunWriter(Path(outputs) / (name or f"{Path(path).stem}-{model_name}"), overwrite)
    try:
        torch.manual_seed(train.seed)
        model = models.build(preset.family, signal.in_dim, signal.out_dim, model_cfg)
        config = make_config(model_name, preset.family, model_cfg, signal.in_dim, signal.out_dim,
                             json.loads(json.dumps(dataclasses.asdict(train))), signal.describe())
        write_json(writer.staging / CONFIG, config)
        log = RunLog(writer.staging / "tb", console=console)
        result = fit(model, signal, train, log)
        save_weights(writer.staging / WEIGHTS, model)
        write_json(writer.staging / METRICS, {**result.metrics, "diverged_at": result.diverged_at})
        write_json(writer.staging / HISTORY, result.history)
        kind = signals.module(signal.kind)
        values = reconstruct(model, config, signal.shape, next(model.parameters()).device)
        kind.save(values, signal.shape, signal.meta, writer.staging / f"reconstruction{kind.RECONSTRUCTION_SUFFIX}")
        return writer.commit(), result
    except BaseException:
        writer.discard()
        raise

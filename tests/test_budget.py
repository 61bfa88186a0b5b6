"""One budget conversion (kan_inr/jobs.py ``with_budget``): fit, compare and tune turn the same budget into
the same TrainConfig, evaluated EVALS_PER_CURVE times over it."""

from __future__ import annotations

from pathlib import Path

import optuna
import torch

from kan_inr import models
from kan_inr.comparison import Budget
from kan_inr.comparison.protocols import budget_fields
from kan_inr.config import EVALS_PER_CURVE, MAX_STEPS, TrainConfig, epoch_steps
from kan_inr.jobs import start_run
from kan_inr.signals import Signal
from kan_inr.tune_config import TuneConfig
from kan_inr.tuning import spaces, study
from kan_inr.tuning.objectives import Target

SIGNAL = Signal(torch.zeros(64 * 64, 3), (64, 64), "image", (0.0, 1.0), {})


def fitted(**options) -> TrainConfig:
    """The TrainConfig ``kan-inr fit`` (``start_run``) makes of these options (seed 0, on the CPU)."""
    return start_run("x.png", "fkan", signal=SIGNAL, write=False, **({"seed": 0, "device": "cpu"} | options)).train


def compared(budget: Budget) -> TrainConfig:
    return fitted(**budget_fields("fkan", SIGNAL, budget, None, seed=0, device="cpu", eval_every=None))


def tuned(cfg: TuneConfig, **levers) -> TrainConfig:
    """A trial of ``kan-inr tune`` at fkan's default point (``levers`` changed): its fit's TrainConfig."""
    preset, target = models.preset("fkan", "image"), Target(Path("x.png"), SIGNAL, SIGNAL)
    space = study.study_space("fkan", preset, target, cfg)
    values = spaces.default_point(space, preset, SIGNAL.shape, "image") | levers
    trials = study.Trials(optuna.create_study(), [target], "fkan", space, cfg, preset.recipe.batch)
    model_fields, train = trials.options(values, target)
    return fitted(model_overrides=model_fields, **train)


def test_a_clock_is_one_trainconfig_from_fit_compare_and_tune():
    train = fitted(max_seconds=5.0)
    assert (train.max_seconds, train.steps, train.epochs, train.eval_every) == (5.0, MAX_STEPS, None, MAX_STEPS)
    assert compared(Budget(seconds=5.0, recipe="default")) == train
    assert tuned(TuneConfig(seconds=5.0, device="cpu")) == train


def test_steps_are_one_trainconfig_from_fit_and_compare():
    train = fitted(steps=300, batch=1024)
    assert train.eval_every == 300 // EVALS_PER_CURVE  # fit used TrainConfig's 250 where compare used 15
    assert compared(Budget(steps=300, batch=1024)) == train


def test_epochs_are_one_trainconfig_from_fit_and_tune():
    train = fitted(epochs=3)
    steps = epoch_steps(3, models.preset("fkan").recipe.batch, SIGNAL.num_samples)
    assert (train.steps, train.eval_every) == (steps, max(1, steps // EVALS_PER_CURVE))
    assert tuned(TuneConfig(epochs=3, device="cpu"), epochs=3) == train

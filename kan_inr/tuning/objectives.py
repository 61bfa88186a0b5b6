"""What a study maximises, and the one fit each trial makes per signal.

- ``grid``: the PSNR (images) or SNR (audio) of the fit's last full-grid evaluation on the signal.
- ``2x``: the superres protocol (``superres``): the signal reduced 2x (images: area averaging; audio:
  every other sample), fitted, rendered back at the original's samples and scored against the original.
- ``both``: one fit on the reduced signal gives both numbers, its grid score on the reduced grid it
  was fitted to and its 2x score, at the cost of one fit (a 2x study's fits, and a quarter of a
  grid study's pixels): a two-objective study whose Pareto front is the family's grid-vs-2x trade-off.

The single best point of a two-objective study (``chosen``, ``CHOSEN_RULE``): of its Pareto front, the
best grid score among the points whose 2x score reaches the classical upsampler's (the project's
any-resolution goal: an INR at least as good as bicubic between the samples, keeping its grid
score); when none does, the best 2x score, the study's closest approach.

Several signals: each objective is the mean over them. A trial's fit is the fit of ``kan-inr fit``
(``jobs.start_run``, ``training.fit``) in memory, with the trial's settings and the study's budget;
its full-grid evaluations (20 spread over the budget) are the marks it reports to the pruner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import optuna
import torch
from optuna.trial import FrozenTrial

from kan_inr.errors import KanInrError, is_out_of_memory
from kan_inr import signals, superres
from kan_inr.config import TrainConfig
from kan_inr.jobs import with_budget
from kan_inr.tune_config import TUNE_OBJECTIVES
from kan_inr.logging import NullLog
from kan_inr.signals import Signal

# each objective a study may take (tune_config.TuneConfig.objective) -> the values it maximises
OBJECTIVES = {name: ("grid", "2x") if name == "both" else (name,) for name in TUNE_OBJECTIVES}
FACTOR = 2  # the superres objective's reduction
MARK_STRIDE = 1000  # signal i's evaluation marks are reported to the pruner as steps i * MARK_STRIDE + mark
CHOSEN_RULE = ("of the Pareto front, the best grid score among the points whose 2x score reaches the classical "
               "upsampler's (bicubic; linear for audio); if none does, the best 2x score")


def names(objective: str) -> tuple[str, ...]:
    """The study's objective values, in order, for ``--objective``."""
    if objective not in OBJECTIVES:
        raise KanInrError(f"unknown objective '{objective}' (choose from {', '.join(OBJECTIVES)})")
    return OBJECTIVES[objective]


@dataclass
class Target:
    """One signal of a study: the original (what the 2x render is scored against) and what trials fit
    (the original for ``grid``, its 2x reduction otherwise)."""

    path: Path
    original: Signal
    fitted: Signal

    @property
    def headline(self) -> str:
        return signals.module(self.original.kind).HEADLINE


def targets(paths: list[Path], objective: str, load_options: dict[str, Any]) -> list[Target]:
    """The study's signals, loaded once (``load_options``: resize_to, channels, start, duration), all of
    one kind, reduced where the objective needs it."""
    if not paths:
        raise KanInrError("give at least one signal file to tune on")
    loaded = [signals.load(p, **load_options) for p in paths]
    kinds = sorted({s.kind for s in loaded})
    if len(kinds) > 1:
        raise KanInrError(f"a study tunes on one kind of signal, got {', '.join(kinds)}")
    reduce = "2x" in names(objective)
    return [Target(Path(p), s, superres.downsample(s, FACTOR) if reduce else s) for p, s in zip(paths, loaded)]


class MarkLog(NullLog):
    """Hands each full-grid evaluation's headline score of a fit to ``report(mark, value)``, ``mark``
    counting the fit's evaluations from 1 (about 1/20 of the budget each): the learning curve a pruner
    compares trials on."""

    def __init__(self, report: Callable[[int, float], None], headline: str) -> None:
        self.report, self.headline, self.marks = report, headline, 0

    def evaluation(self, step: int, metrics: dict[str, float], pred: torch.Tensor, signal: Any) -> None:
        self.marks += 1
        self.report(self.marks, metrics[self.headline])


def budget_options(target: Target, seconds: float | None, epochs: float | None, batch: int) -> dict[str, Any]:
    """The study's budget as a trial's training options (``jobs.with_budget``, the one conversion): a clock,
    or an epochs budget that caps the length lever (``spaces.within_budget``) and sets the cadence. A
    trial is evaluated as a fit of the whole budget would be, so every trial's marks fall at the same
    steps for the pruner (``batch``: the trial's, as ``TrainConfig.batch``: ``FULL_BATCH`` for all the
    samples)."""
    assert (seconds is None) != (epochs is None)  # a study has one budget (TuneConfig checks)
    budget = with_budget(TrainConfig(batch=batch), target.fitted.num_samples, max_seconds=seconds, epochs=epochs)
    return {"eval_every": budget.eval_every} | ({} if seconds is None else {"max_seconds": seconds})


def fit_scores(target: Target, model: str, model_fields: dict[str, Any], train: dict[str, Any],
               objective: str, log: NullLog = NullLog()) -> tuple[dict[str, float], dict[str, Any]]:
    """Fit ``model`` with ``model_fields`` and training options ``train`` to ``target`` and score it
    (``superres.fit_scored``, whose divergence policy holds: a diverged fit is scored on its best
    weights): ({objective name: score}, facts about the fit: steps, training seconds, parameters,
    divergence)."""
    wanted = names(objective)
    try:
        fitted = superres.fit_scored(target.path, model, signal=target.fitted, log=log, model_overrides=model_fields,
                                     original=target.original if "2x" in wanted else None, factor=FACTOR, **train)
    except (MemoryError, RuntimeError) as exc:  # torch.cuda.OutOfMemoryError is a RuntimeError
        if not is_out_of_memory(exc):
            raise
        raise KanInrError(f"out of memory with {model_fields} {train}: narrow the space (--space)") from None
    scores = {"grid": fitted.grid}
    if fitted.upsampled is not None:  # scored when the objective wants it
        scores["2x"] = fitted.upsampled
    metrics = fitted.result.metrics
    facts = {"steps": metrics["steps"], "train_s": metrics["train_s"], "params": metrics["params"],
             "diverged_at": fitted.diverged_at}
    return {name: scores[name] for name in wanted}, facts


def chosen(study: optuna.Study) -> FrozenTrial | None:
    """The study's single best trial (None before any trial completed): the best of one objective, or of
    two the one ``CHOSEN_RULE`` names, with the classical 2x score the study recorded (``floor_2x``)."""
    if not study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        return None
    if len(study.directions) == 1:
        return study.best_trial
    front = study.best_trials  # (grid, 2x) of each: no other trial is at least as good in both and better in one
    floor = study.user_attrs.get("floor_2x", {}).get("score", -math.inf)
    above = [t for t in front if t.values[1] >= floor]
    if above:
        return max(above, key=lambda t: (t.values[0], t.values[1]))
    return max(front, key=lambda t: (t.values[1], t.values[0]))

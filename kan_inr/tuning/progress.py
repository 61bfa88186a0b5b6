"""A study's progress on the console: one line per trial (its scores, trials done, the best so far and
the time left), through a rich console on stderr as ``logging.RunLog`` draws a fit's."""

from __future__ import annotations

import time

import optuna
from optuna.trial import FrozenTrial, TrialState
from rich.console import Console

from kan_inr.tuning.objectives import chosen
from kan_inr.tuning.sharing import count


def minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


class TuneLog:
    """Called by ``sharing.work`` after each trial (an Optuna callback)."""

    def __init__(self, trials: int, objectives: tuple[str, ...], unit: str, console: bool = True) -> None:
        self.console = Console(stderr=True, quiet=not console)
        self.trials, self.objectives, self.unit = trials, objectives, unit
        self.began, self.ran = time.perf_counter(), 0

    def message(self, text: str) -> None:
        self.console.print(text, highlight=False, soft_wrap=True)  # one line per trial, however long

    def scores(self, values: list[float] | None) -> str:
        if not values:
            return "-"
        return ", ".join(f"{name} {v:.2f} {self.unit}" for name, v in zip(self.objectives, values))

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.ran += 1
        done = count(study)
        left = max(0, self.trials - done)
        spent = time.perf_counter() - self.began
        eta = f", about {minutes(spent / self.ran * left)} left" if left else ""
        if trial.state == TrialState.FAIL:
            what = f"failed: {trial.user_attrs.get('error', 'stopped')}"
        else:
            what = f"{trial.state.name.lower()}: {self.scores(trial.values)}"
        best = self.best(study)
        self.message(f"trial {trial.number} {what} ({minutes(trial.duration.total_seconds() if trial.duration else 0)})"
                     f" | {done}/{self.trials} done{eta} | best: {best}")

    def best(self, study: optuna.Study) -> str:
        """The best so far: the single objective's best trial, or the chosen point of the Pareto front."""
        trial = chosen(study)
        return "-" if trial is None else f"trial {trial.number}, {self.scores(trial.values)}"

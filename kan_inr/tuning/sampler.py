"""A study's sampler: TPE whose randomness for each trial comes from the study's seed and the trial's
number, so that a study is reproducible from its seed whichever process draws which trial."""

from __future__ import annotations

from typing import Any, Sequence

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, TPESampler
from optuna.trial import FrozenTrial, TrialState

STARTUP_TRIALS = 4  # random trials before TPE models the results (Optuna's default 10 is most of a small study)


class TrialSeeded(BaseSampler):
    """TPE (multivariate, with the constant liar for trials running elsewhere) whose randomness for trial
    ``n`` comes from ``(seed, n)``: one process reproduces a study from its seed, a continued study does
    not draw its first trials' settings again, and two processes on one study draw different ones."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.inner = self._tpe(0)

    def _tpe(self, number: int) -> TPESampler:
        return TPESampler(seed=(self.seed * 1_000_003 + number) % 2**32, n_startup_trials=STARTUP_TRIALS,
                          multivariate=True, constant_liar=True)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self.inner = self._tpe(trial.number)
        self.inner.before_trial(study, trial)

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.inner.infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return self.inner.sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        return self.inner.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self.inner.after_trial(study, trial, state, values)

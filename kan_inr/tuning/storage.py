"""Where a study lives: an Optuna storage (SQLite in the tune folder, or any database URL), its
protocol, its sampler, and which trials count.

Several processes, on one machine or several, work on one study through Optuna's own distributed mode:
each runs ``Study.optimize`` on the shared storage. The study holds ``N`` trials when ``N`` trials
are finished (complete or pruned); running trials count too, so a process does not start a trial
another one already runs (``MaxTrialsCallback``), and a trial that finds ``N`` counted trials
numbered before it gives way without running (``over_quota``; trial numbers are handed out by the
storage, so of two trials started at once exactly one runs). A trial left running by a process
that died is failed, never counted and never run again: at once when the process ran on this
machine (``fail_dead_trials``: its pid is gone), else once its heartbeat is ``GRACE_S`` old
(Optuna's heartbeat, on the database's clock), or ``CLAIM_S`` after its start if it died before
claiming it. The processes may run on machines in other time zones: times are compared as
timezone-aware UTC (Optuna 5 stores a trial's start in UTC and hands it out in the reader's local time).
"""

from __future__ import annotations

import datetime
import json
import os
import socket
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import optuna
import sqlalchemy.exc
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, TPESampler
from optuna.trial import FrozenTrial, TrialState

from kan_inr.errors import KanInrError, first_line

COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
HEARTBEAT_S, GRACE_S = 30, 120  # a running trial's heartbeat; older than GRACE_S, it is failed as stale
CLAIM_S = 60  # a live process claims its trial within milliseconds of Optuna creating it
STARTUP_TRIALS = 4  # random trials before TPE models the results (Optuna's default 10 is most of a small study)
HOST = socket.gethostname()


def storage_url(tune_dir: Path, url: str | None) -> str:
    """The storage a study lives in: ``url``, or the SQLite file ``study.db`` of the tune folder."""
    return url if url is not None else f"sqlite:///{(tune_dir / 'study.db').resolve()}"


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """Optuna's database storage at ``url`` with heartbeats. Two processes creating one new SQLite
    file at once may race on its tables: the loser retries."""
    kwargs: dict[str, Any] = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    for attempt in range(3):
        try:
            with warnings.catch_warnings():  # heartbeats are marked experimental: the interface, not the function
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=HEARTBEAT_S,
                                                  grace_period=GRACE_S)
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError) as exc:  # the race, or a busy file
            if attempt == 2:
                raise KanInrError(f"cannot open study storage {url}: {first_line(exc)}") from None
            time.sleep(0.5 + attempt)
        except Exception as exc:  # a bad URL, a missing driver: sqlalchemy's and Optuna's errors share no base
            raise KanInrError(f"cannot open study storage {url}: {first_line(exc)}") from None
    raise AssertionError("unreachable")


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


def open_study(storage: optuna.storages.RDBStorage, name: str, directions: int, protocol: dict[str, Any],
               seed: int, prune: bool) -> optuna.Study:
    """The study ``name`` (created if new) with ``directions`` objectives to maximise. A study records
    its ``protocol`` (signals, objective, budget, space, seed) when made; a re-run that asks for other
    settings is an error, so its trials stay comparable. ``prune``: a median pruner on the learning
    curves (Optuna prunes single-objective studies only)."""
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS - 1, n_warmup_steps=5) if prune
              else optuna.pruners.NopPruner())
    try:
        study = optuna.create_study(storage=storage, study_name=name, directions=["maximize"] * directions,
                                    load_if_exists=True, sampler=TrialSeeded(seed), pruner=pruner)
    except ValueError as exc:
        raise KanInrError(f"study '{name}': {first_line(exc)}") from None
    plain = json.loads(json.dumps(protocol))
    stored = study.user_attrs.get("protocol")
    if stored is None:
        study.set_user_attr("protocol", plain)
    elif stored != plain:
        raise KanInrError(f"study '{name}' was made with other settings ({'; '.join(differences(stored, plain))}): re-run it as it "
                          f"was made, or give another --name")
    return study


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between two protocols: 'key old, now new', or for a table the keys that differ in it."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out.append(f"{key}: {', '.join(k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))}")
        else:
            out.append(f"{key} {json.dumps(a)[:60]}, now {json.dumps(b)[:60]}")
    return out


def utc_now() -> datetime.datetime:
    """This machine's clock as timezone-aware UTC: one time line for every machine of a study."""
    return datetime.datetime.now(datetime.timezone.utc)


def fail_dead_trials(study: optuna.Study) -> list[int]:
    """Fail the running trials of processes of this machine that no longer exist (killed), and those no
    process claimed within ``CLAIM_S`` of their start (killed between Optuna creating the trial and
    ``claim``, before any heartbeat); returns their numbers."""
    failed = []
    now = utc_now()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        pid, start = trial.user_attrs.get("pid"), trial.datetime_start
        # Optuna's start is naive, in this process's local time zone whatever the creator's: aware, an instant
        age = None if start is None else (now - start.astimezone(datetime.timezone.utc)).total_seconds()
        unclaimed = pid is None and age is not None and age > CLAIM_S
        if unclaimed or trial.user_attrs.get("host") == HOST and not _alive(pid):
            try:
                study.tell(trial.number, state=TrialState.FAIL)
                failed.append(trial.number)
            except (ValueError, RuntimeError):  # finished meanwhile by its own process
                pass
    return failed


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return True  # not yet recorded
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def claim(trial: optuna.Trial) -> None:
    """Record which process runs ``trial`` (``fail_dead_trials`` reads it)."""
    trial.set_user_attr("host", HOST)
    trial.set_user_attr("pid", os.getpid())


def count(study: optuna.Study, states: tuple[TrialState, ...] = FINISHED) -> int:
    return len(study.get_trials(deepcopy=False, states=states))


def over_quota(study: optuna.Study, number: int, trials: int) -> bool:
    """Whether ``trials`` counted trials (finished or running) are numbered before trial ``number``."""
    return sum(t.number < number for t in study.get_trials(deepcopy=False, states=COUNTED)) >= trials

"""Several processes on one study, on one machine or several: each runs ``work`` on the shared storage
until the study counts its quota of trials.

A study holds ``N`` trials when ``N`` trials are finished (complete or pruned); running trials count
too, so a process does not start a trial another one already runs. Checking the quota and creating a
trial cannot be one step: Optuna creates a trial (or takes one from the queue) before anyone can look,
so two processes may each create one for the last free place. Trial numbers are handed out by the
storage, so of the two exactly one is numbered after ``N`` counted trials; it goes back to the queue
(WAITING: never run, never counted, the first trial a continued study runs) instead of ending FAIL, and
its process stops. ``work`` is Optuna's ``Study.optimize`` loop with that one change: ask, take the
place or give the trial back, run it under a heartbeat, tell.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from typing import Any, Callable, Iterator, Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from kan_inr.tuning.reaping import claim
from kan_inr.tuning.storage import HEARTBEAT_S

COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
Objective = Callable[[optuna.Trial], "float | Sequence[float]"]
Callback = Callable[[optuna.Study, FrozenTrial], None]


def count(study: optuna.Study, states: tuple[TrialState, ...] = FINISHED) -> int:
    return len(study.get_trials(deepcopy=False, states=states))


def over_quota(study: optuna.Study, number: int, trials: int) -> bool:
    """Whether ``trials`` counted trials (finished or running) are numbered before trial ``number``."""
    return sum(t.number < number for t in study.get_trials(deepcopy=False, states=COUNTED)) >= trials


def work(study: optuna.Study, storage: optuna.storages.RDBStorage, objective: Objective, quota: int,
         attempts: int, catch: tuple[type[Exception], ...] = (), callbacks: Sequence[Callback] = ()) -> None:
    """This process's share of ``study``: trials until it counts ``quota`` or this process has made
    ``attempts``. A trial ends pruned, complete or failed; an exception of ``catch`` fails it and the
    work goes on, any other (or Ctrl-C) fails it and is raised. ``callbacks`` see each finished trial."""
    for _ in range(attempts):
        with warnings.catch_warnings():  # marked experimental: the interface, not the function
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # trials of processes elsewhere whose heartbeat stopped
        trial = take(study, storage, quota)
        if trial is None:
            return
        frozen = run_trial(study, storage, trial, objective, catch)
        for callback in callbacks:
            callback(study, frozen)


def take(study: optuna.Study, storage: optuna.storages.RDBStorage, quota: int) -> optuna.Trial | None:
    """A trial for this process to run (claimed: ``reaping``), or None when the study counts ``quota``
    trials; a trial asked for a place another process took first goes back to the queue."""
    if count(study, COUNTED) >= quota:
        return None
    with warnings.catch_warnings():  # Optuna warns that heartbeats go with its optimize: ``work`` beats them
        warnings.simplefilter("ignore", UserWarning)
        trial = study.ask()
    if over_quota(study, trial.number, quota):
        storage.set_trial_state_values(trial_id(storage, study, trial.number), TrialState.WAITING)
        return None
    claim(trial)
    return trial


def trial_id(storage: optuna.storages.RDBStorage, study: optuna.Study, number: int) -> int:
    """The storage's id of ``study``'s trial ``number``."""
    return storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(study.study_name), number)


def run_trial(study: optuna.Study, storage: optuna.storages.RDBStorage, trial: optuna.Trial, objective: Objective,
              catch: tuple[type[Exception], ...]) -> FrozenTrial:
    """``objective`` on ``trial`` under a heartbeat, told to the study as it ended (``work``)."""
    error: BaseException | None = None
    values: Any = None
    state = TrialState.COMPLETE
    with heartbeat(storage, trial_id(storage, study, trial.number)):
        try:
            values = objective(trial)
        except optuna.TrialPruned:
            state = TrialState.PRUNED
        except (Exception, KeyboardInterrupt) as exc:
            state, error = TrialState.FAIL, exc
    frozen = study.tell(trial, values if state == TrialState.COMPLETE else None, state=state)
    if error is not None and not isinstance(error, catch):
        raise error
    return frozen


@contextlib.contextmanager
def heartbeat(storage: optuna.storages.RDBStorage, stored_id: int) -> Iterator[None]:
    """Record the heartbeat of the trial stored as ``stored_id`` every ``HEARTBEAT_S`` while it runs, as
    ``Study.optimize`` does: a process elsewhere fails it as stale once it stops beating."""
    stop = threading.Event()

    def beat() -> None:
        while True:
            storage.record_heartbeat(stored_id)
            if stop.wait(HEARTBEAT_S):
                return

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()

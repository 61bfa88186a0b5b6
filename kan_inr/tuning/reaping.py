"""Trials left running by a process that died: failed, never counted and never run again. At once
when the process ran on this machine (its pid is gone), else once its heartbeat is ``GRACE_S`` old
(Optuna's heartbeat, on the database's clock: ``sharing``), or ``CLAIM_S`` after its start if it died
before claiming it. The processes may run on machines in other time zones: times are compared as
timezone-aware UTC (Optuna 5 stores a trial's start in UTC and hands it out in the reader's local time).
"""

from __future__ import annotations

import datetime
import os
import socket
from typing import Any

import optuna
from optuna.trial import TrialState

CLAIM_S = 60  # a live process claims its trial within milliseconds of Optuna creating it
HOST = socket.gethostname()


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

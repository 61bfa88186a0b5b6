"""Where a study lives: an Optuna storage, the SQLite file ``study.db`` of the tune folder or any
database URL, opened with heartbeats so that processes on other machines can tell a live trial from
a dead one (``reaping``)."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy.exc

from kan_inr.errors import KanInrError, first_line

HEARTBEAT_S, GRACE_S = 30, 120  # a running trial's heartbeat; older than GRACE_S, it is failed as stale


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

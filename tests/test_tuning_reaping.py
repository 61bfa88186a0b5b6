"""Which trials a study counts (kan_inr/tuning/reaping.py): a trial nobody claimed is failed by the time
elapsed since it started, whatever the time zones of the process that made it and of the one that checks."""

from __future__ import annotations

import datetime
import time

import optuna
import pytest

from kan_inr.tuning import reaping

UTC = datetime.timezone.utc


@pytest.fixture
def zone(monkeypatch):
    """Set this process's local time zone (TZ), as a process on a machine elsewhere would have it."""
    def set_zone(tz: str) -> None:
        monkeypatch.setenv("TZ", tz)
        time.tzset()

    yield set_zone
    monkeypatch.undo()
    time.tzset()


def states(study: optuna.Study) -> list[str]:
    return [t.state.name for t in study.get_trials(deepcopy=False)]


@pytest.mark.parametrize("creator", ["Etc/GMT+10", "Etc/GMT-10"])  # POSIX signs: 10 hours behind UTC, 10 ahead
def test_a_trial_made_in_another_zone_is_failed_claim_s_after_its_start(tmp_path, zone, monkeypatch, creator):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    zone(creator)
    optuna.create_study(storage=url, study_name="s").ask()  # unclaimed: its process died before claiming it
    zone("UTC")
    checker = optuna.load_study(storage=url, study_name="s")
    assert reaping.fail_dead_trials(checker) == []  # started a moment ago: maybe being claimed
    later = reaping.utc_now() + datetime.timedelta(seconds=reaping.CLAIM_S + 1)
    monkeypatch.setattr(reaping, "utc_now", lambda: later)
    assert reaping.fail_dead_trials(checker) == [0] and states(checker) == ["FAIL"]


def test_an_unclaimed_trial_ages_across_the_clocks_going_back(tmp_path, zone, monkeypatch):
    """Started at 01:30 summer time, checked 40 minutes later at 01:10 winter time: 40 minutes old, where
    the local wall clocks say -20."""
    zone("America/New_York")
    start = datetime.datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT; the clocks go back at 06:00 UTC
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 'study.db'}")
    study.add_trial(optuna.trial.FrozenTrial(number=0, state=optuna.trial.TrialState.RUNNING, value=None,
                                             datetime_start=start, datetime_complete=None, params={},
                                             distributions={}, user_attrs={}, system_attrs={}, intermediate_values={},
                                             trial_id=0))
    monkeypatch.setattr(reaping, "utc_now", lambda: start + datetime.timedelta(minutes=40))  # 01:10 EST
    assert reaping.fail_dead_trials(study) == [0]


def test_the_clock_is_timezone_aware_utc(zone):
    zone("Etc/GMT-10")
    assert reaping.utc_now().utcoffset() == datetime.timedelta(0)
    assert abs(reaping.utc_now().timestamp() - time.time()) < 5

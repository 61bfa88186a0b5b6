"""Several processes on one study (kan_inr/tuning/sharing.py): they end with the quota of complete trials
and no failed one; a trial that lost the last place goes back to the queue and a continued study runs it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
from optuna.trial import TrialState

from kan_inr.tuning import sharing
from kan_inr.tuning.storage import open_storage

# One worker process on the shared study. Its stub objective ends on the next half second, as trials under
# one clock budget end together: both processes then look for a new trial at once, and with an odd quota
# the last place is contested (Optuna's own optimize loop ended the loser FAIL). The workers start together.
WORKER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    import optuna
    from kan_inr.tuning import sharing
    from kan_inr.tuning.storage import open_storage
    url, quota, ready = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = open_storage(url)
    study = optuna.load_study(study_name="s", storage=storage)
    (ready / str(os.getpid())).touch()
    while len(list(ready.iterdir())) < 2:
        time.sleep(0.01)

    def objective(trial):
        time.sleep(0.5 - time.time() % 0.5)
        return trial.suggest_float("x", 0.0, 1.0)

    sharing.work(study, storage, objective, quota, attempts=quota)
""")


def states(study: optuna.Study) -> list[str]:
    return [t.state.name for t in study.get_trials(deepcopy=False)]


def test_two_processes_end_with_the_quota_of_complete_trials_and_none_failed(tmp_path: Path) -> None:
    url, quota, ready = f"sqlite:///{tmp_path / 'study.db'}", 9, tmp_path / "ready"
    ready.mkdir()
    optuna.create_study(storage=open_storage(url), study_name="s")
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, url, str(quota), str(ready)], stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
    study = optuna.load_study(study_name="s", storage=url)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    assert len(complete) == quota
    assert set(states(study)) <= {"COMPLETE", "WAITING"}, states(study)  # none failed
    assert len({t.user_attrs["pid"] for t in complete}) == 2  # both processes ran trials


def test_a_trial_that_lost_the_last_place_goes_back_to_the_queue(tmp_path: Path, monkeypatch) -> None:
    """Process A asks for the last place; process B checked the quota before A's trial existed, so it asks
    too: B's trial, numbered after A's, goes back to the queue unrun (not FAIL), and B stops."""
    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    study = optuna.create_study(storage=storage, study_name="s")
    first = sharing.take(study, storage, quota=1)  # A
    assert first is not None and states(study) == ["RUNNING"]
    with monkeypatch.context() as m:
        m.setattr(sharing, "count", lambda study, states: 0)  # B's check, made before A's trial existed
        assert sharing.take(study, storage, quota=1) is None
    assert states(study) == ["RUNNING", "WAITING"]
    assert "pid" not in study.trials[1].user_attrs  # never claimed, never run
    study.tell(first, 1.0)
    assert sharing.take(study, storage, quota=1) is None  # the quota holds: the queued trial waits
    again = sharing.take(study, storage, quota=2)  # a continued study runs the queued trial first
    assert again is not None and again.number == 1 and states(study) == ["COMPLETE", "RUNNING"]


def test_a_failing_objective_fails_its_trial_and_the_work_goes_on(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    study = optuna.create_study(storage=storage, study_name="s")
    seen: list[str] = []

    def objective(trial: optuna.Trial) -> float:
        if trial.number == 0:
            raise ValueError("no")
        if trial.number == 1:
            raise optuna.TrialPruned()
        return 2.0

    sharing.work(study, storage, objective, quota=2, attempts=5, catch=(ValueError,),
                 callbacks=[lambda s, t: seen.append(t.state.name)])
    assert states(study) == ["FAIL", "PRUNED", "COMPLETE"] and seen == states(study)
    assert study.trials[2].value == 2.0

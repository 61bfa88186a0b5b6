"""kan-inr tune: a study writes its storage, best.toml (which fit --config reads), trials.csv and figures;
re-runs continue it, a killed process loses at most its running trial, two processes share it exactly,
--space narrows it, and the pruner stops a hopeless trial."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import optuna

from kan_inr.config import eval_every_for
import pytest
import soundfile
from optuna.trial import TrialState

import kan_inr
from kan_inr import KanInrError, jobs, models, plugins, superres
from kan_inr.space import number
from kan_inr.tuning import objectives, reaping, spaces
from conftest import run_cli, smooth_image

KAN_INR = [sys.executable, "-m", "kan_inr.cli"]
SHORT = ["--epochs", "4", "--device", "cpu", "-q"]  # 4 full-batch steps per fit: the study's mechanics, not quality


@pytest.fixture
def image16(tmp_path: Path) -> Path:
    path = tmp_path / "img16.png"
    iio.imwrite(path, np.round(smooth_image(16, 16) * 255).astype(np.uint8))
    return path


def url_of(out: Path, name: str) -> str:
    return f"sqlite:///{(out / f'tune-{name}' / 'study.db').resolve()}"


def study_of(out: Path, name: str, model: str = "siren") -> optuna.Study:
    return optuna.load_study(study_name=f"{name}/{model}", storage=url_of(out, name))


def states(study: optuna.Study) -> list[str]:
    return [t.state.name for t in study.get_trials(deepcopy=False)]


def finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


def test_study_writes_its_folder_and_fit_reads_best_toml(tmp_path, image16, capsys, monkeypatch):
    second = tmp_path / "img16b.png"
    iio.imwrite(second, np.round(smooth_image(16, 16, seed=1) * 255).astype(np.uint8))
    out = tmp_path / "out"
    code, stdout, err = run_cli(["tune", image16, second, "--model", "siren", "--trials", "3", "--outputs", out,
                                 *SHORT], capsys, monkeypatch)
    assert code == 0, err
    folder = out / "tune-img16"
    for name in ("study.db", "pareto.png", "siren/best.toml", "siren/trials.csv", "siren/history.png",
                 "siren/importance.png"):
        assert (folder / name).is_file(), name
    study = study_of(out, "img16")
    assert states(study) == ["COMPLETE"] * 3
    for trial in study.trials:  # two signals: each objective is the mean of the two fits' scores
        fits = trial.user_attrs["fits"]
        assert [f["signal"] for f in fits] == ["img16.png", "img16b.png"]
        assert trial.values == pytest.approx([np.mean([f["grid"] for f in fits]), np.mean([f["2x"] for f in fits])])
    rows = (folder / "siren" / "trials.csv").read_text().splitlines()
    assert rows[0].startswith("number,state,grid,2x,seconds,steps,note,lr,schedule,epochs,") and len(rows) == 4
    best = tomllib.loads((folder / "siren" / "best.toml").read_text())
    assert "siren/best.toml" in stdout and "chosen trial" in stdout

    code, _, err = run_cli(["fit", image16, "--model", "siren", "--config", folder / "siren" / "best.toml",
                            "--outputs", tmp_path / "runs", "--device", "cpu", "-q"], capsys, monkeypatch)
    assert code == 0, err
    config = json.loads((tmp_path / "runs" / "img16-siren" / "config.json").read_text())
    assert config["train"]["lr"] == best["lr"] and config["train"]["schedule"] == best["schedule"]
    assert config["train"]["epochs"] == best["epochs"] and config["train"]["seed"] == best["seed"]
    assert {k: config["model"]["config"][k] for k in best["model"]} == best["model"]


def test_a_rerun_continues_the_study_to_n_trials(tmp_path, image16):
    out = tmp_path / "out"
    run = dict(model="siren", epochs=3, outputs=out, device="cpu", progress=False)
    assert kan_inr.tune(image16, trials=2, **run).finished == 2
    first = [t.params for t in study_of(out, "img16").trials]
    assert kan_inr.tune(image16, trials=2, **run).finished == 2  # nothing left to do
    assert kan_inr.tune(image16, trials=4, **run).finished == 4
    study = study_of(out, "img16")
    assert states(study) == ["COMPLETE"] * 4
    assert [t.params for t in study.trials[:2]] == first  # the finished trials are kept as they were
    # a continued study draws new settings, not its first ones again: trial 0 is the enqueued default, trial 1
    # the first one sampled, which a sampler seeded afresh in each process would draw again
    assert study.trials[2].params != first[1] and study.trials[3].params != first[1]
    assert study.trials[2].params != first[0]


def test_a_rerun_with_other_settings_is_refused(tmp_path, image16, capsys, monkeypatch):
    out = tmp_path / "out"
    assert kan_inr.tune(image16, "siren", trials=1, epochs=3, outputs=out, device="cpu", progress=False).finished == 1
    code, _, err = run_cli(["tune", image16, "--model", "siren", "--trials", "2", "--objective", "grid",
                            "--outputs", out, *SHORT], capsys, monkeypatch)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "was made with other settings (epochs 3.0, now 4.0; objective \"both\", now \"grid\"; space: epochs)" in err


def tune_process(image: Path, out: Path, trials: int, seconds: float) -> subprocess.Popen:
    return subprocess.Popen([*KAN_INR, "tune", str(image), "--model", "siren", "--trials", str(trials), "--seconds",
                             str(seconds), "--outputs", str(out), "--device", "cpu", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_sigkill_mid_trial_then_a_rerun_loses_no_finished_trial(tmp_path, image16, capsys, monkeypatch):
    out = tmp_path / "out"
    proc = tune_process(image16, out, trials=3, seconds=1.5)
    db = out / "tune-img16" / "study.db"

    def one_done_one_running() -> bool:
        if not db.exists():
            return False
        try:
            trials = study_of(out, "img16").get_trials(deepcopy=False)
        except Exception:  # the study, or its database's tables, not created yet
            return False
        return any(t.state == TrialState.COMPLETE for t in trials) and \
            any(t.state == TrialState.RUNNING and "pid" in t.user_attrs for t in trials)

    wait_for(one_done_one_running)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = {t.number: t.values for t in study_of(out, "img16").trials if t.state == TrialState.COMPLETE}
    killed = [t.number for t in study_of(out, "img16").trials if t.state == TrialState.RUNNING]
    assert before and len(killed) == 1

    code, _, err = run_cli(["tune", image16, "--model", "siren", "--trials", "3", "--seconds", "1.5",
                            "--outputs", out, "--device", "cpu", "-q"], capsys, monkeypatch)
    assert code == 0, err
    study = study_of(out, "img16")
    assert len(finished(study)) == 3
    assert study.trials[killed[0]].state == TrialState.FAIL  # failed, not counted, not run again
    assert {n: study.trials[n].values for n in before} == before


def test_two_processes_on_one_study_finish_exactly_n_trials(tmp_path, image16):
    out = tmp_path / "out"
    (out / "tune-img16").mkdir(parents=True)
    procs = [tune_process(image16, out, trials=4, seconds=1.0) for _ in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
    study = study_of(out, "img16")
    done = finished(study)
    assert len(done) == 4
    assert len({t.user_attrs["pid"] for t in done}) == 2  # both processes ran trials
    assert all(t.user_attrs.get("yielded") for t in study.trials if t.state == TrialState.FAIL)
    # none failed: a trial that lost the last place to the other process went back to the queue, unrun
    assert {t.state for t in study.trials} <= {TrialState.COMPLETE, TrialState.WAITING}
    assert all("pid" not in t.user_attrs for t in study.trials if t.state == TrialState.WAITING)


def test_space_file_narrows_and_fixes_levers(tmp_path, image16):
    space = tmp_path / "space.toml"
    space.write_text("[lr]\nlow = 1e-3\nhigh = 2e-3\n\n[hidden_dim]\nfixed = 32\n\n[schedule]\nchoices = [\"constant\"]\n")
    out = tmp_path / "out"
    result = kan_inr.tune(image16, "siren", trials=3, epochs=3, space=space, outputs=out, device="cpu",
                          progress=False)
    trials = study_of(out, "img16").trials
    assert all(1e-3 <= t.params["lr"] <= 2e-3 and t.params["schedule"] == "constant" for t in trials)
    assert all("hidden_dim" not in t.params for t in trials)  # fixed: set, not searched
    assert result.best is not None and result.best["settings"]["hidden_dim"] == 32
    best = tomllib.loads((out / "tune-img16" / "siren" / "best.toml").read_text())
    assert best["model"]["hidden_dim"] == 32


@pytest.mark.parametrize("text, model, message", [
    ("[foo]\nfixed = 3\n", "siren", "unknown search parameter 'foo' (searched: lr, schedule, epochs, hidden_dim"),
    ("[lr]\nlo = 1e-3\n", "siren", "[lr] has unknown key(s) lo (valid: low, high, log, choices, fixed)"),
    ("[lr]\nlow = 0.0\nhigh = 1e-2\nlog = true\n", "siren", "'lr': a log scale needs low > 0, got 0"),
    ("[grid_size]\nfixed = 8\n", "fkan", "'grid_size' is set by the lever 'grid_fraction'"),
    ("[schedule]\nchoices = [\"linear\"]\n", "siren", "unknown schedule 'linear' (choose from exp, cosine, constant)"),
    ("lr = 3\n", "siren", "'lr' must be a table [lr]"),
])
def test_a_bad_space_file_is_one_error_line_and_writes_nothing(tmp_path, image16, capsys, monkeypatch, text, model,
                                                               message):
    space = tmp_path / "space.toml"
    space.write_text(text)
    code, _, err = run_cli(["tune", image16, "--model", model, "--space", space, "--outputs", tmp_path / "out",
                            *SHORT], capsys, monkeypatch)
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err
    assert not (tmp_path / "out").exists()


def test_the_pruner_stops_a_hopeless_trial(tmp_path, image16):
    out = tmp_path / "out"
    space = tmp_path / "space.toml"
    space.write_text("[lr]\nlow = 1e-8\nhigh = 1e-2\nlog = true\n\n[hidden_dim]\nfixed = 32\n\n"
                     "[hidden_layers]\nfixed = 1\n\n[schedule]\nfixed = \"constant\"\n")
    (out / "tune-img16").mkdir(parents=True)
    study = optuna.create_study(study_name="img16/siren", storage=url_of(out, "img16"), direction="maximize")
    for lr in (5e-3, 4e-3, 6e-3, 1e-8):  # three that learn, then one that cannot
        study.enqueue_trial({"lr": lr})
    kan_inr.tune(image16, "siren", trials=4, epochs=30, objective="grid", space=space, outputs=out, device="cpu",
                 progress=False)
    trials = study_of(out, "img16").trials
    assert states(study_of(out, "img16")) == ["COMPLETE"] * 3 + ["PRUNED"]
    assert trials[3].params["lr"] == 1e-8
    # 30 epochs of one full batch are evaluated as config.eval_every_for says (every step, 30 times): the
    # hopeless fit stopped well before its end
    marks = 30 // eval_every_for(30, None)
    assert len(trials[0].intermediate_values) == marks and len(trials[3].intermediate_values) < marks
    assert max(trials[3].intermediate_values.values()) < min(t.value for t in trials[:3]) - 3


def test_audio_study_uses_the_audio_space(tmp_path):
    path = tmp_path / "tone.wav"
    t = np.arange(400) / 8000
    soundfile.write(path, (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 8000, subtype="FLOAT")
    result = kan_inr.tune(path, "siren", trials=2, epochs=3, outputs=tmp_path / "out", device="cpu", progress=False)
    assert result.finished == 2 and result.best is not None
    assert 1 / 8 <= result.best["params"]["band_scale"] <= 8  # the audio band rule's lever, not omega_0 itself


def test_each_family_declares_its_levers_and_a_plugin_its_own(monkeypatch):
    assert {"first_omega", "hidden_omega", "hidden_dim", "hidden_layers"} <= set(spaces.search_space("siren").params)
    assert {"grid_fraction", "omega", "block_width", "blocks"} <= set(spaces.search_space("fkan").params)
    assert {"degree_fraction", "rank", "hidden_dim"} <= set(spaces.search_space("sl2a").params)
    fkan = spaces.search_space("fkan")
    settings = fkan.settings({"grid_fraction": 0.5, "block_width": 64, "blocks": 3}, (64, 64), "centers")
    assert settings["grid_size"] == 50 and settings["block_dims"] == (64, 64, 64)  # half of pi * 32
    monkeypatch.setattr(plugins, "PRESETS", {})

    @dataclass(frozen=True)
    class TinyConfig:
        width: int = 8

    class Tiny(models.Siren):
        def __init__(self, in_dim: int, out_dim: int, cfg: TinyConfig) -> None:
            super().__init__(in_dim, out_dim, models.SirenConfig(hidden_dim=cfg.width, hidden_layers=0))

    plugins.register_model("tiny-tune", config=TinyConfig(), space={"width": number(4, 16, integer=True)})(Tiny)
    assert spaces.search_space("tiny-tune").params["width"] == number(4, 16, integer=True)
    assert {"lr", "schedule", "epochs"} <= set(spaces.search_space("tiny-tune").params)


def test_epochs_budget_caps_the_length_lever():
    space = spaces.search_space("siren")  # the image recipe: 600 epochs, searched from 60 to 1,200
    assert spaces.within_budget(space, 300).params["epochs"] == number(60, 300, log=True, integer=True)
    assert spaces.within_budget(space, 50).params["epochs"].fixed == 50
    with pytest.raises(KanInrError, match="above the budget"):
        spaces.within_budget(spaces.changed(space, {"epochs": {"fixed": 500}}, models.SirenConfig(), "x"), 100)


@pytest.mark.parametrize("floor, expected", [(23.5, (30.0, 24.0)), (19.0, (40.0, 20.0)), (26.0, (25.0, 25.0)),
                                             (None, (40.0, 20.0))])
def test_the_chosen_point_is_the_best_grid_whose_2x_beats_the_classical_upsampler(floor, expected):
    study = optuna.create_study(directions=["maximize", "maximize"])
    for values in ([40.0, 20.0], [30.0, 24.0], [25.0, 25.0], [24.0, 23.0]):  # the last is dominated
        study.add_trial(optuna.trial.create_trial(values=values, params={}, distributions={}))
    if floor is not None:
        study.set_user_attr("floor_2x", {"method": "bicubic", "score": floor})
    assert tuple(objectives.chosen(study).values) == expected  # none reaches 26: the best 2x


def test_failed_trials_are_recorded_and_reported_in_one_line(tmp_path, image16, capsys, monkeypatch):
    space = tmp_path / "space.toml"
    space.write_text("[hidden_dim]\nfixed = 0\n")  # a valid number no network can be built with
    code, _, err = run_cli(["tune", image16, "--model", "siren", "--trials", "2", "--space", space, "--outputs",
                            tmp_path / "out", *SHORT], capsys, monkeypatch)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "2 trial(s) failed (trial 0: cannot build 'siren' with these settings" in err
    assert "the study holds 0 of 2: run the same command again to retry" in err
    assert states(study_of(tmp_path / "out", "img16")) == ["FAIL", "FAIL"]


def test_running_trials_of_dead_or_unclaiming_processes_are_failed(monkeypatch):
    study = optuna.create_study()
    mine, dead, unclaimed = study.ask(), study.ask(), study.ask()
    reaping.claim(mine)  # this process: alive
    dead.set_user_attr("host", reaping.HOST)
    dead.set_user_attr("pid", find_dead_pid())
    assert reaping.fail_dead_trials(study) == [dead.number]  # the unclaimed one is young: maybe being claimed
    monkeypatch.setattr(reaping, "CLAIM_S", -1)
    assert reaping.fail_dead_trials(study) == [unclaimed.number]
    assert states(study) == ["RUNNING", "FAIL", "FAIL"]


def find_dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_seconds_budget_drops_the_length_lever_and_a_study_starts_at_the_default():
    """Under a clock the lr schedule ends with it: a sampled length would only stop a trial early. The
    first trial is the preset's own settings (its recipe's lr and schedule, its config's fields)."""
    from kan_inr import models
    from kan_inr.tuning import spaces

    space = spaces.search_space("siren", "image")
    assert "epochs" in space.params
    timed = spaces.within_budget(space, None, 30.0)
    assert "epochs" not in timed.params and set(timed.params) == set(space.params) - {"epochs"}
    point = spaces.default_point(timed, models.preset("siren", "image"), (64, 64), "image")
    assert point == {"lr": 4.2e-4, "schedule": "cosine", "hidden_dim": 492, "hidden_layers": 1, "first_omega": 50.0,
                     "hidden_omega": 43.4}  # presets.SIREN_IMAGE and SIREN_TUNED, omega_0 capped at 64 px


def test_an_fkan_study_starts_at_fkans_default_network_and_recipe(tmp_path, monkeypatch):
    """A new study's first trial is the preset's own default: the network ``kan-inr fit --model fkan`` builds
    for the signal the trial fits (the image reduced 2x: objective "both"), and the recipe's lr, schedule,
    batch and pixels (the length is the study's budget)."""
    image = tmp_path / "img64.png"
    iio.imwrite(image, np.round(smooth_image(64, 64) * 255).astype(np.uint8))
    built = []
    real_start_run = superres.start_run  # every trial's fit starts here (superres.fit_scored)

    def recorded(*args, **kwargs):
        job = real_start_run(*args, **kwargs)
        built.append(job)
        return job

    monkeypatch.setattr(superres, "start_run", recorded)
    assert kan_inr.tune(image, "fkan", trials=1, epochs=2, outputs=tmp_path / "out", device="cpu",
                        progress=False).finished == 1
    (trial,) = built
    assert trial.signal.shape == (32, 32)
    default = jobs.start_run(image, "fkan", signal=trial.signal, write=False, console=False, device="cpu")
    assert trial.config["model"] == default.config["model"]  # family, sizes, every field of the network
    recipe = models.preset("fkan", "image").recipe_for("default")
    assert (trial.train.lr, trial.train.schedule, trial.train.batch, trial.train.box) \
        == (recipe.lr, recipe.schedule, recipe.batch, recipe.box)

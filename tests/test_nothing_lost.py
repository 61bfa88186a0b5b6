"""Nothing lost, ever (issue 19): every option is checked before any folder is created or removed,
--overwrite replaces only a run and only once the new run has earned it, a divergence is an error
everywhere. Each case ends in one stderr line and exit 2, with no file left behind and every
existing file byte-identical."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kan_inr
from kan_inr import jobs, runs
from kan_inr.config import TrainConfig
from kan_inr.errors import KanInrError
from kan_inr.logging import NullLog
from conftest import run_cli, smooth_image

TINY = ["--model", "siren", "--set", "hidden_dim=8", "--set", "hidden_layers=1", "--device", "cpu", "-q"]


@pytest.fixture(autouse=True)
def quiet_runs(monkeypatch):
    """No TensorBoard writer: it costs seconds per run and is not under test here."""
    monkeypatch.setattr(jobs, "RunLog", lambda *a, **k: NullLog())


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones included) -> the SHA-256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def one_error_line(code: int, err: str, match: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("kan-inr: error: "), (code, err)
    assert match in lines[0], lines[0]


@pytest.fixture
def outputs_with_a_run(image_file, tmp_path, capsys, monkeypatch) -> Path:
    """``out/run``: a complete run fitted by the CLI, beside a sibling run ``out/other``."""
    out = tmp_path / "out"
    for name in ("run", "other"):
        code, _, err = run_cli(["fit", image_file, *TINY, "--steps", "3", "--outputs", out, "--name", name],
                               capsys, monkeypatch)
        assert code == 0, err
    return out


# Every fit option that can fail validation, with what the one error line says. Each is run with
# --overwrite over a complete run: the run must stay byte-identical (issue 19, acceptance).
INVALID = {
    "unknown schedule": (["--schedule", "sawtooth"], "unknown schedule"),
    "no CUDA": (["--device", "cuda:0"], "cuda"),
    "unknown device": (["--device", "tpu9"], "device"),
    "huge box": (["--box", "100000"], "exceeds the limit of 8"),
    "box 1": (["--box", "1"], "box must be 0"),
    "lr inf": (["--lr", "inf"], "lr should be float"),
    "lr nan": (["--lr", "nan"], "lr should be float"),
    "lr 1e300": (["--lr", "1e300"], "lr must be"),
    "lr negative": (["--lr", "-1"], "lr must be positive"),
    "steps 0": (["--steps", "0"], "steps must be at least 1"),
    "eval-every 0": (["--eval-every", "0"], "eval_every must be at least 1"),
    "batch negative": (["--batch", "-3"], "batch must be"),
    "seed overflow": (["--seed", "99999999999999999999999"], "seed must be"),
    "seed negative": (["--seed", "-1"], "seed must be"),
    "precision": (["--precision", "fp8"], "unknown precision"),
    "compile": (["--compile", "fast"], "unknown compile"),
    "set nan": (["--set", "first_omega=nan"], "expected a finite value"),
    "set inf": (["--set", "first_omega=inf"], "expected a finite value"),
    "set unknown": (["--set", "colour=red"], "unknown model field"),
    "set hidden_dim=0": (["--set", "hidden_dim=0"], "cannot build"),
    "toml box 2.5": (["--config", "{toml:box = 2.5}"], "box should be int"),
    "toml steps text": (["--config", '{toml:steps = "five"}'], "steps should be int"),
    "toml steps 2.5": (["--config", "{toml:steps = 2.5}"], "steps should be int"),
    "toml lr text": (["--config", '{toml:lr = "fast"}'], "lr should be float"),
    "toml seed text": (["--config", '{toml:seed = "lucky"}'], "seed should be int"),
    "toml batch text": (["--config", '{toml:batch = "all"}'], "batch should be"),
    "toml model 5": (["--config", "{toml:model = 5}"], "[model] table"),
    "toml model field nan": (["--config", "{toml:[model]\nfirst_omega = nan}"], "should be float"),
    "toml unknown": (["--config", "{toml:colour = 1}"], "unknown option"),
    "name dot": (["--name", "."], "plain folder name"),
    "name dotdot": (["--name", ".."], "plain folder name"),
    "name separator": (["--name", "a/b"], "plain folder name"),
    "name hidden": (["--name", ".run.x"], "plain folder name"),
}


def expand(args: list[str], folder: Path) -> list[str]:
    """``{toml:TEXT}`` -> the path of a TOML file holding TEXT."""
    out = []
    for i, a in enumerate(args):
        if isinstance(a, str) and a.startswith("{toml:"):
            path = folder / f"options{i}.toml"
            path.write_text(a[len("{toml:"):-1] + "\n")
            a = str(path)
        out.append(a)
    return out


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_options_leave_the_run_and_its_siblings_byte_identical(case, outputs_with_a_run, image_file,
                                                                       tmp_path, capsys, monkeypatch):
    args, match = INVALID[case]
    out = outputs_with_a_run
    before = snapshot(out)
    name = [] if "--name" in args else ["--name", "run"]
    steps = [] if "steps" in case else ["--steps", "3"]  # the command line would override the file's steps
    code, _, err = run_cli(["fit", image_file, *TINY, *steps, "--outputs", out, *name, "--overwrite",
                            *expand(args, tmp_path)], capsys, monkeypatch)
    one_error_line(code, err, match)
    assert snapshot(out) == before  # nothing changed, nothing added (no staging folder, no .lock)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # nothing in the parent


def test_overwrite_refuses_a_folder_that_is_not_a_run(image_file, tmp_path, capsys, monkeypatch):
    precious = tmp_path / "out" / "precious"
    precious.mkdir(parents=True)
    (precious / "thesis.tex").write_text("years of work")
    before = snapshot(tmp_path / "out")
    code, _, err = run_cli(["fit", image_file, *TINY, "--steps", "2", "--outputs", tmp_path / "out", "--name",
                            "precious", "--overwrite"], capsys, monkeypatch)
    one_error_line(code, err, "is not a run folder")
    assert snapshot(tmp_path / "out") == before


def test_overwrite_refuses_a_broken_run(outputs_with_a_run, image_file, capsys, monkeypatch):
    run = outputs_with_a_run / "run"
    (run / runs.CONFIG).write_text("{ not json")
    before = snapshot(outputs_with_a_run)
    code, _, err = run_cli(["fit", image_file, *TINY, "--steps", "2", "--outputs", outputs_with_a_run, "--name",
                            "run", "--overwrite"], capsys, monkeypatch)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert snapshot(outputs_with_a_run) == before


def test_a_divergence_keeps_the_old_run_and_writes_nothing(outputs_with_a_run, image_file, tmp_path, capsys,
                                                           monkeypatch):
    """Targets of order 1e30 overflow the squared error at the first step: a divergence before any
    checkpoint. The staged new run goes; the old run stays byte-identical."""
    before = snapshot(outputs_with_a_run)
    monkeypatch.setattr(jobs, "train_config_for",
                        lambda preset, num_samples=None, **o: TrainConfig(**{**{k: v for k, v in o.items() if v is not None},
                                                           "target_range": (-1e30, 1e30)}))
    code, _, err = run_cli(["fit", image_file, *TINY, "--steps", "5", "--outputs", outputs_with_a_run, "--name",
                            "run", "--overwrite"], capsys, monkeypatch)
    one_error_line(code, err, "training diverged at step")
    assert snapshot(outputs_with_a_run) == before
    code, _, err = run_cli(["fit", image_file, *TINY, "--steps", "5", "--outputs", outputs_with_a_run, "--name",
                            "fresh"], capsys, monkeypatch)
    one_error_line(code, err, "no run written")
    assert not (outputs_with_a_run / "fresh").exists()
    assert snapshot(outputs_with_a_run) == before


def test_a_valid_overwrite_replaces_the_run(outputs_with_a_run, image_file, capsys, monkeypatch):
    old = snapshot(outputs_with_a_run / "run")
    code, _, err = run_cli(["fit", image_file, *TINY, "--steps", "4", "--seed", "1", "--outputs", outputs_with_a_run,
                            "--name", "run", "--overwrite"], capsys, monkeypatch)
    assert code == 0, err
    metrics = json.loads((outputs_with_a_run / "run" / runs.METRICS).read_text())
    assert metrics["status"] == "complete" and metrics["steps"] == 4
    assert snapshot(outputs_with_a_run / "run") != old
    assert sorted(p.name for p in outputs_with_a_run.iterdir()) == ["other", "run"]  # no staging left


def test_overwrite_swaps_at_the_first_checkpoint(outputs_with_a_run, image_file, monkeypatch):
    """The old run is replaced the moment the new one has a checkpoint; before that it is untouched."""
    seen = []
    real = runs.RunWriter.checkpoint

    def spy(self, state):
        seen.append((self.run_dir != self.target, (outputs_with_a_run / "run" / runs.CHECKPOINT).exists()))
        real(self, state)
        seen.append((self.run_dir != self.target, (outputs_with_a_run / "run" / runs.CHECKPOINT).exists()))

    monkeypatch.setattr(runs.RunWriter, "checkpoint", spy)
    kan_inr.fit(image_file, "siren", model_config={"hidden_dim": 8, "hidden_layers": 1}, steps=4, device="cpu",
                outputs=outputs_with_a_run, name="run", overwrite=True, progress=False, checkpoint_every=2)
    # first checkpoint: staged before (old run has no checkpoint.pt), in place after
    assert seen[:2] == [(True, False), (False, True)]


# The Python API: the same validator, so the same errors, and KanInrError only.
@pytest.mark.parametrize("options, match", [
    ({"lr": -1.0}, "lr must be positive"), ({"lr": math.nan}, "lr should be float"),
    ({"steps": 2.5}, "steps should be int"), ({"steps": "2"}, "steps should be int"),
    ({"seed": 2**70}, "seed must be"), ({"box": 100_000}, "exceeds the limit"),
    ({"model_config": {"first_omega": math.nan}}, "should be float"),
    ({"model_config": {"hidden_dim": "wide"}}, "expected a value of type int"),
    ({"model_config": {"hidden_dim": 0}}, "cannot build"),
    ({"name": ".."}, "plain folder name"),
])
def test_api_refuses_bad_options_with_kaninrerror(options, match, image_file, tmp_path):
    options = {"model_config": {"hidden_dim": 8, "hidden_layers": 1}, "steps": 2, **options}
    with pytest.raises(KanInrError, match=match):
        kan_inr.fit(image_file, "siren", device="cpu", progress=False, outputs=tmp_path / "out", **options)
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_api_divergence_is_an_error_in_memory(image_file, monkeypatch):
    monkeypatch.setattr(jobs, "train_config_for",
                        lambda preset, num_samples=None, **o: TrainConfig(**{**{k: v for k, v in o.items() if v is not None},
                                                           "target_range": (-1e30, 1e30)}))
    with pytest.raises(KanInrError, match="training diverged at step"):
        kan_inr.fit(image_file, "siren", steps=3, device="cpu", progress=False,
                    model_config={"hidden_dim": 8, "hidden_layers": 1})


def test_api_typed_model_config_is_used_as_given(image_file):
    run = kan_inr.fit(image_file, "siren", steps=1, device="cpu", progress=False,
                      model_config={"hidden_dim": 8, "hidden_layers": 1, "first_omega": 20})
    assert run.config["model"]["config"]["first_omega"] == 20.0
    assert isinstance(run.config["model"]["config"]["first_omega"], float)


def test_fit_many_fits_the_readable_signals_and_reports_the_rest(tmp_path, capsys, monkeypatch):
    import imageio.v3 as iio

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "c"):
        iio.imwrite(folder / f"{name}.png", np.round(smooth_image(12, 12) * 255).astype(np.uint8))
    (folder / "b.png").write_bytes(b"\x89PNG broken")
    code, out, err = run_cli(["fit-many", folder, *TINY, "--steps", "2", "--outputs", tmp_path / "out",
                              "--name", "g"], capsys, monkeypatch)
    one_error_line(code, err, "1 signal(s) could not be fitted")
    assert "b.png" in err
    group = tmp_path / "out" / "g"
    for name in ("a", "c"):
        assert json.loads((group / name / runs.METRICS).read_text())["status"] == "complete"
    assert not (group / "b").exists()
    assert "b" in (group / "summary.md").read_text().split("Missing")[-1]


# Random values of the wrong type through the one validator (TOML / JSON / API all end there).
WRONG = st.one_of(st.text(max_size=5), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3),
                  st.integers(), max_size=2), st.booleans(), st.floats(allow_nan=True, allow_infinity=True),
                  st.integers(min_value=-2**80, max_value=2**80), st.none())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from([f for f in TrainConfig.__dataclass_fields__]), value=WRONG)
def test_train_config_accepts_a_value_or_raises_kaninrerror(field, value):
    try:
        cfg = TrainConfig(**{field: value})
    except KanInrError:
        return
    stored = getattr(cfg, field)  # accepted: then it is of the declared type and finite
    assert stored is None or isinstance(stored, (int, float, str, tuple)) and not isinstance(stored, bool)
    if isinstance(stored, float):
        assert math.isfinite(stored)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(["steps", "lr", "batch", "box", "seed", "schedule", "eval_every", "model"]), value=WRONG)
def test_toml_options_of_any_type_end_in_one_line(field, value, tmp_path_factory):
    from kan_inr.options import train_options

    folder = tmp_path_factory.mktemp("toml")
    path = folder / "o.toml"
    path.write_text(f"{field} = {json.dumps(value) if not isinstance(value, float) or math.isfinite(value) else 'nan'}\n"
                    if not isinstance(value, dict) and value is not None else f"[{field}]\n")
    try:
        model_fields, options = train_options(path, [], steps=None, lr=None, batch=None, box=None, schedule=None,
                                              eval_every=None, seed=None)
        TrainConfig(**options)
    except KanInrError as exc:  # the CLI prints it as its one error line: one line of text, not empty
        message = str(exc)
        assert message.strip() and "\n" not in message and "\r" not in message, repr(message)

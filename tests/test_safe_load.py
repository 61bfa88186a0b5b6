"""Safe loading: pickled code in weights/checkpoints is refused unrun; config.json is validated and upgraded."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kan_inr import KanInrError, jobs, runs
from kan_inr.checkpoint import CheckpointPolicy
from kan_inr.config import FULL_BATCH
from kan_inr.logging import NullLog
from kan_inr.jobs import render_run


class Payload:
    """Unpickling this calls open(marker, "w"): code running on load, which must never happen."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.fixture
def run_dir(image_file, tmp_path, monkeypatch) -> Path:
    """A finished tiny run folder (SIREN, 3 steps)."""
    monkeypatch.setattr(jobs, "RunLog", lambda *a, **k: NullLog())
    run, _ = jobs.fit_file(image_file, "siren", outputs=tmp_path, name="run", console=False, steps=3, device="cpu",
                           model_overrides={"hidden_dim": "8", "hidden_layers": "1"})
    return run


def test_payload_really_runs_code_when_unpickled_unsafely(tmp_path):
    """The control: the crafted file does execute code under a plain (unsafe) torch.load."""
    marker, path = tmp_path / "pwned", tmp_path / "evil.pt"
    torch.save({"weight": Payload(marker)}, path)
    torch.load(path, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("pickler", ["torch.save", "raw pickle"])
def test_weights_with_a_payload_are_refused_unrun(run_dir, tmp_path, pickler):
    marker = tmp_path / "pwned"
    evil = {**torch.load(run_dir / runs.WEIGHTS, weights_only=True), "extra": Payload(marker)}
    with open(run_dir / runs.WEIGHTS, "wb") as f:
        torch.save(evil, f) if pickler == "torch.save" else pickle.dump(evil, f)
    with pytest.raises(KanInrError, match="cannot load .*weights.pt"):
        runs.load_run(run_dir)
    with pytest.raises(KanInrError, match="cannot load"):
        render_run(run_dir, tmp_path / "out.png", device="cpu")
    assert not marker.exists()


def test_checkpoint_with_a_payload_is_refused_unrun(image_file, tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "RunLog", lambda *a, **k: NullLog())
    job = jobs.start_run(image_file, "siren", outputs=tmp_path, name="run", console=False, steps=5, device="cpu",
                         model_overrides={"hidden_dim": "8", "hidden_layers": "1"})
    job.writer.close()  # an unfinished run, as a kill leaves it
    marker = tmp_path / "pwned"
    torch.save({"version": 1, "step": 2, "model": Payload(marker)}, job.writer.run_dir / runs.CHECKPOINT)
    with pytest.raises(KanInrError, match="cannot load .*checkpoint.pt"):
        jobs.resume_run(job.writer.run_dir, console=False, policy=CheckpointPolicy())
    assert not marker.exists()
    torch.save({"version": 1, "step": 2}, job.writer.run_dir / runs.CHECKPOINT)  # safe, but not a full state
    with pytest.raises(KanInrError, match="checkpoint does not fit this run"):
        jobs.resume_run(job.writer.run_dir, console=False)


def edit_config(run_dir: Path, change) -> None:
    config = json.loads((run_dir / runs.CONFIG).read_text())
    change(config)
    (run_dir / runs.CONFIG).write_text(json.dumps(config))


@pytest.mark.parametrize("change, match", [
    (lambda c: c.update(format_version=99), "written by a newer kan-inr .*upgrade kan-inr"),
    (lambda c: c.update(format_version="2"), "no valid format_version"),
    (lambda c: c.pop("format_version"), "no valid format_version"),
    (lambda c: c["model"].update(family="transformer"), "unknown model family 'transformer'"),
    (lambda c: c["model"]["config"].update(hidden_dim="8"), "field 'hidden_dim' should be"),
    (lambda c: c["model"]["config"].update(hidden_dim=True), "field 'hidden_dim' should be"),
    (lambda c: c["model"]["config"].update(depth=3), "unknown field"),
    (lambda c: c["model"].update(in_dim=0), "missing fields or has fields of the wrong type"),
    (lambda c: c["signal"].update(shape=[24, "24"]), "missing fields or has fields of the wrong type"),
    (lambda c: c["signal"].update(kind="video"), "unknown signal kind 'video'"),
    (lambda c: c["train"].update(steps=1.5), "field 'steps' should be"),
    (lambda c: c["train"].update(target_range=[0, 1, 2]), "field 'target_range' should be"),
    (lambda c: c.pop("train"), "missing fields"),
], ids=["newer", "version-string", "no-version", "family", "str-int", "bool-int", "unknown-field", "in-dim",
        "shape", "kind", "float-steps", "range", "no-train"])
def test_invalid_configs_are_one_clear_error(run_dir, change, match):
    edit_config(run_dir, change)
    with pytest.raises(KanInrError, match=match):
        runs.load_run(run_dir)


def test_format_1_config_is_upgraded(run_dir, tmp_path):
    def to_version_1(config):
        config["format_version"] = 1
        del config["signal"]["load_options"], config["signal"]["digest"], config["signal"]["convention"]

    edit_config(run_dir, to_version_1)
    config = runs.load_config(run_dir)
    assert config["format_version"] == runs.FORMAT_VERSION == 4 and config["signal"]["load_options"] == {}
    assert config["signal"]["convention"] == "endpoints"
    assert render_run(run_dir, tmp_path / "v1.png", device="cpu").is_file()


def test_format_2_runs_keep_the_endpoint_grid_they_were_fitted_on(run_dir):
    def to_version_2(config):
        config["format_version"] = 2
        del config["signal"]["convention"]

    assert runs.load_config(run_dir)["signal"]["convention"] == "centers"  # a new image run
    edit_config(run_dir, to_version_2)
    assert runs.load_config(run_dir)["signal"]["convention"] == "endpoints"


def test_format_3_full_batch_null_becomes_full_batch(run_dir, tmp_path):
    def to_version_3_full_batch(config):
        config["format_version"] = 3
        config["train"]["batch"] = None  # format 3 wrote a full batch as null

    edit_config(run_dir, to_version_3_full_batch)
    config = runs.load_config(run_dir)
    assert config["format_version"] == 4 and config["train"]["batch"] == FULL_BATCH
    assert render_run(run_dir, tmp_path / "v3.png", device="cpu").is_file()


def test_wrong_weights_are_refused(run_dir, tmp_path):
    state = torch.load(run_dir / runs.WEIGHTS, weights_only=True)
    torch.save({k: v[..., :1] for k, v in state.items()}, run_dir / runs.WEIGHTS)
    with pytest.raises(KanInrError, match="cannot load weights"):
        runs.load_run(run_dir)
    torch.save([1, 2, 3], run_dir / runs.WEIGHTS)
    with pytest.raises(KanInrError, match="cannot load weights"):
        runs.load_run(run_dir)


ORIGINALS: dict[Path, bytes] = {}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from([runs.CONFIG, runs.WEIGHTS, runs.METRICS]), cut=st.floats(0, 1),
       flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=6))
def test_corrupted_run_files(run_dir, target, cut, flips):
    """Any truncation or byte damage of a run's files: it loads (damage in unused bytes) or one KanInrError."""
    path = run_dir / target
    good = ORIGINALS.setdefault(path, path.read_bytes())  # the fixture's run is shared by all examples
    data = bytearray(good[: int(len(good) * cut)])
    for at, value in flips:
        if data:
            data[min(int(at * len(data)), len(data) - 1)] = value
    path.write_bytes(bytes(data))
    try:
        run = runs.load_run(run_dir)
        runs.read_status(run_dir)
    except KanInrError as exc:
        assert str(exc)
    else:
        assert run.model(torch.zeros(2, 2)).shape == (2, 3)
    finally:
        path.write_bytes(good)

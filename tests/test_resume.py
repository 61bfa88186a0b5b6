"""Interruption and exact resume: SIGINT/SIGTERM checkpoint, --resume equals an uninterrupted fit, locks, statuses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import imageio.v3 as iio
import pytest
import torch

from kan_inr import KanInrError, jobs, runs
from kan_inr.checkpoint import Checkpointer, CheckpointPolicy, StopRequest
from kan_inr.logging import NullLog
from kan_inr.jobs import render_run

TINY = {"hidden_dim": "16", "hidden_layers": "1"}
REPO = Path(__file__).resolve().parents[1]


def fit_tiny(image_file: Path, outputs: Path, name: str, **options):
    """A seconds-long CPU SIREN fit (minibatches unless batch=0 is given) with checkpoints every 5 steps."""
    settings = dict(steps=40, lr=1e-3, batch=64, eval_every=10, log_every=1, seed=3, device="cpu")
    return jobs.fit_file(image_file, "siren", outputs=outputs, name=name, console=False, model_overrides=TINY,
                         policy=CheckpointPolicy(every_steps=5), **{**settings, **options})


class SignalAtStep(NullLog):
    """A log that sends this process a real signal while step ``at`` is running."""

    def __init__(self, at: int, signum: int = signal.SIGINT) -> None:
        self.at, self.signum = at, signum

    def train(self, step: int, loss: float, lr: float, samples_per_s: float) -> None:
        if step == self.at:
            os.kill(os.getpid(), self.signum)


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / runs.WEIGHTS, weights_only=True)


@pytest.fixture(autouse=True)
def quiet_runs(monkeypatch):
    """No TensorBoard writer: it costs seconds per run and is not under test here."""
    monkeypatch.setattr(jobs, "RunLog", lambda *a, **k: NullLog())


@pytest.mark.parametrize("batch, signum", [(64, signal.SIGINT), (None, signal.SIGTERM)],
                         ids=["minibatch-SIGINT", "full-batch-SIGTERM"])
def test_interrupted_then_resumed_equals_uninterrupted(image_file, tmp_path, monkeypatch, batch, signum):
    reference, ref_result = fit_tiny(image_file, tmp_path, "reference", batch=batch)

    monkeypatch.setattr(jobs, "RunLog", lambda *a, **k: SignalAtStep(23, signum))
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN where the suite runs as a background job
    run_dir, result = fit_tiny(image_file, tmp_path, "stopped", batch=batch)
    assert result.interrupted_at == 23  # the step in flight finished, then a checkpoint, then a clean stop
    assert runs.read_status(run_dir) == {"status": "interrupted", "step": 23, **{
        f"best_{k}": v for k, v in ref_result.history[1].items() if k not in ("time_s", "loss")}}
    assert runs.load_checkpoint(run_dir)["step"] == 23
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored

    monkeypatch.setattr(jobs, "RunLog", lambda *a, **k: NullLog())
    resumed, result = jobs.resume_run(run_dir, console=False)
    assert result.interrupted_at is None and runs.read_status(resumed)["status"] == "complete"
    assert not (resumed / runs.CHECKPOINT).exists()
    a, b = weights(reference), weights(resumed)
    assert a.keys() == b.keys()
    assert [k for k in a if not torch.equal(a[k], b[k])] == []  # bit for bit, as the README says (CPU)
    strip = lambda h: [{k: v for k, v in row.items() if k != "time_s"} for row in h]  # noqa: E731
    assert strip(result.history) == strip(ref_result.history)
    assert result.metrics["final_psnr"] == ref_result.metrics["final_psnr"]


def test_killed_before_first_checkpoint_resumes_from_step_0(image_file, tmp_path):
    reference, _ = fit_tiny(image_file, tmp_path, "reference")
    job = jobs.start_run(image_file, "siren", outputs=tmp_path, name="killed", console=False, model_overrides=TINY,
                         steps=40, lr=1e-3, batch=64, eval_every=10, seed=3, device="cpu")
    job.writer.close()  # what a SIGKILL right after creation leaves: config, initial weights, status running
    assert runs.read_status(job.writer.run_dir) == {"status": "running", "step": 0}
    assert runs.load_run(job.writer.run_dir).model is not None
    resumed, _ = jobs.resume_run(job.writer.run_dir, console=False)
    a, b = weights(reference), weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_rules(image_file, tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "RunLog", lambda *a, **k: SignalAtStep(12))
    run_dir, _ = fit_tiny(image_file, tmp_path, "run")
    monkeypatch.setattr(jobs, "RunLog", lambda *a, **k: NullLog())
    with pytest.raises(KanInrError, match="already exists .*--overwrite"):
        fit_tiny(image_file, tmp_path, "run")
    out = render_run(run_dir, tmp_path / "mid.png", device="cpu")  # a stopped run renders its latest weights
    assert out.is_file()

    moved = tmp_path / "elsewhere.png"
    image_file.rename(moved)
    with pytest.raises(KanInrError, match="is not there: give its path"):
        jobs.resume_run(run_dir, console=False)
    other = tmp_path / "other.png"
    iio.imwrite(other, (iio.imread(moved) // 2))
    with pytest.raises(KanInrError, match="not the signal run .* was fitted on"):
        jobs.resume_run(run_dir, other, console=False)
    assert runs.read_status(run_dir)["status"] == "interrupted"  # a refused resume changes nothing

    fd = runs.lock(run_dir)  # another writer holds the run
    try:
        with pytest.raises(KanInrError, match="being written by another process"):
            jobs.resume_run(run_dir, moved, console=False)
    finally:
        runs.unlock(fd)
    done, _ = jobs.resume_run(run_dir, moved, console=False)  # the moved file is accepted
    with pytest.raises(KanInrError, match="is complete: nothing to resume"):
        jobs.resume_run(done, moved, console=False)
    _, result = fit_tiny(moved, tmp_path, "run", overwrite=True)
    assert result.metrics["steps"] == 40


def test_lock_held_by_another_process(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
        "fcntl.flock(fd, fcntl.LOCK_EX); os.write(fd, b'4242'); print('locked', flush=True); time.sleep(60)"),
        str(tmp_path / runs.LOCK)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(KanInrError, match=r"being written by another process \(pid 4242\)"):
            runs.lock(tmp_path)
    finally:
        holder.kill()
        holder.wait()
    runs.unlock(runs.lock(tmp_path))  # the kernel released the dead process's lock


def test_checkpoint_policy_steps_minutes_and_stop(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    saves = Checkpointer(lambda state: None, CheckpointPolicy(every_steps=4, every_minutes=1.0))
    assert [s for s in range(1, 13) if saves.due(s)] == [4, 8, 12]
    clock[0] = 61.0
    assert saves.due(13) and not saves.due(14)
    stop = StopRequest()
    saves = Checkpointer(lambda state: None, CheckpointPolicy(every_steps=None, every_minutes=None), stop)
    assert not saves.due(1)
    stop.signum = signal.SIGTERM
    assert not saves.due(2) and stop.exit_code == 143  # the loop, not the policy, honours a stop request
    with pytest.raises(KanInrError, match="--checkpoint-every"):
        CheckpointPolicy(every_steps=0)
    with pytest.raises(KanInrError, match="--checkpoint-minutes"):
        CheckpointPolicy(every_minutes=float("nan"))


def test_cli_sigterm_prints_how_to_resume(image_file, tmp_path):
    """The real thing: a `kan-inr fit` process stopped by SIGTERM exits 143 (128 + 15) with one line naming --resume."""
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "kan_inr.cli", "fit", str(image_file), "--model", "siren", "--set", "hidden_dim=16",
         "--steps", "1000000", "--batch", "64", "--checkpoint-every", "1", "--device", "cpu", "-q",
         "--outputs", str(tmp_path), "--name", "run"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (run_dir / runs.CHECKPOINT).exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1].endswith(f"resume with: kan-inr fit --resume {run_dir}")
    status = json.loads((run_dir / runs.METRICS).read_text())
    assert status["status"] == "interrupted" and runs.load_checkpoint(run_dir)["step"] == status["step"] >= 1

"""Kill test: SIGKILL a CPU fit at random moments; after each kill the run folder must load, render and resume.

    python scripts/kill_test.py [--kills 20] [--seed 0] [--outputs DIR]

One uninterrupted reference fit (tiny SIREN on data/astronaut.png shrunk to 16x16, 40 steps, a checkpoint
after every step) gives the weights every resumed run must end with. Then, for each kill, a fresh fit is
started and SIGKILLed in one of three phases, chosen at random (15% / 75% / 10%):

- creation: a random time into the start-up window measured on the reference (from the moment the hidden
  staging folder appears to the first checkpoint: creating the run, then imports before step 1);
- training: once the run's metrics.json reaches a random step 1..40, after a further 0-200 ms, which
  lands anywhere in the steps and the checkpoint writes (tmp file, fsync, rename) that follow;
- finishing: 0-500 ms after the status turns "complete" (final writes, exit).

Timing the kills by the run's own progress, not by wall time, keeps them spread over the fit however busy
the machine is. After the kill:

- no run folder under the run's name is fine only if the kill came before the rename that creates it;
- otherwise the folder must load (``runs.load_run``), render (``jobs.render_run``) and resume
  (``jobs.resume_run``, what ``kan-inr fit --resume`` calls, here in-process to save an interpreter start
  per kill; or be complete and have resume refuse it), and the resumed run's final weights must equal
  the reference's (max |difference| <= 1e-6: same seed, CPU).

Prints one line per kill and "N/N passed"; exits 1 if any kill failed.
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kan_inr import KanInrError, jobs, runs  # noqa: E402
from kan_inr.jobs import render_run  # noqa: E402

STEPS = 40
FIT = ["--model", "siren", "--set", "hidden_dim=16", "--set", "hidden_layers=1", "--resize", "16",
       "--steps", str(STEPS), "--batch", "64", "--eval-every", "20", "--checkpoint-every", "1", "--seed", "1",
       "--device", "cpu", "-q"]


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "kan_inr.cli", *map(str, args)]


def start_fit(outputs: Path, name: str) -> subprocess.Popen:
    return subprocess.Popen(cli("fit", REPO / "data" / "astronaut.png", *FIT, "--outputs", outputs, "--name", name),
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(proc: subprocess.Popen, appeared) -> float:
    """Block until ``appeared()`` or the process ends; the time then."""
    while proc.poll() is None and not appeared():
        time.sleep(0.005)
    return time.monotonic()


def created(outputs: Path, name: str):
    """The run's staging folder or the run itself exists."""
    return lambda: any(p.name.startswith(f".{name}.") or p.name == name for p in outputs.iterdir())


def checkpointed(outputs: Path, name: str):
    return lambda: (outputs / name / runs.CHECKPOINT).exists()


def reached(outputs: Path, name: str, step: int):
    def progress() -> bool:
        try:
            return runs.read_status(outputs / name).get("step", 0) >= step
        except KanInrError:
            return False
    return progress


def completed(outputs: Path, name: str):
    def complete() -> bool:
        try:
            return runs.read_status(outputs / name)["status"] == runs.COMPLETE
        except KanInrError:  # caught between writes: not complete yet
            return False
    return complete


def max_difference(a: Path, b: Path) -> float:
    wa, wb = (torch.load(p / runs.WEIGHTS, weights_only=True) for p in (a, b))
    return max((wa[k] - wb[k]).abs().max().item() for k in wa)


def check(run: Path, reference: Path, scratch: Path) -> str:
    """Load, render and resume a killed run; returns what happened, raises AssertionError on failure."""
    status = runs.read_status(run)
    runs.load_run(run)
    render_run(run, scratch / "render.png", device="cpu")
    if status["status"] == runs.COMPLETE:
        try:
            jobs.resume_run(run, console=False)
            raise AssertionError("resume accepted a complete run")
        except KanInrError as exc:
            assert "is complete" in str(exc), exc
        what = "complete before the kill; resume refused it"
    else:
        _, result = jobs.resume_run(run, console=False)
        assert result.interrupted_at is None
        what = f"status {status['status']} at step {status.get('step')}; resumed to the end"
    assert runs.read_status(run)["status"] == runs.COMPLETE
    diff = max_difference(run, reference)
    assert diff <= 1e-6, f"resumed weights differ from the reference by {diff}"
    return f"{what}, loads, renders, max |w - w_ref| = {diff:.1e}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--outputs", type=Path, default=None, help="[default: a temporary folder]")
    args = parser.parse_args()
    outputs = args.outputs or Path(tempfile.mkdtemp(prefix="kan-inr-kill-"))
    outputs.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)

    proc = start_fit(outputs, "reference")
    t_created = wait_for(proc, created(outputs, "reference"))
    t_checkpoint = wait_for(proc, checkpointed(outputs, "reference"))
    out, err = proc.communicate()
    startup = t_checkpoint - t_created
    assert proc.returncode == 0, err
    reference = outputs / "reference"
    print(f"reference fit: {out.strip()}; {startup:.2f} s from run creation to the first checkpoint", flush=True)

    passed = 0
    for i in range(args.kills):
        name = f"kill-{i:02d}"
        proc = start_fit(outputs, name)
        phase = rng.choices(["creation", "training", "finishing"], [0.15, 0.75, 0.10])[0]
        if phase == "creation":
            event, appeared, delay = "run creation", created(outputs, name), rng.uniform(0, startup)
        elif phase == "training":
            step = rng.randint(1, STEPS)
            event, appeared, delay = f"step {step}", reached(outputs, name, step), rng.uniform(0, 0.2)
        else:
            event, appeared, delay = "status complete", completed(outputs, name), rng.uniform(0, 0.5)
        since = wait_for(proc, appeared)
        time.sleep(max(0.0, since + delay - time.monotonic()))
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        run = outputs / name
        try:
            if not run.exists():
                what = "killed before the run folder was renamed into place: no run, nothing half-written"
            else:
                scratch = Path(tempfile.mkdtemp(dir=outputs, prefix=f".scratch-{name}-"))
                what = check(run, reference, scratch)
            passed += 1
            verdict = "ok"
        except (AssertionError, KanInrError, OSError) as exc:
            verdict, what = "FAILED", f"{type(exc).__name__}: {exc}"
        leftovers = sorted(p.name for p in run.iterdir() if p.name.endswith(".tmp")) if run.exists() else []
        print(f"kill {i + 1:2d} at {event} + {delay:.2f} s: {verdict}: {what}"
              + (f" (stale temporary files: {', '.join(leftovers)})" if leftovers else ""), flush=True)
    print(f"{passed}/{args.kills} passed (run folders in {outputs})")
    return 0 if passed == args.kills else 1


if __name__ == "__main__":
    sys.exit(main())

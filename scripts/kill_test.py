"""Kill test: SIGKILL a CPU fit at random moments; after each kill the run folder must load, render and resume.

    python scripts/kill_test.py [--kills 20] [--seed 0] [--outputs DIR]

One uninterrupted reference fit (tiny SIREN on data/astronaut.png shrunk to 16x16, a checkpoint after every
step) measures two windows: from the moment its run folder starts being created (the hidden staging folder
appears) to its first checkpoint (creation, then start-up before step 1), and from the first checkpoint to
the moment its status turns "complete", plus 10% (training, checkpoint writes, the final writes, a little
of the exit). Then, for each kill, a fresh fit is started and
SIGKILLed at a moment drawn uniformly from the first window (one kill in four) or the second, measured from
the event that opens it in that run. After the kill:

- no run folder under the run's name is fine only if the kill came before the rename that creates it;
- otherwise the folder must load (``runs.load_run``), render (``render.render_run``) and resume
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
from kan_inr.render import render_run  # noqa: E402

FIT = ["--model", "siren", "--set", "hidden_dim=16", "--set", "hidden_layers=1", "--resize", "16",
       "--steps", "40", "--batch", "64", "--eval-every", "20", "--checkpoint-every", "1", "--seed", "1",
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
    t_complete = wait_for(proc, completed(outputs, "reference"))
    out, err = proc.communicate()
    startup, training = t_checkpoint - t_created, 1.1 * (t_complete - t_checkpoint)
    assert proc.returncode == 0, err
    reference = outputs / "reference"
    print(f"reference fit: {out.strip()}; {startup:.2f} s from run creation to the first checkpoint, "
          f"{training:.2f} s from there to status complete + 10%", flush=True)

    passed = 0
    for i in range(args.kills):
        name = f"kill-{i:02d}"
        proc = start_fit(outputs, name)
        early = rng.random() < 0.25
        event, delay = ("creation", rng.uniform(0, startup)) if early else ("1st checkpoint", rng.uniform(0, training))
        since = wait_for(proc, created(outputs, name) if early else checkpointed(outputs, name))
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

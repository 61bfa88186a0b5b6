"""Kill test: SIGKILL a CPU fit at random moments; after each kill the run folders must load, render and resume.

    python scripts/kill_test.py [--mode single|batched|ddp] [--kills 20] [--seed 0] [--outputs DIR]

Modes: ``single`` (``kan-inr fit``), ``batched`` (``kan-inr fit-many --batched``: one group of 4 networks
on 4 signals of one shape, a run folder each) and ``ddp`` (``torchrun --nproc_per_node=2 ... fit
--distributed`` on gloo; torchrun and both ranks are killed at once, as a crash of the machine would).

One uninterrupted reference fit (tiny SIREN on data/astronaut.png shrunk to 16x16, or 4 flips of it for
batched, 40 steps, a checkpoint after every step) gives the weights every resumed run must end with.
Then, for each kill, a fresh fit is started and SIGKILLed in one of three phases, chosen at random
(15% / 75% / 10%):

- creation: a random time into the start-up window measured on the reference (from the moment the hidden
  staging folder appears to the first checkpoint: creating the run, then imports before step 1);
- training: once the (first) run's metrics.json reaches a random step 1..40, after a further 0-3 step
  times (measured on the reference), which lands anywhere in the steps and the checkpoint writes (tmp
  file, fsync, rename) that follow;
- finishing: 0-500 ms after the (first) run's status turns "complete" (final writes, exit).

Timing the kills by the run's own progress, not by wall time, keeps them spread over the fit however busy
the machine is. After the kill:

- no run folder under the run's name is fine only if the kill came before the rename that creates it;
- otherwise every run folder must load (``runs.load_run``) and render (``jobs.render_run``); then the fit
  is resumed the way a user would: single, ``jobs.resume_run`` (what ``kan-inr fit --resume`` calls,
  in-process to save an interpreter start per kill; a complete run must be refused); batched, the same
  ``fit-many`` again (in-process, ``many.fit_many``: complete runs skipped, a group resumed as a group);
  ddp, ``torchrun ... fit --resume RUN --distributed``. Every resumed run's final weights must equal the
  reference's (max |difference| <= 1e-6: same seed, CPU).

Prints one line per kill and "N/N passed"; exits 1 if any kill failed.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imageio.v3 as iio
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kan_inr import KanInrError, jobs, many, runs  # noqa: E402
from kan_inr.checkpoint import CheckpointPolicy  # noqa: E402
from kan_inr.jobs import render_run  # noqa: E402

STEPS = 40
FIT = ["--model", "siren", "--set", "hidden_dim=16", "--set", "hidden_layers=1", "--resize", "16",
       "--steps", str(STEPS), "--batch", "64", "--eval-every", "20", "--checkpoint-every", "1", "--seed", "1",
       "--device", "cpu", "-q"]


TINY = {"hidden_dim": "16", "hidden_layers": "1"}
MEMBERS = ("img0", "img1", "img2", "img3")
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "kan_inr.cli", *map(str, args)]


def torchrun(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *cli(*args)[1:]]


def write_group_data(folder: Path) -> Path:
    """Four 16x16 signals of one shape for the batched mode: the sample image and its flips."""
    folder.mkdir(parents=True, exist_ok=True)
    image = iio.imread(REPO / "data" / "astronaut.png")
    for name, array in zip(MEMBERS, (image, image[::-1], image[:, ::-1], image[::-1, ::-1])):
        iio.imwrite(folder / f"{name}.png", array)
    return folder


class Mode:
    """How one mode starts a fit, where its run folders are, and how a user resumes it."""

    def __init__(self, name: str, outputs: Path) -> None:
        self.name, self.outputs = name, outputs
        self.data = write_group_data(outputs / ".data") if name == "batched" else REPO / "data" / "astronaut.png"

    def command(self, name: str) -> list[str]:
        if self.name == "batched":
            return cli("fit-many", self.data, *FIT, "--batched", "--outputs", self.outputs, "--name", name)
        fit = ["fit", self.data, *FIT, "--outputs", self.outputs, "--name", name]
        return torchrun(*fit, "--distributed") if self.name == "ddp" else cli(*fit)

    def start(self, name: str) -> subprocess.Popen:
        return subprocess.Popen(self.command(name), cwd=REPO, env=ENV, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def runs(self, name: str) -> list[Path]:
        return [self.outputs / name / m for m in MEMBERS] if self.name == "batched" else [self.outputs / name]

    def watched(self, name: str) -> tuple[Path, str]:
        """(folder whose creation and progress time the kills, the name its staging folder starts with)."""
        run = self.runs(name)[0]
        return run.parent, run.name

    def resume(self, name: str) -> str:
        """Finish the fit as a user would; what happened."""
        if self.name == "batched":
            result = many.fit_many([str(self.data)], "siren", outputs=self.outputs, name=name, batched=True,
                                   model_overrides=TINY, policy=CheckpointPolicy(every_steps=1),
                                   **GROUP_OPTIONS)
            return f"fit-many again: {len(result.skipped)} complete, {len(result.fitted)} resumed or refitted"
        (run,) = self.runs(name)
        status = runs.read_status(run)
        if status["status"] == runs.COMPLETE:
            try:
                jobs.resume_run(run, console=False)
                raise AssertionError("resume accepted a complete run")
            except KanInrError as exc:
                assert "is complete" in str(exc), exc
            return "complete before the kill; resume refused it"
        if self.name == "ddp":
            done = subprocess.run(torchrun("fit", "--resume", run, "--distributed", "--device", "cpu", "-q"),
                                  cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, done.stderr[-2000:]
        else:
            _, result = jobs.resume_run(run, console=False)
            assert result.interrupted_at is None
        return f"status {status['status']} at step {status.get('step')}; resumed to the end"


GROUP_OPTIONS = dict(load_options={"resize_to": 16}, steps=STEPS, batch=64, eval_every=20, seed=1, device="cpu")  # = FIT


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (torchrun starts each rank in a session of its own, so a process
    group does not hold them), collected before any is killed."""
    tree, i = [pid], 0
    while i < len(tree):
        try:
            children = Path(f"/proc/{tree[i]}/task/{tree[i]}/children").read_text().split()
        except OSError:
            children = []
        tree += [int(c) for c in children]
        i += 1
    return tree


def wait_for(proc: subprocess.Popen, appeared) -> float:
    """Block until ``appeared()`` or the process ends; the time then."""
    while proc.poll() is None and not appeared():
        time.sleep(0.005)
    return time.monotonic()


def created(outputs: Path, name: str):
    """The run's staging folder or the run itself exists."""
    return lambda: outputs.is_dir() and any(p.name.startswith(f".{name}.") or p.name == name for p in outputs.iterdir())


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


def check(mode: Mode, name: str, reference: str, scratch: Path) -> str:
    """Load and render every run folder a kill left, resume the fit, compare the weights with the
    reference's; returns what happened, raises AssertionError on failure."""
    for run in mode.runs(name):
        if run.exists():
            runs.load_run(run)
            render_run(run, scratch / f"{run.name}.png", device="cpu")
    what = mode.resume(name)
    diff = 0.0
    for run, ref in zip(mode.runs(name), mode.runs(reference)):
        assert runs.read_status(run)["status"] == runs.COMPLETE, run
        diff = max(diff, max_difference(run, ref))
    assert diff <= 1e-6, f"resumed weights differ from the reference by {diff}"
    return f"{what}, loads, renders, max |w - w_ref| = {diff:.1e}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("single", "batched", "ddp"), default="single")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--outputs", type=Path, default=None, help="[default: a temporary folder]")
    args = parser.parse_args()
    outputs = args.outputs or Path(tempfile.mkdtemp(prefix=f"kan-inr-kill-{args.mode}-"))
    outputs.mkdir(parents=True, exist_ok=True)
    mode = Mode(args.mode, outputs)
    rng = random.Random(args.seed)

    proc = mode.start("reference")
    t_created = wait_for(proc, created(*mode.watched("reference")))
    t_checkpoint = wait_for(proc, checkpointed(*mode.watched("reference")))
    t_complete = wait_for(proc, completed(*mode.watched("reference")))
    out, err = proc.communicate()
    startup, step_s = t_checkpoint - t_created, (t_complete - t_checkpoint) / STEPS
    assert proc.returncode == 0, err
    print(f"{args.mode}: reference fit: {out.strip().splitlines()[-1]}; {startup:.2f} s from run creation to the "
          f"first checkpoint, then {step_s * 1e3:.0f} ms per step", flush=True)

    passed = 0
    for i in range(args.kills):
        name = f"kill-{i:02d}"
        proc = mode.start(name)
        folder, first = mode.watched(name)
        phase = rng.choices(["creation", "training", "finishing"], [0.15, 0.75, 0.10])[0]
        if phase == "creation":
            event, appeared, delay = "run creation", created(folder, first), rng.uniform(0, startup)
        elif phase == "training":
            step = rng.randint(1, STEPS)
            event, appeared, delay = f"step {step}", reached(folder, first, step), rng.uniform(0, 3 * step_s)
        else:
            event, appeared, delay = "status complete", completed(folder, first), rng.uniform(0, 0.5)
        since = wait_for(proc, appeared)
        time.sleep(max(0.0, since + delay - time.monotonic()))
        for pid in process_tree(proc.pid):  # the fit and, under torchrun, both ranks: a crash of the machine
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # it had finished
        proc.communicate()
        try:
            if not any(run.exists() for run in mode.runs(name)) and mode.name != "batched":
                what = "killed before the run folder was renamed into place: no run, nothing half-written"
            else:
                scratch = Path(tempfile.mkdtemp(dir=outputs, prefix=f".scratch-{name}-"))
                what = check(mode, name, "reference", scratch)
            passed += 1
            verdict = "ok"
        except (AssertionError, KanInrError, OSError) as exc:
            verdict, what = "FAILED", f"{type(exc).__name__}: {exc}"
        leftovers = sorted(p.name for run in mode.runs(name) if run.exists() for p in run.iterdir()
                           if p.name.endswith(".tmp"))
        print(f"kill {i + 1:2d} at {event} + {delay:.2f} s: {verdict}: {what}"
              + (f" (stale temporary files: {', '.join(leftovers)})" if leftovers else ""), flush=True)
    print(f"{args.mode}: {passed}/{args.kills} passed (run folders in {outputs})")
    return 0 if passed == args.kills else 1


if __name__ == "__main__":
    sys.exit(main())

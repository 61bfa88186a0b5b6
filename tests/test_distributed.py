"""torchrun with 2 gloo processes: sharded fit-many equals one process; fit --distributed equals DDP's math
and resumes exactly after SIGINT."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from kan_inr import distributed, jobs, models, signals
from kan_inr.config import MAX_SEED, TrainConfig
from kan_inr.training import Sampler, lr_at
from kan_inr.many import fit_many
from kan_inr.signals.base import normalise
from test_many import TINY_SIREN, assert_summaries_close, read_summary, write_images

REPO = Path(__file__).resolve().parents[1]


def torchrun(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node=2 -m kan_inr.cli ARGS`` on the CPU (gloo)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "kan_inr.cli", *args]
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_session_without_torchrun_is_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with distributed.session("cpu") as ctx:
        assert (ctx.rank, ctx.world_size, ctx.device, ctx.is_main) == (0, 1, "cpu", True)
        assert ctx.shard(list("abcde")) == list("abcde")
        ctx.barrier()  # no process group: nothing to wait for
    assert distributed.Context(rank=1, world_size=2).shard(list("abcde")) == ["b", "d"]


def test_barrier_waits_for_every_rank_on_the_store() -> None:
    """Two ranks (threads) on one store: neither passes barrier k before the other reached it, and an
    earlier barrier's keys do not let a later one through."""
    store = torch.distributed.HashStore()
    ranks = [distributed.Context(rank=r, world_size=2, store=store, prefix="test") for r in range(2)]
    events: list[tuple[str, int, int]] = []

    def run(ctx: distributed.Context) -> None:
        for k in range(3):
            if ctx.rank == 1:
                time.sleep(0.05)  # rank 1 arrives late at every barrier
            events.append(("arrive", k, ctx.rank))
            ctx.barrier()
            events.append(("leave", k, ctx.rank))

    threads = [threading.Thread(target=run, args=(ctx,)) for ctx in ranks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for k in range(3):
        assert events.index(("leave", k, 0)) > events.index(("arrive", k, 1)), events


def test_a_session_ends_on_the_store_before_any_rank_tears_down(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rank 0 of two: its session ends by waiting on the store for rank 1 (a thread here) and only then
    destroys the process group; the process group's own barrier, whose tail races the teardown, is never
    used."""
    store, calls = torch.distributed.HashStore(), []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.distributed, "rendezvous", lambda *args, **kwargs: iter([(store, 0, 2)]))
    monkeypatch.setattr(torch.distributed, "init_process_group", lambda *args, **kwargs: calls.append("init"))
    monkeypatch.setattr(torch.distributed, "destroy_process_group", lambda: calls.append("destroy"))
    monkeypatch.setattr(torch.distributed, "barrier", lambda *args, **kwargs: calls.append("process-group barrier"))
    rank1 = distributed.Context(rank=1, world_size=2, store=store, prefix="kan_inr/session/0")

    def late_rank_1() -> None:
        store.add("kan_inr/sessions", 1)  # rank 1 joins the session, as session() does
        time.sleep(0.2)
        calls.append("rank 1 at the end")
        rank1.barrier()

    other = threading.Thread(target=late_rank_1)
    other.start()
    with distributed.session("cpu") as ctx:
        assert (ctx.rank, ctx.world_size, ctx.store) == (0, 2, store)
    other.join(timeout=30)
    assert calls == ["init", "rank 1 at the end", "destroy"]


@pytest.mark.slow  # 12 s: torchrun twice; DDP itself is held by the gradient-averaging test
def test_fit_many_sharded_over_two_processes_equals_one(tmp_path: Path) -> None:
    # rank 0 gets img0 and img2 (two shapes: each alone), rank 1 img1 and img3 (one shape: batched);
    # the single process batches img0, img1, img3 and fits img2 alone
    write_images(tmp_path / "data", [(16, 16), (16, 16), (12, 16), (16, 16)])
    # fp32: networks grouped differently (shards, vmapped groups) give the same floats only in fp32, and
    # auto runs bf16 where the CPU has it
    options = ["--model", "siren", "--steps", "20", "--batch", "64", "--lr", "1e-3", "--eval-every", "10",
               "--device", "cpu", "--precision", "fp32", "--outputs", "out"] + [f"--set={k}={v}" for k, v in TINY_SIREN.items()]
    done = torchrun(["fit-many", "data", "--name", "sharded", "--batched", *options], tmp_path)
    assert "rank 0/2: 2/2 img2" in done.stderr and "rank 1/2: 2/2 img3" in done.stderr
    assert done.stdout.count("summary.md") == 1  # rank 0 alone writes and reports the summary

    single = fit_many([str(tmp_path / "data")], "siren", outputs=tmp_path / "out", name="single", batched=True,
                      model_overrides=TINY_SIREN, steps=20, batch=64, lr=1e-3, eval_every=10, device="cpu",
                      precision="fp32")
    sharded = read_summary(tmp_path / "out" / "sharded" / "summary.csv")
    assert list(sharded) == ["img0", "img1", "img2", "img3", "mean", "std"]
    assert_summaries_close(sharded, read_summary(single.summary))


def test_fit_distributed_averages_gradients_over_ranks(tmp_path: Path) -> None:
    (path,) = write_images(tmp_path, [(16, 16)])
    steps, batch, lr = 8, 64, 1e-3
    args = ["fit", path.name, "--model", "siren", "--steps", str(steps), "--batch", str(batch), "--lr", str(lr),
            "--eval-every", str(steps), "--seed", "5", "--device", "cpu", "--outputs", "out", "--distributed", "-q",
            "--box", "0", "--precision", "fp32"]  # the reference below evaluates the pixel centres, in fp32
    done = torchrun(args + [f"--set={k}={v}" for k, v in TINY_SIREN.items()], tmp_path)
    assert done.stdout.count("out/img0-siren") == 1  # rank 0 alone writes and reports the run
    assert [p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")] == ["img0-siren"]
    run = tmp_path / "out" / "img0-siren"
    metrics = json.loads((run / "metrics.json").read_text())
    assert (metrics["world_size"], metrics["batch"], metrics["global_batch"]) == (2, batch, 2 * batch)
    train = json.loads((run / "config.json").read_text())["train"]
    assert (train["seed"], train["batch"]) == (5, 2 * batch)  # the run holds the global batch

    # Reference: one process, one Sampler (seed 5) drawing the global batch of 2 x batch coordinates,
    # rank r training on its half r, Adam on the mean of the two ranks' losses (DDP averages the
    # gradients), from the weights seed 5 builds.
    signal = signals.load(path)
    preset = models.preset("siren")
    torch.manual_seed(5)
    model = models.build("siren", 2, 3, models.with_overrides(preset.config_for(signal.shape), TINY_SIREN))
    coords = signal.coords()  # (N, 2)
    target = normalise(signal.values, signal.value_range, preset.recipe.target_range)  # (N, 3)
    sampler = Sampler(signal.num_samples, 2 * batch, 5, torch.device("cpu"))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    cfg = TrainConfig(steps=steps, lr=lr, schedule=preset.recipe.schedule)
    for step in range(steps):
        optimizer.param_groups[0]["lr"] = lr_at(step, cfg)
        indices = sampler.next().split(batch)  # (batch,) per rank
        loss = sum(torch.mean((model(coords[i]) - target[i]) ** 2) for i in indices) / 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    weights = torch.load(run / "weights.pt", weights_only=True)
    for name, expected in model.state_dict().items():
        torch.testing.assert_close(weights[name], expected, rtol=1e-5, atol=1e-6, msg=name)


def test_fit_distributed_takes_the_largest_seed_with_box_pixels(tmp_path: Path) -> None:
    (path,) = write_images(tmp_path, [(16, 16)])
    args = ["fit", path.name, "--model", "siren", "--steps", "2", "--batch", "32", "--box", "2",
            "--seed", str(MAX_SEED), "--device", "cpu", "--outputs", "out", "--distributed", "-q"]
    torchrun(args + [f"--set={k}={v}" for k, v in TINY_SIREN.items()], tmp_path)  # exits 0
    train = json.loads((tmp_path / "out" / "img0-siren" / "config.json").read_text())["train"]
    assert (train["seed"], train["box"]) == (MAX_SEED, 2)


@pytest.mark.slow  # 31 s: three torchrun fits; resume alone is held by test_resume.py, DDP by the test above
def test_fit_distributed_interrupted_resumes_to_the_same_weights(tmp_path: Path) -> None:
    """SIGINT to torchrun after a checkpoint: the ranks agree to stop at a log step, rank 0 checkpoints and
    the run is kept (interrupted, never deleted); `fit --resume RUN --distributed` ends with the weights
    of the uninterrupted fit."""
    (path,) = write_images(tmp_path, [(16, 16)])
    args = ["fit", path.name, "--model", "siren", "--steps", "600", "--batch", "32", "--lr", "1e-3",
            "--eval-every", "300", "--checkpoint-every", "20", "--device", "cpu", "--outputs", "out",
            "--distributed", "-q", "--precision", "fp32"] + [f"--set={k}={v}" for k, v in TINY_SIREN.items()]
    torchrun(args + ["--name", "reference"], tmp_path)

    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             "-m", "kan_inr.cli", *args, "--name", "stopped"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run = tmp_path / "out" / "stopped"
    try:
        deadline = time.monotonic() + 200
        while not (run / "checkpoint.pt").exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    status = json.loads((run / "metrics.json").read_text())
    assert status["status"] == "interrupted", err
    step = torch.load(run / "checkpoint.pt", weights_only=True)["step"]
    assert step == status["step"] and step % 10 == 0 and 20 <= step < 600  # stopped at a log step
    assert f"interrupted after step {step} (checkpoint saved); resume with: kan-inr fit --resume out/stopped " \
           f"--distributed" in err

    alone = shutil.copytree(run, tmp_path / "out" / "alone")
    torchrun(["fit", "--resume", "out/stopped", "--distributed", "--device", "cpu", "-q"], tmp_path)
    assert json.loads((run / "metrics.json").read_text())["status"] == "complete"
    a = torch.load(tmp_path / "out" / "reference" / "weights.pt", weights_only=True)
    b = torch.load(run / "weights.pt", weights_only=True)
    assert max((a[k] - b[k]).abs().max().item() for k in a) <= 1e-6

    # one process, no torchrun: the same global batch in one piece, equal up to the sums' rounding
    _, result = jobs.resume_run(alone, path, console=False)
    assert result.metrics["batch"] == 64 and "world_size" not in result.metrics
    c = torch.load(alone / "weights.pt", weights_only=True)
    assert max((a[k] - c[k]).abs().max().item() for k in a) <= 1e-5

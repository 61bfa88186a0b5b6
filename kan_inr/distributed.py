"""Scale-out on PyTorch's own distributed engine: processes launched by ``torchrun``.

torchrun starts one process per device and sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
MASTER_PORT; ``session`` joins the process group from those ("env://"): NCCL when the rank trains on
a GPU (``cuda:LOCAL_RANK``), gloo on CPU. Without torchrun it is a single process of rank 0 and no
process group, so every caller runs unchanged on one process.

Two uses: ``fit-many`` shards whole signals over ranks (no collectives but barriers), and
``fit_file_ddp`` trains one network data-parallel (DDP, Li et al. 2020, "PyTorch Distributed"): each
rank draws its own random coordinates, gradients are averaged by all-reduce, rank 0 writes the run.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator, Sequence, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from kan_inr import KanInrError
from kan_inr.fit import FitResult, fit, replace, resolve_device
from kan_inr.jobs import finish_run, start_run

T = TypeVar("T")
# A rank that finished its signals waits at a barrier for the slowest one: allow long fits.
BARRIER_TIMEOUT = timedelta(hours=24)


@dataclass(frozen=True)
class Context:
    """This process's place in the run: rank r of world_size, training on ``device``."""

    rank: int = 0
    world_size: int = 1
    device: str = "auto"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's share, round robin: items r, r + W, r + 2W, ..."""
        return list(items[self.rank::self.world_size])

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()


def launched() -> bool:
    """True inside a process started by torchrun (or anything that sets its environment)."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def _env_int(key: str) -> int:
    try:
        return int(os.environ[key])
    except (KeyError, ValueError):
        raise KanInrError(f"torchrun environment variable {key} is missing or not an integer") from None


@contextmanager
def session(device: str | None = "auto") -> Iterator[Context]:
    """Join the torchrun process group for the duration of the block (a no-op without torchrun)."""
    device = device or "auto"
    if not launched() or _env_int("WORLD_SIZE") == 1:
        yield Context(device=device)
        return
    rank, world, local = _env_int("RANK"), _env_int("WORLD_SIZE"), _env_int("LOCAL_RANK")
    if device not in ("auto", "cpu", "cuda"):
        raise KanInrError(f"under torchrun each rank uses cuda:LOCAL_RANK or the CPU: use --device auto, cuda or "
                          f"cpu, not '{device}'")
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        resolve_device("cuda")  # a clear error when CUDA was asked for but is missing
        if local >= torch.cuda.device_count():
            raise KanInrError(f"LOCAL_RANK {local} but only {torch.cuda.device_count()} CUDA device(s) on this node")
        torch.cuda.set_device(local)
    rank_device = f"cuda:{local}" if use_cuda else "cpu"
    owner = not dist.is_initialized()
    if owner:
        dist.init_process_group("nccl" if use_cuda else "gloo", init_method="env://", rank=rank, world_size=world,
                                timeout=BARRIER_TIMEOUT)
    try:
        yield Context(rank, world, rank_device)
    finally:
        if owner:
            dist.destroy_process_group()


def wrap_ddp(model: nn.Module, ctx: Context) -> nn.Module:
    """The model on this rank's device inside DDP (DDP broadcasts rank 0's initial weights).
    Buffers are not re-broadcast each forward: the evaluation passes then need no collectives."""
    device = torch.device(ctx.device)
    model.to(device)
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                   broadcast_buffers=False)


def fit_file_ddp(path: str | Path, model_name: str, *, outputs: str | Path = "outputs", name: str | None = None,
                 overwrite: bool = False, model_overrides: dict[str, str] | None = None,
                 load_options: dict[str, Any] | None = None, console: bool = True,
                 **train_overrides: Any) -> tuple[Path | None, FitResult]:
    """``jobs.fit_file`` data-parallel over the torchrun ranks: one network, ``batch`` coordinates per
    rank per step (global batch W x batch), gradients averaged. Returns (run folder on rank 0 else None,
    result); ``samples_per_s`` in the result counts all ranks."""
    with session(train_overrides.get("device")) as ctx:
        overrides = {**train_overrides, "device": ctx.device}
        job = start_run(path, model_name, outputs=outputs, name=name, overwrite=overwrite,
                        model_overrides=model_overrides, load_options=load_options,
                        console=console and ctx.is_main, write=ctx.is_main, **overrides)
        try:
            n = job.signal.num_samples
            if ctx.world_size > 1 and (job.train.batch is None or job.train.batch >= n):
                raise KanInrError(f"--distributed splits random minibatches over ranks: give --batch smaller than "
                                  f"the signal's {n:,} samples (the '{model_name}' recipe is full batch)")
            # Each rank its own coordinates: the Sampler is seeded by seed + rank. The weights do not
            # depend on it (DDP starts every rank from rank 0's), and rank 0's config keeps the user's seed.
            model = wrap_ddp(job.model, ctx) if ctx.world_size > 1 else job.model
            result = fit(model, job.signal, replace(job.train, seed=job.train.seed + ctx.rank), job.log)
            result.metrics.update(world_size=ctx.world_size, global_batch=result.metrics["batch"] * ctx.world_size,
                                  samples_per_s=result.metrics["samples_per_s"] * ctx.world_size)
            run_dir = finish_run(job, job.model, result) if ctx.is_main else None
        except BaseException:
            if job.writer is not None:
                job.writer.discard()
            raise
        ctx.barrier()
        return run_dir, result

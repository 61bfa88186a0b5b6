"""Scale-out on PyTorch's own distributed engine: processes launched by ``torchrun``.

torchrun starts one process per device and sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and
MASTER_PORT; ``session`` joins the process group from those ("env://"): NCCL when the rank trains on
a GPU (``cuda:LOCAL_RANK``), gloo on CPU. Without torchrun it is a single process of rank 0 and no
process group, so every caller runs unchanged on one process.

Two uses: ``fit-many`` shards whole signals over ranks (no collectives but barriers), and ``fit_ddp``
trains one network data-parallel (DDP, Li et al. 2020, "PyTorch Distributed") through the one loop
(``training.train``) with ``DDPStep``: every rank draws the same global batch of random coordinates (one
sampler, one seed) and trains on its 1/W share, gradients are averaged by all-reduce, so the update is
Adam on the mean loss over the global batch whatever W is; a checkpoint (rank 0) therefore resumes on
any world size that divides the global batch. Decisions that end the loop (a stop request, a time
budget) are agreed by all ranks at log steps, where the loop synchronises anyway.

Ranks wait for each other (``Context.barrier``) on the job's store, which the torchrun agent serves
and which outlives every rank, never on the process group: a gloo barrier returns on one rank while
the other may still be inside it, and a rank that then tears its connections down can abort the other
(SIGABRT at exit, after the work is done), the more often the busier the machine.
"""

from __future__ import annotations

import itertools
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Iterator, Sequence, TypeVar

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from kan_inr.errors import KanInrError
from kan_inr.checkpoint import Checkpointer
from kan_inr.config import TrainConfig, batch_size
from kan_inr.device import resolve_device
from kan_inr.training import FitResult, check_memory, check_train_config, fit, train
from kan_inr.logging import NullLog
from kan_inr.pixels import PixelModel
from kan_inr.signals.base import Signal
from kan_inr.step import ModelStep

T = TypeVar("T")
# A rank that finished its signals waits at a barrier for the slowest one: allow long fits.
BARRIER_TIMEOUT = timedelta(hours=24)


@dataclass(frozen=True)
class Context:
    """This process's place in the run: rank r of world_size, training on ``device``."""

    rank: int = 0
    world_size: int = 1
    device: str = "auto"
    store: dist.Store | None = None  # the job's rendezvous store (world_size > 1)
    prefix: str = "kan_inr"  # this session's keys in it
    barriers: Iterator[int] = field(default_factory=itertools.count, compare=False, repr=False)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's share, round robin: items r, r + W, r + 2W, ..."""
        return list(items[self.rank::self.world_size])

    def barrier(self) -> None:
        """Return once every rank has called it, through the store (module docstring): once past it, no
        rank has a collective in flight, so any rank may tear its connections down."""
        if self.world_size == 1:
            return
        assert self.store is not None  # session gives a multi-rank context its store
        key = f"{self.prefix}/barrier/{next(self.barriers)}"  # the n-th barrier of every rank
        if self.store.add(key, 1) == self.world_size:  # the last rank to arrive opens it
            self.store.set(f"{key}/open", "1")
        self.store.wait([f"{key}/open"])


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
    """Join the torchrun process group for the duration of the block (a no-op without torchrun); a block
    that ends without an error ends with a ``barrier``, so no rank leaves while another still talks to it
    (after an error the ranks do not wait: torchrun stops the others)."""
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
        # the store env:// reaches: under torchrun a client of the one its agent serves, else served by rank 0;
        # the group's keys under the prefix init_method="env://" gives them
        store, _, _ = next(dist.rendezvous("env://", rank, world, timeout=BARRIER_TIMEOUT))
        dist.init_process_group("nccl" if use_cuda else "gloo", store=dist.PrefixStore("default_pg", store),
                                rank=rank, world_size=world, timeout=BARRIER_TIMEOUT)
    else:  # a group the caller made: its store (torch has no public accessor)
        store = dist.distributed_c10d._get_default_store()
    # the n-th session of the job on every rank: the store's keys of one session are not another's
    session_number = (store.add("kan_inr/sessions", 1) - 1) // world
    try:
        ctx = Context(rank, world, rank_device, store, f"kan_inr/session/{session_number}")
        yield ctx
        ctx.barrier()
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


class DDPStep(ModelStep):
    """``ModelStep`` on a DDP-wrapped model: rank r trains on slice r of each global batch of indices."""

    def __init__(self, model: nn.Module, signal: Signal, cfg: TrainConfig, device: torch.device, batch: int,
                 ctx: Context) -> None:
        self.world_size = ctx.world_size
        local = batch // ctx.world_size
        # this rank's slots of a global batch, made once: no per-step allocation
        self.slots = torch.arange(ctx.rank * local, (ctx.rank + 1) * local, device=device)  # (batch / W,)
        super().__init__(model, signal, cfg, device, batch, train_model=wrap_ddp(model, ctx))

    def inputs(self, index: torch.Tensor | None, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's share of the global batch ``index`` (batch,): the positions are drawn for the whole
        global batch, as one process would draw them, then this rank's slots of every sample are taken:
        (S * batch / W, d) and targets (batch / W, C)."""
        assert index is not None  # fit_ddp refuses a full batch
        x = self.positions(self.coords[index], step)  # (S * batch, d)
        x = x.reshape(-1, self.batch, x.shape[1])[:, self.slots].reshape(-1, x.shape[1])  # (S * batch / W, d)
        return x, self.target[index[self.slots]]

    def losses(self, losses: torch.Tensor) -> list[float]:
        """The mean over ranks of their losses (B,): the global batch's loss, the same number on every rank."""
        total = losses.detach().clone()
        dist.all_reduce(total)
        return (total / self.world_size).tolist()

    def agree(self, flag: bool, scheduled: bool) -> bool:
        """True on every rank at a scheduled (log) step if any rank's ``flag`` is set; else False."""
        if not scheduled:
            return False
        votes = torch.tensor([float(flag)], device=self.device)
        dist.all_reduce(votes, op=dist.ReduceOp.MAX)
        return bool(votes.item())


def fit_ddp(model: nn.Module, signal: Signal, cfg: TrainConfig, ctx: Context, log: NullLog = NullLog(),
            checkpoints: Checkpointer | None = None) -> FitResult:
    """``training.fit`` data-parallel over the ranks of ``ctx``: ``cfg.batch`` coordinates per step in all,
    ``cfg.batch / W`` per rank. Every rank returns the same result; ``samples_per_s`` counts all ranks."""
    if ctx.world_size == 1:
        return fit(model, signal, cfg, log, checkpoints)
    n = signal.num_samples
    if batch_size(cfg.batch, n) == n:
        raise KanInrError(f"--distributed splits random minibatches over ranks: give --batch smaller than the "
                          f"signal's {n:,} samples (this fit is full batch)")
    if cfg.batch % ctx.world_size:
        raise KanInrError(f"a global batch of {cfg.batch:,} coordinates cannot be split evenly over "
                          f"{ctx.world_size} processes: use a number of processes that divides it")
    cfg, device, batch = check_train_config(cfg, n)
    model.to(device).train()
    check_memory(model, signal, batch // ctx.world_size, device, PixelModel.of(cfg))
    tick = time.perf_counter()
    step = DDPStep(model, signal, cfg, device, batch, ctx)
    result = train(step, cfg, [log], checkpoints, compile_s=time.perf_counter() - tick)[0]
    if result.metrics:
        result.metrics.update(world_size=ctx.world_size, batch=batch // ctx.world_size, global_batch=batch)
    return result

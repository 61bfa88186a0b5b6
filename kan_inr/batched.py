"""Batched fitting: B independent networks of one architecture trained at once on B signals of one shape.

``torch.func.stack_module_state`` stacks the B networks' parameters into tensors with a leading (B,)
axis, and ``vmap(functional_call)`` runs the B forward passes as batched matrix multiplies, so a GPU
stays busy even on 32x32 signals. Nothing couples the signals:

- the loss is the sum of the B per-signal MSE losses, so network b's gradient is that of its own loss;
- Adam is elementwise (m, v and the update of each entry depend on that entry's gradient only), so
  one Adam over the stacked tensors is exactly B independent Adams.

The step itself is the single network's: ``step.train_step`` with its loss (``step.mse_loss``, which
takes the stacked forward's (B, S * M, C) as B losses) and its optimiser (``step.make_optimizer``).

``BatchedStep`` is the step ``training.train`` injects: with each network built after
``torch.manual_seed(seed)`` (as ``jobs.start_run`` does), the same minibatch indices (equal shapes and
seeds give every signal the same index sequence) and the same ``lr_at`` schedule, the result equals B
separate ``training.fit`` calls to floating-point tolerance (batched matmuls may sum in another order),
unless a wall-clock budget (``max_seconds``) ends or bends the schedule, which no two runs share.
Each network's checkpoint is its own slice (weights, Adam moments), so a group stopped after a
checkpoint resumes as a group, and each of its runs could also resume alone.
"""

from __future__ import annotations

import copy
import functools
import time
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state

from kan_inr import precision
from kan_inr.errors import KanInrError
from kan_inr.checkpoint import Checkpointer
from kan_inr.config import TrainConfig
from kan_inr.device import format_bytes, free_memory
from kan_inr.training import FitResult, check_train_config, memory_needed, train
from kan_inr.logging import NullLog
from kan_inr.pixels import PixelModel
from kan_inr.signals.base import Signal, normalise
from kan_inr.step import cpu_copy, evaluate, make_optimizer, train_step


class BatchedStep:
    """B networks of one architecture on B signals of one shape, stacked (see the module docstring)."""

    def __init__(self, models: list[nn.Module], batch_signals: list[Signal], cfg: TrainConfig,
                 device: torch.device, batch: int) -> None:
        if cfg.freq_penalty:
            raise KanInrError("freq_penalty is not available for networks fitted together: use --sequential")
        self.models, self.signals, self.cfg, self.device, self.batch = models, batch_signals, cfg, device, batch
        self.members = len(models)
        first = batch_signals[0]
        self.pixels = PixelModel.of(cfg)
        self.positions = self.pixels.sampler(first.shape, first.convention, device, cfg.seed)  # shared by the B networks
        self.target_range = cfg.target_range or first.value_range
        self.coords = first.coords(device)  # (N, d), shared: equal shapes
        self.target = torch.stack([normalise(s.values, s.value_range, self.target_range)
                                   for s in batch_signals]).to(device)  # (B, N, C)
        self.params, self.buffers = stack_module_state(models)  # name -> (B, ...) leaves, detached copies
        self.keys = list(models[0].state_dict())  # what a checkpoint holds: parameters and persistent buffers
        template = copy.deepcopy(models[0]).to("meta")  # structure only; weights come from `params`

        def forward_one(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
            return functional_call(template, (p, b), (x,))  # (M, C)

        forward = torch.vmap(forward_one, in_dims=(0, 0, None))  # coords shared by all B networks
        # (S * M, d) -> (B, S * M, C); the optimiser updates `params` in place, so this stays current
        self.net = functools.partial(forward, self.params, self.buffers)
        self.optimizer = make_optimizer(self.params.values(), cfg.lr, device)
        self.num_params = sum(p.numel() for p in models[0].parameters())
        self.compiled = "eager (batched)"
        self.plan = precision.plan(cfg.precision, device, cfg.bf16_until)
        self.precision = self.plan.start  # what the steps run; the loop moves it to plan.full (Plan.switch_due)

    @property
    def stacked(self) -> dict[str, torch.Tensor]:
        return {**self.params, **self.buffers}

    def train(self, index: torch.Tensor | None, lr: float, step: int = 0) -> torch.Tensor:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if index is None:
            x, goal = self.coords, self.target  # (N, d), (B, N, C)
        else:
            x, goal = self.coords[index], self.target[:, index]  # (batch, d), (B, batch, C)
        x = self.positions(x, step)  # (S * batch, d), shared by the B networks
        return train_step(self.net, self.optimizer, x, goal, self.precision, pixels=self.pixels)  # (B,)

    def losses(self, losses: torch.Tensor) -> list[float]:
        return losses.tolist()

    def agree(self, flag: bool, scheduled: bool) -> bool:
        return flag

    def _copy_out(self, b: int) -> None:
        """Network ``b``'s slice of the stacked tensors into ``models[b]``."""
        with torch.no_grad():
            for name, tensor in (*self.models[b].named_parameters(), *self.models[b].named_buffers()):
                tensor.copy_(self.stacked[name][b])

    def evaluate(self, b: int) -> tuple[dict[str, float], torch.Tensor]:
        self._copy_out(b)
        return evaluate(self.models[b], self.signals[b], self.target_range, self.device, self.pixels)

    def member_state(self, b: int) -> dict[str, torch.Tensor]:
        return {k: self.stacked[k][b].detach().clone() for k in self.keys}

    def load_member(self, b: int, state: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for k in self.keys:
                self.stacked[k][b].copy_(state[k])

    def state_dict(self, b: int) -> dict[str, Any]:
        """Network ``b``'s weights and its slice of Adam's state, shaped as one network's Adam state."""
        full = self.optimizer.state_dict()
        state = {i: {k: v if k == "step" else v[b] for k, v in s.items()} for i, s in full["state"].items()}
        return {"model": cpu_copy(self.member_state(b)),
                "optimizer": {"state": {i: cpu_copy(s) for i, s in state.items()}, "param_groups": full["param_groups"]}}

    def load_state_dicts(self, states: list[dict[str, Any]]) -> None:
        """Stack B networks' checkpoints (weights and Adam moments) back into this step."""
        for b, state in enumerate(states):
            if state["model"].keys() != set(self.keys):
                raise ValueError("the checkpoint's weights are of another model")
            self.load_member(b, state["model"])
        merged = {i: {k: v if k == "step" else torch.stack([s["optimizer"]["state"][i][k] for s in states])
                      for k, v in first.items()} for i, first in states[0]["optimizer"]["state"].items()}
        self.optimizer.load_state_dict({"state": merged, "param_groups": states[0]["optimizer"]["param_groups"]})

    def finish(self) -> None:
        for b in range(self.members):
            self._copy_out(b)


def check_batch_memory(model: nn.Module, signal: Signal, size: int, batch: int, device: torch.device,
                       pixels: PixelModel) -> None:
    """Refuse, with advice, a batched fit whose estimated memory (B single fits) exceeds what is free."""
    free = free_memory(device)
    needed = size * memory_needed(model, signal, batch, pixels=pixels)[0]
    if free is not None and needed > free:
        raise KanInrError(f"fitting {size} networks together needs about {format_bytes(needed)} on {device} but "
                          f"{format_bytes(free)} are free: lower --group or --batch")


def fit_batch(models: list[nn.Module], batch_signals: list[Signal], cfg: TrainConfig,
              logs: list[NullLog] | None = None, checkpoints: Checkpointer | None = None) -> list[FitResult]:
    """Train ``models[b]`` on ``batch_signals[b]`` for every b at once through ``training.train``; each model
    ends with the weights ``training.fit`` would have left it with, on the training device. ``checkpoints``
    as for ``training.fit``, with one state per network."""
    if len(models) != len(batch_signals) or not models:
        raise ValueError("fit_batch needs one model per signal")
    first = batch_signals[0]
    if any((s.kind, s.shape, s.out_dim, s.value_range) != (first.kind, first.shape, first.out_dim, first.value_range)
           for s in batch_signals):
        raise KanInrError("batched fitting needs signals of one kind, shape and channel count")
    cfg, device, batch = check_train_config(cfg, first.num_samples)
    for model in models:
        model.to(device).train()
    check_batch_memory(models[0], first, len(models), batch, device, PixelModel.of(cfg))
    tick = time.perf_counter()
    step = BatchedStep(models, batch_signals, cfg, device, batch)
    results = train(step, cfg, logs or [NullLog() for _ in models], checkpoints, time.perf_counter() - tick)
    for result in results:
        if result.metrics:
            result.metrics["fitted_together"] = len(models)
    return results

"""Batched fitting: B independent networks of one architecture trained at once on B signals of one shape.

``torch.func.stack_module_state`` stacks the B networks' parameters into tensors with a leading (B,)
axis, and ``vmap(functional_call)`` runs the B forward passes as batched matrix multiplies, so a GPU
stays busy even on 32x32 signals. Nothing couples the signals:

- the loss is the sum of the B per-signal MSE losses, so network b's gradient is that of its own loss;
- Adam is elementwise (m, v and the update of each entry depend on that entry's gradient only), so
  one Adam over the stacked tensors is exactly B independent Adams.

With each network built after ``torch.manual_seed(seed)`` (as ``jobs.start_run`` does), the same
minibatch indices (one ``fit.Sampler`` with the seed: equal shapes and seeds give every signal the same
index sequence) and the same ``lr_at`` schedule, the result equals B separate ``fit.fit`` calls to
floating-point tolerance (batched matmuls may sum in another order), unless a wall-clock budget
(``max_seconds``) ends or bends the schedule, which no two runs share. Evaluation, metrics and history
follow ``fit.fit`` row for row; a signal whose loss turns non-finite keeps its best weights, as there.
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any, Callable

import torch
from torch import nn
from torch.func import functional_call, stack_module_state

from kan_inr import KanInrError, sampling, signals
from kan_inr.fit import (PRECISIONS, FitResult, Sampler, TrainConfig, _device_name, _sync, check_choice, evaluate,
                         free_memory, lr_at, matmul_precision, memory_needed, resolve_device)
from kan_inr.logging import NullLog
from kan_inr.signals.base import Signal, normalise


def load_member(model: nn.Module, stacked: dict[str, torch.Tensor], b: int) -> None:
    """Copy network ``b`` out of stacked parameters / buffers (name -> (B, ...)) into ``model``."""
    with torch.no_grad():
        for name, tensor in (*model.named_parameters(), *model.named_buffers()):
            tensor.copy_(stacked[name][b])


def batched_step(forward: Callable[..., torch.Tensor], params: dict[str, torch.Tensor],
                 buffers: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer, coords: torch.Tensor,
                 target: torch.Tensor, precision: str = "fp32") -> torch.Tensor:
    """``fit.train_step`` for B stacked networks: coords (M, d) shared, target (B, M, C); returns the
    B losses as a device tensor (B,). Each loss is that network's MSE, in fp32, as in ``fit.mse_loss``."""
    with matmul_precision(precision):
        with torch.autocast(coords.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            pred = forward(params, buffers, coords)  # (B, M, C)
        losses = torch.mean((pred.float() - target) ** 2, dim=(1, 2))  # (B,)
        optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()  # d(sum)/d(network b) = d(loss b)/d(network b): nothing couples them
        optimizer.step()
    return losses


def check_batch_memory(model: nn.Module, signal: Signal, size: int, batch: int, device: torch.device) -> None:
    """Refuse, with advice, a batched fit whose estimated memory (B single fits) exceeds what is free."""
    free = free_memory(device)
    needed = size * memory_needed(model, signal, batch)[0]
    if free is not None and needed > free:
        raise KanInrError(f"fitting {size} networks together needs about {needed / 2**30:.1f} GiB on {device} but "
                          f"{free / 2**30:.1f} GiB are free: lower --group or --batch")


def fit_batch(models: list[nn.Module], batch_signals: list[Signal], cfg: TrainConfig,
              logs: list[NullLog] | None = None) -> list[FitResult]:
    """Train ``models[b]`` on ``batch_signals[b]`` for every b at once; each model ends with the
    weights ``fit.fit`` would have left it with, on the training device."""
    if len(models) != len(batch_signals) or not models:
        raise ValueError("fit_batch needs one model per signal")
    first = batch_signals[0]
    if any((s.kind, s.shape, s.out_dim, s.value_range) != (first.kind, first.shape, first.out_dim, first.value_range)
           for s in batch_signals):
        raise KanInrError("batched fitting needs signals of one kind, shape and channel count")
    if cfg.steps < 1:
        raise KanInrError(f"steps must be at least 1, got {cfg.steps}")
    lr_at(0, cfg)  # validates the schedule name before any work
    check_choice("precision", cfg.precision, PRECISIONS)
    if cfg.freq_penalty:
        raise KanInrError("freq_penalty is not available for networks fitted together: use --sequential")
    logs = logs or [NullLog() for _ in models]
    size = len(models)
    device = resolve_device(cfg.device)
    for model in models:
        model.to(device).train()
    headline = signals.module(first.kind).HEADLINE
    target_range = cfg.target_range or first.value_range
    coords = first.coords(device)  # (N, d), shared: equal shapes
    target = torch.stack([normalise(s.values, s.value_range, target_range)
                          for s in batch_signals]).to(device)  # (B, N, C)
    n = first.num_samples
    batch = n if cfg.batch is None or cfg.batch >= n else cfg.batch
    if batch < 1:
        raise KanInrError(f"batch must be at least 1, got {cfg.batch}")
    check_batch_memory(models[0], first, size, batch, device)
    sampler = Sampler(n, batch, cfg.seed, device) if batch < n else None

    params, buffers = stack_module_state(models)  # name -> (B, ...) leaves, detached copies
    template = copy.deepcopy(models[0]).to("meta")  # structure only; weights come from `params`

    def forward_one(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(template, (p, b), (x,))  # (M, C)

    forward = torch.vmap(forward_one, in_dims=(0, 0, None))  # coords shared by all B networks
    # As fit.make_optimizer: the fused CUDA Adam, elementwise like the others.
    optimizer = torch.optim.Adam(params.values(), lr=cfg.lr, fused=device.type == "cuda" or None)
    num_params = sum(p.numel() for p in models[0].parameters())

    results = [FitResult(metrics={}) for _ in models]
    best: list[dict[str, Any]] = [{headline: -math.inf} for _ in models]
    best_state = [copy.deepcopy(m.state_dict()) for m in models]
    live = list(range(size))  # signals whose loss is still finite
    steps_done = [cfg.steps] * size
    train_s, eval_s = 0.0, 0.0
    for log, signal in zip(logs, batch_signals):
        log.start(cfg.steps, f"{signal.kind} {'x'.join(map(str, signal.shape))}")
    _sync(device)
    tick = time.perf_counter()
    for step in range(1, cfg.steps + 1):
        lr = lr_at(step - 1, cfg, train_s + (time.perf_counter() - tick))
        for group in optimizer.param_groups:
            group["lr"] = lr
        if sampler is None:
            x, goal = coords, target  # (N, d), (B, N, C)
        else:
            index = sampler.next()  # (batch,)
            x, goal = coords[index], target[:, index]  # (batch, d), (B, batch, C)
        if cfg.jitter:
            x = sampling.jitter(x, first.shape, first.convention, cfg.jitter)  # (batch, d), shared by the B networks
        losses = batched_step(forward, params, buffers, optimizer, x, goal, cfg.precision)  # (B,)

        out_of_time = cfg.max_seconds is not None and train_s + (time.perf_counter() - tick) >= cfg.max_seconds
        is_eval = step % cfg.eval_every == 0 or step == cfg.steps or out_of_time
        if step % cfg.log_every == 0 or is_eval:
            loss_values = losses.tolist()  # the only host sync between evaluations
            elapsed = train_s + (time.perf_counter() - tick)
            for b in list(live):
                logs[b].train(step, loss_values[b], lr, step * batch / max(elapsed, 1e-9))
                if not math.isfinite(loss_values[b]):
                    # Network b no longer trains; its slice keeps running (nothing couples the slices)
                    # and is replaced by its best weights at the end, as fit() restores them.
                    results[b].diverged_at, steps_done[b] = step, step - 1
                    live.remove(b)
                    logs[b].message(f"loss became {loss_values[b]} at step {step}: stopped, best weights "
                                    f"(step {best[b].get('step', 0)}) kept; try a lower --lr")
            if not live:
                break
        if is_eval:
            _sync(device)
            now = time.perf_counter()
            train_s += now - tick
            for b in live:
                load_member(models[b], {**params, **buffers}, b)
                metrics, pred_full = evaluate(models[b], batch_signals[b], target_range, device)
                results[b].history.append({"step": step, "time_s": train_s, "loss": loss_values[b], **metrics})
                if metrics[headline] > best[b][headline]:
                    best[b] = {**metrics, "step": step}
                    best_state[b] = copy.deepcopy(models[b].state_dict())
                logs[b].evaluation(step, metrics, pred_full, batch_signals[b])
            tick = time.perf_counter()
            eval_s += tick - now
        if out_of_time:
            steps_done = [step if r.diverged_at is None else s for r, s in zip(results, steps_done)]
            break
    _sync(device)
    if live:
        train_s += time.perf_counter() - tick

    for b, (model, result) in enumerate(zip(models, results)):
        logs[b].close()
        if result.diverged_at is None:
            load_member(model, {**params, **buffers}, b)
            final = result.history[-1]
        else:
            model.load_state_dict(best_state[b])
            final, _ = evaluate(model, batch_signals[b], target_range, device)
        result.metrics = {
            **{f"final_{k}": v for k, v in final.items() if k not in ("step", "time_s", "loss")},
            **{f"best_{k}": v for k, v in best[b].items()},
            "params": num_params, "steps": steps_done[b], "batch": batch, "train_s": train_s, "eval_s": eval_s,
            "samples_per_s": steps_done[b] * batch / max(train_s, 1e-9), "device": _device_name(device),
            "torch": torch.__version__, "precision": cfg.precision, "compile": "eager (batched)",
            "fitted_together": size,
        }
    return results

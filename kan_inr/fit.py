"""Training: ``fit(model, signal, cfg, log) -> FitResult``, one loop that reads top to bottom.

Adam on MSE; minibatches of random coordinates (a fresh permutation each epoch, as in the SL2A and
FKAN reference code) or the full grid; the learning rate follows ``lr_at``. Evaluation is always a
separate full-grid pass of the current weights, de-normalised to the signal's range and measured by
the signal kind's metrics (PSNR on clamped [0, 1] values for images).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from kan_inr import KanInrError, signals
from kan_inr.logging import NullLog
from kan_inr.render import predict_grid
from kan_inr.signals.base import Signal, denormalise, normalise

SCHEDULES = ("exp", "cosine", "constant")


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 2000
    lr: float = 1e-4
    batch: int | None = None  # coordinates per step; None (or >= signal size) = full batch
    schedule: str = "exp"  # one of SCHEDULES
    lr_decay: float = 0.1  # final lr = lr * lr_decay (exp and cosine)
    eval_every: int = 250
    log_every: int = 10
    seed: int = 0
    device: str = "auto"
    target_range: tuple[float, float] | None = None  # range the model is trained on; None = signal's
    max_seconds: float | None = None  # wall-clock training budget (evaluation excluded); None = steps only


def lr_at(step: int, cfg: TrainConfig, elapsed_s: float = 0.0) -> float:
    """Learning rate at ``step`` (0-based) of ``cfg.steps``, or after ``elapsed_s`` seconds of
    ``cfg.max_seconds``, whichever is further along (a time budget then decays the lr fully too).

    1. exp: lr * decay^(step / steps), the per-epoch 0.1^(epoch / epochs) of the FKAN and SL2A code
       made continuous;
    2. cosine: from lr down to lr * decay along half a cosine;
    3. constant: lr.
    """
    t = step / max(cfg.steps, 1)
    if cfg.max_seconds:
        t = min(max(t, elapsed_s / cfg.max_seconds), 1.0)
    if cfg.schedule == "exp":
        return cfg.lr * cfg.lr_decay**t
    if cfg.schedule == "cosine":
        return cfg.lr * (cfg.lr_decay + (1 - cfg.lr_decay) * 0.5 * (1 + math.cos(math.pi * t)))
    if cfg.schedule == "constant":
        return cfg.lr
    raise KanInrError(f"unknown lr schedule '{cfg.schedule}' (choose from {', '.join(SCHEDULES)})")


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA when present, else CPU; anything else is checked to exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise KanInrError(f"unknown device '{name}' (use auto, cpu, cuda or cuda:N)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise KanInrError(f"device '{name}' requested but CUDA is not available")
    return device


class Sampler:
    """Random minibatches of coordinate indices: a fresh permutation each epoch, remainder dropped."""

    def __init__(self, n: int, batch: int, seed: int, device: torch.device) -> None:
        self.n, self.batch, self.device = n, batch, device
        self.generator = torch.Generator(device=device).manual_seed(seed)
        self.perm = torch.empty(0, dtype=torch.long, device=device)
        self.pos = 0

    def next(self) -> torch.Tensor:
        if self.pos + self.batch > self.perm.numel():
            self.perm = torch.randperm(self.n, generator=self.generator, device=self.device)  # (n,)
            self.pos = 0
        index = self.perm[self.pos:self.pos + self.batch]  # (batch,)
        self.pos += self.batch
        return index


@dataclass
class FitResult:
    metrics: dict[str, Any]  # final_*, best_*, params, steps, batch, wall_s, samples_per_s, device
    history: list[dict[str, float]] = field(default_factory=list)  # one row per evaluation
    diverged_at: int | None = None  # step whose loss was not finite; best weights were restored


def evaluate(model: nn.Module, signal: Signal, target_range: tuple[float, float],
             device: torch.device) -> tuple[dict[str, float], torch.Tensor]:
    """Full-grid pass of the current weights: (metrics, prediction (N, C) in the signal's range)."""
    pred = denormalise(predict_grid(model, signal.shape, device), signal.value_range, target_range)
    metrics = signals.module(signal.kind).evaluate(pred, signal.values.to(device), signal.shape)
    return metrics, pred


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fit(model: nn.Module, signal: Signal, cfg: TrainConfig, log: NullLog = NullLog()) -> FitResult:
    """Train ``model`` on ``signal``; the model ends with its final weights (its best ones if the
    loss diverged) and stays on the training device."""
    if cfg.steps < 1:
        raise KanInrError(f"steps must be at least 1, got {cfg.steps}")
    lr_at(0, cfg)  # validates the schedule name before any work
    device = resolve_device(cfg.device)
    model.to(device).train()
    headline = signals.module(signal.kind).HEADLINE
    target_range = cfg.target_range or signal.value_range
    coords = signal.coords(device)  # (N, d)
    target = normalise(signal.values, signal.value_range, target_range).to(device)  # (N, C)
    n = signal.num_samples
    batch = n if cfg.batch is None or cfg.batch >= n else cfg.batch
    if batch < 1:
        raise KanInrError(f"batch must be at least 1, got {cfg.batch}")
    sampler = Sampler(n, batch, cfg.seed, device) if batch < n else None
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    params = sum(p.numel() for p in model.parameters())

    result = FitResult(metrics={})
    best: dict[str, Any] = {headline: -math.inf}
    best_state = copy.deepcopy(model.state_dict())
    train_s, eval_s = 0.0, 0.0
    log.start(cfg.steps, f"{signal.kind} {'x'.join(map(str, signal.shape))}")
    _sync(device)
    tick = time.perf_counter()
    for step in range(1, cfg.steps + 1):
        lr = lr_at(step - 1, cfg, train_s + (time.perf_counter() - tick))
        for group in optimizer.param_groups:
            group["lr"] = lr
        if sampler is None:
            pred, goal = model(coords), target  # (N, C)
        else:
            index = sampler.next()  # (batch,)
            pred, goal = model(coords[index]), target[index]  # (batch, C)
        loss = torch.mean((pred - goal) ** 2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

        out_of_time = cfg.max_seconds is not None and train_s + (time.perf_counter() - tick) >= cfg.max_seconds
        is_eval = step % cfg.eval_every == 0 or step == cfg.steps or out_of_time
        if step % cfg.log_every == 0 or is_eval:
            loss_value = loss.item()  # the only host sync between evaluations
            now = time.perf_counter()
            elapsed = train_s + (now - tick)
            log.train(step, loss_value, lr, step * batch / max(elapsed, 1e-9))
            if not math.isfinite(loss_value):
                result.diverged_at = step
                model.load_state_dict(best_state)
                log.message(f"loss became {loss_value} at step {step}: stopped, best weights "
                            f"(step {best.get('step', 0)}) kept; try a lower --lr")
                break
        if is_eval:
            _sync(device)
            now = time.perf_counter()
            train_s += now - tick
            metrics, pred_full = evaluate(model, signal, target_range, device)
            result.history.append({"step": step, "time_s": train_s, "loss": loss_value, **metrics})
            if metrics[headline] > best[headline]:
                best = {**metrics, "step": step}
                best_state = copy.deepcopy(model.state_dict())
            log.evaluation(step, metrics, pred_full, signal)
            tick = time.perf_counter()
            eval_s += tick - now
        if out_of_time:
            break
    else:
        step = cfg.steps
    _sync(device)
    if result.diverged_at is None:
        train_s += time.perf_counter() - tick
    log.close()

    final, _ = evaluate(model, signal, target_range, device) if result.diverged_at else (result.history[-1], None)
    steps_done = step if result.diverged_at is None else step - 1
    result.metrics = {
        **{f"final_{k}": v for k, v in final.items() if k not in ("step", "time_s", "loss")},
        **{f"best_{k}": v for k, v in best.items()},
        "params": params, "steps": steps_done, "batch": batch, "train_s": train_s, "eval_s": eval_s,
        "samples_per_s": steps_done * batch / max(train_s, 1e-9), "device": _device_name(device),
        "torch": torch.__version__,
    }
    return result


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def replace(cfg: TrainConfig, **changes: Any) -> TrainConfig:
    """``dataclasses.replace`` that ignores None values (options the user did not give)."""
    return dataclasses.replace(cfg, **{k: v for k, v in changes.items() if v is not None})

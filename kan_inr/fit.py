"""Training: ``fit(model, signal, cfg, log) -> FitResult``, one loop that reads top to bottom.

Adam on MSE; minibatches of random coordinates (a fresh permutation each epoch, as in the SL2A and
FKAN reference code) or the full grid; the learning rate follows ``lr_at``. Evaluation is always a
separate full-grid pass of the current weights, de-normalised to the signal's range and measured by
the signal kind's metrics (PSNR on clamped [0, 1] values for images).

Speed levers (``train_step``, ``make_optimizer``, ``compile_model``; scripts/bench.py times them):
TF32 matmuls or a bfloat16 autocast forward (``precision``), ``torch.compile`` of the model
(``compile``; CUDA graphs with mode reduce-overhead), the fused CUDA Adam, sampling on the device and
no host sync between log steps.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import torch
from torch import nn

from kan_inr import KanInrError, checkpoint, sampling, signals, spectral
from kan_inr.checkpoint import Checkpointer
from kan_inr.logging import NullLog
from kan_inr.render import DEFAULT_CHUNK, predict_grid
from kan_inr.signals.base import Signal, denormalise, normalise

SCHEDULES = ("exp", "cosine", "constant")
PRECISIONS = ("fp32", "tf32", "bf16")
COMPILE_MODES = ("auto", "off", "default", "reduce-overhead", "max-autotune-no-cudagraphs")


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
    precision: str = "fp32"  # PRECISIONS: fp32; tf32 matmuls (CUDA); bf16 autocast forward (+ tf32)
    compile: str = "auto"  # COMPILE_MODES: a torch.compile mode, off, or auto (default on CUDA, off on CPU)
    jitter: float = 0.0  # sub-pixel jitter: positions drawn within this fraction of each cell (sampling.py)
    freq_penalty: float = 0.0  # weight of the first KAN layer's frequency penalty (spectral.frequency_penalty)
    freq_alpha: float = 2.0  # its exponent: coefficient k weighs (k / Nyquist)^alpha


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
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise KanInrError(f"device '{name}' does not exist ({torch.cuda.device_count()} CUDA devices)")
    return device


def check_choice(what: str, value: str, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``, else a user error naming them."""
    if value not in choices:
        raise KanInrError(f"unknown {what} '{value}' (choose from {', '.join(choices)})")
    return value


@contextlib.contextmanager
def matmul_precision(precision: str) -> Iterator[None]:
    """fp32 matmuls as IEEE fp32 ("highest"), or on TF32 tensor cores ("high") for tf32 and bf16; a
    CPU computes fp32 either way. Restores the process's previous setting on exit."""
    check_choice("precision", precision, PRECISIONS)
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest" if precision == "fp32" else "high")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


def mse_loss(model: nn.Module, coords: torch.Tensor, target: torch.Tensor, precision: str) -> torch.Tensor:
    """MSE of ``model(coords)`` (B, d) against ``target`` (B, C), always taken in fp32. bf16: the forward
    runs under bfloat16 autocast (matmuls in bf16, reductions such as LayerNorm in fp32)."""
    with torch.autocast(coords.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        pred = model(coords)  # (B, C)
    return torch.mean((pred.float() - target) ** 2)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, coords: torch.Tensor,
               target: torch.Tensor, precision: str = "fp32",
               penalty: Callable[[], torch.Tensor] | None = None) -> torch.Tensor:
    """One Adam step (forward, MSE + ``penalty()``, backward, update); returns the loss as a device
    tensor (no host sync)."""
    with matmul_precision(precision):
        loss = mse_loss(model, coords, target, precision)
        if penalty is not None:
            loss = loss + penalty()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return loss


def make_optimizer(model: nn.Module, lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam; on CUDA its fused kernel (one launch for all parameters) when every parameter is real."""
    params = list(model.parameters())
    fused = device.type == "cuda" and all(p.is_floating_point() for p in params)
    return torch.optim.Adam(params, lr=lr, fused=fused or None)


def compile_model(model: nn.Module, mode: str, device: torch.device, coords: torch.Tensor,
                  target: torch.Tensor, precision: str) -> tuple[nn.Module, str]:
    """``torch.compile(model)`` (sharing its parameters) and what was done, or the model itself.

    auto = mode "default" on CUDA (fuses each layer's elementwise work into few kernels) and off on a
    CPU (compiling takes longer there than it saves in a short fit). One forward and backward on
    ``coords`` (B, d) / ``target`` (B, C) compiles it up front, at the step's fixed shapes (no
    recompiles: minibatches drop their remainder), and a compiler failure falls back to eager.
    """
    if check_choice("compile mode", mode, COMPILE_MODES) == "auto":
        mode = "default" if device.type == "cuda" else "off"
    if mode == "off":
        return model, "eager"
    compiled = torch.compile(model, mode=mode, dynamic=False)
    try:
        with matmul_precision(precision):
            mse_loss(compiled, coords, target, precision).backward()
    except Exception as exc:  # the compiler stack raises many types; any of them means "run eager"
        model.zero_grad(set_to_none=True)
        first_line = (str(exc).splitlines() or [""])[0][:200]
        return model, f"eager (torch.compile failed: {type(exc).__name__}: {first_line})"
    model.zero_grad(set_to_none=True)
    return compiled, f"compiled ({mode})"


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

    def state_dict(self) -> dict[str, Any]:
        """Where the sampler is: generator state, current permutation and position (for checkpoints)."""
        return {"generator": self.generator.get_state(), "perm": self.perm.cpu(), "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["perm"].numel() not in (0, self.n) or not 0 <= state["pos"] <= state["perm"].numel():
            raise ValueError(f"sampler state is for another signal size than {self.n}")
        self.generator.set_state(state["generator"])
        self.perm, self.pos = state["perm"].to(self.device), int(state["pos"])


@dataclass
class FitResult:
    metrics: dict[str, Any]  # final_*, best_*, params, steps, batch, wall_s, samples_per_s, device
    history: list[dict[str, float]] = field(default_factory=list)  # one row per evaluation
    diverged_at: int | None = None  # step whose loss was not finite; best weights were restored
    interrupted_at: int | None = None  # step after which a stop request (SIGINT/SIGTERM) was checkpointed


def evaluate(model: nn.Module, signal: Signal, target_range: tuple[float, float],
             device: torch.device) -> tuple[dict[str, float], torch.Tensor]:
    """Full-grid pass of the current weights: (metrics, prediction (N, C) in the signal's range)."""
    pred = denormalise(predict_grid(model, signal.shape, device, convention=signal.convention),
                       signal.value_range, target_range)
    metrics = signals.module(signal.kind).evaluate(pred, signal.values.to(device), signal.shape)
    return metrics, pred


def free_memory(device: torch.device) -> int | None:
    """Bytes free on ``device``: CUDA's own count, MemAvailable of /proc/meminfo for the CPU, None if unknown."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None


def memory_needed(model: nn.Module, signal: Signal, batch: int, chunk: int = DEFAULT_CHUNK) -> tuple[int, int]:
    """(bytes a fit needs on its device, bytes per coordinate of a training batch), estimated before
    allocating: coordinates and targets (N, d + C), the permutation, parameters with their gradient,
    two Adam moments and a best copy (5 P), a batch of activations kept for backward (measured on a
    probe forward: the features of the first layer dominate) twice (with their gradients), and one
    evaluation chunk plus the full-grid prediction."""
    module = getattr(model, "module", model)  # DDP would expect a backward after each forward
    device = next(module.parameters()).device
    sizes = []
    for probe in (1, 3):  # bytes saved for backward at two batch sizes: their slope is per coordinate
        saved = [0]

        def pack(t: torch.Tensor) -> torch.Tensor:
            saved[0] += t.numel() * t.element_size()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            module(torch.zeros(probe, signal.in_dim, device=device))
        sizes.append(saved[0])
    per_sample = max((sizes[1] - sizes[0]) // 2, 4 * signal.out_dim)
    n, params = signal.num_samples, sum(p.numel() for p in module.parameters())
    total = (4 * n * (signal.in_dim + 4 * signal.out_dim) + (8 * n if batch < n else 0) + 20 * params
             + 2 * batch * per_sample + min(chunk, n) * per_sample)
    return total, per_sample


def check_memory(model: nn.Module, signal: Signal, batch: int, device: torch.device) -> None:
    """Refuse, with advice, a fit whose estimated memory exceeds what ``device`` has free."""
    free = free_memory(device)
    if free is None:
        return
    needed, per_sample = memory_needed(model, signal, batch)
    if needed > free:
        raise KanInrError(
            f"this fit needs about {_size(needed)} on {device} but {_size(free)} are free: lower --batch "
            f"(now {batch:,}; each coordinate costs {_size(per_sample)}) or shrink the signal with --resize")


def _size(n: int) -> str:
    """Bytes as GiB, MiB or KiB, whichever reads best."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n / 2**10:.1f} KiB"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fit(model: nn.Module, signal: Signal, cfg: TrainConfig, log: NullLog = NullLog(),
        checkpoints: Checkpointer | None = None) -> FitResult:
    """Train ``model`` on ``signal``; the model ends with its final weights (its best ones if the
    loss diverged) and stays on the training device. With ``checkpoints`` the fit starts from its
    ``resume`` state, hands the full state to its ``save`` when due, and stops early (metrics empty,
    ``interrupted_at`` set) when a stop was requested."""
    if cfg.steps < 1:
        raise KanInrError(f"steps must be at least 1, got {cfg.steps}")
    lr_at(0, cfg)  # validates the schedule name before any work
    check_choice("precision", cfg.precision, PRECISIONS)
    device = resolve_device(cfg.device)
    model.to(device).train()
    headline = signals.module(signal.kind).HEADLINE
    target_range = cfg.target_range or signal.value_range
    n = signal.num_samples
    batch = n if cfg.batch is None or cfg.batch >= n else cfg.batch
    if batch < 1:
        raise KanInrError(f"batch must be at least 1, got {cfg.batch}")
    check_memory(model, signal, batch, device)  # before the large allocations: advice, not an OOM
    coords = signal.coords(device)  # (N, d)
    target = normalise(signal.values, signal.value_range, target_range).to(device)  # (N, C)
    sampler = Sampler(n, batch, cfg.seed, device) if batch < n else None
    optimizer = make_optimizer(model, cfg.lr, device)
    params = sum(p.numel() for p in model.parameters())
    penalty = spectral.frequency_penalty(model, cfg.freq_penalty, cfg.freq_alpha,
                                         min(spectral.nyquist(n, signal.convention) for n in signal.shape))
    compile_tick = time.perf_counter()
    step_model, compiled = compile_model(model, cfg.compile, device, coords[:batch], target[:batch], cfg.precision)
    compile_s = time.perf_counter() - compile_tick

    result = FitResult(metrics={})
    best: dict[str, Any] = {headline: -math.inf}
    best_state = copy.deepcopy(model.state_dict())
    train_s, eval_s, start = 0.0, 0.0, 1
    if checkpoints is not None and checkpoints.resume is not None:
        last, best, best_state, result.history, train_s, eval_s = checkpoint.restore(
            checkpoints.resume, model, optimizer, sampler)
        start = last + 1
    log.start(cfg.steps, f"{signal.kind} {'x'.join(map(str, signal.shape))}")
    _sync(device)
    tick = time.perf_counter()
    for step in range(start, cfg.steps + 1):
        lr = lr_at(step - 1, cfg, train_s + (time.perf_counter() - tick))
        for group in optimizer.param_groups:
            group["lr"] = lr
        if sampler is None:
            x, goal = coords, target  # (N, d), (N, C)
        else:
            index = sampler.next()  # (batch,)
            x, goal = coords[index], target[index]  # (batch, d), (batch, C)
        if cfg.jitter:
            x = sampling.jitter(x, signal.shape, signal.convention, cfg.jitter)  # (batch, d) inside the cells
        loss = train_step(step_model, optimizer, x, goal, cfg.precision, penalty)  # forward, loss, backward, Adam

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
        if checkpoints is not None and checkpoints.due(step):
            checkpoints.save(checkpoint.capture(step, model, optimizer, sampler, best, best_state, result.history,
                                                train_s + (time.perf_counter() - tick), eval_s))
            if checkpoints.stop:
                result.interrupted_at = step
                break
        if out_of_time:
            break
    else:
        step = cfg.steps
    _sync(device)
    if result.diverged_at is None:
        train_s += time.perf_counter() - tick
    log.close()
    if result.interrupted_at is not None:
        return result  # the checkpoint holds the state; a resumed fit finishes it

    final, _ = evaluate(model, signal, target_range, device) if result.diverged_at else (result.history[-1], None)
    steps_done = step if result.diverged_at is None else step - 1
    result.metrics = {
        **{f"final_{k}": v for k, v in final.items() if k not in ("step", "time_s", "loss")},
        **{f"best_{k}": v for k, v in best.items()},
        "params": params, "steps": steps_done, "batch": batch, "train_s": train_s, "eval_s": eval_s,
        "samples_per_s": steps_done * batch / max(train_s, 1e-9), "device": _device_name(device),
        "torch": torch.__version__, "precision": cfg.precision, "compile": compiled, "compile_s": compile_s,
    }
    return result


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def replace(cfg: TrainConfig, **changes: Any) -> TrainConfig:
    """``dataclasses.replace`` that ignores None values (options the user did not give)."""
    return dataclasses.replace(cfg, **{k: v for k, v in changes.items() if v is not None})

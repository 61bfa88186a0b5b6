"""Training: ``fit(model, signal, cfg, log) -> FitResult``, the one loop every mode runs through.

Adam on MSE; minibatches of random coordinates (a fresh permutation each epoch, as in the SL2A and
FKAN reference code) or the full grid; the learning rate follows ``lr_at``. Evaluation is always a
separate full-grid pass of the current weights, de-normalised to the signal's range and measured by
the signal kind's metrics (PSNR on clamped [0, 1] values for images).

``train`` is the loop; what one step does is injected (``step.ModelStep`` for one network,
``batched.BatchedStep`` for B networks at once, ``distributed.DDPStep`` for one network over several
processes), so scheduling, evaluation, the NaN guard, checkpoints, stop requests and resume exist once.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn

from kan_inr.errors import KanInrError
from kan_inr import checkpoint, signals
from kan_inr.checkpoint import Checkpointer
from kan_inr import precision
from kan_inr.config import EVALS_PER_CURVE, SCHEDULES, TrainConfig, batch_size
from kan_inr.device import device_name, format_bytes, free_memory, resolve_device, sync
from kan_inr.logging import NullLog
from kan_inr.pixels import PixelModel
from kan_inr.render import DEFAULT_CHUNK
from kan_inr.signals.base import Signal
from kan_inr.step import ModelStep



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
    exit_code: int | None = None  # of a stopped fit: 128 + the signal (130 SIGINT, 143 SIGTERM)


def memory_needed(model: nn.Module, signal: Signal, batch: int, chunk: int = DEFAULT_CHUNK, *,
                  pixels: PixelModel) -> tuple[int, int]:
    """(bytes a fit needs on its device, bytes per INR evaluation of a training step), estimated before
    allocating: coordinates and targets (N, d + C), the permutation, parameters with their gradient,
    two Adam moments and a best copy (5 P), a step's activations kept for backward (measured on a
    probe forward: the features of the first layer dominate) twice (with their gradients), and one
    evaluation chunk plus the full-grid prediction. A step and an evaluation evaluate the INR S times
    per sample (``pixels``: S = k^d for the box pixel model), and each evaluation counts."""
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
    samples = pixels.samples(signal.in_dim)  # S INR evaluations per sample
    total = (4 * n * (signal.in_dim + 4 * signal.out_dim) + (8 * n if batch < n else 0) + 20 * params
             + 2 * batch * samples * per_sample + min(chunk, n * samples) * per_sample)
    return total, per_sample


def check_memory(model: nn.Module, signal: Signal, batch: int, device: torch.device,
                 pixels: PixelModel) -> None:
    """Refuse, with advice, a fit whose estimated memory exceeds what ``device`` has free."""
    free = free_memory(device)
    if free is None:
        return
    needed, per_sample = memory_needed(model, signal, batch, pixels=pixels)
    if needed > free:
        raise KanInrError(
            f"this fit needs about {format_bytes(needed)} on {device} but {format_bytes(free)} are free: lower --batch "
            f"(now {batch:,}; each coordinate costs "
            f"{format_bytes(per_sample * pixels.samples(signal.in_dim))}) or shrink the signal with --resize")


class Step(Protocol):
    """What the loop drives (``step.ModelStep`` documents each member)."""

    members: int
    signals: list[Signal]
    device: torch.device
    batch: int
    num_params: int
    compiled: str
    plan: precision.Plan  # the fit's one precision decision (precision.plan)
    precision: str  # what the next steps run: plan.start, then plan.full once it is due

    def train(self, index: torch.Tensor | None, lr: float, step: int) -> torch.Tensor: ...
    def losses(self, losses: torch.Tensor) -> list[float]: ...
    def agree(self, flag: bool, scheduled: bool) -> bool: ...
    def evaluate(self, b: int) -> tuple[dict[str, float], torch.Tensor]: ...
    def member_state(self, b: int) -> dict[str, torch.Tensor]: ...
    def load_member(self, b: int, state: dict[str, torch.Tensor]) -> None: ...
    def state_dict(self, b: int) -> dict[str, Any]: ...
    def load_state_dicts(self, states: list[dict[str, Any]]) -> None: ...
    def finish(self) -> None: ...


def check_train_config(cfg: TrainConfig, num_samples: int) -> tuple[TrainConfig, torch.device, int]:
    """(``cfg``, device, coordinates per step) of a valid ``cfg``; a user error before any work otherwise."""
    if cfg.steps < 1:
        raise KanInrError(f"steps must be at least 1, got {cfg.steps}")
    lr_at(0, cfg)  # validates the schedule name
    return cfg, resolve_device(cfg.device), batch_size(cfg.batch, num_samples)


def fit(model: nn.Module, signal: Signal, cfg: TrainConfig, log: NullLog = NullLog(),
        checkpoints: Checkpointer | None = None) -> FitResult:
    """Train ``model`` on ``signal``; the model ends with its final weights (its best ones if the
    loss diverged) and stays on the training device. With ``checkpoints`` the fit starts from its
    ``resume`` state, hands the full state to its ``save`` when due, and stops early (metrics empty,
    ``interrupted_at`` set) when a stop was requested."""
    cfg, device, batch = check_train_config(cfg, signal.num_samples)
    model.to(device).train()
    check_memory(model, signal, batch, device, PixelModel.of(cfg))  # before the large allocations: advice, not an OOM
    tick = time.perf_counter()
    step = ModelStep(model, signal, cfg, device, batch)
    return train(step, cfg, [log], checkpoints, compile_s=time.perf_counter() - tick)[0]


class Loop:
    """What the training loop keeps about its B networks between steps: their results (history,
    divergence), best metrics and weights, which still train, the timings, where precision switched.
    Fresh, or restored from ``checkpoints.resume``; ``train`` drives it."""

    def __init__(self, trainer: Step, cfg: TrainConfig, logs: list[NullLog], checkpoints: Checkpointer | None) -> None:
        self.trainer, self.cfg, self.logs, self.checkpoints = trainer, cfg, logs, checkpoints
        size, n = trainer.members, trainer.signals[0].num_samples
        self.headline = signals.module(trainer.signals[0].kind).HEADLINE
        self.sampler = Sampler(n, trainer.batch, cfg.seed, trainer.device) if trainer.batch < n else None
        self.results = [FitResult(metrics={}) for _ in range(size)]
        self.best: list[dict[str, Any]] = [{self.headline: -math.inf} for _ in range(size)]
        self.best_state = [trainer.member_state(b) for b in range(size)]
        self.train_s, self.eval_s, self.start = 0.0, 0.0, 1
        if checkpoints is not None and checkpoints.resume is not None:
            self.restore(checkpoints.resume)
        self.live = [b for b in range(size) if self.results[b].diverged_at is None]
        # the precision the steps after the last evaluation ran: the loop's decisions taken again
        trainer.precision, self.switched_at = trainer.plan.running_after([r.history for r in self.results],
                                                                         self.headline)

    def restore(self, states: list[dict[str, Any]]) -> None:
        trainer = self.trainer
        if len(states) != trainer.members:
            raise KanInrError(f"resuming {trainer.members} network(s) from {len(states)} checkpoint(s)")
        state = checkpoint.restore(states, trainer.load_state_dicts, self.sampler, trainer.batch, trainer.device,
                                   self.best_state[0].keys())
        self.best, self.best_state, self.start = state.best, state.best_state, state.step + 1
        self.train_s, self.eval_s = state.train_s, state.eval_s
        for result, history, diverged_at in zip(self.results, state.history, state.diverged_at):
            result.history, result.diverged_at = history, diverged_at

    def mark_after(self, seconds: float) -> float | None:
        """A time budget's next evaluation mark after ``seconds`` trained: EVALS_PER_CURVE of them spread
        over it (``config.eval_every_for``); None without a budget."""
        if self.cfg.max_seconds is None:
            return None
        mark = self.cfg.max_seconds / EVALS_PER_CURVE
        return mark * (math.floor(seconds / mark) + 1)

    def log_losses(self, step: int, loss_values: list[float], lr: float, elapsed: float) -> None:
        """Log each live network's loss; one that is not finite stops counting (its best weights return)."""
        for b in list(self.live):
            self.logs[b].train(step, loss_values[b], lr, step * self.trainer.batch / max(elapsed, 1e-9))
            if not math.isfinite(loss_values[b]):
                self.results[b].diverged_at = step  # its slice may run on; its best weights return at the end
                self.live.remove(b)
                self.logs[b].message(f"loss became {loss_values[b]} at step {step}: stopped, best weights "
                                     f"(step {self.best[b].get('step', 0)}) kept; try a lower --lr")

    def evaluate(self, step: int, loss_values: list[float]) -> None:
        """The full-grid evaluation of each live network after ``step``: history, best, log; then auto's
        precision switch, decided from these evaluations (``precision.Plan.switch_due``)."""
        trainer, headline = self.trainer, self.headline
        for b in self.live:
            metrics, pred_full = trainer.evaluate(b)
            self.results[b].history.append({"step": step, "time_s": self.train_s, "loss": loss_values[b], **metrics})
            if metrics[headline] > self.best[b][headline]:
                self.best[b] = {**metrics, "step": step}
                self.best_state[b] = trainer.member_state(b)
            self.logs[b].evaluation(step, metrics, pred_full, trainer.signals[b])
        headlines = [self.results[b].history[-1][headline] for b in self.live]
        if trainer.agree(trainer.plan.switch_due(trainer.precision, headlines), True):
            trainer.precision, self.switched_at = trainer.plan.full, step  # the steps after this evaluation
            for b in self.live:
                self.logs[b].precision(step, trainer.precision, f"auto: {headline} {max(headlines):.2f} dB reached "
                                       f"{trainer.plan.until:g} dB, near where bf16 stalls")

    def save(self, step: int, elapsed: float) -> None:
        """Every network's state after ``step`` to the checkpoints (``elapsed``: training seconds so far)."""
        assert self.checkpoints is not None and self.checkpoints.save is not None
        trainer = self.trainer
        self.checkpoints.save([checkpoint.capture(step, trainer.state_dict(b), self.sampler, trainer.batch,
                                                  self.best[b], self.best_state[b], self.results[b].history,
                                                  self.results[b].diverged_at, elapsed, self.eval_s)
                               for b in range(trainer.members)])

    def finish(self, step: int, compile_s: float) -> list[FitResult]:
        """Diverged networks back to their best weights, and every network's final metrics."""
        trainer = self.trainer
        for b in range(trainer.members):
            if self.results[b].diverged_at is not None:
                trainer.load_member(b, self.best_state[b])
        trainer.finish()
        for b, result in enumerate(self.results):
            final = result.history[-1] if result.diverged_at is None else trainer.evaluate(b)[0]
            steps_done = step if result.diverged_at is None else result.diverged_at - 1
            result.metrics = {
                **{f"final_{k}": v for k, v in final.items() if k not in ("step", "time_s", "loss")},
                **{f"best_{k}": v for k, v in self.best[b].items()},
                "params": trainer.num_params, "steps": steps_done, "batch": trainer.batch, "train_s": self.train_s,
                "eval_s": self.eval_s, "samples_per_s": steps_done * trainer.batch / max(self.train_s, 1e-9),
                "device": device_name(trainer.device), "torch": torch.__version__, "precision": trainer.plan.start,
                "precision_final": trainer.precision, "precision_switch_step": self.switched_at,
                "compile": trainer.compiled, "compile_s": compile_s,
            }
        return self.results


def train(trainer: Step, cfg: TrainConfig, logs: list[NullLog], checkpoints: Checkpointer | None = None,
          compile_s: float = 0.0) -> list[FitResult]:
    """The loop: lr, batch, step, log, full-grid evaluation, NaN guard, checkpoint, stop; one
    FitResult per network of ``trainer``. A network whose loss turns non-finite stops counting (the
    others go on) and ends with its best weights. The clock counts training only: evaluations and
    checkpoints are outside ``train_s``."""
    loop = Loop(trainer, cfg, logs, checkpoints)
    next_mark = loop.mark_after(loop.train_s)
    for log, signal in zip(logs, trainer.signals):
        log.start(cfg.steps, f"{signal.kind} {'x'.join(map(str, signal.shape))} {trainer.precision}", cfg.max_seconds)
        log.precision(loop.start - 1, trainer.precision, trainer.plan.why)
    sync(trainer.device)
    tick = time.perf_counter()
    step = loop.start - 1
    for step in range(loop.start, cfg.steps + 1):
        lr = lr_at(step - 1, cfg, loop.train_s + (time.perf_counter() - tick))
        index = None if loop.sampler is None else loop.sampler.next()
        losses = trainer.train(index, lr, step)  # (B,): forward, MSE, backward, Adam

        scheduled = step % cfg.log_every == 0 or step % cfg.eval_every == 0 or step == cfg.steps
        elapsed = loop.train_s + (time.perf_counter() - tick)
        out_of_time = trainer.agree(cfg.max_seconds is not None and elapsed >= cfg.max_seconds, scheduled)
        on_time = trainer.agree(next_mark is not None and scheduled and elapsed >= next_mark, scheduled)
        is_eval = step % cfg.eval_every == 0 or step == cfg.steps or out_of_time or on_time
        if scheduled or is_eval:
            loss_values = trainer.losses(losses)  # the only host sync between evaluations
            loop.log_losses(step, loss_values, lr, loop.train_s + (time.perf_counter() - tick))
            if not loop.live:
                break
        if is_eval:
            sync(trainer.device)
            now = time.perf_counter()
            loop.train_s += now - tick
            next_mark = loop.mark_after(loop.train_s)
            loop.evaluate(step, loss_values)
            tick = time.perf_counter()
            loop.eval_s += tick - now
        if checkpoints is not None:
            stop = trainer.agree(bool(checkpoints.stop), scheduled)
            if (stop or checkpoints.due(step)) and checkpoints.save is not None:
                loop.save(step, loop.train_s + (time.perf_counter() - tick))
            if stop:
                for result in loop.results:
                    result.interrupted_at = step
                break
        if out_of_time:
            break
    sync(trainer.device)
    if loop.live:
        loop.train_s += time.perf_counter() - tick
    for log in logs:
        log.close()
    if loop.results[0].interrupted_at is not None:
        return loop.results  # the checkpoints hold the state; a resumed fit finishes it
    return loop.finish(step, compile_s)

"""Checkpoints: everything needed to stop a fit after any step and continue it exactly.

A checkpoint is the complete training state after step ``step`` (``capture``): model and optimiser
state, the minibatch sampler's generator state and permutation, torch's RNG states, the best-so-far
metrics and weights, the evaluation history and timings. ``restore`` puts it back, so on the CPU a fit
stopped at step k and resumed ends with the same weights as one that never stopped (tests/test_resume.py).
It holds only tensors, numbers, strings, lists and dicts: it loads with ``torch.load(weights_only=True)``
and a file from someone else cannot run code. ``runs.RunWriter`` writes it atomically into the run folder.

``Checkpointer`` tells the loop when to checkpoint (every N steps, every M minutes, or when SIGINT /
SIGTERM asked it to stop) and ``stop_on_signals`` turns those signals into such a request.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
from torch import nn

from kan_inr import KanInrError

STATE_VERSION = 1


@dataclass(frozen=True)
class CheckpointPolicy:
    every_steps: int | None = None  # checkpoint after every N steps; None = by time only
    every_minutes: float | None = 10.0  # and after the first step at least M minutes after the last one

    def __post_init__(self) -> None:
        if self.every_steps is not None and self.every_steps < 1:
            raise KanInrError(f"--checkpoint-every must be at least 1 step, got {self.every_steps}")
        if self.every_minutes is not None and not (self.every_minutes > 0 and math.isfinite(self.every_minutes)):
            raise KanInrError(f"--checkpoint-minutes must be a positive number, got {self.every_minutes}")


class StopRequest:
    """Set by the first SIGINT / SIGTERM: the fit finishes its step, checkpoints and returns."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __bool__(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or signal.SIGINT)  # the shell's convention for "killed by signal N"


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Within the block, SIGINT and SIGTERM set the yielded StopRequest instead of killing the process;
    a second SIGINT raises KeyboardInterrupt at once (the user insists). Handlers can only be installed
    from the main thread: elsewhere the request is never set and signals behave as usual."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handle(signum: int, frame: Any) -> None:
        if request and signum == signal.SIGINT:
            raise KeyboardInterrupt
        request.signum = signum

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class Checkpointer:
    """What ``fit`` needs to checkpoint: when (``due``), where (``save``, a callback that stores the
    captured state), whether to stop after it, and the state to ``resume`` from (None = step 0)."""

    def __init__(self, save: Callable[[dict[str, Any]], None], policy: CheckpointPolicy = CheckpointPolicy(),
                 stop: StopRequest | None = None, resume: dict[str, Any] | None = None) -> None:
        self.save, self.policy, self.resume = save, policy, resume
        self.stop = stop if stop is not None else StopRequest()
        self.last = time.monotonic()

    def due(self, step: int) -> bool:
        every, minutes = self.policy.every_steps, self.policy.every_minutes
        if self.stop or (every is not None and step % every == 0) or \
                (minutes is not None and time.monotonic() - self.last >= 60 * minutes):
            self.last = time.monotonic()
            return True
        return False


def _cpu(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def capture(step: int, model: nn.Module, optimizer: torch.optim.Optimizer, sampler: Any,
            best: dict[str, Any], best_state: dict[str, torch.Tensor], history: list[dict[str, float]],
            train_s: float, eval_s: float) -> dict[str, Any]:
    """The training state after ``step`` as plain data (tensors on the CPU)."""
    module = getattr(model, "module", model)  # DDP wraps the raw module
    module = getattr(module, "_orig_mod", module)  # torch.compile too: store the raw module's keys
    rng = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return {
        "version": STATE_VERSION, "step": step,
        "model": _cpu(module.state_dict()), "optimizer": optimizer.state_dict(),
        "sampler": None if sampler is None else sampler.state_dict(), "rng": rng,
        "best": dict(best), "best_model": _cpu(best_state), "history": list(history),
        "train_s": train_s, "eval_s": eval_s,
    }


def restore(state: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer,
            sampler: Any) -> tuple[int, dict[str, Any], dict[str, torch.Tensor], list[dict[str, float]], float, float]:
    """Load ``state`` into the model, optimiser and sampler and torch's RNGs; returns the loop's own
    state: (step, best, best_state, history, train_s, eval_s). A state that does not fit (another
    model, another sampler, a damaged file) is a KanInrError."""
    module = getattr(getattr(model, "module", model), "_orig_mod", getattr(model, "module", model))
    device = next(module.parameters()).device
    try:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"checkpoint version {state.get('version')!r}, expected {STATE_VERSION}")
        if (state["sampler"] is None) != (sampler is None):
            raise ValueError("the checkpoint's batching (minibatch or full batch) differs from this fit's")
        module.load_state_dict(state["model"], strict=True)
        optimizer.load_state_dict(state["optimizer"])
        if sampler is not None:
            sampler.load_state_dict(state["sampler"])
        torch.set_rng_state(state["rng"]["cpu"])
        if "cuda" in state["rng"] and torch.cuda.is_available() \
                and len(state["rng"]["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state["rng"]["cuda"])
        best_state = {k: v.to(device) for k, v in state["best_model"].items()}
        if best_state.keys() != module.state_dict().keys():
            raise ValueError("best weights do not match the model")
        step, best, history = int(state["step"]), dict(state["best"]), list(state["history"])
        return step, best, best_state, history, float(state["train_s"]), float(state["eval_s"])
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise KanInrError(f"checkpoint does not fit this run: {first[:200]}") from None

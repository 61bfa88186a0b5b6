"""Checkpoints: everything needed to stop a fit after any step and continue it exactly.

A checkpoint is the complete training state of one network after step ``step`` (``capture``): model
and optimiser state, the minibatch sampler's generator state and permutation, torch's RNG states, the
best-so-far metrics and weights, the evaluation history and timings. A batched group writes one per
network (each run folder stays self-contained) and resumes from all of them at once. ``restore`` puts
them back, so on the CPU a fit
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

from kan_inr.errors import KanInrError

STATE_VERSION = 1
REPEAT_S = 2.0  # a second SIGINT within this many seconds of the first is the same Ctrl-C


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
        self.at = 0.0  # time.monotonic() of the request

    def __bool__(self) -> bool:
        return self.signum is not None

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or signal.SIGINT)  # the shell's convention for "killed by signal N"


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Within the block, SIGINT and SIGTERM set the yielded StopRequest instead of killing the process;
    a second SIGINT at least ``REPEAT_S`` later raises KeyboardInterrupt at once (the user insists); one
    sooner is the same Ctrl-C delivered twice (under torchrun by the terminal and by torchrun itself). Handlers can only be installed
    from the main thread: elsewhere the request is never set and signals behave as usual."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handle(signum: int, frame: Any) -> None:
        if request and signum == signal.SIGINT and time.monotonic() - request.at >= REPEAT_S:
            raise KeyboardInterrupt
        if not request:
            request.signum, request.at = signum, time.monotonic()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


class Checkpointer:
    """What the loop needs to checkpoint: when (``due``), where (``save``, a callback that stores one
    captured state per network; None on a process that does not write, e.g. a DDP rank other than 0),
    the stop request to honour, and the states to ``resume`` from (one per network; None = step 0)."""

    def __init__(self, save: Callable[[list[dict[str, Any]]], None] | None,
                 policy: CheckpointPolicy = CheckpointPolicy(), stop: StopRequest | None = None,
                 resume: list[dict[str, Any]] | None = None) -> None:
        self.save, self.policy, self.resume = save, policy, resume
        self.stop = stop if stop is not None else StopRequest()
        self.last = time.monotonic()

    def due(self, step: int) -> bool:
        """Whether the policy asks for a checkpoint after ``step`` (a stop request is the loop's to agree on)."""
        every, minutes = self.policy.every_steps, self.policy.every_minutes
        if (every is not None and step % every == 0) or \
                (minutes is not None and time.monotonic() - self.last >= 60 * minutes):
            self.last = time.monotonic()
            return True
        return False


def capture(step: int, trained: dict[str, Any], sampler: Any, batch: int, best: dict[str, Any],
            best_state: dict[str, torch.Tensor], history: list[dict[str, float]], diverged_at: int | None,
            train_s: float, eval_s: float) -> dict[str, Any]:
    """One network's training state after ``step`` as plain data (tensors on the CPU): ``trained``
    holds its weights and optimiser state (``state_dict`` of the loop's step), ``batch`` is the
    coordinates per step of all processes together (what a resume on another world size must keep)."""
    rng: dict[str, torch.Tensor | list[torch.Tensor]] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return {
        "version": STATE_VERSION, "step": step, "model": trained["model"], "optimizer": trained["optimizer"],
        "sampler": None if sampler is None else sampler.state_dict(), "batch": batch, "rng": rng,
        "best": dict(best), "best_model": {k: v.detach().to("cpu", copy=True) for k, v in best_state.items()},
        "history": list(history), "diverged_at": diverged_at, "train_s": train_s, "eval_s": eval_s,
    }


@dataclass
class Restored:
    """The loop's own state from checkpoints: shared (step, timings) and per network (lists of B)."""

    step: int
    train_s: float
    eval_s: float
    best: list[dict[str, Any]]
    best_state: list[dict[str, torch.Tensor]]
    history: list[list[dict[str, float]]]
    diverged_at: list[int | None]


def restore(states: list[dict[str, Any]], load: Callable[[list[dict[str, Any]]], None], sampler: Any,
            batch: int, device: torch.device, keys: Any) -> Restored:
    """Put checkpoints (one per network, all after the same step) back: ``load`` receives them for the
    weights and optimiser state, then the sampler and torch's RNGs. ``keys`` are the state-dict keys of
    one network. A state that does not fit (another model, batch or sampler, a damaged file) is a
    KanInrError."""
    try:
        first = states[0]
        for state in states:
            if state.get("version") != STATE_VERSION:
                raise ValueError(f"checkpoint version {state.get('version')!r}, expected {STATE_VERSION}")
            if state["step"] != first["step"]:
                raise ValueError("the networks' checkpoints were taken after different steps")
            if (state["sampler"] is None) != (sampler is None):
                raise ValueError("the checkpoint's batching (minibatch or full batch) differs from this fit's")
            if state.get("batch", batch) != batch:
                raise ValueError(f"the checkpoint was taken with {state['batch']:,} coordinates per step, "
                                 f"this fit takes {batch:,}")
            if state["best_model"].keys() != keys:
                raise ValueError("best weights do not match the model")
        load(states)
        if sampler is not None:
            sampler.load_state_dict(first["sampler"])
        torch.set_rng_state(first["rng"]["cpu"])
        if "cuda" in first["rng"] and torch.cuda.is_available() \
                and len(first["rng"]["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(first["rng"]["cuda"])
        return Restored(int(first["step"]), float(first["train_s"]), float(first["eval_s"]),
                        [dict(s["best"]) for s in states],
                        [{k: v.to(device) for k, v in s["best_model"].items()} for s in states],
                        [list(s["history"]) for s in states], [s.get("diverged_at") for s in states])
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise KanInrError(f"checkpoint does not fit this run: {first_line[:200]}") from None

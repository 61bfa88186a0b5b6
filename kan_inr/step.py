"""One training step, injected into the loop (``training.train``): forward, loss, backward, optimiser.

``ModelStep`` trains one network on one signal; ``batched.BatchedStep`` B networks at once and
``distributed.DDPStep`` one network data-parallel. Each offers the same small interface to the loop:
``train(index, lr, step) -> losses (B,)``, ``losses`` (to host numbers), ``agree`` (a decision all processes
share), ``evaluate(b)``, ``member_state(b)`` / ``load_member(b, state)`` (best weights), and
``state_dict(b)`` / ``load_state_dicts(states)`` (checkpoints), then ``finish()``.

Speed levers (``train_step``, ``make_optimizer``, ``compile_model``; scripts/bench.py times them):
TF32 matmuls or a bfloat16 autocast forward (``precision``), ``torch.compile`` of the model
(``compile``; CUDA graphs with mode reduce-overhead), the fused CUDA Adam, sampling on the device and
no host sync between log steps.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Iterable, cast

import torch
from torch import nn

from kan_inr import precision, signals, spectral
from kan_inr.config import COMPILE_MODES, TrainConfig, check_choice
from kan_inr.geometry import nyquist
from kan_inr.pixels import PixelModel
from kan_inr.precision import autocast, matmul_precision
from kan_inr.render import predict_grid
from kan_inr.signals.base import Signal, denormalise, normalise


def mse_loss(model: Callable[[torch.Tensor], torch.Tensor], coords: torch.Tensor, target: torch.Tensor,
             precision: str, pixels: PixelModel) -> torch.Tensor:
    """MSE of the pixel values of ``model(coords)`` against ``target`` (..., B, C), always taken in fp32
    over each network's B x C values: () for one network; (M,) for M stacked ones (``batched``: the
    model maps (S * B, d) to (M, S * B, C), target (M, B, C)). ``coords`` is (S * B, d), sample-major,
    S positions per target, which ``pixels`` reduces to its value (``pixels.PixelModel``). bf16: the
    forward runs under bfloat16 autocast (matmuls in bf16, reductions such as LayerNorm in fp32)."""
    with autocast(precision, coords.device.type):
        pred = model(coords)  # (..., S * B, C)
    pred = pixels.reduce(pred.float(), target.shape[-2])  # (..., B, C)
    return torch.mean((pred - target) ** 2, dim=(-2, -1))


def train_step(model: Callable[[torch.Tensor], torch.Tensor], optimizer: torch.optim.Optimizer,
               coords: torch.Tensor, target: torch.Tensor, precision: str = "fp32",
               penalty: Callable[[], torch.Tensor] | None = None, *, pixels: PixelModel) -> torch.Tensor:
    """One Adam step (forward, MSE + ``penalty()``, backward, update) of one network, or of M stacked
    ones (``mse_loss``); returns the loss () or losses (M,) as a device tensor (no host sync)."""
    with matmul_precision(precision):
        loss = mse_loss(model, coords, target, precision, pixels)
        if penalty is not None:
            loss = loss + penalty()
        optimizer.zero_grad(set_to_none=True)
        # stacked networks: d(sum)/d(network m) = d(loss m)/d(network m), nothing couples them
        (loss if loss.dim() == 0 else loss.sum()).backward()
        optimizer.step()
    return loss


def make_optimizer(params: Iterable[torch.Tensor], lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam over ``params`` (a model's, or stacked networks' tensors: Adam is elementwise, so one Adam
    over B stacked networks is B independent ones); on CUDA its fused kernel (one launch for all
    parameters) when every parameter is real."""
    params = list(params)
    fused = device.type == "cuda" and all(p.is_floating_point() for p in params)
    return torch.optim.Adam(params, lr=lr, fused=fused or None)


def compile_model(model: nn.Module, mode: str, device: torch.device, coords: torch.Tensor,
                  target: torch.Tensor, precision: str, pixels: PixelModel) -> tuple[nn.Module, str]:
    """``torch.compile(model)`` (sharing its parameters) and what was done, or the model itself.

    auto = mode "default" on CUDA (fuses each layer's elementwise work into few kernels) and off on a
    CPU (compiling takes longer there than it saves in a short fit). One forward and backward on
    ``coords`` (S * B, d) / ``target`` (B, C) compiles it up front, at the step's fixed shapes (no
    recompiles: minibatches drop their remainder), and a compiler failure falls back to eager.
    """
    if check_choice("compile mode", mode, COMPILE_MODES) == "auto":
        mode = "default" if device.type == "cuda" else "off"
    if mode == "off":
        return model, "eager"
    compiled = cast(nn.Module, torch.compile(model, mode=mode, dynamic=False))  # an OptimizedModule for a module
    try:
        with matmul_precision(precision):
            mse_loss(compiled, coords, target, precision, pixels).backward()
    except Exception as exc:  # the compiler stack raises many types; any of them means "run eager"
        model.zero_grad(set_to_none=True)
        first_line = (str(exc).splitlines() or [""])[0][:200]
        return model, f"eager (torch.compile failed: {type(exc).__name__}: {first_line})"
    model.zero_grad(set_to_none=True)
    return compiled, f"compiled ({mode})"


def evaluate(model: nn.Module, signal: Signal, target_range: tuple[float, float],
             device: torch.device, pixels: PixelModel) -> tuple[dict[str, float], torch.Tensor]:
    """Full-grid pass of the current weights, each sample rendered as the fit models it (``pixels``):
    (metrics, prediction (N, C) in the signal's range)."""
    pred = denormalise(predict_grid(model, signal.shape, device, convention=signal.convention, pixels=pixels),
                       signal.value_range, target_range)
    metrics = signals.module(signal.kind).evaluate(pred, signal.values.to(device), signal.shape)
    return metrics, pred


def raw_module(model: nn.Module) -> nn.Module:
    """The module whose weights are saved: inside DDP (``.module``) and torch.compile (``._orig_mod``)."""
    module = getattr(model, "module", model)
    return getattr(module, "_orig_mod", module)


def cpu_copy(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict's tensors copied to the CPU (checkpoints are device independent)."""
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


class ModelStep:
    """One network ``model`` on one ``signal`` (B = 1). ``train_model`` is what the step runs (the
    model itself, or a DDP wrapper of it); the weights are always read from and written to ``model``."""

    members = 1

    def __init__(self, model: nn.Module, signal: Signal, cfg: TrainConfig, device: torch.device, batch: int,
                 train_model: nn.Module | None = None) -> None:
        self.model, self.signals, self.cfg, self.device, self.batch = model, [signal], cfg, device, batch
        self.target_range = cfg.target_range or signal.value_range
        self.coords = signal.coords(device)  # (N, d)
        self.target = normalise(signal.values, signal.value_range, self.target_range).to(device)  # (N, C)
        self.optimizer = make_optimizer(model.parameters(), cfg.lr, device)
        self.num_params = sum(p.numel() for p in model.parameters())
        self.pixels = PixelModel.of(cfg)
        self.positions = self.pixels.sampler(signal.shape, signal.convention, device, cfg.seed)
        self.penalty = spectral.frequency_penalty(model, cfg.freq_penalty, cfg.freq_alpha,
                                                  min(nyquist(n, signal.convention) for n in signal.shape))
        self.plan = precision.plan(cfg.precision, device, cfg.bf16_until)
        self.precision = self.plan.start  # what the steps run; the loop moves it to plan.full (Plan.switch_due)
        probe_x, probe_goal = self.inputs(torch.arange(batch, device=device), 0)  # a step's shapes
        self.net, self.compiled = compile_model(train_model or model, cfg.compile, device, probe_x, probe_goal,
                                                self.precision, self.pixels)

    def inputs(self, index: torch.Tensor | None, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """What training step ``step`` on the coordinates ``index`` (batch,) (None = all) feeds the network:
        positions (S * batch, d) (``pixels.TrainingPositions``) and targets (batch, C)."""
        if index is None:
            return self.positions(self.coords, step), self.target
        return self.positions(self.coords[index], step), self.target[index]

    def train(self, index: torch.Tensor | None, lr: float, step: int = 0) -> torch.Tensor:
        """Training step ``step`` on the coordinates ``index`` (batch,) (None = all); returns the loss (1,)
        on the device."""
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        x, goal = self.inputs(index, step)  # (S * b, d), (b, C)
        return train_step(self.net, self.optimizer, x, goal, self.precision, self.penalty,
                          pixels=self.pixels).reshape(1)

    def losses(self, losses: torch.Tensor) -> list[float]:
        """The losses (B,) as numbers: a host sync, done at log steps only."""
        return losses.tolist()

    def agree(self, flag: bool, scheduled: bool) -> bool:
        """A decision (stop, out of time) every process takes at the same step; one process: at once."""
        return flag

    def evaluate(self, b: int) -> tuple[dict[str, float], torch.Tensor]:
        return evaluate(self.model, self.signals[b], self.target_range, self.device, self.pixels)

    def member_state(self, b: int) -> dict[str, torch.Tensor]:
        return copy.deepcopy(self.model.state_dict())

    def load_member(self, b: int, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)

    def state_dict(self, b: int) -> dict[str, Any]:
        """Network ``b``'s weights and optimiser state, on the CPU."""
        return {"model": cpu_copy(self.model.state_dict()), "optimizer": self.optimizer.state_dict()}

    def load_state_dicts(self, states: list[dict[str, Any]]) -> None:
        self.model.load_state_dict(states[0]["model"], strict=True)
        self.optimizer.load_state_dict(states[0]["optimizer"])

    def finish(self) -> None:
        """Leave the final weights in the model(s) (here they already are)."""

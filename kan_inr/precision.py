"""Numeric precision of a training step: which one runs, when auto changes it, and the contexts that run it.

``--precision auto`` (the default) runs the cheap precision the device computes natively (bfloat16
autocast: bf16 on CPUs with native bf16 dot products and on CUDA GPUs of compute capability 8.0 or
newer) while the fit is far from where bf16 stops it, and the rest of the fit in full precision (fp32;
TF32 matmuls on CUDA). Where bf16 stops a fit is measured per recipe: ``models.Recipe.bf16_ceiling``,
the grid PSNR/SNR (dB) at which its bf16 fits stall (scripts/precision_switch.py measures it and the
switch), which becomes ``TrainConfig.bf16_until`` (``config.BF16_SWITCH_MARGIN_DB`` below it).
``plan`` decides, once per fit, the starting precision and the level at which to switch; the training
loop switches at the first scheduled evaluation at or above it (``Plan.switch_due``). A recipe with no measured ceiling runs full precision, as does a
device that would only emulate bf16 (emulated bf16 is slower than fp32). ``--precision fp32|tf32|bf16``
forces one precision for the whole fit.

Why a switch rather than one precision: bf16 rounds matmul inputs to 8 significant bits, which costs
nothing while the fit's error is far above that rounding (SIREN at 40-59 dB runs 2x the steps in bf16
for the same result) and stops it near its ceiling (SIREN at about 61 dB on images, where fp32 goes on
to 76). The switch is decided from evaluations alone, which a resumed fit has in its history, so a
resume across the switch ends bit-identical to an uninterrupted fit (``Plan.running_after``).

Evaluation and metrics always run in fp32 (``step.evaluate`` uses no autocast), and the weights, the
Adam state, checkpoints and ``.kinr`` files stay fp32 whatever the step ran: autocast casts copies.
Where a network's accuracy hinges on one part (a first layer whose phases are 30-3000x its input,
SIREN's and FINER's; every model's output layer), the model computes that part in fp32 itself
(``models.layers.exact_linear``).
"""

from __future__ import annotations

import contextlib
import platform
from dataclasses import dataclass
from typing import Any, Iterator

import torch

from kan_inr.config import BF16_SWITCH_MARGIN_DB, PRECISIONS, check_choice

AUTO = PRECISIONS[0]
RUNNABLE = PRECISIONS[1:]  # what a step runs: fp32, tf32, bf16
# CPU flags of native bf16 dot products: x86 AVX512-BF16 (vdpbf16ps) or AMX-BF16 tiles; Arm's BF16
# extension (BFDOT/BFMMLA). oneDNN computes bf16 on other AVX-512 CPUs too, by conversion to fp32,
# which is slower than fp32 itself: those are not native.
NATIVE_BF16_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux lists them in /proc/cpuinfo ('flags' on x86, 'Features' on Arm);
    empty where unknown (another OS), which counts as no native bf16."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return set(value.split())
    except OSError:
        pass
    return set()


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` runs bf16 matmuls natively: CUDA compute capability 8.0 or newer (bf16 tensor
    cores); a CPU whose oneDNN has bf16 kernels and whose instruction set has native bf16 dot products."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8
    if device.type == "cpu":
        mkldnn_bf16 = torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        return mkldnn_bf16 and platform.machine().lower() in ("x86_64", "amd64", "aarch64", "arm64") \
            and bool(cpu_flags() & NATIVE_BF16_FLAGS)
    return False


@dataclass(frozen=True)
class Plan:
    """The precision a fit runs in and why: ``start`` until a scheduled evaluation's headline metric
    (PSNR/SNR, dB) reaches ``until``, then ``full`` for the rest of the fit; ``until`` None: ``start``
    throughout. config.json's ``precision`` records it, the progress line shows it."""

    start: str
    full: str
    until: float | None
    why: str

    def switch_due(self, running: str, headlines: list[float]) -> bool:
        """Whether a fit running ``running`` goes on in ``full`` after an evaluation whose headline
        values (one per network of the step, dB) are ``headlines``: the first network to reach ``until``
        switches them all (one step runs one precision)."""
        return running != self.full and self.until is not None and any(h >= self.until for h in headlines)

    def running_after(self, histories: list[list[dict[str, float]]], headline: str) -> tuple[str, int | None]:
        """(precision, step it switched at or None) of a fit whose evaluations so far are ``histories``
        (one list of rows per network): the decisions the loop took, taken again, so a resumed fit runs
        what the uninterrupted one ran."""
        steps = sorted({row["step"] for rows in histories for row in rows})
        for step in steps:
            values = [row[headline] for rows in histories for row in rows if row["step"] == step]
            if self.switch_due(self.start, values):
                return self.full, int(step)
        return self.start, None

    def describe(self) -> dict[str, Any]:
        """The plan as config.json stores it."""
        return {"start": self.start, "switch_to": self.full if self.until is not None else None,
                "switch_at_db": self.until, "why": self.why}


def full_precision(device: torch.device) -> str:
    """The exact precision of ``device``: TF32 matmuls on CUDA (PyTorch's own default for convolutions,
    10-bit mantissa inputs, fp32 accumulation), fp32 elsewhere."""
    return "tf32" if device.type == "cuda" else "fp32"


def plan(requested: str, device: torch.device, bf16_until: float | None) -> Plan:
    """The one precision decision of a fit. "auto": bf16 where ``device`` has native bf16 and the recipe
    measured where bf16 stalls it (``bf16_until`` given, ``Recipe.train_fields``), switching to full precision at
    ``bf16_until`` dB; full precision otherwise. "bf16": bf16, switching at ``bf16_until`` when given
    (``jobs.start_run`` stores auto's plan this way, so a resume runs what ran). fp32 and tf32: as asked."""
    check_choice("precision", requested, PRECISIONS)
    full = full_precision(device)
    if requested == "bf16":
        switch = f", {full} from {bf16_until:g} dB" if bf16_until is not None else ""
        return Plan("bf16", full if bf16_until is not None else "bf16", bf16_until, f"as requested{switch}")
    if requested != AUTO:
        return Plan(requested, requested, None, "as requested (--precision)")
    if bf16_until is None:
        return Plan(full, full, None, "auto: bf16 is not measured for this recipe")
    if not native_bf16(device):
        return Plan(full, full, None, f"auto: no native bf16 on this {device.type}")
    return Plan("bf16", full, bf16_until, f"auto: native bf16 on this {device.type} until {bf16_until:g} dB "
                f"({BF16_SWITCH_MARGIN_DB:g} dB below where bf16 stalls this recipe), then {full}")


@contextlib.contextmanager
def matmul_precision(precision: str) -> Iterator[None]:
    """fp32 matmuls as IEEE fp32 ("highest"), or on TF32 tensor cores ("high") for tf32 and bf16; a
    CPU computes fp32 either way. Restores the process's previous setting on exit."""
    check_choice("precision", precision, RUNNABLE)
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest" if precision == "fp32" else "high")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(previous)


def autocast(precision: str, device_type: str) -> torch.autocast:
    """The forward's autocast: matmuls in bf16 under "bf16" (elementwise work and reductions such as
    LayerNorm stay fp32), nothing otherwise."""
    return torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16")

"""Numeric precision of a training step: which one runs, and the contexts that run it.

``--precision auto`` (the default) takes, per device and preset, the fastest precision measured to cost
nothing: bfloat16 autocast where the device computes bf16 natively *and* the preset's recipe is
declared quality-neutral in bf16 (``models.Recipe.bf16``, measured by scripts/precision_neutrality.py:
at most 0.1 dB lost on the grid and at the 2x render at equal steps); fp32 otherwise (TF32 matmuls on
CUDA). A device that would only emulate bf16 never gets it: emulated bf16 is slower than fp32.

Evaluation and metrics always run in fp32 (``step.evaluate`` uses no autocast), and the weights, the
Adam state, checkpoints and ``.kinr`` files stay fp32 whatever the step ran: autocast casts copies.
Where a network's accuracy hinges on one part (a first layer whose phases are 30-3000x its input,
SIREN's and FINER's), the model computes that part in fp32 itself (``models.layers.exact_linear``).
"""

from __future__ import annotations

import contextlib
import platform
from dataclasses import dataclass
from typing import Iterator

import torch

from kan_inr.config import PRECISIONS, check_choice

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
class Choice:
    """The precision a fit runs in and why (config.json's ``precision`` and the progress line)."""

    precision: str
    why: str


def choose(requested: str, device: torch.device, neutral: bool) -> Choice:
    """The precision to run: ``requested`` itself unless it is "auto"; for auto, bf16 where ``device``
    has native bf16 and the recipe is declared bf16-neutral (``neutral``), else fp32 (tf32 on CUDA)."""
    check_choice("precision", requested, PRECISIONS)
    if requested != AUTO:
        return Choice(requested, "as requested (--precision)")
    full = "tf32" if device.type == "cuda" else "fp32"
    if not neutral:
        return Choice(full, "auto: this recipe is not measured quality-neutral in bf16")
    if not native_bf16(device):
        return Choice(full, f"auto: no native bf16 on this {device.type}")
    return Choice("bf16", f"auto: native bf16 on this {device.type}, recipe measured quality-neutral in bf16")


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

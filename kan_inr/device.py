"""Devices: which one to train on, waiting for it, its name and its free memory.

The one place that knows about CUDA versus the CPU; everything above asks here.
"""

from __future__ import annotations

import torch

from kan_inr.errors import KanInrError


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


def sync(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA runs asynchronously; a CPU has nothing to wait for)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    """What metrics.json records: the GPU's model name, or 'cpu'."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


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


def format_bytes(n: int) -> str:
    """Bytes as GiB, MiB or KiB, whichever reads best."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n / 2**10:.1f} KiB"

"""The roofline of a training step: achieved GFLOP/s of each preset's default step beside the machine's
own matmul peaks, all measured in this one process (benchmarks.md, protocol 10).

    OMP_NUM_THREADS=1 python scripts/roofline.py [--device auto] [--models siren fkan sl2a] [--size 128]
        [--name roofline-cpu]

Peaks: a square matmul (2,048 on a CPU, 8,192 on CUDA) in fp32 (IEEE), bf16 and, on CUDA, TF32; the
best of several timed repetitions, 2 n^3 FLOPs each. Steps: each preset built for a ``size`` px RGB image
and trained with its default recipe's batch (the 128 px image is one 16,384-pixel batch) by the step
``fit()`` runs (``step.train_step``: forward, MSE, backward, Adam), in each precision. FLOPs of a step:
torch's ``FlopCounterMode`` over one step, which counts the matrix products of the forward and the
backward pass (2 per multiply-add; the elementwise work of activations and bases is not counted: it is
the part of a step that is not a matmul). Achieved = FLOPs / fastest step time; "of peak" divides by the
peak in the precision the step ran. Writes benchmarks/<name>.json (``records.record``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
import time
from typing import Any, Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

import records
from kan_inr import models
from kan_inr.device import resolve_device, sync
from kan_inr.precision import matmul_precision, native_bf16
from kan_inr.signals.base import grid
from kan_inr.step import make_optimizer, train_step

MIN_SECONDS = 3.0  # each timing repeats until this long (and at least MIN_REPS times)
MIN_REPS = 5


def timed(fn: Callable[[], Any], device: torch.device) -> list[float]:
    """Seconds of each call of ``fn`` after two warm-up calls: at least MIN_REPS, for MIN_SECONDS."""
    for _ in range(2):
        fn()
    sync(device)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < MIN_REPS or time.perf_counter() - start < MIN_SECONDS:
        tick = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - tick)
    return times


def matmul_peak(device: torch.device, precision: str) -> float:
    """GFLOP/s of an n x n matmul in ``precision`` (fp32 IEEE, tf32, bf16): the best repetition."""
    n = 8192 if device.type == "cuda" else 2048
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    with matmul_precision("fp32" if precision == "fp32" else "tf32"):
        best = min(timed(lambda: a @ b, device))
    return 2 * n**3 / best / 1e9


def step_setup(name: str, size: int, device: torch.device) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """Preset ``name`` for a ``size`` px RGB image, and one batch of its default recipe (coords, target)."""
    preset = models.preset(name, "image")
    shape = (size, size)
    torch.manual_seed(0)
    model = models.build(preset.family, 2, 3, preset.config_for(shape)).to(device)
    coords = grid(shape).to(device)  # (size^2, 2)
    batch = min(preset.recipe.batch or coords.shape[0], coords.shape[0])
    index = torch.randperm(coords.shape[0], device=device)[:batch]
    return model, coords[index], torch.rand(batch, 3, device=device)


def step_row(name: str, size: int, device: torch.device, precision: str, peaks: dict[str, float]) -> dict[str, Any]:
    model, coords, target = step_setup(name, size, device)
    optimizer = make_optimizer(model.parameters(), 1e-4, device)
    with FlopCounterMode(display=False) as counter:
        train_step(model, optimizer, coords, target, precision)
    flops = counter.get_total_flops()  # forward + backward matmuls, 2 per multiply-add
    # the fastest repetition, as for the peaks: what the step costs when nothing else competes for memory
    seconds = min(timed(lambda: train_step(model, optimizer, coords, target, precision), device))
    achieved = flops / seconds / 1e9
    return {"model": name, "precision": precision, "batch": coords.shape[0], "params": models.num_params(model),
            "gflop_per_step": round(flops / 1e9, 3), "step_ms": round(1e3 * seconds, 2),
            "gflops": round(achieved, 1), "of_peak": round(achieved / peaks[precision], 3)}


def markdown(rows: list[dict[str, Any]], peaks: dict[str, float], device: str, size: int) -> str:
    lines = [f"Training step of each preset's default recipe ({size} px RGB, its batch) on {device}: matmul "
             "FLOPs of forward + backward per step (torch's FlopCounterMode), fastest step time, achieved "
             "GFLOP/s and its share of this machine's own matmul peak in the step's precision, measured in "
             "the same process: " + ", ".join(f"{p} {v:.0f} GFLOP/s" for p, v in peaks.items()) + ".", "",
             "| preset | precision | batch | GFLOP / step | step (ms) | GFLOP/s | of peak |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['precision']} | {r['batch']:,} | {r['gflop_per_step']:.2f} | {r['step_ms']:.1f} | "
              f"{r['gflops']:.1f} | {100 * r['of_peak']:.0f} % |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--models", nargs="+", default=["siren", "fkan", "sl2a"])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--name", default=None, help="benchmark name (default roofline-<device type>)")
    parser.add_argument("--out", default=str(records.BENCH_DIR), help="folder of the benchmark JSON")
    args = parser.parse_args()
    device = resolve_device(args.device)
    precisions = ["fp32", *(["tf32"] if device.type == "cuda" else []), *(["bf16"] if native_bf16(device) else [])]
    peaks = {p: round(matmul_peak(device, p), 1) for p in precisions}
    print("peaks (GFLOP/s):", peaks, flush=True)
    rows = []
    for name in args.models:
        for precision in precisions:
            rows.append(step_row(name, args.size, device, precision, peaks))
            print(rows[-1], flush=True)
    text = markdown(rows, peaks, "a CPU" if device.type == "cpu" else torch.cuda.get_device_name(device), args.size)
    print(text)
    name = args.name or f"roofline-{device.type}"
    results = {"peaks_gflops": peaks, "rows": rows}
    print(records.record(name, results, text, device=device, bench_dir=Path(args.out)))


if __name__ == "__main__":
    records.run_script(main, "roofline.py")

"""Signals per second: many small signals fitted one after another (``training.fit``) vs together as a batch
of independent networks (``batched.fit_batch``, torch.func.stack_module_state + vmap), in one process.

    python scripts/bench_many.py                      # CPU: quick sizes; CUDA: 64 signals x 200 steps
    python scripts/bench_many.py --model siren --signals 64 --steps 200 --precision tf32
    python scripts/bench_many.py --quick              # a short check of both paths (GPU smoke run)
    python scripts/bench_many.py --suite --record many-cpu   # the README's configurations, recorded

Both paths use the same model preset, the same seed per signal, the same recipe (lr, batch, schedule)
and one evaluation at the end; the script checks that they reach the same PSNR (the batched fit is
exact up to floating-point summation order) and prints signals/s for each and the ratio. Signals are
generated (smooth random images, ``--size`` x ``--size`` RGB), so nothing is read from disk.
``--record NAME`` writes the results and their markdown table to benchmarks/NAME.json
(``records.record``); ``python scripts/sync_readme.py`` puts the table into the README.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kan_inr import models  # noqa: E402
import records  # noqa: E402
from kan_inr.atomic import write_json  # noqa: E402
from kan_inr.batched import fit_batch  # noqa: E402
from kan_inr.device import device_name as _device_name, resolve_device, sync as _sync  # noqa: E402
from kan_inr.training import fit  # noqa: E402
from kan_inr.jobs import train_config_for  # noqa: E402
from kan_inr.signals.base import Signal, grid  # noqa: E402


def smooth_images(count: int, size: int, seed: int = 0) -> list[Signal]:
    """``count`` RGB images (size, size), each a sum of a few random low-frequency sinusoids in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    coords = grid((size, size))  # (N, 2)
    out = []
    for _ in range(count):
        freq = torch.rand(2, 3, 3, generator=g) * 6  # (axis, wave, channel)
        phase = torch.rand(3, 3, generator=g) * 6.28
        waves = torch.sin(coords[:, 0, None, None] * freq[0] + coords[:, 1, None, None] * freq[1] + phase)
        values = 0.5 + 0.45 * waves.mean(dim=1)  # (N, 3)
        out.append(Signal(values, (size, size), "image", (0.0, 1.0), {}))
    return out


def seeded_models(model_name: str, count: int, fields: dict[str, str], seed: int) -> list[torch.nn.Module]:
    """The preset's published network (``Preset.config``, as many-cpu.json measured it; a fit's default is
    the study's where one chose it) with ``fields`` set, after torch.manual_seed(seed), once per signal."""
    preset = models.preset(model_name)
    cfg = models.with_overrides(preset.config, fields)
    built = []
    for _ in range(count):
        torch.manual_seed(seed)
        built.append(models.build(preset.family, 2, 3, cfg))
    return built


# --suite: the configurations the README quotes. The two presets at 64x64, where arithmetic dominates a
# step, and a 2,307-parameter SIREN on 16 signals of 32x32, where per-step overhead does: the regime
# batching targets on a GPU.
SUITE = ({"model": "fkan", "set": [], "signals": 8, "size": 64},
         {"model": "siren", "set": [], "signals": 8, "size": 64},
         {"model": "siren", "set": ["hidden_dim=32", "hidden_layers=2"], "signals": 16, "size": 32})


def run(args: argparse.Namespace) -> dict:
    device = resolve_device(args.device)
    fields = dict(item.split("=", 1) for item in args.set)
    sigs = smooth_images(args.signals, args.size)
    train = train_config_for(models.preset(args.model), steps=args.steps, eval_every=args.steps, device=str(device),
                             precision=args.precision, batch=args.batch, compile=args.compile)
    # warm-up (CUDA context, cuBLAS handles, allocator) outside the timings
    fit_batch(seeded_models(args.model, 2, fields, 0), sigs[:2], dataclasses.replace(train, steps=2, eval_every=2))
    timings: dict[str, float] = {}
    psnr: dict[str, list[float]] = {}

    _sync(device)
    tick = time.perf_counter()
    results = [fit(m, s, train) for m, s in zip(seeded_models(args.model, args.signals, fields, 0), sigs)]
    _sync(device)
    timings["sequential"] = time.perf_counter() - tick
    psnr["sequential"] = [r.metrics["final_psnr"] for r in results]

    batched_results = []
    _sync(device)
    tick = time.perf_counter()
    for start in range(0, args.signals, args.group):
        chunk = sigs[start:start + args.group]
        batched_results += fit_batch(seeded_models(args.model, len(chunk), fields, 0), chunk, train)
    _sync(device)
    timings["batched"] = time.perf_counter() - tick
    psnr["batched"] = [r.metrics["final_psnr"] for r in batched_results]

    params = results[0].metrics["params"]
    return {
        "model": args.model, "fields": fields, "params": params, "signals": args.signals, "size": args.size,
        "steps": args.steps, "batch": results[0].metrics["batch"], "group": args.group,
        "precision": args.precision, "compile_sequential": results[0].metrics.get("compile"),
        "device": _device_name(device), "torch": torch.__version__,
        "seconds": timings, "signals_per_s": {k: args.signals / v for k, v in timings.items()},
        "speedup": timings["sequential"] / timings["batched"],
        "mean_psnr": {k: sum(v) / len(v) for k, v in psnr.items()},
        "max_abs_psnr_diff": max(abs(a - b) for a, b in zip(psnr["sequential"], psnr["batched"])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fkan")
    parser.add_argument("--set", action="append", default=[], help="model field key=value (repeatable)")
    parser.add_argument("--signals", type=int, help="signals to fit [CUDA 64, CPU 8]")
    parser.add_argument("--steps", type=int, help="training steps per signal [CUDA 200, CPU 20]")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--batch", type=int, help="coordinates per step [the preset's recipe]")
    parser.add_argument("--group", type=int, default=64, help="networks fitted together at most")
    parser.add_argument("--precision", default="fp32", help="fp32, tf32 or bf16 (both paths)")
    parser.add_argument("--compile", default="off", help="torch.compile mode of the sequential fits (batched: eager)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--quick", action="store_true", help="8 signals x 20 steps (a smoke run of both paths)")
    parser.add_argument("--suite", action="store_true", help="the README's configurations (SUITE), not --model ...")
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--record", default="", help="record the results as benchmarks/NAME.json")
    args = parser.parse_args()
    if args.record:
        records.check_name(args.record)
    device = resolve_device(args.device)
    if args.quick:
        args.signals, args.steps = args.signals or 8, args.steps or 20
    args.signals = args.signals or (64 if device.type == "cuda" else 8)
    args.steps = args.steps or (200 if device.type == "cuda" else 20)
    configs = [argparse.Namespace(**{**vars(args), **c}) for c in SUITE] if args.suite else [args]
    rows = []
    for config in configs:
        result = run(config)
        rows.append(result)
        print(f"{result['model']} ({result['params']:,} params) on {result['signals']} signals "
              f"{config.size}x{config.size}, {result['steps']} steps, batch {result['batch']:,}, "
              f"{result['precision']}, {result['device']}, torch {result['torch']}")
        for mode in ("sequential", "batched"):
            print(f"  {mode:<10} {result['seconds'][mode]:8.2f} s  {result['signals_per_s'][mode]:8.3f} signals/s  "
                  f"mean PSNR {result['mean_psnr'][mode]:.3f} dB")
        print(f"  speed-up batched / sequential: {result['speedup']:.2f}x; max |PSNR difference| "
              f"{result['max_abs_psnr_diff']:.2e} dB")
        if not math.isfinite(result["max_abs_psnr_diff"]) or result["max_abs_psnr_diff"] > 1e-2:
            print("  WARNING: batched and sequential fits disagree", file=sys.stderr)
    if args.json:
        write_json(args.json, rows if args.suite else rows[0])
    if args.record:
        path = records.record(args.record, rows, markdown(rows), device=device)
        print(f"recorded {path}; python scripts/sync_readme.py puts it into the README")


def markdown(rows: list[dict]) -> str:
    """One table row per configuration: signals/s both ways and their ratio (what the README shows)."""
    lines = ["| model | params | signals | size | steps | batch | sequential signals/s | batched signals/s | "
             "batched / sequential | max PSNR difference (dB) |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['params']:,} | {r['signals']} | {r['size']}x{r['size']} | {r['steps']} | "
              f"{r['batch']:,} | {r['signals_per_s']['sequential']:.3g} | {r['signals_per_s']['batched']:.3g} | "
              f"{r['speedup']:.2f}x | {r['max_abs_psnr_diff']:.1e} |" for r in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    records.run_script(main, "bench_many.py")

"""Where does bf16 stop a fit, and does auto's switch to fp32 keep both bf16's speed and fp32's end?

    OMP_NUM_THREADS=1 python scripts/precision_switch.py ceiling --models siren fkan sl2a \
        --images ../shared/data/div2k/00.png --size 128 --epochs 1000 --name precision-ceiling
    OMP_NUM_THREADS=1 python scripts/precision_switch.py switch --models siren \
        --images ../shared/data/div2k/00.png --size 128 --epochs 300 --margins 3 6 10 --name precision-switch
    OMP_NUM_THREADS=1 python scripts/precision_switch.py budget --models siren fkan sl2a \
        --images ../shared/data/div2k/03.png ../shared/data/div2k/08.png --size 256 --seconds 120 \
        --name precision-budget

Every fit follows the superres protocol (``kan_inr.superres``): the image is reduced 2x (area), fitted
with the preset's default recipe, scored on the grid it was fitted to and at the 2x render against the
original. The fits of one comparison run one after the other in this process (speed is a ratio measured
side by side).

- ``ceiling``: each preset in fp32 and in bf16 for ``--epochs``; bf16's best grid PSNR where fp32 passes
  it by more than 1 dB is where bf16 stalls the recipe (``models.Recipe.bf16_ceiling``).
- ``switch``: fp32, bf16 and auto (bf16, then fp32 from ``bf16_until``) at equal epochs, auto at the
  recipe's switch level and at each ``--margins`` below the ceiling: auto should end within 0.1 dB of fp32.
- ``budget``: fp32 against auto for ``--seconds`` (the ttq budget): steps in the same time and scores;
  with ``--margins``, also auto switching at each level below the ceiling (which margin pays most).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import torch

import records
from kan_inr.config import BF16_SWITCH_MARGIN_DB
from kan_inr import models, precision, signals, superres
from kan_inr.device import resolve_device

STALL_DB = 1.0  # fp32 ending this far above bf16's best says bf16 stalled there


def fit(name: str, low: Any, original: Any, device: torch.device, **options: Any) -> dict[str, Any]:
    """One fit of preset ``name`` on ``low`` with ``options`` (training options, the seed among them); its
    scores, steps, time and the precision it ran (and where it switched)."""
    done = superres.fit_scored("array", name, signal=low, original=original, device=str(device), **options)
    m = done.result.metrics
    assert done.upsampled is not None
    return {"precision": m["precision"], "switched_at": m.get("precision_switch_step"), "steps": m["steps"],
            "train_s": round(m["train_s"], 2), "grid": round(done.grid, 3), "best_grid": round(m["best_psnr"], 3),
            "x2": round(done.upsampled, 3)}


def ceiling_of(name: str) -> float | None:
    return models.preset(name, "image").recipe_for("default").bf16_ceiling


def run_part(args: argparse.Namespace, device: torch.device) -> list[dict[str, Any]]:
    rows = []
    for path in args.images:
        original = signals.load(path, resize_to=args.size)
        low = superres.downsample(original, 2)
        low = dataclasses.replace(low, meta={**low.meta, "source": Path(path).name})
        for name in args.models:
            length = {"max_seconds": args.seconds} if args.part == "budget" else {"epochs": args.epochs}
            if args.part == "ceiling":
                variants = {"fp32": {"precision": "fp32"}, "bf16": {"precision": "bf16"}}
            elif args.part == "switch":
                # one bf16 step, then fp32 (a switch at the first of evaluations every step): how far a
                # perturbation of the trajectory alone moves the end, the floor under any switch's cost
                variants = {"fp32": {"precision": "fp32"}, "bf16": {"precision": "bf16"}, "auto": {"precision": "auto"},
                            "one bf16 step": {"precision": "bf16", "bf16_until": 1e-3, "eval_every": 1}}
            else:
                variants = {"fp32": {"precision": "fp32"}, "auto": {"precision": "auto"}}
            ceiling = ceiling_of(name)
            if args.part != "ceiling" and ceiling is not None:  # auto's switch at each other level
                variants |= {f"bf16 to {ceiling - m:g} dB": {"precision": "bf16", "bf16_until": ceiling - m}
                             for m in args.margins}
            for seed in args.seeds:
                runs = {}
                for label, options in variants.items():
                    runs[label] = fit(name, low, original, device, seed=seed, **length, **options)
                    print(name, Path(path).name, seed, label, runs[label], flush=True)
                rows.append({"model": name, "signal": Path(path).name, "seed": seed,
                             "ceiling_declared": ceiling, "runs": runs})
    return rows


def markdown(args: argparse.Namespace, rows: list[dict[str, Any]]) -> str:
    length = f"{args.seconds:g} s" if args.part == "budget" else f"{args.epochs:g} epochs"
    lines = [f"Part `{args.part}`: each preset's default recipe for {length}, fitted to the image reduced 2x "
             f"(from {args.size} px); grid PSNR, the 2x render's PSNR, steps and training seconds side by "
             f"side in one process. auto switches to fp32 {BF16_SWITCH_MARGIN_DB:g} dB below the recipe's "
             "declared bf16 ceiling.", "",
             "| model | signal | seed | run | precision (switch step) | steps | grid (dB) | best grid | 2x (dB) | s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        for label, r in row["runs"].items():
            switch = f"{r['precision']} ({r['switched_at']:,})" if r["switched_at"] else r["precision"]
            lines.append(f"| {row['model']} | {row['signal']} | {row['seed']} | {label} | {switch} | {r['steps']:,} | {r['grid']:.2f} "
                         f"| {r['best_grid']:.2f} | {r['x2']:.2f} | {r['train_s']:.1f} |")
    for row in rows:
        runs = row["runs"]
        if args.part == "ceiling":
            stalled = runs["fp32"]["grid"] - runs["bf16"]["best_grid"] > STALL_DB
            verdict = f"bf16 stalls at {runs['bf16']['best_grid']:.1f} dB" if stalled else "bf16 does not stall here"
        elif args.part == "switch":
            verdict = (f"auto ends {runs['auto']['grid'] - runs['fp32']['grid']:+.2f} dB from fp32 (grid), one bf16 "
                       f"step {runs['one bf16 step']['grid'] - runs['fp32']['grid']:+.2f} dB")
        else:
            fp32 = runs["fp32"]
            verdict = "; ".join(f"{label}: {r['steps'] / max(fp32['steps'], 1):.2f}x fp32's steps, grid "
                                f"{r['grid'] - fp32['grid']:+.2f} dB, 2x {r['x2'] - fp32['x2']:+.2f} dB"
                                for label, r in runs.items() if label != "fp32")
        lines.append(f"- {row['model']} {row['signal']} seed {row['seed']}: {verdict}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("ceiling", "switch", "budget"))
    parser.add_argument("--models", nargs="+", default=["siren", "fkan", "sl2a"])
    parser.add_argument("--images", nargs="+", required=True)
    parser.add_argument("--size", type=int, default=128, help="original image size (fitted at half of it)")
    parser.add_argument("--epochs", type=float, default=300)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--margins", type=float, nargs="*", default=[], help="switch, budget: switch levels below the ceiling (dB)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--name", required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", default=str(records.BENCH_DIR), help="folder of the benchmark JSON")
    args = parser.parse_args()
    device = resolve_device(args.device)
    if not precision.native_bf16(device):
        raise SystemExit(f"this {device.type} has no native bf16: nothing to measure here")
    rows = run_part(args, device)
    text = markdown(args, rows)
    print(text)
    print(records.record(args.name, {"part": args.part, "rows": rows}, text, device=device, bench_dir=Path(args.out)))


if __name__ == "__main__":
    records.run_script(main, "precision_switch.py")

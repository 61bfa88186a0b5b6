"""Is bf16 free? Each preset fitted in fp32 and in bf16 at equal steps (benchmarks.md, protocol 10).

    OMP_NUM_THREADS=1 python scripts/precision_neutrality.py [--device auto] --models siren fkan sl2a \
        --images ../shared/data/div2k/{00,05,10,15}.png --size 128 [--audio ../shared/data/audio/bach.wav \
        --start 2.0 --duration 0.5] [--steps N] [--name precision]

For every signal the superres protocol (``kan_inr.superres``) gives both scores from one fit: the
signal is reduced 2x (images: area; audio: every other sample), fitted with the preset's default recipe
(its length, or ``--steps``), scored on the grid it was fitted to and rendered at the original's samples
and scored against the original. Each (model, signal) is fitted in fp32 and then bf16, one after the
other in this process, so the time ratio is side by side. A preset is neutral where its mean loss from
fp32 to bf16 over the signals is at most ``LIMIT_DB`` on the grid and at the 2x render; the verdict
per preset is what ``models.Recipe.bf16`` declares. Writes benchmarks/<name>.json (``records.record``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
from pathlib import Path
from typing import Any

import torch

import records
from kan_inr import signals, superres
from kan_inr.device import resolve_device
from kan_inr.precision import native_bf16

LIMIT_DB = 0.1  # the loss a neutral preset may show, grid and 2x alike (issue 23)
PRECISIONS = ("fp32", "bf16")


def fit_scored(name: str, low: Any, original: Any, precision: str, steps: int | None,
               max_seconds: float | None, device: torch.device, seed: int) -> dict[str, Any]:
    """Fit ``low`` with preset ``name`` in ``precision``: its grid and 2x scores (``superres.fit_scored``:
    a diverged fit scored on its best weights, its row saying where it diverged) and training time."""
    fitted = superres.fit_scored(low.meta.get("source", "array"), name, signal=low, original=original, factor=2,
                                 precision=precision, seed=seed, steps=steps, max_seconds=max_seconds,
                                 device=str(device))
    assert fitted.upsampled is not None  # an original was given
    metrics = fitted.result.metrics
    return {"precision": metrics["precision"], "steps": metrics["steps"], "train_s": round(metrics["train_s"], 2),
            "grid": round(fitted.grid, 3), "x2": round(fitted.upsampled, 3), "diverged_at": fitted.diverged_at}


def load_signals(args: argparse.Namespace) -> list[tuple[str, Any]]:
    loaded = [(Path(p).name, signals.load(p, resize_to=args.size)) for p in args.images]
    if args.audio:
        clip = signals.load(args.audio, start=args.start, duration=args.duration)
        loaded.append((f"{Path(args.audio).name}@{args.start:g}s+{args.duration:g}s", clip))
    return loaded


def standard_error(values: list[float]) -> float:
    """The standard error of the mean of ``values`` (0 for one value)."""
    return statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0


def verdicts(rows: list[dict[str, Any]], models: list[str]) -> dict[str, dict[str, Any]]:
    """Per preset (and signal kind): mean grid / 2x loss from fp32 to bf16, the time ratio, and whether
    both losses are within ``LIMIT_DB``."""
    out: dict[str, dict[str, Any]] = {}
    for model in models:
        for kind in ("image", "audio"):
            mine = [r for r in rows if r["model"] == model and r["kind"] == kind]
            if not mine:
                continue
            grid = [r["fp32"]["grid"] - r["bf16"]["grid"] for r in mine]  # paired losses, one per fit pair
            x2 = [r["fp32"]["x2"] - r["bf16"]["x2"] for r in mine]
            grid_loss, x2_loss = statistics.fmean(grid), statistics.fmean(x2)
            speedup = sum(r["fp32"]["train_s"] for r in mine) / sum(r["bf16"]["train_s"] for r in mine)
            out[f"{model} {kind}"] = {"grid_loss_db": round(grid_loss, 3), "x2_loss_db": round(x2_loss, 3),
                                      "grid_loss_se_db": round(standard_error(grid), 3),
                                      "x2_loss_se_db": round(standard_error(x2), 3),
                                      "speedup": round(speedup, 2), "pairs": len(mine),
                                      "neutral": grid_loss <= LIMIT_DB and x2_loss <= LIMIT_DB}
    return out


def markdown(rows: list[dict[str, Any]], verdict: dict[str, dict[str, Any]], steps_note: str) -> str:
    lines = [f"Each preset's default recipe ({steps_note}) in fp32 and in bf16 (`--precision`), the two fits of a "
             "pair from the same seed, fitted to the signal reduced 2x: PSNR/SNR on that grid, and of the 2x "
             "render against the original; training seconds side by side in one process. bf16 is declared "
             f"free (`--precision auto` uses it) where the mean loss over the pairs is at most {LIMIT_DB} dB on "
             "both (± its standard error).", "",
             "| preset | mean grid loss (dB) | mean 2x loss (dB) | pairs | bf16 speed-up | neutral |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {k} | {v['grid_loss_db']:+.2f} ± {v['grid_loss_se_db']:.2f} | {v['x2_loss_db']:+.2f} ± "
              f"{v['x2_loss_se_db']:.2f} | {v['pairs']} | {v['speedup']:.2f}x | {'yes' if v['neutral'] else 'no'} |"
              for k, v in verdict.items()]
    lines += ["", "| preset | signal | seed | steps | grid fp32 / bf16 (dB) | 2x fp32 / bf16 (dB) | s fp32 / bf16 |",
              "|---|---|---|---|---|---|---|"]
    for r in rows:
        a, b = r["fp32"], r["bf16"]
        lines.append(f"| {r['model']} | {r['signal']} | {r['seed']} | {a['steps']:,} | {a['grid']:.2f} / "
                     f"{b['grid']:.2f} | {a['x2']:.2f} / {b['x2']:.2f} | {a['train_s']:.1f} / {b['train_s']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["siren", "fkan", "sl2a"])
    parser.add_argument("--images", nargs="*", default=[])
    parser.add_argument("--size", type=int, default=128, help="original image size (fitted at half of it)")
    parser.add_argument("--audio", default=None)
    parser.add_argument("--start", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=0.5)
    parser.add_argument("--steps", type=int, default=None, help="equal steps for all (default: each recipe's)")
    parser.add_argument("--seconds", type=float, default=None, help="equal time instead of equal steps")
    parser.add_argument("--name", default="precision")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="one pair of fits per seed")
    parser.add_argument("--siren-seeds", type=int, nargs="*", default=None,
                        help="seeds for siren (default --seeds): its verdict may need fewer")
    parser.add_argument("--out", default=str(records.BENCH_DIR), help="folder of the benchmark JSON")
    args = parser.parse_args()
    device = resolve_device(args.device)
    if not native_bf16(device):
        raise SystemExit(f"this {device.type} has no native bf16: nothing to measure here")
    rows: list[dict[str, Any]] = []
    for signal_name, original in load_signals(args):
        low = superres.downsample(original, 2)
        low = dataclasses.replace(low, meta={**low.meta, "source": signal_name})
        for model in args.models:
            seeds = args.siren_seeds if model == "siren" and args.siren_seeds is not None else args.seeds
            for seed in seeds:
                row: dict[str, Any] = {"model": model, "signal": signal_name, "kind": original.kind, "seed": seed}
                for precision in PRECISIONS:
                    row[precision] = fit_scored(model, low, original, precision, args.steps, args.seconds, device,
                                                seed)
                    print(model, signal_name, seed, row[precision], flush=True)
                rows.append(row)
    verdict = verdicts(rows, args.models)
    note = f"{args.seconds:g} s each" if args.seconds else f"{args.steps:,} steps" if args.steps \
        else "its own length"
    text = markdown(rows, verdict, note)
    print(text)
    results = {"rows": rows, "verdict": verdict, "limit_db": LIMIT_DB}
    print(records.record(args.name, results, text, device=device, bench_dir=Path(args.out)))


if __name__ == "__main__":
    records.run_script(main, "precision_neutrality.py")

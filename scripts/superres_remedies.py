"""Measure each super-resolution remedy on one image: grid PSNR and 2x PSNR (benchmarks.md, protocol 6).

    python scripts/superres_remedies.py --models fkan,sl2a,siren --steps 300 [--image ../shared/data/div2k/00.png]

The image is shrunk to --size pixels (area), area-downsampled by 2, each (model, variant) fitted to the
reduced image with the same steps, batch and seed, rendered at the original size and scored against
it. Variants are the first layer's basis size (a fraction of the grid's Nyquist limit, or the paper's)
and fit options (TrainConfig); "preset" is the model as registered when the sweep ran. Grid PSNR is the
run's own rendering of the fitted grid (with the box pixel model: each pixel its cell's mean), beside
the PSNR of the INR's values at the pixel centres. Writes benchmarks/superres-remedies[-TAG].json (``records.record``).
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch

from kan_inr import signals, superres, training
import records
from kan_inr.jobs import start_run
from kan_inr.pixels import POINT
from kan_inr.render import predict_grid
from kan_inr.signals.base import denormalise

# name -> (first-layer basis: None = the preset's (capped at Nyquist), a fraction of Nyquist, or
# "published" = the paper's size; TrainConfig options)
VARIANTS: dict[str, tuple[float | str | None, dict[str, object]]] = {
    "preset": (None, {}),
    "point": (None, {"box": 0}),  # pixels as the INR's values at their centres (the default before the box model)
    "box": (None, {"box": 2}),
    "box3": (None, {"box": 3}),
    "published": ("published", {}),
    "half-nyquist": (0.5, {}),
    "quarter-nyquist": (0.25, {}),
    "jitter": (None, {"jitter": 1.0, "box": 0}),
    "jitter-half": (None, {"jitter": 0.5, "box": 0}),
    "penalty": (None, {"freq_penalty": 1e-4}),
    "penalty-strong": (None, {"freq_penalty": 1e-3}),
    "half-nyquist+jitter-half": (0.5, {"jitter": 0.5, "box": 0}),
    "half-nyquist+jitter": (0.5, {"jitter": 1.0, "box": 0}),
    "half-nyquist+penalty": (0.5, {"freq_penalty": 1e-3}),
}
BASIS = {"fkan": "grid_size", "sl2a": "degree", "cheby-kan": "first_degree"}  # the capped field
PUBLISHED = {"fkan": "270", "sl2a": "256", "cheby-kan": "128"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="../shared/data/div2k/00.png")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--factor", type=int, default=2)
    parser.add_argument("--models", default="fkan,sl2a,siren")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=0, help="0 = full batch")
    parser.add_argument("--lr", type=float, default=None, help="every fit's lr [default: each preset's]")
    parser.add_argument("--set", action="append", default=[], help="model=variant:key=value extra variants")
    parser.add_argument("--tag", default="")
    args = parser.parse_args()

    original = signals.load(args.image, resize_to=args.size)
    low = superres.downsample(original, args.factor)
    rows = [{"model": name, "variant": "-", **{f"upsampled_{k}": v for k, v in
                                                superres.score(pred, original).items()}}
            for name, pred in superres.classical(low, original.shape, args.factor).items()]
    for row in rows:
        print(json.dumps(row), flush=True)
    for model in args.models.split(","):
        for variant in args.variants.split(","):
            basis, options = VARIANTS[variant]
            fields = {}
            if basis is not None:
                if model not in BASIS:
                    continue
                size = PUBLISHED[model] if basis == "published" else str(round(basis * math.pi * low.shape[0] / 2))
                fields = {BASIS[model]: size}
            if options.get("freq_penalty") and model not in BASIS:
                continue
            job = start_run(args.image, model, signal=low, write=False, model_overrides=fields,
                            steps=args.steps, batch=args.batch, eval_every=args.steps, device="cpu", lr=args.lr, **options)
            tick = time.perf_counter()
            result = training.fit(job.model, job.signal, job.train)
            seconds = time.perf_counter() - tick
            up = superres.score(superres.model_upsampled(job.model, job.config, low, original.shape, args.factor, "cpu"), original)
            # the grid PSNR of the run's own rendering (box pixels: cell means) and of its centre values
            centres = denormalise(predict_grid(job.model, low.shape, "cpu", convention=low.convention, pixels=POINT),
                                  low.value_range, job.train.target_range or low.value_range)
            row = {"model": model, "variant": variant, "fields": fields, "options": options,
                   "grid_psnr": result.metrics["final_psnr"],
                   "centre_psnr": signals.module("image").evaluate(centres, low.values, low.shape)["psnr"],
                   **{f"upsampled_{k}": v for k, v in up.items()},
                   "params": result.metrics["params"], "steps": args.steps, "lr": job.train.lr,
                   "box": job.train.box, "wall_s": seconds}
            print(json.dumps(row), flush=True)
            rows.append(row)
            write(rows, original, low, args)  # after every row: a stopped sweep keeps what it measured


def write(rows: list[dict], original: signals.Signal, low: signals.Signal, args: argparse.Namespace) -> None:
    """benchmarks/superres-remedies[-TAG].json: the rows so far and their table."""
    lines = [f"{original.shape[0]} -> {low.shape[0]} px by area, fitted {args.steps} steps "
             f"({'full batch' if args.batch == 0 else f'batch {args.batch}'}), rendered at {original.shape[0]} px:", "",
             "| model | variant | grid PSNR (dB) | at pixel centres | 2x PSNR (dB) | 2x SSIM |", "|---|---|---|---|---|---|"]
    for r in rows:
        grid, centre = (f"{r[k]:.2f}" if k in r else "-" for k in ("grid_psnr", "centre_psnr"))
        lines.append(f"| {r['model']} | {r['variant']} | {grid} | {centre} | {r['upsampled_psnr']:.2f} | {r['upsampled_ssim']:.3f} |")
    name = "superres-remedies" + (f"-{args.tag}" if args.tag else "")
    print(records.record(name, rows, "\n".join(lines), device=torch.device("cpu")), flush=True)


if __name__ == "__main__":
    records.run_script(main, "superres_remedies.py")

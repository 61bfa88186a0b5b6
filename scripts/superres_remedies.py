"""Measure each super-resolution remedy on one image: grid PSNR and 2x PSNR (benchmarks.md, protocol 6).

    python scripts/superres_remedies.py --models fkan,sl2a,siren --steps 300 [--image ../shared/data/div2k/00.png]

The image is shrunk to --size pixels (area), area-downsampled by 2, each (model, variant) fitted to the
reduced image with the same steps, batch and seed, rendered at the original size and scored against
it. Variants are model fields (--set) and fit options (TrainConfig); "preset" is the model as
registered. Writes benchmarks/superres-remedies[-TAG].json (``kan_inr.results.record``).
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch

from kan_inr import fit, results, signals, superres
from kan_inr.jobs import start_run

# name -> (model fields, TrainConfig options); {} = the preset as registered
VARIANTS: dict[str, tuple[dict[str, str], dict[str, object]]] = {
    "preset": ({}, {}),
    "published": ({"grid_size": "270"}, {}),  # fkan: the paper's K; sl2a gets degree below
    "jitter": ({}, {"jitter": 1.0}),
    "jitter-half": ({}, {"jitter": 0.5}),
    "half-nyquist": ({}, {}),  # first-layer basis at half the grid's Nyquist limit (HALF below)
    "penalty": ({}, {"freq_penalty": 1e-4, "freq_alpha": 2.0}),
    "penalty-strong": ({}, {"freq_penalty": 1e-3, "freq_alpha": 2.0}),
    "jitter+penalty": ({}, {"jitter": 1.0, "freq_penalty": 1e-3, "freq_alpha": 2.0}),
}
HALF = {"fkan": "grid_size", "sl2a": "degree", "cheby-kan": "first_degree"}
PUBLISHED = {"fkan": {"grid_size": "270"}, "sl2a": {"degree": "256"}, "cheby-kan": {"first_degree": "128"},
             "bspline-kan": {"first_grid_size": "64"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="../shared/data/div2k/00.png")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--factor", type=int, default=2)
    parser.add_argument("--models", default="fkan,sl2a,siren")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=0, help="0 = full batch")
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
            fields, options = VARIANTS[variant]
            if variant == "published":
                if model not in PUBLISHED:
                    continue
                fields = PUBLISHED[model]
            if variant == "half-nyquist":
                if model not in HALF:
                    continue
                fields = {HALF[model]: str(round(math.pi * low.shape[0] / 4))}
            if options.get("freq_penalty") and model not in ("fkan", "sl2a", "cheby-kan"):
                continue
            batch = 2**62 if args.batch == 0 else args.batch
            job = start_run(args.image, model, signal=low, write=False, model_overrides=fields,
                            steps=args.steps, batch=batch, eval_every=args.steps, device="cpu", **options)
            tick = time.perf_counter()
            result = fit.fit(job.model, job.signal, job.train)
            seconds = time.perf_counter() - tick
            up = superres.score(superres.model_upsampled(job.model, job.config, low, original.shape, args.factor, "cpu"), original)
            row = {"model": model, "variant": variant, "fields": fields, "options": options,
                   "grid_psnr": result.metrics["final_psnr"], **{f"upsampled_{k}": v for k, v in up.items()},
                   "params": result.metrics["params"], "steps": args.steps, "wall_s": seconds}
            print(json.dumps(row), flush=True)
            rows.append(row)
    lines = [f"{original.shape[0]} -> {low.shape[0]} px by area, fitted {args.steps} steps "
             f"({'full batch' if args.batch == 0 else f'batch {args.batch}'}), rendered at {original.shape[0]} px:", "",
             "| model | variant | grid PSNR (dB) | 2x PSNR (dB) | 2x SSIM |", "|---|---|---|---|---|"]
    for r in rows:
        grid = f"{r['grid_psnr']:.2f}" if "grid_psnr" in r else "-"
        lines.append(f"| {r['model']} | {r['variant']} | {grid} | {r['upsampled_psnr']:.2f} | {r['upsampled_ssim']:.3f} |")
    name = "superres-remedies" + (f"-{args.tag}" if args.tag else "")
    print(results.record(name, rows, "\n".join(lines), device=torch.device("cpu")))


if __name__ == "__main__":
    main()

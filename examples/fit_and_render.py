"""Fit an INR from Python, render it at twice the resolution, save the run and load it back.

    python examples/fit_and_render.py [IMAGE] [--model NAME] [--steps N]

The same as ``kan-inr fit IMAGE --model NAME --steps N`` then ``kan-inr render RUN --scale 2``, with the
results in Python objects: the run's model is a plain ``nn.Module``, its render a numpy array.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import kan_inr

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", nargs="?", default=REPO / "data" / "astronaut.png", type=Path)
    parser.add_argument("--model", default="siren")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--outputs", type=Path, default=REPO / "outputs")
    args = parser.parse_args()

    signal = kan_inr.load_signal(args.image)
    run = kan_inr.fit(signal, model=args.model, steps=args.steps)  # in memory, progress bar on stderr
    m = run.metrics
    print(f"{args.model}: PSNR {m['final_psnr']:.2f} dB, SSIM {m['final_ssim']:.3f}, {m['params']:,} parameters, "
          f"{m['steps']} steps in {m['train_s']:.1f} s")

    big = run.render(scale=2)  # (2H, 2W, C) floats in [0, 1]: the INR sampled between the pixels
    print(f"2x render: {big.shape}, values {big.min():.3f} .. {big.max():.3f}")

    run_dir = run.save(args.outputs / f"{args.image.stem}-{args.model}-py", overwrite=True)
    again = kan_inr.load(run_dir)  # the same run, from its folder
    path = again.export(run_dir / "render-2x.png", scale=2)
    print(f"saved {run_dir}; 2x render written to {path}; (again.render() == run.render()).all() is "
          f"{bool((again.render() == run.render()).all())}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Run the README's demo and record it: ``benchmarks/demo.json`` (the README's demo block) and
``benchmarks/demo-2x.png`` (its picture).

    python scripts/demo_record.py && python scripts/sync_readme.py   # on a clean tree: the record names its commit

The demo is ``make demo``'s fit and render (``commands``), run with this tree's kan-inr: fkan's default recipe
on data/astronaut.png (scikit-image's astronaut shrunk to 128 px by area averaging), then its render at twice
the size. The record holds the line ``fit`` printed, the fit's numbers, and the 2x render file scored against
the astronaut area-shrunk to 256 px (PSNR, SSIM) beside Pillow's bicubic and Lanczos of the 128 px sample
(``kan_inr.superres``), and the picture of the four with its SHA-256, which ties the picture to this record.
``--steps`` and ``--device`` (passed to ``fit``) are for quick checks; the README's record uses neither.
"""

from __future__ import annotations

import argparse
import hashlib
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source tree without installing

from kan_inr import plots, signals, superres  # noqa: E402
from kan_inr.runs import read_status  # noqa: E402
from kan_inr.signals.base import Signal  # noqa: E402
from kan_inr.signals.image import resize  # noqa: E402
import records  # noqa: E402

SAMPLE = "data/astronaut.png"
MODEL = "fkan"
PICTURE = "demo-2x.png"  # in the benchmarks folder; the README links it from the repository root


def commands(outputs: Path, fit_options: list[str]) -> list[list[str]]:
    """``make demo``'s fit and 2x render as ``kan-inr`` argument lists, into ``outputs`` (the Makefile's own
    lines for fit's default, outputs/), ``fit_options`` appended to the fit."""
    run_dir = outputs / f"{Path(SAMPLE).stem}-{MODEL}"
    elsewhere = [] if outputs == Path("outputs") else ["--outputs", str(outputs)]
    return [["kan-inr", "fit", SAMPLE, "--model", MODEL, "--overwrite", *elsewhere, *fit_options],
            ["kan-inr", "render", str(run_dir), "--scale", "2", "-o", str(run_dir / "render-2x.png")]]


def astronaut(size: int) -> Signal:
    """scikit-image's astronaut shrunk to ``size`` px by area averaging, as data/astronaut.png was."""
    from skimage.data import astronaut as full

    values = resize(torch.from_numpy(full().astype("float32") / 255), size)  # (size, size, 3)
    return Signal(values.reshape(size * size, 3), (size, size), "image", (0.0, 1.0), {}, "centers")


def markdown(fit_line: str, rows: list[dict[str, Any]], render: str) -> str:
    """The README's demo block: what ``fit`` printed, the picture, and the 2x scores (rows: the model's
    first, then the classical upsamplers), saying on which side of bicubic the model's render lands."""
    model, bicubic = rows[0], next(r for r in rows if r["method"] == "bicubic")
    side = "above" if model["psnr"] > bicubic["psnr"] else "below"
    scores = ", ".join(f"{r['method']} {r['psnr']:.2f} dB / {r['ssim']:.3f}" for r in rows)
    return "\n".join([f"`make demo` on the 128 px sample printed `{fit_line}`.", "",
                      f"![the 128 px sample, {model['method']}'s 2x render, bicubic's 2x, the 256 px original]"
                      f"(benchmarks/{PICTURE})", "",
                      f"{model['method']}'s 2x render (`{render}`) against the astronaut area-shrunk to 256 px "
                      f"scores {side} bicubic; PSNR / SSIM: {scores}."])


def picture(sample: Signal, pred: torch.Tensor, bicubic: torch.Tensor, original: Signal,
            rows: list[dict[str, Any]], path: Path) -> Path:
    """The 128 px sample, the INR's 2x render, bicubic's, and the 256 px original, side by side with their
    PSNR against it (the README's picture)."""
    from matplotlib.figure import Figure  # a heavy library: only for the figure

    (h, w), (H, W) = sample.shape, original.shape
    panels = [("the 128 px sample (fitted)", sample.values.reshape(h, w, -1)),
              (f"{rows[0]['method']} 2x render: {rows[0]['psnr']:.2f} dB", pred.reshape(H, W, -1)),
              (f"bicubic 2x: {rows[1]['psnr']:.2f} dB", bicubic.reshape(H, W, -1)),
              ("the 256 px original", original.values.reshape(H, W, -1))]
    fig = Figure(figsize=(12, 3.4), layout="constrained")
    for i, (title, image) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        ax.imshow(image.clamp(0, 1).numpy(), interpolation="nearest")  # nearest: show pixels as they are
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    return plots.save(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outputs", type=Path, default=Path("outputs"), help="where the demo's run goes")
    parser.add_argument("--steps", type=int, default=None, help="a shorter fit (quick checks only)")
    parser.add_argument("--device", default=None, help="fit's --device (default: fit's own choice)")
    parser.add_argument("--bench-dir", type=Path, default=records.BENCH_DIR, help="where the record goes")
    args = parser.parse_args()
    fit_options = [*(["--steps", str(args.steps)] if args.steps else []),
                   *(["--device", args.device] if args.device else [])]
    demo = commands(args.outputs, fit_options)
    printed = []
    for argv in demo:  # as a user runs them, in the repository (the sample's path is relative to it)
        done = subprocess.run([sys.executable, "-m", "kan_inr.cli", *argv[1:]], cwd=records.REPO_ROOT,
                              stdout=subprocess.PIPE, text=True, check=True)
        printed.append(done.stdout.strip())
    fit_line = printed[0]
    run_dir = records.REPO_ROOT / args.outputs / f"{Path(SAMPLE).stem}-{MODEL}"  # an absolute --outputs stays so
    sample = signals.load(records.REPO_ROOT / SAMPLE)
    original = astronaut(2 * sample.shape[0])
    render = signals.load(run_dir / "render-2x.png").values  # (N, 3): the file the demo wrote
    metrics = read_status(run_dir)
    classical = superres.classical(sample, original.shape, 2)
    rows = [{"method": MODEL, "grid_psnr": metrics["final_psnr"], "train_s": metrics["train_s"],
             "steps": metrics["steps"], **superres.score(render, original)}]
    rows += [{"method": name, **superres.score(p, original)} for name, p in classical.items()]
    path = picture(sample, render, classical["bicubic"], original, rows, args.bench_dir / PICTURE)
    results = {"commands": [shlex.join(c) for c in demo], "fit_line": fit_line, "rows": rows,
               "picture": f"benchmarks/{PICTURE}", "picture_sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
    text = markdown(fit_line, rows, "kan-inr render --scale 2")
    print(text)
    print(records.record("demo", results, text, device=metrics["device"], bench_dir=args.bench_dir))


if __name__ == "__main__":
    records.run_script(main, "demo_record.py")

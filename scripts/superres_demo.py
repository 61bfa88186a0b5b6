"""Score the demo's 2x render with the super-resolution measure (``kan_inr.superres``).

    make demo && python scripts/superres_demo.py outputs/astronaut-fkan

data/astronaut.png is scikit-image's astronaut (512 px) shrunk by area averaging to 128 px, so the
original at 256 px is the same image shrunk to 256: the 2x render of a run fitted on the sample is
scored against it (PSNR, SSIM), beside Pillow bicubic and Lanczos of the 128 px sample. Writes
benchmarks/superres-demo.json (``records.record``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from kan_inr import plots, signals, superres
import records
from kan_inr.runs import load_run, read_status
from kan_inr.signals.base import Signal
from kan_inr.signals.image import resize


def astronaut(size: int) -> Signal:
    """scikit-image's astronaut shrunk to ``size`` px by area averaging, as data/astronaut.png was."""
    from skimage.data import astronaut as full

    values = resize(torch.from_numpy(full().astype("float32") / 255), size)  # (size, size, 3)
    return Signal(values.reshape(size * size, 3), (size, size), "image", (0.0, 1.0), {}, "centers")


def main(run_dir: Path) -> None:
    run = load_run(run_dir)
    sample = signals.load(run.signal["meta"]["source"])
    original = astronaut(2 * sample.shape[0])
    pred = superres.model_upsampled(run.model, run.config, sample, original.shape, 2, "cpu")
    metrics = read_status(run_dir)
    rows = [{"method": run.config["model"]["name"], "grid_psnr": metrics["final_psnr"],
             "train_s": metrics["train_s"], "steps": metrics["steps"], **superres.score(pred, original)}]
    rows += [{"method": name, **superres.score(p, original)}
             for name, p in superres.classical(sample, original.shape, 2).items()]
    lines = [f"`make demo` ({rows[0]['method']}, {rows[0]['steps']:,} steps, {rows[0]['train_s']:.0f} s of "
             f"training): PSNR on the 128 px sample {rows[0]['grid_psnr']:.2f} dB; its 2x render against the "
             "astronaut area-shrunk to 256 px, beside the classical upsamplers of the sample:", "",
             "| 2x from the 128 px sample | PSNR (dB) | SSIM |", "|---|---|---|"]
    lines += [f"| {r['method']} | {r['psnr']:.2f} | {r['ssim']:.3f} |" for r in rows]
    print("\n".join(lines))
    print(picture(sample, pred, superres.classical(sample, original.shape, 2)["bicubic"], original, rows))
    print(records.record("superres-demo", rows, "\n".join(lines), device=metrics["device"]))


def picture(sample: Signal, pred: torch.Tensor, bicubic: torch.Tensor, original: Signal,
            rows: list[dict]) -> Path:
    """benchmarks/demo-2x.png: the 128 px sample, the INR's 2x render, bicubic's, and the 256 px
    original, side by side with their PSNR against it (the README's picture)."""
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
    return plots.save(fig, records.BENCH_DIR / "demo-2x.png")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "outputs/astronaut-fkan"))

"""Your own INR as a plug-in: a Gabor-wavelet MLP, compared with fkan and siren through the Python API.

    python examples/custom_model.py         # about a minute on 2 CPU cores

The activation is a real Gabor wavelet psi(z) = cos(omega z) exp(-(s z)^2), a cosine under a Gaussian
window (the real part of WIRE's complex Gabor wavelet, Saragadam et al. CVPR 2023, arXiv 2301.05187).
``@register_model`` makes it the preset "gabor" with its own recipe, so ``kan_inr.compare`` trains it
beside the built-in presets under one budget (the same steps and batch, each model its own learning
rate); each fit is also judged between its pixels, by its 2x render against the image at twice the size
(an INR that only memorises its pixels scores well on its grid and badly there). Its run folders name
this file as the model's code: render one in a new process with
``kan-inr render outputs/compare-custom-gabor/runs/astronaut-gabor --allow-code``. A re-run skips the
finished runs (delete outputs/compare-custom-gabor to fit again).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

import kan_inr
from kan_inr.metrics import psnr

REPO = Path(__file__).resolve().parents[1]
STEPS = 150


@dataclass(frozen=True)
class GaborConfig:
    hidden_dim: int = 128
    hidden_layers: int = 3
    omega: float = 20.0  # cosine frequency
    scale: float = 5.0  # Gaussian window: exp(-(scale z)^2)


@kan_inr.register_model("gabor", recipe=kan_inr.Recipe(lr=1e-3, batch=4096, steps=2000),
                        paper="real Gabor wavelet activation (WIRE's real part, arXiv 2301.05187)")
class GaborINR(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, cfg: GaborConfig) -> None:
        super().__init__()
        dims = [in_dim] + [cfg.hidden_dim] * cfg.hidden_layers
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.head = nn.Linear(cfg.hidden_dim, out_dim)
        self.omega, self.scale = cfg.omega, cfg.scale

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        h = coords  # (N, in_dim)
        for layer in self.hidden:
            z = layer(h)  # (N, hidden_dim)
            # the window stops at exp(-40) (zero gradient beyond): far tails would be subnormal floats, slow on CPUs
            h = torch.cos(self.omega * z) * torch.exp(-((self.scale * z) ** 2).clamp(max=40.0))
        return self.head(h)  # (N, out_dim)


def main() -> None:
    tick = time.perf_counter()
    image = REPO / "data" / "astronaut.png"
    result = kan_inr.compare([image], ["fkan", "siren", "gabor"], budget=STEPS, resize=32, name="custom-gabor",
                             outputs=REPO / "outputs", progress=False)
    # between the pixels: each 32 px fit rendered at 64 px, against the image at 64 px
    reference = kan_inr.load_signal(image, resize=64).values.reshape(64, 64, -1)  # (64, 64, 3) in [0, 1]
    print("| model | params | PSNR on its 32 px grid (dB) | SSIM | PSNR of the 2x render vs 64 px (dB) | train time (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in result.rows:
        if row["signal"] in ("mean", "std"):
            continue
        upscaled = torch.from_numpy(kan_inr.load(row["run_dir"]).render(size=(64, 64)))  # (64, 64, 3)
        print(f"| {row['model']} | {row['params']:,} | {row['psnr']:.2f} | {row['ssim']:.3f} | "
              f"{psnr(upscaled, reference):.2f} | {row['wall_s']:.1f} |")
    print(f"\n{STEPS} steps each on the 32x32 astronaut (full batch, each model its own lr); "
          f"{time.perf_counter() - tick:.0f} s in all; figures and run folders in {result.out_dir}")


if __name__ == "__main__":
    main()

"""Your own INR as a plug-in: a Gabor-wavelet MLP, compared with fkan and siren through the Python API.

    python scripts/examples/custom_model.py         # about a minute on 2 CPU cores

The activation is a real Gabor wavelet psi(z) = cos(omega z) exp(-(s z)^2), a cosine under a Gaussian
window (the real part of WIRE's complex Gabor wavelet, Saragadam et al. CVPR 2023, arXiv 2301.05187).
``@register_model`` makes it the preset "gabor" with its own recipe, so ``kan_inr.compare`` trains it
beside the built-in presets under one budget (the same steps and batch, each model its own learning
rate). Its run folders name this file as the model's code: render one in a new process with
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

REPO = Path(__file__).resolve().parents[2]


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
    result = kan_inr.compare([REPO / "data" / "astronaut.png"], ["fkan", "siren", "gabor"], budget=200, resize=48,
                             name="custom-gabor", outputs=REPO / "outputs", progress=False)
    print(f"| model | params | PSNR (dB) | SSIM | train time (s) |\n|---|---:|---:|---:|---:|")
    for row in result.rows:
        if row["signal"] not in ("mean", "std"):
            print(f"| {row['model']} | {row['params']:,} | {row['psnr']:.2f} | {row['ssim']:.3f} | {row['wall_s']:.1f} |")
    print(f"\n200 steps each, 48x48 astronaut, batch 2,304 (full); {time.perf_counter() - tick:.0f} s in all; "
          f"figures and run folders in {result.out_dir}")


if __name__ == "__main__":
    main()

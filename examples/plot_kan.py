"""Plot the learned first-layer functions of a Fourier-KAN INR, as pykan's ``model.plot()`` shows a KAN.

    python examples/plot_kan.py [IMAGE] [--steps N] [--out FILE.png]

A KAN layer computes y_o = sum_i phi_oi(x_i) + b_o with a learned univariate function phi_oi on every
edge (FKAN, Mehrabian et al. 2024, arXiv 2409.09323: phi_oi(x) = sum_k A_oik cos(kx) + B_oik sin(kx)).
The first layer of the fkan preset sees the coordinates (row, column) in [-1, 1]; this fits it to an
image and draws phi_oi for the units o with the largest functions, at initialisation and after
training (``kan_inr.edge_functions``, each shifted to phi(0) = 0).
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import torch
from matplotlib.figure import Figure

import kan_inr
from kan_inr.atomic import atomic_write

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", nargs="?", default=REPO / "data" / "astronaut.png", type=Path)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--resize", type=int, default=64)
    parser.add_argument("--units", type=int, default=6, help="first-layer outputs to draw")
    parser.add_argument("--out", type=Path, default=REPO / "outputs" / "fkan-first-layer.png")
    args = parser.parse_args()

    run = kan_inr.fit(args.image, model="fkan", steps=args.steps, resize=args.resize, lr=1e-3,
                      model_config={"grid_size": 32})  # fewer frequencies: functions a plot can show
    layer = run.model.kan  # the FourierKAN(2 -> 128, K = 32) first layer
    initial = copy.deepcopy(layer)
    initial.reset_parameters()  # the same layer at a fresh initialisation, for scale

    x = torch.linspace(-1, 1, 400)
    phi = kan_inr.edge_functions(layer.cpu(), x)  # (400, out, in)
    phi0 = kan_inr.edge_functions(initial.cpu(), x)
    units = phi.abs().amax(dim=(0, 2)).topk(args.units).indices  # the units with the largest functions

    fig = Figure(figsize=(2.2 * args.units, 4.4))  # the object API: no pyplot state, no display needed
    axes = fig.subplots(2, args.units, sharex=True, squeeze=False)
    for col, o in enumerate(units.tolist()):
        for row, (i, name) in enumerate([(0, "row"), (1, "column")]):
            ax = axes[row][col]
            ax.plot(x, phi0[:, o, i], color="0.7", lw=0.8, label="init")
            ax.plot(x, phi[:, o, i], color="C0", lw=1.0, label="learned")
            ax.set_title(f"phi[{o}, {name}]", fontsize=8)
            ax.tick_params(labelsize=6)
    axes[0][0].legend(fontsize=6)
    fig.suptitle(f"FKAN first layer after {run.metrics['steps']} steps "
                 f"(PSNR {run.metrics['final_psnr']:.1f} dB on {args.image.name} at {args.resize} px)", fontsize=9)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out, lambda f: fig.savefig(f, format="png", dpi=120))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

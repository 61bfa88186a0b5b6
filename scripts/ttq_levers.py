#!/usr/bin/env python
"""Convergence levers (issue 18), one fit per call: a DIV2K image shrunk to SIZE px, area-halved,
fitted with a preset and the lever's options, then its grid PSNR curve and its 2x render scored
against the SIZE px image (the superres protocol). One JSON line per fit on stdout.

    SIZE=256 OMP_NUM_THREADS=2 python scripts/ttq_levers.py IMAGE MODEL STEPS '{"lr": 3e-4, "gain": 3}'
    python scripts/ttq_levers.py --collect runs.jsonl [...]   # benchmarks/ttq-levers.json

The options are TrainConfig fields (batch, box, lr, schedule, jitter, max_seconds ...) plus levers
this project tried that are not options: ``decay`` (the first KAN layer's initial coefficients scaled
by k^-decay, total variance kept), ``first_lr`` (the first KAN layer's lr times this), ``gain`` (FKAN's
block weights times this after the paper's initialisation), ``fields`` (model fields, as --set).
Quality per step is what these compare (the machine's load does not change it); the times are only
comparable within one ``max_seconds`` sweep run alone on an idle machine.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source tree without installing

from kan_inr import signals, step, superres, training  # noqa: E402
from kan_inr.jobs import start_run  # noqa: E402
import records  # noqa: E402


def decay_init(model: torch.nn.Module, alpha: float) -> None:
    """Scale the first KAN layer's coefficient of frequency (degree) k by k^-alpha, keeping their mean
    square: an initial function whose spectrum decays like an image's instead of being flat."""
    layer = model.kan
    out = layer.weight.shape[0]
    if hasattr(layer, "grid_size"):  # Fourier: (out, in, 2, K), k = 1..K
        k = torch.arange(1, layer.grid_size + 1, dtype=torch.float32)
        view = layer.weight.data.view(out, layer.in_features, 2, layer.grid_size)
    else:  # Chebyshev: (out, in, D + 1), k = 0..D (T_0 weighs as T_1)
        k = torch.arange(0, layer.degree + 1, dtype=torch.float32).clamp(min=1)
        view = layer.weight.data.view(out, layer.in_features, layer.degree + 1)
    w = k ** (-alpha)
    view.mul_(w / w.pow(2).mean().sqrt())


class FirstGroupScaled(torch.optim.Adam):
    """Adam whose first parameter group steps at ``scale`` times the lr the training loop sets on every
    group before each step (the first-layer lr lever)."""

    def __init__(self, groups: list[dict[str, Any]], lr: float, scale: float) -> None:
        super().__init__(groups, lr=lr)
        self.scale = scale

    def step(self, closure: Any = None) -> Any:
        first = self.param_groups[0]
        lr = first["lr"]
        first["lr"] = lr * self.scale
        try:
            return super().step(closure)
        finally:
            first["lr"] = lr


def fit_one(image: str, model: str, steps: int, spec: dict[str, Any]) -> dict[str, Any]:
    original = signals.load(image, resize_to=int(os.environ.get("SIZE", "256")))
    low = superres.downsample(original, 2)
    alpha, first_scale, gain = spec.pop("decay", None), spec.pop("first_lr", None), spec.pop("gain", None)
    job = start_run(image, model, signal=low, write=False, model_overrides=spec.pop("fields", {}), steps=steps,
                    eval_every=max(1, steps // 10), device="cpu", **spec)
    if alpha:
        decay_init(job.model, alpha)
    if gain:
        with torch.no_grad():
            for block in job.model.blocks:
                block.linear.weight.mul_(gain)
    if first_scale:  # the first layer's parameters in a group of their own, lr times first_scale
        first = {id(p) for p in job.model.kan.parameters()}

        def grouped(params: Any, lr: float, device: torch.device) -> torch.optim.Adam:
            params = list(params)
            return FirstGroupScaled([{"params": [p for p in params if id(p) in first]},
                                     {"params": [p for p in params if id(p) not in first]}], lr, first_scale)

        step.make_optimizer = grouped  # type: ignore[assignment]  # a measurement's monkeypatch
    tick = time.perf_counter()
    result = training.fit(job.model, job.signal, job.train)
    seconds = time.perf_counter() - tick
    up = superres.score(superres.model_upsampled(job.model, job.config, low, original.shape, 2, "cpu"), original)
    return {"image": Path(image).name, "size": low.shape[0], "model": model, "steps": steps, "secs": round(seconds, 1),
            "curve": [(h["step"], round(h["time_s"], 1), round(h["psnr"], 2)) for h in result.history],
            "up": round(up["psnr"], 2), "params": result.metrics["params"], "batch": job.train.batch,
            "box": job.train.box}


def collect(paths: list[str]) -> None:
    """benchmarks/ttq-levers.json from the JSON lines of earlier calls (each names its lever)."""
    rows = [json.loads(line) for path in paths for line in Path(path).read_text().splitlines() if line.strip()]
    bicubic = {}
    for r in rows:
        key = (r["image"], r.get("size"))
        if key not in bicubic:
            original = signals.load(f"../shared/data/div2k/{r['image']}", resize_to=2 * r["size"])
            low = superres.downsample(original, 2)
            pred = superres.classical(low, original.shape, 2)["bicubic"]
            bicubic[key] = round(superres.score(pred, original)["psnr"], 2)
        r["bicubic"] = bicubic[key]
    lines = ["Each row one fit (full-grid PSNR of the fitted grid after the last step; its 2x render against the "
             "image at twice the size, beside bicubic of the same input). Steps-bounded rows compare quality per "
             "step only: they ran with OMP_NUM_THREADS=1 beside other work, so their seconds (`secs` in the data) "
             "are not comparable; the rows with max_seconds ran one after another alone on the machine with "
             "OMP_NUM_THREADS=2.", "",
             "| image | fitted px | model | options | steps | grid PSNR | 2x PSNR | bicubic 2x |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['image']} | {r['size']} | {r['model']} | `{r['spec']}` | {r['curve'][-1][0]} | "
                     f"{r['curve'][-1][-1]:.2f} | {r['up']:.2f} | {r['bicubic']:.2f} |")
    print(records.record("ttq-levers", rows, "\n".join(lines), device="cpu"))


def main() -> None:
    if sys.argv[1] == "--collect":
        collect(sys.argv[2:])
        return
    image, model, steps, spec = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    row = fit_one(image, model, steps, json.loads(spec))
    print(json.dumps({**row, "spec": spec}), flush=True)


if __name__ == "__main__":
    records.run_script(main, "ttq_levers.py")

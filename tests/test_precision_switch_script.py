"""scripts/precision_switch.py: its verdicts from the fits it ran (where bf16 stalls, what the switch
costs, what auto gains at a budget), and a real fit of its switch variant."""

from __future__ import annotations

import argparse

import torch

from kan_inr import signals, superres
from conftest import load_script, smooth_image

script = load_script("precision_switch")


def run(grid: float, best: float | None = None, steps: int = 100, precision: str = "fp32",
        switched_at: int | None = None) -> dict:
    return {"precision": precision, "switched_at": switched_at, "steps": steps, "train_s": 1.0, "grid": grid,
            "best_grid": grid if best is None else best, "x2": 20.0}


def args(part: str) -> argparse.Namespace:
    return argparse.Namespace(part=part, seconds=120.0, epochs=1000.0, size=128)


def test_a_ceiling_is_where_fp32_passes_bf16_by_more_than_a_db():
    rows = [{"model": "siren", "signal": "a.png", "seed": 0, "runs": {"fp32": run(76.1), "bf16": run(61.9)}},
            {"model": "fkan", "signal": "a.png", "seed": 0, "runs": {"fp32": run(34.3), "bf16": run(34.0)}}]
    text = script.markdown(args("ceiling"), rows)
    assert "- siren a.png seed 0: bf16 stalls at 61.9 dB" in text
    assert "- fkan a.png seed 0: bf16 does not stall here" in text


def test_the_switch_and_budget_verdicts_are_differences_from_fp32():
    runs = {"fp32": run(76.0), "bf16": run(61.9, precision="bf16"), "auto": run(75.8, switched_at=350),
            "one bf16 step": run(75.9, switched_at=1)}
    text = script.markdown(args("switch"), [{"model": "siren", "signal": "a.png", "seed": 1, "runs": runs}])
    assert "auto ends -0.20 dB from fp32 (grid), one bf16 step -0.10 dB" in text
    assert "| siren | a.png | 1 | auto | fp32 (350) |" in text
    budget = {"fp32": run(40.0, steps=500), "auto": run(50.0, steps=1200, precision="bf16")}
    text = script.markdown(args("budget"), [{"model": "sl2a", "signal": "b.png", "seed": 0, "runs": budget}])
    assert "auto: 2.40x fp32's steps, grid +10.00 dB, 2x +0.00 dB" in text
    budget["bf16 to 55 dB"] = run(51.0, steps=1500, precision="bf16", switched_at=1400)  # a --margins run
    text = script.markdown(args("budget"), [{"model": "sl2a", "signal": "b.png", "seed": 0, "runs": budget}])
    assert ("auto: 2.40x fp32's steps, grid +10.00 dB, 2x +0.00 dB; bf16 to 55 dB: 3.00x fp32's steps, grid "
            "+11.00 dB, 2x +0.00 dB") in text


def test_a_switch_fit_reports_the_step_it_switched_at(tmp_path):
    """fit() with bf16_until below any PSNR: bf16 for the steps up to the first evaluation, fp32 after."""
    import imageio.v3 as iio
    import numpy as np

    path = tmp_path / "img.png"
    iio.imwrite(path, np.round(smooth_image(32, 32) * 255).astype(np.uint8))
    original = signals.load(path)
    low = superres.downsample(original, 2)
    done = script.fit("siren", low, original, torch.device("cpu"), seed=0, steps=20, eval_every=5,
                      precision="bf16", bf16_until=1e-3, model_overrides={"hidden_dim": 16, "hidden_layers": 1})
    assert (done["precision"], done["switched_at"], done["steps"]) == ("bf16", 5, 20)
    assert done["grid"] <= done["best_grid"] and done["x2"] > 0  # the last evaluation is among the best's

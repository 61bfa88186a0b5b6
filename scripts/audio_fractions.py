#!/usr/bin/env python
"""How large the first layer of the audio presets should be: a sweep of FKAN's K and SL2A's D as a
fraction of the clip's Nyquist limit (``models.audio_frequencies``), SIREN's audio preset beside them.

Each fit: 50 ms of bach (from 1.00 s: T = 2,205 samples at 44.1 kHz), the preset's audio recipe
(full batch, its lr and schedule) for 100 steps, seed 0; SNR of the final weights from the separate
full-grid evaluation. ``models.fkan_for_clip`` and ``sl2a_for_clip`` take the best fraction of this
sweep.

    python scripts/audio_fractions.py --record audio-fractions   # then python scripts/sync_readme.py
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source tree without installing

from kan_inr import models, signals  # noqa: E402
import records  # noqa: E402
from kan_inr.training import fit  # noqa: E402
from kan_inr.jobs import train_config_for  # noqa: E402
from kan_inr.signals.base import Signal  # noqa: E402

BACH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "audio" / "bach.wav"
FRACTIONS = (1 / 64, 1 / 16, 1 / 4)
SWEPT_FIELD = {"fkan": "grid_size", "sl2a": "degree"}  # the first layer's frequencies K / Chebyshev degree D


def fit_snr(name: str, signal: Signal, fields: dict[str, int], steps: int) -> dict[str, Any]:
    """One fit of the audio preset ``name`` with ``fields`` replaced: SNR (dB), parameters, wall time."""
    preset = models.preset(name, "audio")
    cfg = dataclasses.replace(preset.config_for(signal.shape), **fields)
    torch.manual_seed(0)
    model = models.build(preset.family, signal.in_dim, signal.out_dim, cfg)
    tick = time.perf_counter()
    result = fit(model, signal, train_config_for(preset, steps=steps, eval_every=steps, device="cpu"))
    return {"model": name, **fields, "params": result.metrics["params"], "snr": result.metrics["final_snr"],
            "wall_s": time.perf_counter() - tick}


def sweep(signal: Signal, steps: int) -> dict[str, Any]:
    rows = []
    for name, field in SWEPT_FIELD.items():
        for fraction in FRACTIONS:
            row = fit_snr(name, signal, {field: models.audio_frequencies(signal.shape, fraction)}, steps)
            rows.append({"fraction": fraction, **row})
            print(f"{name} {field} = {row[field]} ({fraction:.4g} of Nyquist): SNR {row['snr']:.2f} dB", flush=True)
    siren = fit_snr("siren", signal, {}, steps)
    print(f"siren (audio preset): SNR {siren['snr']:.2f} dB", flush=True)
    return {"samples": signal.shape[0], "steps": steps, "sweep": rows, "siren": siren}


def markdown(data: dict[str, Any], clip: str) -> str:
    header = " | ".join(f"1/{round(1 / f)} of Nyquist" for f in FRACTIONS)
    lines = [f"| preset (first layer) | {header} |", "|---|" + "---:|" * len(FRACTIONS)]
    for name, field in SWEPT_FIELD.items():
        label = {"grid_size": "K", "degree": "D"}[field]
        cells = [f"{r['snr']:.1f} dB ({label} = {r[field]:,})" for r in data["sweep"] if r["model"] == name]
        lines.append(f"| {name} ({label}) | " + " | ".join(cells) + " |")
    lines += ["", f"SNR after {data['steps']} full-batch steps of each audio preset's recipe on {clip} "
              f"({data['samples']:,} samples); SIREN's audio preset on the same clip and budget: "
              f"{data['siren']['snr']:.1f} dB."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--audio", type=Path, default=BACH, help="the clip [../shared/data/audio/bach.wav]")
    parser.add_argument("--start", type=float, default=1.0, help="segment start in seconds")
    parser.add_argument("--duration", type=float, default=0.05, help="segment length in seconds")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--record", default="", help="record the results as benchmarks/NAME.json")
    args = parser.parse_args()
    if args.record:
        records.check_name(args.record)
    signal = signals.load(args.audio, start=args.start, duration=args.duration)
    data = sweep(signal, args.steps)
    clip = f"{args.duration * 1000:g} ms of {args.audio.stem} from {args.start:g} s"
    text = markdown(data, clip)
    print(text)
    if args.record:
        path = records.record(args.record, {**data, "clip": clip}, text, device="cpu")
        print(f"recorded {path}; python scripts/sync_readme.py puts it into the README")


if __name__ == "__main__":
    records.run_script(main, "audio_fractions")

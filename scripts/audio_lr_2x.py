#!/usr/bin/env python
"""Between the samples against the learning rate: an audio preset fitted to a clip decimated 2x for a fixed
number of steps at several learning rates, its SNR on the samples it saw and at the full rate, beside
linear interpolation (the superres protocol's measure, ``kan_inr.superres``). Fixed steps, so the numbers do
not depend on the machine's speed.

    python scripts/audio_lr_2x.py --model fkan --lrs 1e-3,3e-4,1e-4 --record audio-lr-2x
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source tree without installing

import kan_inr  # noqa: E402
import records  # noqa: E402
from kan_inr import signals, superres  # noqa: E402

BACH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "audio" / "bach.wav"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fkan")
    parser.add_argument("--lrs", default="1e-3,3e-4,1e-4")
    parser.add_argument("--steps", type=int, default=700, help="about what 60 s of one thread gives")
    parser.add_argument("--audio", type=Path, default=BACH)
    parser.add_argument("--start", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=0.5)
    parser.add_argument("--record", default="")
    args = parser.parse_args(argv)
    if args.record:
        records.check_name(args.record)
    original = signals.load(args.audio, start=args.start, duration=args.duration)
    low = superres.downsample(original, 2)  # every other sample
    linear = superres.score(superres.classical(low, original.shape, 2)["linear"], original)["snr"]
    rows = []
    for lr in (float(v) for v in args.lrs.split(",")):
        run = kan_inr.fit(low, args.model, steps=args.steps, lr=lr, seed=0, device="cpu", precision="fp32",
                          eval_every=args.steps, progress=False)
        pred = superres.model_upsampled(run.model, run.config, low, original.shape, 2, "cpu")  # (T, C)
        rows.append({"lr": lr, "grid_snr": run.metrics["final_snr"], "snr_2x": superres.score(pred, original)["snr"]})
        print(f"lr {lr:g}: grid {rows[-1]['grid_snr']:.2f} dB, 2x {rows[-1]['snr_2x']:.2f} dB", flush=True)
    lines = ["| lr | grid SNR (dB) | 2x SNR (dB) |", "|---:|---:|---:|"]
    lines += [f"| {r['lr']:g} | {r['grid_snr']:.2f} | {r['snr_2x']:.2f} |" for r in rows]
    text = "\n".join(lines + ["", f"{args.model}'s default audio network and recipe but its lr, {args.steps} steps on "
                              f"{args.duration:g} s of {args.audio.stem} from {args.start:g} s decimated 2x (seed 0, "
                              f"fp32); 2x: rendered at the full rate against the original. Linear interpolation: "
                              f"{linear:.2f} dB."])
    print(text)
    data = {"model": args.model, "steps": args.steps, "linear_snr": linear, "rows": rows}
    if args.record:
        print(f"recorded {records.record(args.record, data, text, device='cpu')}")
    return data


if __name__ == "__main__":
    records.run_script(main, "audio_lr_2x")

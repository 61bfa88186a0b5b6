#!/usr/bin/env python
"""Acceptance of the audio presets: each under its default audio recipe for the same wall-clock time.

Per clip (the bundled speech.wav whole; Bach 0.5 s from 2.0 s, the bach-superres window) and per model:
1. the clip fitted as ``kan-inr fit`` fits it (``kan_inr.fit`` in memory: the preset's own recipe, precision
   auto, seed 0) for ``--seconds`` of training; SNR of the final weights from the separate full-grid evaluation,
   steps, ms per step (and its ratio to SIREN's), parameters, the precision that ran;
2. the clip decimated 2x (``superres.downsample``) fitted the same way, rendered at the original's sample times
   (``superres.model_upsampled``) and scored against the original, beside linear and windowed-sinc
   interpolation of the same samples (the superres protocol's measure).

The bar (docs/benchmarks.md, team goals): each audio KAN preset within 3 dB SNR of SIREN on both clips, and no
preset's step slower than 2x SIREN's.

    python scripts/audio_acceptance.py --record audio-acceptance   # then python scripts/sync_readme.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source tree without installing

import kan_inr  # noqa: E402
import records  # noqa: E402
from kan_inr import models, signals, superres  # noqa: E402
from kan_inr.comparison import PROTOCOLS  # noqa: E402
from kan_inr.comparison.run import BUNDLED_DATA  # noqa: E402
from kan_inr.signals.base import Signal  # noqa: E402

BACH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "audio" / "bach.wav"
BACH_WINDOW = PROTOCOLS["bach-superres"].load_options  # {"start": 2.0, "duration": 0.5}
MODELS = PROTOCOLS["ttq-speech"].models  # the audio presets of the protocols: siren, fkan, sl2a
FACTOR = 2
DEVICE = "cpu"


def fit(signal: Signal, model: str, seconds: float, seed: int) -> kan_inr.Run:
    """The preset's default recipe for ``seconds`` of training, as ``kan-inr fit --max-seconds`` runs it."""
    return kan_inr.fit(signal, model, seconds=seconds, seed=seed, device=DEVICE, progress=False)


def measure(original: Signal, names: list[str], seconds: float, seed: int) -> list[dict[str, Any]]:
    """Rows for one clip: the classical upsamplers of its 2x decimation, then each model's two fits."""
    low = superres.downsample(original, FACTOR)  # (ceil(T / 2), C): every other sample
    rows: list[dict[str, Any]] = [{"method": name, "snr_2x": superres.score(pred, original)["snr"]}
                                  for name, pred in superres.classical(low, original.shape, FACTOR).items()]
    for name in names:
        grid = fit(original, name, seconds, seed)
        half = fit(low, name, seconds, seed)
        pred = superres.model_upsampled(half.model, half.config, low, original.shape, FACTOR, DEVICE)  # (T, C)
        m = grid.metrics
        rows.append({"method": name, "params": m["params"], "steps": m["steps"], "train_s": m["train_s"],
                     "ms_per_step": 1000 * m["train_s"] / max(m["steps"], 1), "precision": m["precision"],
                     "precision_why": grid.config["precision"]["why"], "grid_snr": m["final_snr"],
                     "snr_2x": superres.score(pred, original)["snr"], "steps_2x": half.metrics["steps"],
                     "precision_2x": half.metrics["precision"]})
        print(f"  {name}: grid {m['final_snr']:.2f} dB, 2x {rows[-1]['snr_2x']:.2f} dB, {m['steps']} steps",
              flush=True)
    siren = next((r for r in rows if r["method"] == "siren"), None)
    for row in rows:  # the acceptance ratios: a step against SIREN's, SNR against SIREN's
        if siren is not None and "steps" in row:
            row["step_vs_siren"] = row["ms_per_step"] / siren["ms_per_step"]
            row["grid_snr_vs_siren"] = row["grid_snr"] - siren["grid_snr"]
    return rows


def table(clip: dict[str, Any]) -> str:
    lines = [f"**{clip['clip']}** ({clip['samples']:,} samples at {clip['sample_rate']:,} Hz; 2x: fitted to "
             f"every other sample, scored at all)", "",
             "| model | params | steps | ms/step | precision | grid SNR (dB) | 2x SNR (dB) |",
             "|---|---:|---:|---:|---|---:|---:|"]
    for r in clip["rows"]:
        if "steps" not in r:
            lines.append(f"| {r['method']} | - | - | - | - | - | {r['snr_2x']:.2f} |")
            continue
        ratio = f" ({r['step_vs_siren']:.2f}x siren)" if "step_vs_siren" in r and r["method"] != "siren" else ""
        lines.append(f"| {r['method']} | {r['params']:,} | {r['steps']:,} | {r['ms_per_step']:.1f}{ratio} | "
                     f"{r['precision']} | {r['grid_snr']:.2f} | {r['snr_2x']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speech", type=Path, default=BUNDLED_DATA / "speech.wav", help="the speech clip (whole)")
    parser.add_argument("--bach", type=Path, default=BACH, help="the music clip [../shared/data/audio/bach.wav]")
    parser.add_argument("--start", type=float, default=BACH_WINDOW["start"], help="Bach segment start (s)")
    parser.add_argument("--duration", type=float, default=BACH_WINDOW["duration"], help="Bach segment length (s)")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated presets")
    parser.add_argument("--seconds", type=float, default=60.0, help="training seconds per fit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--record", default="", help="record the results as benchmarks/NAME.json")
    args = parser.parse_args(argv)
    if args.record:
        records.check_name(args.record)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    for name in names:  # an unknown name is an error listing the presets, before any fit
        models.preset(name, "audio")
    clips = [(f"{args.speech.name} (whole)", signals.load(args.speech)),
             (f"{args.bach.name}, {args.duration:g} s from {args.start:g} s",
              signals.load(args.bach, start=args.start, duration=args.duration))]
    data: dict[str, Any] = {"seconds": args.seconds, "seed": args.seed, "device": DEVICE, "factor": FACTOR, "clips": []}
    for label, original in clips:
        print(f"{label}:", flush=True)
        data["clips"].append({"clip": label, "samples": original.shape[0], "sample_rate": original.meta["sample_rate"],
                              "rows": measure(original, names, args.seconds, args.seed)})
    text = "\n\n".join([*map(table, data["clips"]),
                        f"Each preset's default audio recipe, {args.seconds:g} s of training per fit, seed {args.seed}, "
                        f"precision auto (what ran is shown); grid SNR from the full-grid evaluation of the final "
                        f"weights; linear and sinc: interpolation of the same decimated samples."])
    print(text)
    if args.record:
        path = records.record(args.record, data, text, device=DEVICE)
        print(f"recorded {path}; python scripts/sync_readme.py puts it into the README")
    return data


if __name__ == "__main__":
    records.run_script(main, "audio_acceptance")

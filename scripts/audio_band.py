#!/usr/bin/env python
"""Which rule sets an audio first layer's band: measured on clips of several lengths and two kinds.

The band is the highest frequency of the first layer in the units of cos(k x) on [-1, 1]: FKAN's spread
frequencies (``FKANConfig.band``), SL2A's spread degrees, SIREN's omega_0. Rules compared, each on every clip:
- ``nyquist``: a fraction of the clip's Nyquist limit (a fixed fraction of its sample
  rate in hertz, whatever its length), at ``--fractions`` of it;
- ``unit``: a band fixed per coordinate unit (``--units``, default 3,000: SIREN's omega_0 for the 7 s Bach clip),
  which covers ever fewer hertz as the clip grows;
- ``preset``: the presets' own rule (``geometry.audio_band``), with ``--preset-rule``.
Clips: Bach from 2.0 s at ``--durations`` and the bundled speech (whole). Each fit: the preset's default audio
recipe for ``--seconds`` of training (seed 0, fp32 so that the rule alone differs), SNR of the final weights.

    python scripts/audio_band.py --record audio-band   # then python scripts/sync_readme.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source tree without installing

import kan_inr  # noqa: E402
import records  # noqa: E402
from kan_inr import models, signals  # noqa: E402
from kan_inr.comparison.run import BUNDLED_DATA  # noqa: E402
from kan_inr.geometry import ENDPOINTS, nyquist  # noqa: E402

BACH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "audio" / "bach.wav"
BAND_FIELD = {"fkan": "band", "sl2a": "band", "siren": "first_omega"}


def preset_band(model: str, signal: Any) -> int:
    """The band the preset's own rule gives this clip."""
    return round(getattr(models.preset(model, "audio").config_for(signal.shape), BAND_FIELD[model]))


def fit_snr(signal: Any, model: str, band: int, seconds: float) -> dict[str, Any]:
    value = float(band) if BAND_FIELD[model] == "first_omega" else band  # SIREN's omega_0 is a float field
    run = kan_inr.fit(signal, model, seconds=seconds, seed=0, device="cpu", precision="fp32", progress=False,
                      model_config={BAND_FIELD[model]: value})
    return {"snr": run.metrics["final_snr"], "steps": run.metrics["steps"]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="fkan,siren")  # sl2a shares fkan's rule (a spread first layer)
    parser.add_argument("--durations", default="0.25,0.5,1,2", help="Bach clip lengths in seconds (from --start)")
    parser.add_argument("--start", type=float, default=2.0)
    parser.add_argument("--fractions", default="0.125,0.25,0.5", help="fractions of Nyquist for the nyquist rule")
    parser.add_argument("--units", default="3000", help="bands of the unit rule, comma-separated ('': none)")
    parser.add_argument("--preset-rule", action="store_true", help="also the presets' own rule")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--record", default="")
    args = parser.parse_args(argv)
    if args.record:
        records.check_name(args.record)
    clips = [(f"bach {d} s", signals.load(BACH, start=args.start, duration=float(d))) for d in args.durations.split(",")]
    clips.append(("speech (whole)", signals.load(BUNDLED_DATA / "speech.wav")))
    # rule name -> the band it gives (model, clip, the clip's Nyquist limit)
    Rule = Callable[[str, Any, float], int]
    rules: list[tuple[str, Rule]] = [(f"nyquist x {f}", lambda m, s, limit, f=float(f): round(f * limit))
                                     for f in args.fractions.split(",") if f]
    rules += [(f"unit {u}", lambda m, s, limit, u=float(u): round(u)) for u in args.units.split(",") if u]
    rules += [("preset", lambda m, s, limit: preset_band(m, s))] if args.preset_rule else []
    rows = []
    for label, signal in clips:
        limit = nyquist(signal.shape[0], ENDPOINTS)
        for model in args.models.split(","):
            for rule, band_of in rules:
                band = band_of(model, signal, limit)
                row = {"clip": label, "samples": signal.shape[0], "rate": signal.meta["sample_rate"], "model": model,
                       "rule": rule, "band": band, "band_hz": band * signal.meta["sample_rate"] / (2 * limit),  # k / (pi d) Hz on d s
                       **fit_snr(signal, model, band, args.seconds)}
                rows.append(row)
                print(f"{label} {model} {rule}: band {band} ({row['band_hz']:.0f} Hz) -> {row['snr']:.2f} dB "
                      f"({row['steps']} steps)", flush=True)
    names = [r for r, _ in rules]
    lines = ["| clip | model | " + " | ".join(names) + " |", "|---|---|" + "---:|" * len(names)]
    for label, _ in clips:
        for model in args.models.split(","):
            cells = [next(r for r in rows if r["clip"] == label and r["model"] == model and r["rule"] == n)
                     for n in names]
            best = max(c["snr"] for c in cells)
            lines.append(f"| {label} | {model} | " + " | ".join(
                (f"**{c['snr']:.1f}**" if c["snr"] == best else f"{c['snr']:.1f}") + f" ({c['band_hz'] / 1000:.2g} kHz)"
                for c in cells) + " |")
    text = "\n".join(lines + ["", f"SNR (dB) after {args.seconds:g} s of each preset's default audio recipe (fp32, seed "
                              f"0, one process), the first layer's band set by each rule (in brackets: the hertz it "
                              f"reaches); best per row in bold."])
    print(text)
    data = {"seconds": args.seconds, "rows": rows}
    if args.record:
        print(f"recorded {records.record(args.record, data, text, device='cpu')}")
    return data


if __name__ == "__main__":
    records.run_script(main, "audio_band")

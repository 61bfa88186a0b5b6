"""scripts/study.py end to end at tiny sizes: equal-effort studies of two models recorded with provenance,
their Pareto figure, and the validation of the chosen points on unseen signals beside the defaults."""

from __future__ import annotations

import json
import sys

import imageio.v3 as iio
import numpy as np
import pytest

from conftest import load_script, smooth_image



@pytest.fixture(scope="module")
def study():
    return load_script("study")


def pareto_front(trials: list[dict]) -> list[int]:
    """The numbers of the complete trials no other complete trial beats in one of (grid, 2x) while
    matching it in the other, in order of grid score: the front, by its definition."""
    done = [t for t in trials if t["state"] == "COMPLETE"]

    def beaten(t: dict) -> bool:
        a = (t["values"]["grid"], t["values"]["2x"])
        return any(b != a and b[0] >= a[0] and b[1] >= a[1] for b in ((o["values"]["grid"], o["values"]["2x"])
                                                                      for o in done))

    return [t["number"] for t in sorted((t for t in done if not beaten(t)), key=lambda t: t["values"]["grid"])]


def chosen_naively(trials: list[dict], bicubic: float) -> int:
    """objectives.CHOSEN_RULE by hand: of the front, the best grid score among the trials whose 2x reaches
    bicubic's; if none does, the best 2x score."""
    front = [t for t in trials if t["number"] in pareto_front(trials)]
    above = [t for t in front if t["values"]["2x"] >= bicubic]
    if above:
        return max(above, key=lambda t: (t["values"]["grid"], t["values"]["2x"]))["number"]
    return max(front, key=lambda t: (t["values"]["2x"], t["values"]["grid"]))["number"]


# Enough trials and epochs that a study's chosen trial is neither its default (trial 0) nor its first sampled
# one (1): 4 trials of 30 epochs on 8x8 reductions, seconds on a CPU; trial 3 is the chosen point of both models.
TRIALS, EPOCHS = 4, 30


def test_studies_and_validation_are_recorded(study, tmp_path, monkeypatch):
    images = []
    for seed in range(3):
        images.append(tmp_path / f"im{seed}.png")
        iio.imwrite(images[-1], np.round(smooth_image(16, 16, seed=seed) * 255).astype(np.uint8))
    common = ["--name", "tiny", "--models", "siren", "sl2a", "--epochs", str(EPOCHS), "--outputs", str(tmp_path / "out"),
              "--bench-dir", str(tmp_path / "bench")]
    monkeypatch.setattr(sys, "argv", ["study.py", *common, "--signals", *map(str, images[:2]), "--trials", str(TRIALS)])
    study.main()
    record = json.loads((tmp_path / "bench" / "tune-tiny.json").read_text())
    assert {"command", "device", "torch", "torch_threads", "date", "commit", "markdown"} <= set(record)
    protocol, per_model = record["results"]["protocol"], record["results"]["models"]
    assert protocol["trials"] == TRIALS and protocol["epochs"] == EPOCHS and protocol["signals"] == [str(p) for p in images[:2]]
    for model in ("siren", "sl2a"):
        assert per_model[model]["trials"] == {"COMPLETE": TRIALS, "PRUNED": 0, "FAIL": 0}
        trials = per_model[model]["all"]
        assert [t["number"] for t in per_model[model]["pareto"]] == pareto_front(trials)
        best = chosen_naively(trials, record["results"]["classical_2x"]["bicubic"])
        assert per_model[model]["best"]["number"] == best not in (0, 1), (best, trials)
        assert f"| {model} | {TRIALS} / 0 / 0 | {best} |" in record["markdown"]
    assert set(record["results"]["classical_2x"]) == {"bicubic", "lanczos"}
    assert (tmp_path / "bench" / "tune-tiny.png").is_file()

    monkeypatch.setattr(sys, "argv", ["study.py", *common, "--validate", str(images[2])])
    study.main()
    validation = json.loads((tmp_path / "bench" / "tune-tiny-validation.json").read_text())
    rows = validation["results"]["rows"]
    assert [(r["signal"], r["model"]) for r in rows] == [("im2.png", "siren"), ("im2.png", "sl2a")]
    for row in rows:
        assert set(row["default"]) >= {"grid", "2x", "steps"} and set(row["tuned"]) >= {"grid", "2x", "steps"}
        assert row["tuned"]["steps"] <= EPOCHS and row["default"]["steps"] == EPOCHS and set(row["classical_2x"]) == {"bicubic", "lanczos"}
    chosen = validation["results"]["chosen"]
    assert chosen["siren"]["number"] == per_model["siren"]["best"]["number"]

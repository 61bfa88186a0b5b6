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


def test_studies_and_validation_are_recorded(study, tmp_path, monkeypatch):
    images = []
    for seed in range(3):
        images.append(tmp_path / f"im{seed}.png")
        iio.imwrite(images[-1], np.round(smooth_image(16, 16, seed=seed) * 255).astype(np.uint8))
    common = ["--name", "tiny", "--models", "siren", "sl2a", "--epochs", "2", "--outputs", str(tmp_path / "out"),
              "--bench-dir", str(tmp_path / "bench")]
    monkeypatch.setattr(sys, "argv", ["study.py", *common, "--signals", *map(str, images[:2]), "--trials", "2"])
    study.main()
    record = json.loads((tmp_path / "bench" / "tune-tiny.json").read_text())
    assert {"command", "device", "torch", "torch_threads", "date", "commit", "markdown"} <= set(record)
    protocol, per_model = record["results"]["protocol"], record["results"]["models"]
    assert protocol["trials"] == 2 and protocol["epochs"] == 2 and protocol["signals"] == [str(p) for p in images[:2]]
    for model in ("siren", "sl2a"):
        assert per_model[model]["trials"] == {"COMPLETE": 2, "PRUNED": 0, "FAIL": 0}
        assert per_model[model]["pareto"] and per_model[model]["best"]["number"] in {0, 1}
        assert f"| {model} | 2 / 0 / 0 |" in record["markdown"]
    assert set(record["results"]["classical_2x"]) == {"bicubic", "lanczos"}
    assert (tmp_path / "bench" / "tune-tiny.png").is_file()

    monkeypatch.setattr(sys, "argv", ["study.py", *common, "--validate", str(images[2])])
    study.main()
    validation = json.loads((tmp_path / "bench" / "tune-tiny-validation.json").read_text())
    rows = validation["results"]["rows"]
    assert [(r["signal"], r["model"]) for r in rows] == [("im2.png", "siren"), ("im2.png", "sl2a")]
    for row in rows:
        assert set(row["default"]) >= {"grid", "2x", "steps"} and set(row["tuned"]) >= {"grid", "2x", "steps"}
        assert row["tuned"]["steps"] <= 2 and row["default"]["steps"] == 2 and set(row["classical_2x"]) == {"bicubic", "lanczos"}
    chosen = validation["results"]["chosen"]
    assert chosen["siren"]["number"] == per_model["siren"]["best"]["number"]

"""scripts/demo_record.py: it runs the Makefile's demo, records what fit printed with provenance, and its
picture; the block says on which side of bicubic the render lands as its numbers do."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import sys
from pathlib import Path

import pytest

from conftest import load_script

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_record():
    return load_script("demo_record")


def test_the_recorded_commands_are_the_makefiles_demo(demo_record):
    recipe = re.search(r"^demo:.*?\n((?:\t.*\n)+)", (REPO / "Makefile").read_text(), re.M)
    assert recipe is not None
    make_lines = [shlex.split(line.replace("$(BIN)/", "")) for line in recipe.group(1).splitlines()]
    fit, render = demo_record.commands(Path("outputs"), [])
    assert fit in make_lines and render in make_lines


@pytest.mark.parametrize("model_psnr, side", [(24.8, "below"), (28.1, "above")])
def test_the_block_says_the_side_of_bicubic_its_numbers_give(demo_record, model_psnr, side):
    rows = [{"method": "fkan", "psnr": model_psnr, "ssim": 0.8}, {"method": "bicubic", "psnr": 27.55, "ssim": 0.92},
            {"method": "lanczos", "psnr": 27.99, "ssim": 0.93}]
    text = demo_record.markdown("outputs/astronaut-fkan: psnr 30.0", rows, "kan-inr render --scale 2")
    assert f"scores {side} bicubic" in text and f"fkan {model_psnr:.2f} dB / 0.800" in text
    assert "printed `outputs/astronaut-fkan: psnr 30.0`" in text


def test_a_short_demo_is_recorded_with_its_printed_line_and_picture(demo_record, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["demo_record.py", "--steps", "2", "--device", "cpu",
                                      "--outputs", str(tmp_path / "out"), "--bench-dir", str(tmp_path / "bench")])
    demo_record.main()
    record = json.loads((tmp_path / "bench" / "demo.json").read_text())
    assert {"command", "commit", "device", "torch", "date", "markdown"} <= set(record)
    assert record["command"].endswith("--steps 2 --device cpu --outputs " + str(tmp_path / "out") + " --bench-dir "
                                      + str(tmp_path / "bench"))
    fit_line = record["results"]["fit_line"]
    assert fit_line.startswith(f"{tmp_path / 'out' / 'astronaut-fkan'}: psnr ") and "2 steps" in fit_line
    assert f"printed `{fit_line}`" in record["markdown"]
    rows = record["results"]["rows"]
    assert [r["method"] for r in rows] == ["fkan", "bicubic", "lanczos"] and rows[0]["steps"] == 2
    picture = tmp_path / "bench" / "demo-2x.png"
    assert hashlib.sha256(picture.read_bytes()).hexdigest() == record["results"]["picture_sha256"]
    assert (tmp_path / "out" / "astronaut-fkan" / "render-2x.png").is_file()

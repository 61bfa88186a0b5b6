"""examples/: the scripts the README points users to run as written (cut to two steps on a small image)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_example(name: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, str(REPO / "examples" / name), *args], env=env, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_fit_and_render_saves_a_run_that_loads_back(tmp_path: Path) -> None:
    out = run_example("fit_and_render.py", "--steps", "2", "--outputs", str(tmp_path))
    assert "(again.render() == run.render()).all() is True" in out
    assert (tmp_path / "astronaut-siren-py" / "render-2x.png").is_file()


def test_plot_kan_draws_the_first_layer(tmp_path: Path) -> None:
    run_example("plot_kan.py", "--steps", "2", "--resize", "32", "--out", str(tmp_path / "kan.png"))
    assert (tmp_path / "kan.png").read_bytes()[:4] == b"\x89PNG"

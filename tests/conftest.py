"""Shared fixtures: small generated signals written to temporary files."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterator

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from kan_inr import cli, metrics, signals


def smooth_image(h: int = 24, w: int = 24, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A smooth random image (H, W, C) in [0, 1]: a few low-frequency sinusoids per channel."""
    rng = np.random.default_rng(seed)
    y, x = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
    out = np.zeros((h, w, channels))
    for c in range(channels):
        for _ in range(3):
            fy, fx, phase = rng.uniform(0.5, 3, 2).tolist() + [rng.uniform(0, 6.3)]
            out[:, :, c] += np.sin(fy * y * 3 + fx * x * 3 + phase)
    out -= out.min()
    return out / out.max()


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Torch on one thread during the test (tiny fits run fastest so, and leave the other cores alone); the
    process's setting is restored after it."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def image_file(tmp_path: Path) -> Path:
    """A 24x24 8-bit RGB PNG."""
    path = tmp_path / "tiny.png"
    iio.imwrite(path, np.round(smooth_image() * 255).astype(np.uint8))
    return path


def run_cli(args, capsys, monkeypatch):
    """Run `kan-inr ARGS` in-process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["kan-inr", *map(str, args)])
    code = 0
    try:
        cli.main()
    except SystemExit as exc:
        code = exc.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def constant_psnr(path: Path, **load_options) -> float:
    """PSNR of the best constant output on an image: every pixel its channel's mean (the constant with
    the least squared error). A fit that does not beat this by a margin has learned nothing."""
    values = signals.load(path, **load_options).values  # (N, C) in [0, 1]
    best = values.mean(dim=0, keepdim=True).expand_as(values)  # (N, C)
    return metrics.psnr(best, values)


def tb_scalars(tb_dir: Path) -> dict[str, dict[int, float]]:
    """Every scalar logged under ``tb_dir`` (all its event files), read back by TensorBoard's own
    reader: tag -> {step: value}."""
    events = tb_events(tb_dir)
    return {tag: {e.step: e.value for e in events.Scalars(tag)} for tag in events.Tags()["scalars"]}


def tb_events(tb_dir: Path):
    """TensorBoard's reader over every event file under ``tb_dir``, loaded, keeping every event."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return events


def load_script(name: str) -> ModuleType:
    """scripts/NAME.py imported as a module of its own (scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

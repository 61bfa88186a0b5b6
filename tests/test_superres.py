"""superres.py: downsampling geometry, the classical upsamplers, and a tiny --downsample comparison."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from kan_inr import signals, superres
from kan_inr.comparison import Budget, run_comparison
from kan_inr.signals.base import Signal
from conftest import constant_psnr


def test_area_downsampling_averages_blocks():
    values = torch.arange(4 * 6 * 2, dtype=torch.float32).reshape(24, 2) / 48
    low = superres.downsample(Signal(values, (4, 6), "image", (0.0, 1.0), {}, "centers"), 2)
    assert low.shape == (2, 3) and low.convention == "centers"
    image = values.reshape(4, 6, 2)
    assert torch.allclose(low.values.reshape(2, 3, 2)[1, 2], image[2:4, 4:6].mean(dim=(0, 1)))


def test_audio_decimation_keeps_every_other_sample_and_upsamplers_pass_through_them():
    t = torch.arange(101, dtype=torch.float64)
    wave = (0.5 * torch.sin(2 * math.pi * 0.03 * t)).float().unsqueeze(1)  # (101, 1), far below Nyquist
    clip = Signal(wave, (101,), "audio", (-1.0, 1.0), {"sample_rate": 1000})
    low = superres.downsample(clip, 2)
    assert low.shape == (51,) and low.meta["sample_rate"] == 500 and torch.equal(low.values, wave[::2])
    for name, pred in superres.classical(low, clip.shape, 2).items():
        assert torch.allclose(pred[::2], wave[::2], atol=1e-6), name  # the kept samples come back exactly
    error = {name: superres.score(pred, clip)["snr"] for name, pred in superres.classical(low, clip.shape, 2).items()}
    assert error["sinc"] > error["linear"] + 10  # a band-limited tone: the sinc resampler is near exact


def test_audio_extent_puts_original_samples_at_half_indices():
    low = Signal(torch.zeros(51, 1), (51,), "audio", (-1.0, 1.0), {"sample_rate": 500})
    (lo, hi), = superres.original_extent(low, (101,), 2)
    assert (lo, hi) == (-1.0, 1.0)  # 101 samples -> 51: sample 100 is reduced sample 50, the last
    (lo, hi), = superres.original_extent(low, (102,), 2)
    assert hi == pytest.approx(-1 + 2 * 50.5 / 50)  # one half-sample past the end


def test_bicubic_of_a_linear_ramp_is_the_ramp_inside():
    """Pillow's geometry (pixel centres) matches ours: the bicubic of a ramp sampled at the reduced
    pixel centres is the ramp at the original's centres, away from the clamped borders."""
    n = 16
    centres = (torch.arange(n, dtype=torch.float64) + 0.5) / n  # original centres in [0, 1]
    ramp = centres[None, :].expand(n, n).reshape(-1, 1).float()  # (n * n, 1): value = x
    original = Signal(ramp, (n, n), "image", (0.0, 1.0), {}, "centers")
    low = superres.downsample(original, 2)  # area mean of a ramp = the ramp at the block centre
    pred = superres.pillow_upsampled(low, (n, n), "bicubic").reshape(n, n)
    assert torch.allclose(pred[:, 3:-3], ramp.reshape(n, n)[:, 3:-3], atol=1e-5)


def test_tiny_downsample_comparison_scores_renders_and_baselines(image_file: Path, tmp_path: Path, one_thread: None):
    out = tmp_path / "out"
    result = run_comparison([image_file], ["siren"], Budget(steps=50), outputs=out, device="cpu", downsample=2)
    folder = out / "compare-steps50-x2"
    assert result.out_dir == folder
    low = signals.load(folder / "inputs" / "tiny.png")
    assert low.shape == (12, 12)  # the 24x24 fixture, halved
    assert json.loads((folder / "runs" / "tiny-siren" / "config.json").read_text())["signal"]["shape"] == [12, 12]
    data = json.loads((folder / "superres.json").read_text())
    methods = {r["method"]: r for r in data["rows"]}
    assert set(methods) == {"bicubic", "lanczos", "siren"}
    # scored at the original size against the original: 32.2 dB after 50 steps, 19 above the best constant
    # (SIREN's omega_0 capped at the 12 px grid's Nyquist: 9 where 58.5 scored 18.1)
    assert "grid_psnr" in methods["siren"] and methods["siren"]["upsampled_psnr"] > constant_psnr(image_file) + 5
    assert methods["bicubic"]["upsampled_psnr"] > 25  # a smooth image: bicubic is close
    assert "Super-resolution x2" in result.markdown and (folder / "superres_tiny.png").read_bytes()[:4] == b"\x89PNG"
    assert np.isfinite(methods["lanczos"]["upsampled_ssim"])


def test_cli_rejects_a_bad_factor(image_file, capsys, monkeypatch):
    from conftest import run_cli

    code, _, err = run_cli(["compare", image_file, "--downsample", "1", "--steps", "1"], capsys, monkeypatch)
    assert code == 2 and "--downsample must be a whole factor of at least 2" in err


def test_bach_protocols_fit_the_music_from_two_seconds():
    """The Bach protocols take 0.5 s from 2.0 s: the clip's first half second is nearly silent."""
    from kan_inr.comparison import PROTOCOLS

    for name in ("bach-superres", "ttq-bach"):
        assert PROTOCOLS[name].load_options == {"start": 2.0, "duration": 0.5}, name
        assert "0.5 s of the SIREN Bach clip from 2.0 s" in PROTOCOLS[name].description, name


@pytest.mark.parametrize("protocol", ["speech-superres", "ttq-speech"])
def test_speech_protocols_run_from_the_bundled_clip(protocol, tmp_path, capsys, monkeypatch, one_thread):
    """A clone without the shared data folder runs the speech protocols: their clip ships in data/, and
    $KAN_INR_DATA (the shared folder, which holds no speech) does not redirect them."""
    from conftest import run_cli
    from kan_inr.comparison import PROTOCOLS
    from kan_inr.comparison.run import BUNDLED_DATA, DATA_ENV

    assert PROTOCOLS[protocol].bundled and (BUNDLED_DATA / "speech.wav").is_file()
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "shared-without-speech"))
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["compare", "--protocol", protocol, "--steps", "2", "--models", "siren",
                              "--device", "cpu", "-q"], capsys, monkeypatch)
    assert code == 0, err
    folder = tmp_path / "outputs" / f"compare-{protocol}"
    original = signals.load(BUNDLED_DATA / "speech.wav")
    low = signals.load(folder / "inputs" / "speech.wav")
    assert low.shape == ((original.shape[0] + 1) // 2,) and low.meta["sample_rate"] == 11025  # the whole clip, halved
    rows = {r["method"]: r for r in json.loads((folder / "superres.json").read_text())["rows"]}
    assert set(rows) == {"linear", "sinc", "siren"} and np.isfinite(rows["linear"]["upsampled_snr"])
    assert f"Protocol `{protocol}`" in out

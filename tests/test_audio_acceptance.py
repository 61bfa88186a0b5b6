"""scripts/audio_acceptance.py: the audio presets' acceptance table on tiny generated clips."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kan_inr import KanInrError
from conftest import load_script


def tone(path: Path, rate: int, seconds: float = 0.05) -> Path:
    """A short clip of two tones below the decimated clip's Nyquist limit, 16-bit PCM."""
    t = np.arange(round(rate * seconds)) / rate
    sf.write(path, 0.4 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 1250 * t), rate, subtype="PCM_16")
    return path


def test_acceptance_rows_for_each_clip(tmp_path: Path, capsys, one_thread: None) -> None:
    script = load_script("audio_acceptance")
    speech, bach = tone(tmp_path / "speech.wav", 22_050), tone(tmp_path / "bach.wav", 44_100, 0.1)
    data = script.main(["--speech", str(speech), "--bach", str(bach), "--start", "0.05", "--duration", "0.05",
                        "--seconds", "1", "--models", "siren"])
    out = capsys.readouterr().out
    assert [c["samples"] for c in data["clips"]] == [1102, 2205]  # speech whole; bach 0.05 s from 0.05 s
    for clip in data["clips"]:
        rows = {r["method"]: r for r in clip["rows"]}
        assert list(rows) == ["linear", "sinc", "siren"]
        assert math.isfinite(rows["linear"]["snr_2x"]) and rows["linear"]["snr_2x"] > 10  # tones well sampled
        siren = rows["siren"]
        assert siren["steps"] >= 1 and siren["params"] > 0 and siren["precision"] in ("fp32", "bf16")
        assert math.isfinite(siren["grid_snr"]) and math.isfinite(siren["snr_2x"]) and siren["step_vs_siren"] == 1
    assert out.count("| model | params | steps | ms/step | precision | grid SNR (dB) | 2x SNR (dB) |") == 2
    assert "| linear | - | - | - | - | - |" in out and "| siren | " in out


def test_unknown_model_is_refused_before_any_fit(tmp_path: Path) -> None:
    script = load_script("audio_acceptance")
    with pytest.raises(KanInrError, match="nope"):
        script.main(["--speech", str(tone(tmp_path / "s.wav", 8000)), "--models", "siren,nope"])


def test_lr_2x_rows_at_fixed_steps(tmp_path: Path, capsys, one_thread: None) -> None:
    """scripts/audio_lr_2x.py: one row per lr, each with the grid and 2x SNR, and the linear baseline; at a
    fixed number of steps the same seed gives the same numbers twice."""
    script = load_script("audio_lr_2x")
    clip = tone(tmp_path / "clip.wav", 8_000, 0.1)
    argv = ["--audio", str(clip), "--start", "0", "--duration", "0.1", "--steps", "3", "--lrs", "1e-3,1e-4"]
    data = script.main(argv)
    assert [r["lr"] for r in data["rows"]] == [1e-3, 1e-4] and data["linear_snr"] > 10
    assert all(math.isfinite(r["grid_snr"]) and math.isfinite(r["snr_2x"]) for r in data["rows"])
    assert script.main(argv)["rows"] == data["rows"]
    assert "| 0.001 |" in capsys.readouterr().out

"""--precision auto: the capability probe, the choice per device and recipe, and what a bf16 fit keeps in fp32."""

from __future__ import annotations

import dataclasses
import json
import os
import signal

import pytest
import torch
from torch import nn

from kan_inr import jobs, models, precision, runs
from kan_inr.checkpoint import CheckpointPolicy
from kan_inr.errors import KanInrError
from kan_inr.logging import NullLog
from kan_inr.models.layers import exact_linear
from kan_inr.step import evaluate
from kan_inr.pixels import POINT

CPU = torch.device("cpu")
TINY = {"hidden_dim": "16", "hidden_layers": "1"}


@pytest.fixture(autouse=True)
def quiet_runs(monkeypatch):
    monkeypatch.setattr(jobs, "RunLog", lambda *a, **k: NullLog())


def declare_neutral(monkeypatch, neutral: bool = True) -> None:
    """Every preset's recipe declared bf16-neutral (or not), whatever the registry says."""
    original = models.Preset.recipe_for
    monkeypatch.setattr(models.Preset, "recipe_for",
                        lambda self, recipe="default": dataclasses.replace(original(self, recipe), bf16=neutral))


def native(monkeypatch, has: bool) -> None:
    monkeypatch.setattr(precision, "native_bf16", lambda device: has)


@pytest.mark.parametrize("has, neutral, device, expected", [
    (True, True, "cpu", "bf16"), (False, True, "cpu", "fp32"), (True, False, "cpu", "fp32"),
    (False, True, "cuda", "tf32"), (True, False, "cuda", "tf32")])
def test_auto_takes_bf16_only_where_native_and_declared_neutral(monkeypatch, has, neutral, device, expected):
    native(monkeypatch, has)
    choice = precision.choose("auto", torch.device(device), neutral)
    assert choice.precision == expected
    assert choice.why.startswith("auto: ")


@pytest.mark.parametrize("forced", ["fp32", "tf32", "bf16"])
def test_a_requested_precision_is_kept(monkeypatch, forced):
    native(monkeypatch, False)
    assert precision.choose(forced, CPU, neutral=False) == precision.Choice(forced, "as requested (--precision)")


def test_unknown_precision_is_a_user_error():
    with pytest.raises(KanInrError, match="unknown precision 'fp8'"):
        precision.choose("fp8", CPU, True)


@pytest.mark.parametrize("flags, expected", [(set(), False), ({"avx512f", "avx512bw"}, False),
                                             ({"avx512f", "avx512_bf16"}, True), ({"amx_bf16"}, True)])
def test_cpu_probe_wants_native_bf16_instructions_not_emulation(monkeypatch, flags, expected):
    """oneDNN runs bf16 on any AVX-512 CPU by converting to fp32 (slower than fp32): only the native
    dot-product instructions count."""
    monkeypatch.setattr(precision, "cpu_flags", lambda: flags)
    monkeypatch.setattr(precision.platform, "machine", lambda: "x86_64")
    mkldnn = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert precision.native_bf16(CPU) is (expected and mkldnn)


def fit_tiny(image_file, outputs, name, **options):
    settings = dict(steps=30, lr=1e-3, batch=64, eval_every=10, log_every=1, seed=3, device="cpu")
    return jobs.fit_file(image_file, "siren", outputs=outputs, name=name, console=False, model_overrides=TINY,
                         policy=CheckpointPolicy(every_steps=5), **{**settings, **options})


@pytest.mark.parametrize("has, expected", [(True, "bf16"), (False, "fp32")])
def test_auto_fit_records_what_ran_and_why(image_file, tmp_path, monkeypatch, has, expected):
    declare_neutral(monkeypatch)
    native(monkeypatch, has)
    run_dir, result = fit_tiny(image_file, tmp_path, "run")
    config = json.loads((run_dir / "config.json").read_text())
    assert config["train"]["precision"] == expected == result.metrics["precision"]
    assert config["precision"]["ran"] == expected
    assert config["precision"]["why"].startswith("auto: native bf16" if has else "auto: no native bf16")


def test_a_recipe_not_declared_neutral_runs_fp32_on_a_bf16_machine(image_file, tmp_path, monkeypatch):
    declare_neutral(monkeypatch, False)
    native(monkeypatch, True)
    assert fit_tiny(image_file, tmp_path, "run")[1].metrics["precision"] == "fp32"


def test_bf16_fit_evaluates_and_saves_in_fp32(image_file, tmp_path, monkeypatch):
    """The metrics are those of a separate fp32 full-grid pass of the final weights, and the weights on
    disk are fp32 with the same keys as an fp32 run's (checkpoint and .kinr formats unchanged)."""
    declare_neutral(monkeypatch)
    native(monkeypatch, True)
    run_dir, result = fit_tiny(image_file, tmp_path, "bf16")
    fp32_dir, _ = fit_tiny(image_file, tmp_path, "fp32", precision="fp32")
    run = runs.load_run(run_dir)
    signal = jobs.signals.load(image_file)
    trained_on = tuple(run.config["train"]["target_range"] or signal.value_range)  # siren: [-1, 1]
    again, _ = evaluate(run.model, signal, trained_on, CPU, POINT)
    assert result.metrics["final_psnr"] == pytest.approx(again["psnr"], abs=1e-9)
    saved, saved_fp32 = (torch.load(d / runs.WEIGHTS, weights_only=True) for d in (run_dir, fp32_dir))
    assert saved.keys() == saved_fp32.keys()
    assert {t.dtype for t in saved.values()} == {torch.float32}


def test_resume_of_a_bf16_run_stays_bf16(image_file, tmp_path, monkeypatch):
    """auto chose bf16; the machine that resumes has none: the resumed fit still runs bf16 and ends
    where an uninterrupted bf16 fit ends."""
    declare_neutral(monkeypatch)
    native(monkeypatch, True)
    reference, _ = fit_tiny(image_file, tmp_path, "reference")

    class StopAt(NullLog):
        def train(self, step, loss, lr, samples_per_s):
            if step == 13:
                os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(jobs, "RunLog", lambda *a, **k: StopAt())
    before = signal.getsignal(signal.SIGTERM)
    stopped, result = fit_tiny(image_file, tmp_path, "stopped")
    signal.signal(signal.SIGTERM, before)
    assert result.interrupted_at is not None
    monkeypatch.setattr(jobs, "RunLog", lambda *a, **k: NullLog())
    native(monkeypatch, False)
    resumed, final = jobs.resume_run(stopped, image_file, console=False)
    assert final.metrics["precision"] == "bf16"
    for key, value in torch.load(reference / runs.WEIGHTS, weights_only=True).items():
        assert torch.equal(value, torch.load(resumed / runs.WEIGHTS, weights_only=True)[key]), key


@pytest.mark.parametrize("in_features", [2, 256], ids=["first-layer", "head"])
def test_exact_linear_stays_fp32_under_bf16_autocast(in_features):
    """A first layer (elementwise) or an output layer (an fp32 matmul): equal to an fp32 nn.Linear under
    autocast, where the plain layer is not."""
    torch.manual_seed(0)
    layer = nn.Linear(in_features, 64)
    nn.init.uniform_(layer.weight, -30, 30)  # phases as large as a first sine layer's omega_0 W x
    x = torch.rand(512, in_features) * 2 - 1
    reference = layer(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        exact, plain = exact_linear(x, layer), layer(x)
    assert exact.dtype == torch.float32
    assert torch.allclose(exact, reference, rtol=1e-5, atol=1e-4)
    assert (plain.float() - reference).abs().max() > 1e-2

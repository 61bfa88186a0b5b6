"""--precision auto: the capability probe, the choice per device and recipe, and what a bf16 fit keeps in fp32."""

from __future__ import annotations

import dataclasses
import json
import os
import signal

import pytest
import torch
from torch import nn

from kan_inr.config import BF16_SWITCH_MARGIN_DB
from kan_inr import jobs, models, precision, runs
from kan_inr import step as step_module
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


def declare_ceiling(monkeypatch, ceiling: float | None = 200.0) -> None:
    """Every preset's recipe declared to stall in bf16 at ``ceiling`` dB (None: unmeasured), whatever
    the registry says; 200 dB: a tiny fit never reaches the switch."""
    original = models.Preset.recipe_for
    monkeypatch.setattr(models.Preset, "recipe_for", lambda self, recipe="default": dataclasses.replace(
        original(self, recipe), bf16_ceiling=ceiling))


def native(monkeypatch, has: bool) -> None:
    monkeypatch.setattr(precision, "native_bf16", lambda device: has)


@pytest.mark.parametrize("has, until, device, start, full", [
    (True, 55.0, "cpu", "bf16", "fp32"), (False, 55.0, "cpu", "fp32", "fp32"), (True, None, "cpu", "fp32", "fp32"),
    (True, 55.0, "cuda", "bf16", "tf32"), (False, 55.0, "cuda", "tf32", "tf32"), (True, None, "cuda", "tf32", "tf32")])
def test_auto_runs_bf16_until_the_switch_only_where_native_and_measured(monkeypatch, has, until, device, start, full):
    native(monkeypatch, has)
    plan = precision.plan("auto", torch.device(device), until)
    assert (plan.start, plan.full) == (start, full)
    assert plan.until == (until if start == "bf16" else None)
    assert plan.why.startswith("auto: ")


@pytest.mark.parametrize("forced", ["fp32", "tf32", "bf16"])
def test_a_requested_precision_runs_throughout(monkeypatch, forced):
    native(monkeypatch, False)
    assert precision.plan(forced, CPU, None) == precision.Plan(forced, forced, None, "as requested (--precision)"
                                                               if forced != "bf16" else "as requested")


def test_bf16_with_a_switch_level_is_auto_resolved(monkeypatch):
    """What jobs.start_run stores for auto (precision bf16, bf16_until): the same plan on any machine."""
    native(monkeypatch, False)
    on_cpu, on_cuda = precision.plan("bf16", CPU, 55.0), precision.plan("bf16", torch.device("cuda"), 55.0)
    assert (on_cpu.start, on_cpu.full, on_cpu.until) == ("bf16", "fp32", 55.0)
    assert (on_cuda.start, on_cuda.full, on_cuda.until) == ("bf16", "tf32", 55.0)


def test_recipes_switch_a_margin_below_their_ceiling():
    recipe = models.Recipe(lr=1e-3, bf16_ceiling=61.0)
    assert recipe.train_fields()["bf16_until"] == 61.0 - BF16_SWITCH_MARGIN_DB
    assert models.Recipe(lr=1e-3).train_fields()["bf16_until"] is None


def test_the_switch_is_due_at_the_first_evaluation_at_the_level_and_replays_from_history():
    plan = precision.Plan("bf16", "fp32", 30.0, "test")
    assert not plan.switch_due("bf16", [29.9, 12.0])
    assert plan.switch_due("bf16", [29.9, 30.0])  # one network of a batch reaching it switches all
    assert not plan.switch_due("fp32", [40.0])  # once switched, it stays
    rows = [[{"step": 10, "psnr": 20.0}, {"step": 20, "psnr": 31.0}, {"step": 30, "psnr": 29.0}],
            [{"step": 10, "psnr": 25.0}, {"step": 20, "psnr": 26.0}, {"step": 30, "psnr": 33.0}]]
    assert plan.running_after(rows, "psnr") == ("fp32", 20)
    assert plan.running_after([r[:1] for r in rows], "psnr") == ("bf16", None)
    assert precision.Plan("fp32", "fp32", None, "x").running_after(rows, "psnr") == ("fp32", None)


def test_unknown_precision_is_a_user_error():
    with pytest.raises(KanInrError, match="unknown precision 'fp8'"):
        precision.plan("fp8", CPU, None)


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
    declare_ceiling(monkeypatch)
    native(monkeypatch, has)
    run_dir, result = fit_tiny(image_file, tmp_path, "run")
    config = json.loads((run_dir / "config.json").read_text())
    assert config["train"]["precision"] == expected == result.metrics["precision"] == result.metrics["precision_final"]
    assert config["train"]["bf16_until"] == 200.0 - BF16_SWITCH_MARGIN_DB  # acts only where bf16 runs
    assert config["precision"]["start"] == expected
    assert config["precision"]["why"].startswith("auto: native bf16" if has else "auto: no native bf16")
    assert result.metrics["precision_switch_step"] is None


def test_a_recipe_without_a_measured_ceiling_runs_fp32_on_a_bf16_machine(image_file, tmp_path, monkeypatch):
    declare_ceiling(monkeypatch, None)
    native(monkeypatch, True)
    assert fit_tiny(image_file, tmp_path, "run")[1].metrics["precision"] == "fp32"


def record_step_precisions(monkeypatch) -> list[str]:
    """The precision each training step ran, in order (ModelStep.train's call of train_step)."""
    ran: list[str] = []
    real = step_module.train_step

    def spy(net, optimizer, x, goal, precision_, *args, **kwargs):
        ran.append(precision_)
        return real(net, optimizer, x, goal, precision_, *args, **kwargs)

    monkeypatch.setattr(step_module, "train_step", spy)
    return ran


def test_auto_switches_to_fp32_after_the_first_evaluation_at_the_level(image_file, tmp_path, monkeypatch):
    """The steps up to the evaluation that reached bf16_until ran bf16, every later one fp32; the switch is
    in metrics.json and config.json holds the plan."""
    native(monkeypatch, True)
    declare_ceiling(monkeypatch, None)
    ran = record_step_precisions(monkeypatch)
    run_dir, result = fit_tiny(image_file, tmp_path, "switch", precision="auto", bf16_until=1.0)
    switched = result.metrics["precision_switch_step"]
    first_at_level = next(row["step"] for row in result.history if row["psnr"] >= 1.0)
    assert switched == first_at_level == 10
    assert ran == ["bf16"] * switched + ["fp32"] * (30 - switched)
    assert result.metrics["precision_final"] == "fp32"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["precision_switch_step"] == switched
    config = json.loads((run_dir / "config.json").read_text())
    assert config["precision"]["switch_at_db"] == 1.0 and config["precision"]["switch_to"] == "fp32"


def stop_at(monkeypatch, step_to_stop: int) -> None:
    class StopAt(NullLog):
        def train(self, step, loss, lr, samples_per_s):
            if step == step_to_stop:
                os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(jobs, "RunLog", lambda *a, **k: StopAt())


def stopped_then_resumed(image_file, tmp_path, monkeypatch, name, at, **options):
    stop_at(monkeypatch, at)
    before = signal.getsignal(signal.SIGTERM)
    stopped, result = fit_tiny(image_file, tmp_path, name, **options)
    signal.signal(signal.SIGTERM, before)
    assert result.interrupted_at is not None
    monkeypatch.setattr(jobs, "RunLog", lambda *a, **k: NullLog())
    return jobs.resume_run(stopped, image_file, console=False)


def assert_same_weights(a, b):
    for key, value in torch.load(a / runs.WEIGHTS, weights_only=True).items():
        assert torch.equal(value, torch.load(b / runs.WEIGHTS, weights_only=True)[key]), key


@pytest.mark.parametrize("at", [7, 13], ids=["stopped-before-the-switch", "stopped-after-it"])
def test_resume_across_the_switch_ends_bit_identical(image_file, tmp_path, monkeypatch, at):
    native(monkeypatch, True)
    declare_ceiling(monkeypatch, None)
    reference, uninterrupted = fit_tiny(image_file, tmp_path, "reference", bf16_until=1.0)
    assert uninterrupted.metrics["precision_switch_step"] == 10
    resumed, final = stopped_then_resumed(image_file, tmp_path, monkeypatch, f"stopped{at}", at, bf16_until=1.0)
    assert final.metrics["precision_switch_step"] == 10 and final.metrics["precision_final"] == "fp32"
    assert_same_weights(reference, resumed)


def test_bf16_fit_evaluates_and_saves_in_fp32(image_file, tmp_path, monkeypatch):
    """The metrics are those of a separate fp32 full-grid pass of the final weights, and the weights on
    disk are fp32 with the same keys as an fp32 run's (checkpoint and .kinr formats unchanged)."""
    declare_ceiling(monkeypatch)
    native(monkeypatch, True)
    run_dir, result = fit_tiny(image_file, tmp_path, "bf16")
    assert result.metrics["precision"] == "bf16"
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
    declare_ceiling(monkeypatch)
    native(monkeypatch, True)
    reference, _ = fit_tiny(image_file, tmp_path, "reference")
    stop_at(monkeypatch, 13)
    before = signal.getsignal(signal.SIGTERM)
    stopped, result = fit_tiny(image_file, tmp_path, "stopped")
    signal.signal(signal.SIGTERM, before)
    assert result.interrupted_at is not None
    monkeypatch.setattr(jobs, "RunLog", lambda *a, **k: NullLog())
    native(monkeypatch, False)
    resumed, final = jobs.resume_run(stopped, image_file, console=False)
    assert final.metrics["precision"] == final.metrics["precision_final"] == "bf16"
    assert_same_weights(reference, resumed)


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

"""Speed levers keep the numbers: cheap bases equal direct ones, bf16 and compile match fp32 and eager."""

from __future__ import annotations

import math
import os

import pytest
import torch

from kan_inr import KanInrError, models, signals
from kan_inr.config import TrainConfig
from kan_inr.device import resolve_device
from kan_inr.pixels import POINT
from kan_inr.step import compile_model, make_optimizer, matmul_precision, train_step
from kan_inr.training import fit
from kan_inr.models.fkan import FKANConfig
from kan_inr.models.layers import FourierKAN, harmonics, harmonics_direct, harmonics_powers
from tests.reference_models import fourier_kan_coefficients, fourier_kan_naive
from kan_inr.models.sl2a import SL2AConfig
from kan_inr.atomic import save_weights
from conftest import constant_psnr

# scripts/gpu_check.sh runs this file with KAN_INR_TEST_DEVICE=cuda; CPU otherwise.
DEVICE_NAME = os.environ.get("KAN_INR_TEST_DEVICE", "cpu")
if DEVICE_NAME.startswith("cuda") and not torch.cuda.is_available():
    pytest.skip(f"KAN_INR_TEST_DEVICE={DEVICE_NAME} but CUDA is not available", allow_module_level=True)
DEVICE = torch.device(DEVICE_NAME)
TINY_FKAN = FKANConfig(grid_size=16, hidden_dim=32, block_dims=(64, 64))


def test_harmonics_by_complex_powers_equal_direct_evaluation_at_k270():
    """De Moivre's recurrence is as accurate as evaluating cos(kx), sin(kx) directly in fp32."""
    x = torch.linspace(-1, 1, 2001, device=DEVICE).reshape(-1, 1)  # (N, 1): the whole coordinate range
    truth = harmonics_direct(x.double(), 270)  # (N, 1, K, 2)
    powers, direct = harmonics_powers(x, 270), harmonics_direct(x, 270)
    assert powers.shape == direct.shape == (2001, 1, 270, 2)
    assert (powers.double() - truth).abs().max() < 1e-4
    assert (powers - direct).abs().max() < 1e-4
    assert torch.equal(harmonics(x.bfloat16(), 8), harmonics_direct(x.bfloat16(), 8))  # no complex bf16


def test_fourier_kan_layer_equals_naive_per_edge_formula():
    torch.manual_seed(0)
    layer = FourierKAN(3, 5, 7).to(DEVICE)
    x = torch.rand(11, 3, device=DEVICE) * 2 - 1
    a, b = fourier_kan_coefficients(layer.weight, 3)
    assert torch.allclose(layer(x), fourier_kan_naive(x, a, b, layer.bias), atol=1e-5)


def test_matmul_precision_restores_the_setting_and_checks_its_name():
    before = torch.get_float32_matmul_precision()
    with matmul_precision("tf32"):
        assert torch.get_float32_matmul_precision() == "high"
    with matmul_precision("fp32"):
        assert torch.get_float32_matmul_precision() == "highest"
    assert torch.get_float32_matmul_precision() == before
    with pytest.raises(KanInrError, match="unknown precision 'fp8'"):
        with matmul_precision("fp8"):
            pass


def test_fused_adam_on_cuda_only_and_same_update():
    torch.manual_seed(0)
    model = models.build("fkan", 2, 3, TINY_FKAN).to(DEVICE)
    opt = make_optimizer(model.parameters(), 1e-3, DEVICE)
    assert bool(opt.defaults["fused"]) == (DEVICE.type == "cuda")
    twin = models.build("fkan", 2, 3, TINY_FKAN).to(DEVICE)
    twin.load_state_dict(model.state_dict())
    plain = torch.optim.Adam(twin.parameters(), lr=1e-3)
    coords, target = torch.rand(64, 2, device=DEVICE) * 2 - 1, torch.rand(64, 3, device=DEVICE)
    for _ in range(3):
        train_step(model, opt, coords, target, pixels=POINT)
        train_step(twin, plain, coords, target, pixels=POINT)
    for p, q in zip(model.parameters(), twin.parameters()):
        assert torch.allclose(p, q, atol=1e-5)


# Small networks of the families whose image recipes run bf16, each with the name of a hidden layer
# (a module whose output is a bf16 matmul's in a bf16 step): fkan's image default (sine blocks), sl2a's.
BF16_FAMILIES = {"fkan": (FKANConfig(grid_size=8, hidden_dim=32, block_dims=(32, 32), omega=7.36, block="sine"),
                          "blocks.0"),
                 "sl2a": (SL2AConfig(degree=8, hidden_dim=32, rank=16, hidden_layers=2), "layers.0")}


def _tiny_fit(image_file, precision: str, name: str = "fkan"):
    """150 steps of a small network of family ``name`` (BF16_FAMILIES) in ``precision``: (metrics, the
    dtypes of its hidden layer's outputs)."""
    torch.manual_seed(0)
    signal = signals.load(image_file)
    cfg, hidden = BF16_FAMILIES[name]
    model = models.build(name, 2, 3, cfg)
    dtypes: set[torch.dtype] = set()
    model.get_submodule(hidden).register_forward_hook(lambda module, args, out: dtypes.add(out.dtype))
    train = TrainConfig(steps=150, lr=3e-3, eval_every=150, device=DEVICE_NAME, precision=precision, compile="off")
    return fit(model, signal, train).metrics, dtypes


@pytest.mark.parametrize("name", sorted(BF16_FAMILIES))
def test_bf16_training_reaches_the_fp32_psnr_within_half_a_db(image_file, name):
    """The families whose image recipes run bf16 (fkan, sl2a; siren's runs fp32): their hidden matmuls do
    run in bf16, and the fit lands within 0.5 dB of the fp32 one."""
    (fp32, fp32_dtypes), (bf16, bf16_dtypes) = _tiny_fit(image_file, "fp32", name), _tiny_fit(image_file, "bf16", name)
    # the comparison is fp32 against bf16 (forwards outside the steps, the memory probe's and evaluations, run fp32)
    assert fp32_dtypes == {torch.float32} and torch.bfloat16 in bf16_dtypes, (fp32_dtypes, bf16_dtypes)
    assert fp32["final_psnr"] > constant_psnr(image_file) + 5, fp32  # it learned: the comparison means something
    assert bf16["final_psnr"] > fp32["final_psnr"] - 0.5, (fp32["final_psnr"], bf16["final_psnr"])
    assert bf16["precision"] == "bf16" and bf16["compile"] == "eager"


def test_unknown_precision_is_a_user_error(image_file):
    with pytest.raises(KanInrError, match="unknown precision"):
        _tiny_fit(image_file, "half")


def _compile(mode: str):
    """On a CPU, inductor's C++ build takes minutes: trace with dynamo and run the captured graph
    eagerly instead (what is tested is that the traced model, which takes the direct-harmonics branch,
    equals the eager one). On CUDA: the real compiler."""
    if DEVICE.type == "cuda":
        return torch.compile
    real = torch.compile
    return lambda model, mode=None, dynamic=None: real(model, backend="eager", dynamic=dynamic)


def test_compiled_model_equals_eager_and_its_weights_load_uncompiled(monkeypatch, tmp_path):
    monkeypatch.setattr(torch, "compile", _compile("default"))
    torch.manual_seed(0)
    model = models.build("fkan", 2, 3, TINY_FKAN).to(DEVICE)
    coords, target = torch.rand(256, 2, device=DEVICE) * 2 - 1, torch.rand(256, 3, device=DEVICE)
    compiled, how = compile_model(model, "default", DEVICE, coords, target, "fp32", POINT)
    assert how == "compiled (default)" and compiled is not model
    assert all(p.grad is None for p in model.parameters())  # the compiling pass leaves no gradients
    # with gradients on, as compiled (under no_grad the compiler would build a second graph)
    assert torch.allclose(compiled(coords).detach(), model(coords).detach(), atol=1e-5)
    save_weights(tmp_path / "weights.pt", compiled)  # saved from the raw module: no "_orig_mod." keys
    fresh = models.build("fkan", 2, 3, TINY_FKAN)
    fresh.load_state_dict(torch.load(tmp_path / "weights.pt", weights_only=True), strict=True)
    with torch.no_grad():
        assert torch.allclose(fresh.to(DEVICE)(coords), model(coords), atol=1e-6)


def test_compile_auto_is_eager_on_cpu_and_failure_falls_back(monkeypatch):
    model = models.build("fkan", 2, 3, TINY_FKAN)
    coords, target = torch.zeros(4, 2), torch.zeros(4, 3)
    assert compile_model(model, "auto", torch.device("cpu"), coords, target, "fp32", POINT) == (model, "eager")

    def broken(module, **_):
        def fail(*args):
            raise RuntimeError("no C++ compiler\nmore detail")
        return fail

    monkeypatch.setattr(torch, "compile", broken)
    same, how = compile_model(model, "default", torch.device("cpu"), coords, target, "fp32", POINT)
    assert same is model and how == "eager (torch.compile failed: RuntimeError: no C++ compiler)"
    with pytest.raises(KanInrError, match="unknown compile mode 'fast'"):
        compile_model(model, "fast", torch.device("cpu"), coords, target, "fp32", POINT)


@pytest.mark.skipif(DEVICE.type != "cuda", reason="CUDA only")
def test_cuda_fit_with_every_lever_learns(image_file):
    torch.manual_seed(0)
    model = models.build("fkan", 2, 3, TINY_FKAN)
    cfg = TrainConfig(steps=150, lr=1e-3, eval_every=150, device=DEVICE_NAME, precision="bf16", compile="auto")
    m = fit(model, signals.load(image_file), cfg).metrics
    assert m["compile"] == "compiled (default)" and math.isfinite(m["final_psnr"]) and m["final_psnr"] > 25.0
    assert resolve_device("auto").type == "cuda"


@pytest.mark.parametrize("flag, value, message", [("--precision", "fp16", "unknown precision 'fp16'"),
                                                  ("--compile", "fast", "unknown compile 'fast'")])
def test_cli_rejects_unknown_levers_in_one_line(image_file, tmp_path, capsys, monkeypatch, flag, value, message):
    import sys

    from kan_inr import cli

    monkeypatch.setattr(sys, "argv", ["kan-inr", "fit", str(image_file), "--outputs", str(tmp_path / "out"), flag, value])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()  # nothing written

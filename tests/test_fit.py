"""The training loop: lr schedules, sampling, PSNR gain, determinism, the NaN guard."""

import math

import pytest
import torch

from kan_inr import KanInrError, signals
from kan_inr.config import TrainConfig
from kan_inr.training import Sampler, fit, lr_at
from kan_inr.logging import NullLog
from kan_inr.models import build
from kan_inr.models.siren import SirenConfig
from conftest import constant_psnr

TINY = SirenConfig(hidden_dim=32, hidden_layers=2)


def test_lr_schedules():
    cfg = TrainConfig(steps=100, lr=1e-3)
    assert lr_at(0, cfg) == pytest.approx(1e-3)
    assert lr_at(50, cfg) == pytest.approx(1e-3 * 0.1**0.5)
    assert lr_at(100, cfg) == pytest.approx(1e-4)
    cos = TrainConfig(steps=100, lr=1e-3, schedule="cosine")
    assert lr_at(0, cos) == pytest.approx(1e-3) and lr_at(100, cos) == pytest.approx(1e-4)
    assert lr_at(50, cos) == pytest.approx(0.55e-3)
    assert lr_at(70, TrainConfig(steps=100, lr=1e-3, schedule="constant")) == 1e-3
    with pytest.raises(KanInrError, match="unknown schedule"):
        lr_at(0, TrainConfig(schedule="linear"))


def test_sampler_covers_each_epoch_once():
    s = Sampler(10, 3, seed=0, device=torch.device("cpu"))
    epoch = torch.cat([s.next() for _ in range(3)])  # 9 of 10 indices, remainder dropped
    assert epoch.unique().numel() == 9
    again = Sampler(10, 3, seed=0, device=torch.device("cpu"))
    assert torch.equal(torch.cat([again.next() for _ in range(3)]), epoch)


def _fit(image_file, steps=150, seed=0, **kw):
    torch.manual_seed(seed)
    signal = signals.load(image_file)
    model = build("siren", 2, 3, TINY)
    cfg = TrainConfig(steps=steps, lr=1e-3, eval_every=50, seed=seed, device="cpu", **kw)
    return model, fit(model, signal, cfg)


def test_fit_improves_psnr_by_a_margin(image_file):
    _, result = _fit(image_file)
    first, last = result.history[0]["psnr"], result.metrics["final_psnr"]
    assert [row["step"] for row in result.history] == [50, 100, 150]
    assert last > constant_psnr(image_file) + 5 and last > first + 3.0  # a smooth 24x24 image is easy for SIREN
    assert result.metrics["best_psnr"] >= last - 1e-9
    assert 0 < result.metrics["final_ssim"] <= 1


def test_minibatch_fit_and_full_grid_evaluation(image_file):
    _, result = _fit(image_file, steps=200, batch=128)  # about 27 dB: 13 above the best constant
    assert result.metrics["batch"] == 128
    assert result.metrics["final_psnr"] > constant_psnr(image_file) + 5, result.metrics["final_psnr"]


def test_same_seed_same_weights_on_cpu(image_file):
    m1, _ = _fit(image_file, steps=20, batch=100)
    m2, _ = _fit(image_file, steps=20, batch=100)
    m3, _ = _fit(image_file, steps=20, batch=100, seed=1)
    for a, b in zip(m1.state_dict().values(), m2.state_dict().values()):
        assert torch.equal(a, b)
    assert not torch.equal(m1.head.weight, m3.head.weight)


class PoisonAfter(NullLog):
    """Copies ``model``'s weights at every evaluation (the loop evaluates the model it trains), and at
    evaluation ``step`` turns one weight into NaN: the next step's loss is not finite."""

    def __init__(self, model: torch.nn.Module, step: int) -> None:
        self.model, self.step, self.weights = model, step, {}

    def evaluation(self, step, metrics, pred, signal) -> None:
        self.weights[step] = {k: v.clone() for k, v in self.model.state_dict().items()}
        if step == self.step:
            with torch.no_grad():
                next(self.model.parameters()).view(-1)[0] = math.nan


def test_nan_guard_stops_and_restores_best_weights_exactly(image_file):
    torch.manual_seed(0)
    signal = signals.load(image_file)
    model = build("siren", 2, 3, TINY)
    log = PoisonAfter(model, step=30)
    result = fit(model, signal, TrainConfig(steps=100, lr=1e-3, eval_every=5, log_every=1, device="cpu"), log)
    assert result.diverged_at == 31 and result.metrics["steps"] == 30
    best_step = result.metrics["best_step"]
    assert best_step in (5, 10, 15, 20, 25, 30) and sorted(log.weights) == [5, 10, 15, 20, 25, 30]
    restored = model.state_dict()
    assert all(torch.equal(restored[k], log.weights[best_step][k]) for k in restored)
    assert result.metrics["final_psnr"] == result.metrics["best_psnr"]


def test_invalid_train_options(image_file):
    signal = signals.load(image_file)
    model = build("siren", 2, 3, TINY)
    with pytest.raises(KanInrError, match="steps"):
        fit(model, signal, TrainConfig(steps=0, device="cpu"))
    with pytest.raises(KanInrError, match="does not exist|CUDA is not available"):
        fit(model, signal, TrainConfig(steps=1, device="cuda:99"))
    with pytest.raises(KanInrError, match="unknown device"):
        fit(model, signal, TrainConfig(steps=1, device="tpu"))

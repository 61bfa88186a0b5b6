"""step.py: one loss and one optimiser for single and stacked networks, and a training step that never
waits for the host (its tensors are made once per step object; CUDA: sync debug mode "error")."""

from __future__ import annotations

import pytest
import torch

from kan_inr import models, signals
from kan_inr.batched import BatchedStep
from kan_inr.jobs import start_run, train_config_for
from kan_inr.models.siren import SirenConfig
from kan_inr.pixels import POINT, PixelModel
from kan_inr.step import ModelStep, make_optimizer, mse_loss
from kan_inr.training import Sampler, check_train_config, lr_at, memory_needed


def test_stacked_losses_are_each_networks_own_loss():
    """mse_loss of M stacked predictions (M, S * B, C) is the M single-network losses, box pixels included."""
    torch.manual_seed(0)
    coords = torch.rand(4 * 6, 2)  # (S * B, d): S = 4 samples (2 x 2 box) of B = 6 pixels
    target = torch.rand(3, 6, 2)  # (M, B, C)
    weights = torch.randn(3, 2, 2)  # M linear "networks"
    stacked = mse_loss(lambda x: x @ weights, coords, target, "fp32", PixelModel(box=2))  # (M,)
    singles = [mse_loss(lambda x, w=w: x @ w, coords, t, "fp32", PixelModel(box=2)) for w, t in zip(weights, target)]
    assert stacked.shape == (3,) and singles[0].shape == ()
    torch.testing.assert_close(stacked, torch.stack(singles))


def test_batched_step_uses_the_single_steps_optimiser(image_file):
    signal = signals.load(image_file)
    torch.manual_seed(0)
    nets = [models.build("siren", 2, 3, SirenConfig(hidden_dim=8, hidden_layers=1)) for _ in range(2)]
    cfg = train_config_for(models.preset("siren", "image"), device="cpu", batch=64)
    step = BatchedStep(nets, [signal, signal], cfg, torch.device("cpu"), 64)
    reference = make_optimizer(step.params.values(), cfg.lr, torch.device("cpu"))
    assert type(step.optimizer) is type(reference) and step.optimizer.defaults == reference.defaults


def test_memory_estimate_counts_every_sample_of_a_box_pixel():
    model = models.build("siren", 2, 3, SirenConfig(hidden_dim=16, hidden_layers=1))
    signal = signals.Signal(torch.zeros(32 * 32, 3), (32, 32), "image", (0.0, 1.0), convention="centers")
    point, per_sample = memory_needed(model, signal, 256, chunk=512, pixels=POINT)
    box, _ = memory_needed(model, signal, 256, chunk=512, pixels=PixelModel(box=2))
    # 4 evaluations per pixel: a step keeps 3 more samples' activations per pixel (twice, with their
    # gradients); an evaluation chunk stays `chunk` evaluations
    assert box - point == 2 * 256 * 3 * per_sample


def preset_step(image_file, name: str, device: str, box: int) -> tuple[ModelStep, Sampler]:
    """The step ``kan-inr fit`` runs for preset ``name`` on ``image_file`` (its default recipe, the precision
    and compile mode ``fit`` settles) with minibatches of 128 pixels and ``box`` (0: point pixels; K: K x K
    samples a pixel), and a sampler of those minibatches."""
    job = start_run(image_file, name, write=False, console=False, device=device, batch=128, box=box)
    cfg, device_, batch = check_train_config(job.train, job.signal.num_samples)
    step = ModelStep(job.model.to(device_), job.signal, cfg, device_, batch)
    sampler = Sampler(job.signal.num_samples, batch, cfg.seed, device_)
    positions, _ = step.inputs(torch.arange(batch, device=device_), 1)  # (S * batch, d)
    assert positions.shape == (max(box, 1) ** 2 * 128, 2)  # the pixel model named is the one that runs
    return step, sampler


@pytest.mark.parametrize("box", [0, 2], ids=["point", "box2"])
@pytest.mark.parametrize("name", ["fkan", "sl2a"])
def test_a_step_makes_no_host_tensor_or_generator(image_file, monkeypatch, name, box):
    """After the step object is built, a training step copies nothing from the host: no torch.tensor
    from Python numbers (a synchronising host-to-device copy on a GPU), no new generator; with point
    pixels (the image recipes') and box pixels."""
    step, sampler = preset_step(image_file, name, "cpu", box)
    cfg = step.cfg
    step.train(sampler.next(), lr_at(0, cfg), 1)  # Adam makes its state at the first step

    def refuse(*args, **kwargs):
        raise AssertionError("a training step built a tensor or generator on the host")

    monkeypatch.setattr(torch, "tensor", refuse)
    monkeypatch.setattr(torch, "Generator", refuse)
    for s in range(2, 5):
        step.train(sampler.next(), lr_at(s - 1, cfg), s)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA only")
@pytest.mark.parametrize("box", [0, 2], ids=["point", "box2"])
@pytest.mark.parametrize("name", ["fkan", "sl2a"])
def test_preset_cuda_steps_never_sync_with_the_host(image_file, name, box):
    """A few steps of an image preset on CUDA as ``fit`` runs them (its recipe, the precision ``fit``
    chooses there, compile auto), in minibatches of 128, point and box pixels, under sync debug mode
    "error": any host-device synchronisation in a step raises."""
    step, sampler = preset_step(image_file, name, "cuda", box)
    cfg = step.cfg
    step.train(sampler.next(), lr_at(0, cfg), 1)  # Adam makes its state at the first step
    torch.cuda.synchronize()
    losses = []
    torch.cuda.set_sync_debug_mode("error")
    try:
        for s in range(2, 6):
            losses.append(step.train(sampler.next(), lr_at(s - 1, cfg), s))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert torch.isfinite(torch.cat(losses)).all()

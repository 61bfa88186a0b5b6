"""pixels.py: sub-pixel jitter draws positions inside the pixel cells, in training only; the box
pixel model trains and renders each pixel as its cell's mean."""

from __future__ import annotations

import torch
from torch import nn

import pytest

from kan_inr import KanInrError, signals
from kan_inr.config import MAX_SEED, TrainConfig
from kan_inr.training import fit
from kan_inr.models import build
from kan_inr.models.siren import SirenConfig
from kan_inr.render import predict_grid
from kan_inr.geometry import subcell_offsets
from kan_inr.pixels import SEED_SPACE, PixelModel, step_seed
from kan_inr.signals.base import grid
from kan_inr.step import mse_loss
from conftest import constant_psnr, run_cli


def jitter(coords: torch.Tensor, shape: tuple[int, ...], convention: str, width: float = 1.0) -> torch.Tensor:
    return PixelModel(jitter=width).sampler(shape, convention, torch.device("cpu"))(coords)


def test_jitter_stays_in_the_cell_and_covers_it():
    shape = (8, 4)
    centres = grid(shape, convention="centers")  # (32, 2)
    moved = jitter(centres.repeat(200, 1), shape, "centers")  # (6400, 2)
    offset = moved - centres.repeat(200, 1)
    half = torch.tensor([1 / 8, 1 / 4])  # half a cell: 2 / n / 2
    assert (offset.abs() <= half + 1e-6).all()
    assert (offset.abs().amax(dim=0) > 0.95 * half).all()  # reaches the cell's edges
    assert offset.mean(dim=0).abs().max() < 0.02
    narrow = jitter(centres.repeat(200, 1), shape, "centers", width=0.5) - centres.repeat(200, 1)
    assert (narrow.abs() <= half / 2 + 1e-6).all()
    ends = jitter(grid((5,), convention="endpoints").repeat(100, 1), (5,), "endpoints")
    assert ends.min() >= -1 and ends.max() <= 1


class Recorder(nn.Module):
    """Wraps a model and keeps every batch of coordinates it sees, by mode."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.seen: dict[bool, list[torch.Tensor]] = {True: [], False: []}

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        self.seen[self.training].append(coords.detach().clone())
        return self.model(coords)


def test_fit_with_jitter_trains_off_the_centres_and_evaluates_on_them(image_file):
    signal = signals.load(image_file)  # 24 x 24, pixel centres
    torch.manual_seed(0)
    model = Recorder(build("siren", 2, 3, SirenConfig(hidden_dim=16, hidden_layers=1)))
    fit(model, signal, TrainConfig(steps=4, batch=100, eval_every=4, device="cpu", jitter=1.0))
    centres = signal.coords()
    train = torch.cat(model.seen[True])  # (400, 2)
    nearest = torch.cdist(train, centres).min(dim=1).values
    assert (nearest > 1e-4).float().mean() > 0.99  # drawn off the centres ...
    cell = 2 / 24
    assert (torch.cdist(train, centres, p=float("inf")).min(dim=1).values <= cell / 2 + 1e-6).all()  # ... in a cell
    evaluated = torch.cat(model.seen[False])
    assert torch.equal(evaluated[: centres.shape[0]], centres)  # evaluation: exactly the centres


def test_box_positions_put_one_sample_in_every_sub_cell():
    shape, k = (6, 10), 3
    centres = grid(shape, convention="centers")  # (60, 2)
    positions = PixelModel(box=k).sampler(shape, "centers", torch.device("cpu"))
    points = positions(centres, step=1).reshape(k * k, 60, 2)  # (9, 60, 2)
    cell = torch.tensor([2 / 6, 2 / 10])
    rel = (points - centres) / cell + 0.5  # position inside the cell, in [0, 1)
    assert ((rel >= 0) & (rel <= 1)).all()
    sub = (rel * k).floor().clamp(max=k - 1)  # (9, 60, 2) sub-cell index per axis
    expected = ((subcell_offsets(k, 2) + 0.5) * k - 0.5).round()  # (9, 2): 0..k-1 row-major
    assert torch.equal(sub, expected[:, None].expand_as(sub))
    assert torch.equal(points.reshape(-1, 2), positions(centres, step=1))  # (seed, step) fixes the draw ...
    assert not torch.equal(points.reshape(-1, 2), positions(centres, step=2))  # ... random inside each sub-cell


class Analytic(nn.Module):
    """f(x, y) = (sin 5x cos 3y, x y^2): a smooth scene with curvature, so a cell's mean is not its centre."""

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        x, y = coords[:, 0], coords[:, 1]
        return torch.stack([torch.sin(5 * x) * torch.cos(3 * y), x * y**2], dim=1)


def test_box_render_is_the_mean_over_each_pixels_sub_cell_centres():
    model, shape, k = Analytic(), (7, 5), 4
    centres = grid(shape, convention="centers")  # (35, 2)
    cell = torch.tensor([2 / 7, 2 / 5])
    naive = torch.stack([model(centres + torch.tensor([(i + 0.5) / k - 0.5, (j + 0.5) / k - 0.5]) * cell)
                         for i in range(k) for j in range(k)]).mean(0)  # (35, 2)
    boxed = predict_grid(model, shape, "cpu", chunk=8, convention="centers", pixels=PixelModel(box=k))
    torch.testing.assert_close(boxed, naive)
    assert (boxed - model(centres)).abs().max() > 1e-2  # not the centre values
    # as k grows the render tends to the cell's exact mean (a product of 1-D integrals for x y^2)
    fine = predict_grid(model, shape, "cpu", convention="centers", pixels=PixelModel(box=32))[:, 1]  # (35,)
    lo, hi = centres - cell / 2, centres + cell / 2
    exact = (hi[:, 0] ** 2 - lo[:, 0] ** 2) / 2 * (hi[:, 1] ** 3 - lo[:, 1] ** 3) / 3 / (cell[0] * cell[1])
    torch.testing.assert_close(fine, exact, atol=1e-4, rtol=0)


def test_box_loss_compares_each_targets_sample_mean():
    coords = torch.tensor([[0.0], [1.0], [2.0], [3.0]])  # (S * B, 1), S = 2 samples of B = 2 targets
    target = torch.tensor([[1.0], [2.0]])  # means of the samples: (0 + 2) / 2 = 1 and (1 + 3) / 2 = 2
    assert mse_loss(nn.Identity(), coords, target, "fp32", PixelModel(box=2)).item() == 0.0


def test_fit_with_box_pixels_trains_inside_the_cells_and_evaluates_cell_means(image_file):
    signal = signals.load(image_file)  # 24 x 24, pixel centres
    torch.manual_seed(0)
    model = Recorder(build("siren", 2, 3, SirenConfig(hidden_dim=32, hidden_layers=1)))
    psnr = signals.module("image").evaluate
    before = psnr(predict_grid(model.model, signal.shape, "cpu", convention="centers", pixels=PixelModel(box=2)),
                  signal.values, signal.shape)
    result = fit(model, signal, TrainConfig(steps=60, lr=3e-3, batch=144, eval_every=60, device="cpu", box=2))
    steps = [x for x in model.seen[True] if x.shape[0] == 4 * 144]
    assert len(steps) == 60
    train = steps[0].reshape(4, 144, 2)  # (S, batch, d): the 4 sub-cells of 144 pixels
    pixel = ((train + 1) / (2 / 24)).floor()  # (4, 144, 2) the cell each position lies in
    assert (pixel == pixel[0]).all()  # the 4 samples of a target share its pixel ...
    assert len({tuple(p) for p in (train - train[0]).reshape(-1, 2)[144:].round(decimals=6).tolist()}) > 100  # ... at different places
    evaluated = torch.cat(model.seen[False])
    assert evaluated.shape[0] == 4 * 24 * 24  # evaluation: 2 x 2 sub-cell centres per pixel
    cell_means = predict_grid(model.model, signal.shape, "cpu", convention="centers", pixels=PixelModel(box=2))
    expected = psnr(cell_means, signal.values, signal.shape)["psnr"]
    assert result.metrics["final_psnr"] == pytest.approx(expected, abs=1e-4)
    # and it learns: 23.3 dB, 10 above the best constant
    assert result.metrics["final_psnr"] > max(before["psnr"] + 3, constant_psnr(image_file) + 5)


@pytest.mark.parametrize("options, message", [
    ({"box": 1}, "box must be 0"),
    ({"box": 2, "jitter": 1.0}, "choose one of jitter and box"),
])
def test_box_options_are_checked(image_file, options, message):
    signal = signals.load(image_file)
    with pytest.raises(KanInrError, match=message):
        fit(build("siren", 2, 3, SirenConfig(hidden_dim=8, hidden_layers=1)), signal,
            TrainConfig(steps=1, device="cpu", **options))


def test_box_pixels_need_cells():
    with pytest.raises(KanInrError, match="needs a grid of cells"):
        PixelModel(box=2).check("endpoints")  # audio samples are instants, decimated, not averaged
    PixelModel(box=2).check("centers")
    PixelModel(jitter=0.5).check("endpoints")


def test_step_seeds_stay_in_the_generators_range():
    assert step_seed(5, 7) == 5 * 1_000_003 + 7  # small seeds: the draws they always had
    seeds = [step_seed(MAX_SEED, step) for step in range(3)]
    assert all(0 <= s < SEED_SPACE for s in seeds) and len(set(seeds)) == 3  # in range, a new draw per step
    coords = grid((4, 4), convention="centers")  # (16, 2)
    for pixels in (PixelModel(box=2), PixelModel(jitter=0.5)):
        positions = pixels.sampler((4, 4), "centers", torch.device("cpu"), seed=MAX_SEED)
        assert not torch.equal(positions(coords, step=0), positions(coords, step=1))


def test_fit_takes_the_largest_seed_with_box_pixels(image_file, tmp_path, capsys, monkeypatch):
    code, out, err = run_cli(["fit", image_file, "--model", "siren", "--set", "hidden_dim=8", "--steps", "2",
                              "--box", "2", "--seed", MAX_SEED, "--outputs", tmp_path / "out", "-q"],
                             capsys, monkeypatch)
    assert code == 0, err
    assert "Traceback" not in err

"""sampling.py: sub-pixel jitter draws positions inside the pixel cells, in training only."""

from __future__ import annotations

import torch
from torch import nn

from kan_inr import signals
from kan_inr.config import TrainConfig
from kan_inr.training import fit
from kan_inr.models import build
from kan_inr.models.siren import SirenConfig
from kan_inr.sampling import jitter
from kan_inr.signals.base import grid


def test_jitter_stays_in_the_cell_and_covers_it():
    torch.manual_seed(0)
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

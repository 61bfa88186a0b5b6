"""The pixel model: what one sample of the signal is to the INR, and where training evaluates it.

A pixel is a cell (``geometry``): its value is the mean of the scene over the cell (a box
prefilter), not the scene's value at the centre. Two models of it, one ``PixelModel`` each run:

- **point** (``box`` = 0): a pixel is the INR's value at its centre. Training may draw its position
  uniformly inside the cell instead (``jitter``, a fraction of the cell), with the pixel's value as
  the target: in expectation an MSE to a box-filtered signal, instead of a function that only passes
  through the centres and may do anything in between. Evaluation and rendering stay on the centres.
- **box** (``box`` = k >= 2): a pixel is the INR's *mean* over its cell, estimated from k^d samples,
  in training and rendering alike, so the fit inverts the area averaging that made the pixels (a
  camera's, or a downsampler's) instead of asking every point of the cell to equal the pixel.
  Training draws one uniform position in each of the k^d sub-cells (stratified); rendering takes the
  sub-cell centres (the midpoint rule), the cell being the render grid's, so a render at any size
  averages over its own pixels. Plain jitter's loss, E[(f(x) - y)^2] = (mean f - y)^2 + var f over
  the cell, also punishes any detail inside a cell; the box model's loss is (mean f - y)^2 plus only
  a residual of that variance (stratification shrinks it well below var f / k^d).

Predictions of S samples per pixel are laid out sample-major, (S * B, d) positions -> (S * B, C)
outputs, and ``PixelModel.reduce`` turns them into the B pixel values. The run records the pixel
model as ``TrainConfig.box`` / ``jitter`` (config.json) and in the ``.kinr`` header (``box``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from kan_inr.config import TrainConfig
from kan_inr.errors import KanInrError
from kan_inr.geometry import CENTERS, cell_widths, subcell_offsets


@dataclass(frozen=True)
class PixelModel:
    box: int = 0  # k >= 2: a pixel is the INR's mean over its cell from k^d samples; 0: its centre value
    jitter: float = 0.0  # point pixels: training positions drawn within this fraction of each cell

    def __post_init__(self) -> None:
        if self.box < 0 or self.box == 1:
            raise KanInrError(f"box must be 0 (a pixel is its centre's value) or at least 2 samples per axis, "
                              f"got {self.box}")
        if self.box and self.jitter:
            raise KanInrError("choose one of jitter and box: the box pixel model already samples inside the cells")

    @classmethod
    def of(cls, cfg: TrainConfig) -> PixelModel:
        """The pixel model of a fit's training options."""
        return cls(cfg.box, cfg.jitter)

    def check(self, convention: str) -> None:
        """A user error for a pixel model the grid cannot have."""
        if self.box and convention != CENTERS:
            raise KanInrError("the box pixel model needs a grid of cells (images); this signal's samples are instants")

    def samples(self, d: int) -> int:
        """INR evaluations per pixel of a d-dimensional grid: S."""
        return self.box**d if self.box else 1

    def reduce(self, pred: torch.Tensor, count: int) -> torch.Tensor:
        """The ``count`` pixel values of sample-major predictions (..., S * count, C): (..., count, C), each
        the mean of its S predictions (point pixels: ``pred`` itself, no reshape or copy)."""
        if not self.box:
            return pred
        return pred.reshape(*pred.shape[:-2], -1, count, pred.shape[-1]).mean(-3)  # (..., S, count, C) -> (..., count, C)

    def render_offsets(self, cells: tuple[float, ...], device: torch.device | str) -> torch.Tensor | None:
        """Where a render evaluates the INR for a sample, relative to it, on a grid of cells ``cells``
        wide per axis (``geometry.cell_widths``): the sub-cell centres (S, d); None for point pixels."""
        if not self.box:
            return None
        cell = torch.tensor(cells, device=device)  # (d,)
        return subcell_offsets(self.box, len(cells), device) * cell  # (S, d)

    def sampler(self, shape: tuple[int, ...], convention: str, device: torch.device,
                seed: int = 0) -> TrainingPositions:
        """The training positions on a grid of ``shape`` (``TrainingPositions``), for one step object."""
        return TrainingPositions(self, shape, convention, device, seed)


POINT = PixelModel()  # a pixel is the INR's value at its centre: the default everywhere

SEED_SPACE = 2**64  # a torch.Generator takes seeds 0 .. 2^64 - 1


def step_seed(seed: int, step: int) -> int:
    """The generator seed of training step ``step`` of a fit seeded ``seed`` (any seed the config admits, up to
    2^63 - 1): distinct for the steps of one fit, reduced into the generator's 64 bits (a seed times the
    stride overflows them; below 2^44 nothing is reduced, so small seeds draw what they always drew)."""
    return (seed * 1_000_003 + step) % SEED_SPACE


class TrainingPositions:
    """Where training step ``step`` evaluates the INR for a batch of samples, as ``pixels`` models them.

    Random draws come from one generator on the device, reseeded by (seed, step) at each step: a network
    fitted alone, in a batch of networks (``batched``), data-parallel (``distributed``) or resumed from a
    checkpoint draws the same positions at the same step, with no generator state to save. The cell
    widths and sub-cell offsets are made once, here, so a step copies nothing from the host (no sync).
    """

    def __init__(self, pixels: PixelModel, shape: tuple[int, ...], convention: str, device: torch.device,
                 seed: int = 0) -> None:
        pixels.check(convention)
        self.pixels, self.seed = pixels, seed
        cell = torch.tensor(cell_widths(shape, convention), device=device)  # (d,)
        self.reach = cell * pixels.jitter  # (d,): how far a jittered position may move, across the cell
        self.cell = cell
        self.offsets = subcell_offsets(pixels.box, len(shape), device)[:, None] if pixels.box else None  # (S, 1, d)
        self.generator = torch.Generator(device=device) if pixels.box or pixels.jitter else None

    def __call__(self, coords: torch.Tensor, step: int = 0) -> torch.Tensor:
        """Positions for the samples at ``coords`` (B, d): (S * B, d), sample-major, clipped to [-1, 1]
        (an endpoint sample's cell is clipped there); ``coords`` itself for point pixels without jitter."""
        if self.generator is None:
            return coords
        self.generator.manual_seed(step_seed(self.seed, step))
        if self.offsets is None:  # jitter: one uniform draw in the central ``jitter`` fraction of the cell
            offset = (torch.rand(coords.shape, dtype=coords.dtype, device=coords.device,
                                 generator=self.generator) - 0.5) * self.reach  # (B, d)
            return (coords + offset).clamp(-1.0, 1.0)
        # box: one uniform draw inside each of the k^d sub-cells (stratified); the mean of the INR over the
        # first axis is then an unbiased estimate of its mean over the cell
        inside = (torch.rand((self.offsets.shape[0], *coords.shape), dtype=coords.dtype, device=coords.device,
                             generator=self.generator) - 0.5) / self.pixels.box  # (S, B, d)
        points = (coords + (self.offsets + inside) * self.cell).clamp(-1.0, 1.0)  # (S, B, d)
        return points.reshape(-1, coords.shape[1])  # (S * B, d)

"""Recipes: how a preset, a protocol or a codec trains a network (Adam, MSE): its lr, batch, length,
schedule. Plain data that imports no model family, so a module that only needs a recipe (the codec's
sizing, the comparison's protocols) reads one without building the model registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kan_inr.config import BF16_SWITCH_MARGIN_DB, FULL_BATCH, epoch_steps

RECIPES = ("default", "paper")  # a preset's two recipe families (``models.Preset.recipe_for``)


@dataclass(frozen=True)
class Recipe:
    """How a preset is trained (Adam, MSE). Its length is ``epochs``, passes over the signal's samples
    (box samples counted once), so it scales with the signal; or ``steps`` where a paper counted
    steps; neither: the caller's (a protocol budget)."""

    lr: float
    batch: int = FULL_BATCH  # coordinates per step (config.batch_size)
    epochs: float | None = None
    steps: int | None = None
    schedule: str = "exp"  # see training.lr_at
    lr_decay: float = 0.1  # final lr = lr * lr_decay (exp and cosine schedules)
    target_range: tuple[float, float] | None = None  # range models are trained on; None = signal's own
    box: int = 0  # box pixel model (TrainConfig.box): samples per axis of each pixel's cell; 0 = centre values
    # The grid PSNR/SNR (dB) at which this recipe's bf16 fits stall (measured by scripts/precision_switch.py,
    # benchmarks/precision-ceiling.json); --precision auto runs bf16 until BF16_SWITCH_MARGIN_DB below
    # it, then fp32 (precision.plan). None: not measured, auto runs fp32.
    bf16_ceiling: float | None = None

    def train_fields(self) -> dict[str, Any]:
        """The TrainConfig fields this recipe sets (its length only when it has one): the one way a recipe
        (a preset's, a protocol's, a codec's) becomes training options."""
        fields = {"lr": self.lr, "batch": self.batch, "schedule": self.schedule, "lr_decay": self.lr_decay,
                  "target_range": self.target_range, "box": self.box,
                  "bf16_until": None if self.bf16_ceiling is None else self.bf16_ceiling - BF16_SWITCH_MARGIN_DB}
        return fields | ({"epochs": self.epochs} if self.epochs is not None else {}) \
            | ({"steps": self.steps} if self.steps is not None else {})

    def steps_for(self, num_samples: int) -> int | None:
        """This recipe's length in steps for a signal of ``num_samples`` (``config.epoch_steps`` for
        epochs); None when it states none."""
        return self.steps if self.epochs is None else epoch_steps(self.epochs, self.batch, num_samples)

    def length(self) -> str:
        """'N epochs', 'N steps' or '-': how ``kan-inr models`` shows it."""
        return f"{self.epochs:g} epochs" if self.epochs is not None else f"{self.steps:,} steps" if self.steps else "-"

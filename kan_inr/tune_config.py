"""How a study runs (``kan-inr tune``, ``kan_inr.tune``): its options declared once (``TuneConfig``), as
``config.TrainConfig`` declares fit's, from which the command line and the API take names, defaults and help."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kan_inr.errors import KanInrError
from kan_inr.config import MAX_SEED, TrainConfig, check_values, help_of, option

TUNE_OBJECTIVES = ("grid", "2x", "both")  # what a study maximises (tuning.objectives)
DEFAULT_TRIAL_SECONDS = 30.0  # a trial's training per signal when neither seconds nor epochs is given


@dataclass(frozen=True)
class TuneConfig:
    """How a study runs (``kan-inr tune``, ``kan_inr.tune``, ``scripts/study.py``): each option declared once,
    its default and help here, from which the command lines and the API take theirs (``options.options_of``).
    Checked when made, as ``TrainConfig`` is."""

    trials: int = option(20, "Finished trials the study should hold; a re-run continues it.", lo=1)
    seconds: float | None = option(None, f"Training seconds of each fit of a trial [default: "
                                         f"{DEFAULT_TRIAL_SECONDS:g} unless epochs are given].", lo=0, above=True)
    epochs: float | None = option(None, "Or each fit's epochs (the length lever capped at them).", lo=0, above=True)
    objective: str = option("both", "grid, 2x (fitted reduced 2x, scored at full size) or both (a Pareto front).",
                            choices=TUNE_OBJECTIVES)
    space: Path | None = option(None, "TOML file narrowing or widening the search space.")
    storage: str | None = option(None, "Optuna database URL [default: study.db in the tune folder].")
    name: str | None = option(None, "Writes <outputs>/tune-<name>/ [default: the first file's stem].")
    seed: int = option(0, "Seed of the sampler and of every fit.", lo=0, hi=MAX_SEED)
    device: str = option("auto", help_of(TrainConfig, "device"))

    def __post_init__(self) -> None:
        check_values(self)
        if self.seconds is not None and self.epochs is not None:
            raise KanInrError("give the budget per trial as seconds or as epochs, not both")

    def budget(self) -> tuple[float | None, float | None]:
        """(seconds, epochs) of training per fit of a trial: the one given, else DEFAULT_TRIAL_SECONDS."""
        if self.seconds is None and self.epochs is None:
            return DEFAULT_TRIAL_SECONDS, None
        return self.seconds, self.epochs

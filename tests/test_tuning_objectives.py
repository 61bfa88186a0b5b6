"""What a study's trial is told to train (kan_inr/tuning/objectives.py): its budget as training options,
with one spelling of a full batch (``config.FULL_BATCH``)."""

from __future__ import annotations

import typing
from pathlib import Path

import kan_inr
from kan_inr.config import FULL_BATCH, eval_every_for
from kan_inr.tuning import objectives, study
from conftest import smooth_image


def target() -> objectives.Target:
    signal = kan_inr.load_signal(smooth_image(16, 16), kind="image")  # 256 samples
    return objectives.Target(Path("smooth.png"), signal, signal)


def test_an_epochs_budget_counts_steps_of_the_trials_batch():
    assert objectives.budget_options(target(), None, 8.0, FULL_BATCH) == {"eval_every": eval_every_for(8, None)}
    assert objectives.budget_options(target(), None, 8.0, 64) == {"eval_every": eval_every_for(32, None)}


def test_a_full_batch_has_one_spelling():
    """A batch is ``TrainConfig.batch``'s int (FULL_BATCH for all the samples), never None: the type checker
    (tests/test_types.py) holds every caller to it."""
    assert typing.get_type_hints(objectives.budget_options)["batch"] is int
    assert typing.get_type_hints(study.Trials.__init__)["batch"] is int

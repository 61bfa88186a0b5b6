"""render.Fitted: the one place a fit's training options become its pixel model and target range, read alike by
the job that trains (``jobs.Job.fitted``) and by a render of its run folder (``Fitted.of_run``)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from kan_inr import KanInrError
from kan_inr.geometry import CENTERS
from kan_inr.jobs import start_run
from kan_inr.pixels import PixelModel
from kan_inr.render import Fitted

TINY = {"hidden_dim": "8", "hidden_layers": "1"}


def test_a_job_and_its_run_config_hold_the_same_fit(image_file):
    job = start_run(image_file, "siren", write=False, model_overrides=TINY, steps=1, device="cpu", box=2,
                    target_range=(-0.5, 0.5))
    assert job.fitted == Fitted((24, 24), CENTERS, (0.0, 1.0), (-0.5, 0.5), PixelModel(box=2))
    assert Fitted.of_run(job.config) == job.fitted  # what a render of the run folder reads
    plain = start_run(image_file, "siren", write=False, model_overrides=TINY, steps=1, device="cpu", jitter=0.25)
    assert (plain.fitted.pixels, plain.fitted.target_range) == (PixelModel(jitter=0.25), (-1.0, 1.0))  # siren's recipe


def test_a_pixel_model_the_grid_cannot_have_is_refused_before_a_run_exists(tmp_path):
    clip = tmp_path / "clip.wav"
    sf.write(clip, np.sin(np.linspace(0, 30, 400)).astype(np.float32), 8000, subtype="FLOAT")
    outputs = tmp_path / "outputs"
    with pytest.raises(KanInrError, match="the box pixel model needs a grid of cells"):
        start_run(clip, "siren", outputs=outputs, model_overrides=TINY, steps=1, device="cpu", box=2)
    assert not outputs.exists()

"""fit-many: batched fitting equals one fit per signal; run folders, summary (mean +- std) and resume."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import signal
import statistics
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch

from kan_inr import KanInrError, jobs, models, runs, signals
from kan_inr.batched import fit_batch
from kan_inr.checkpoint import CheckpointPolicy
from kan_inr.cli import main
from kan_inr.config import FULL_BATCH, MAX_SEED, TrainConfig
from kan_inr.training import fit
from kan_inr.logging import NullLog
from kan_inr.many import fit_many, find_signals
from conftest import tb_scalars

TINY_FKAN = {"grid_size": "8", "hidden_dim": "16", "block_dims": "32,32"}
TINY_SIREN = {"hidden_dim": "16", "hidden_layers": "1"}


def write_images(folder: Path, shapes: list[tuple[int, int]], seed: int = 0) -> list[Path]:
    """Smooth random RGB images (a few low-frequency waves), one PNG per shape."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (h, w) in enumerate(shapes):
        y, x = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
        freq, phase = rng.uniform(1, 4, (2, 3)), rng.uniform(0, 6, 3)
        image = 0.5 + 0.4 * np.sin(2 * np.pi * (freq[0] * x[..., None] + freq[1] * y[..., None]) + phase)
        paths.append(folder / f"img{i}.png")
        iio.imwrite(paths[-1], (image * 255).round().astype(np.uint8))
    return paths


def read_summary(path: Path) -> dict[str, dict[str, str]]:
    with open(path) as f:
        return {row["signal"]: row for row in csv.DictReader(f)}


def assert_summaries_close(a: dict[str, dict[str, str]], b: dict[str, dict[str, str]], rel: float = 1e-5) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].keys() == b[name].keys()
        for col, value in a[name].items():
            try:
                x, y = float(value), float(b[name][col])
            except ValueError:
                assert value == b[name][col], (name, col)
                continue
            assert math.isclose(x, y, rel_tol=rel, abs_tol=1e-7), (name, col, value, b[name][col])


@pytest.mark.parametrize("family,fields,batch,box,seed", [
    ("fkan", TINY_FKAN, 64, 0, 3), ("siren", TINY_SIREN, FULL_BATCH, 0, 3),
    ("fkan", TINY_FKAN, 64, 2, MAX_SEED)])  # box: the same sub-pixel draws, from the largest seed
def test_fit_batch_equals_one_fit_per_signal(tmp_path: Path, family: str, fields: dict[str, str],
                                             batch: int, box: int, seed: int) -> None:
    sigs = [signals.load(p) for p in write_images(tmp_path, [(16, 16)] * 2)]
    preset = models.preset(family)
    cfg = models.with_overrides(preset.config_for(sigs[0].shape), fields)
    train = TrainConfig(steps=20, lr=1e-3, batch=batch, eval_every=10, seed=seed, device="cpu", box=box)

    def seeded_model() -> torch.nn.Module:  # what jobs.start_run builds for every signal
        torch.manual_seed(train.seed)
        return models.build(family, 2, 3, cfg)

    alone = [seeded_model() for _ in sigs]
    alone_results = [fit(m, s, train) for m, s in zip(alone, sigs)]
    together = [seeded_model() for _ in sigs]
    together_results = fit_batch(together, sigs, train)

    for a, b, ra, rb in zip(alone, together, alone_results, together_results):
        for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
            torch.testing.assert_close(pb, pa, rtol=1e-5, atol=1e-6, msg=name)
        assert [h["step"] for h in rb.history] == [10, 20]
        for ha, hb in zip(ra.history, rb.history):
            assert hb["psnr"] == pytest.approx(ha["psnr"], rel=1e-6)
            assert hb["loss"] == pytest.approx(ha["loss"], rel=1e-5)
        assert rb.metrics["final_psnr"] == pytest.approx(ra.metrics["final_psnr"], rel=1e-6)
        assert rb.history[1]["psnr"] > rb.history[0]["psnr"]  # it trained
    assert len({r.metrics["final_psnr"] for r in together_results}) == 2  # two different signals


def test_fit_batch_diverges_like_fit(tmp_path: Path) -> None:
    sigs = [signals.load(p) for p in write_images(tmp_path, [(16, 16)] * 2)]
    cfg = models.with_overrides(models.preset("siren").config_for((16, 16)), TINY_SIREN)
    # targets of order 1e30: their squared error overflows float32, an infinite loss at the first step
    train = TrainConfig(steps=30, eval_every=5, log_every=1, device="cpu", target_range=(-1e30, 1e30))

    def seeded_model() -> torch.nn.Module:
        torch.manual_seed(train.seed)
        return models.build("siren", 2, 3, cfg)

    alone = [fit(seeded_model(), s, train) for s in sigs]
    together = fit_batch([seeded_model() for _ in sigs], sigs, train)
    for a, b in zip(alone, together):
        assert a.diverged_at is not None and b.diverged_at == a.diverged_at
        assert b.metrics["steps"] == a.metrics["steps"]
        assert b.metrics["final_psnr"] == pytest.approx(a.metrics["final_psnr"], rel=1e-6)


def test_fit_batch_rejects_mixed_shapes(tmp_path: Path) -> None:
    sigs = [signals.load(p) for p in write_images(tmp_path, [(16, 16), (16, 12)])]
    tiny = models.with_overrides(models.preset("siren").config_for((16, 16)), TINY_SIREN)
    with pytest.raises(KanInrError, match="one kind, shape"):
        fit_batch([models.build("siren", 2, 3, tiny) for _ in sigs], sigs, TrainConfig(steps=1, device="cpu"))


def test_fit_many_runs_summary_and_resume(tmp_path: Path) -> None:
    # two 16x16 images are fitted together, the 16x12 one alone through jobs.fit_file
    write_images(tmp_path / "data", [(16, 16), (16, 16), (12, 16)])
    # fp32: one network fitted alone or inside a vmapped group gives the same floats only in fp32 (bf16
    # roundings depend on the batched kernels' shapes)
    options = dict(outputs=tmp_path / "out", model_overrides=TINY_FKAN, steps=20, batch=64, lr=1e-3,
                   eval_every=10, device="cpu", precision="fp32")
    first = fit_many([str(tmp_path / "data")], "fkan", batched=True, **options)
    assert first.group_dir == tmp_path / "out" / "data-fkan"
    assert sorted(p.name for p in first.fitted) == ["img0", "img1", "img2"] and first.skipped == []
    for run in first.fitted:
        assert {"config.json", "weights.pt", "metrics.json", "history.json", "reconstruction.png", "tb"} <= {
            p.name for p in run.iterdir()}
        history = json.loads((run / "history.json").read_text())  # TensorBoard: each signal's own curve
        assert tb_scalars(run / "tb")["eval/psnr"] == {h["step"]: pytest.approx(h["psnr"], rel=1e-6) for h in history}
    together = {json.loads((first.group_dir / n / "metrics.json").read_text()).get("fitted_together") for n in
                ("img0", "img1", "img2")}
    assert together == {2, None}

    rows = read_summary(first.summary)
    assert list(rows) == ["img0", "img1", "img2", "mean", "std"]
    psnrs = [json.loads((first.group_dir / n / "metrics.json").read_text())["final_psnr"]
             for n in ("img0", "img1", "img2")]
    assert [float(rows[n]["final_psnr"]) for n in ("img0", "img1", "img2")] == psnrs
    assert float(rows["mean"]["final_psnr"]) == pytest.approx(statistics.fmean(psnrs))
    assert float(rows["std"]["final_psnr"]) == pytest.approx(statistics.stdev(psnrs))
    md = (first.group_dir / "summary.md").read_text()
    assert f"{statistics.fmean(psnrs):.4f} ± {statistics.stdev(psnrs):.4f}" in md

    # resume: complete runs are skipped; one left "running" (its process was killed before a checkpoint)
    # and one lost entirely are fitted again, alone or together, to the same result
    weights = (first.group_dir / "img0" / "weights.pt").read_bytes()
    (first.group_dir / "img1" / "metrics.json").write_text(json.dumps({"status": "running", "step": 0}))
    shutil.rmtree(first.group_dir / "img2")
    second = fit_many([str(tmp_path / "data")], "fkan", batched=True, **options)
    assert sorted(p.name for p in second.fitted) == ["img1", "img2"]
    assert [p.stem for p in second.skipped] == ["img0"]
    assert (first.group_dir / "img0" / "weights.pt").read_bytes() == weights
    assert_summaries_close(read_summary(second.summary), rows)

    # the sequential path (the default on a CPU) writes the same runs and summary
    sequential = fit_many([str(tmp_path / "data" / "*.png")], "fkan", name="seq", **options)
    assert_summaries_close(read_summary(sequential.summary), rows)
    assert all("fitted_together" not in json.loads((run / "metrics.json").read_text()) for run in sequential.fitted)
    for n in ("img0", "img1", "img2"):
        config = json.loads((first.group_dir / n / "config.json").read_text())
        assert json.loads((sequential.group_dir / n / "config.json").read_text()) == config


class SignalAtStep(NullLog):
    """A run's log that sends this process SIGINT while step ``at`` runs (every run of a batched group
    does: the duplicates are one Ctrl-C, as under torchrun)."""

    def __init__(self, at: int) -> None:
        self.at = at

    def train(self, step: int, loss: float, lr: float, samples_per_s: float) -> None:
        if step == self.at:
            os.kill(os.getpid(), signal.SIGINT)


def test_batched_group_interrupted_resumes_as_a_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_images(tmp_path / "data", [(16, 16)] * 4)
    options = dict(outputs=tmp_path / "out", model_overrides=TINY_FKAN, steps=30, batch=64, lr=1e-3, eval_every=10, log_every=1,
                   device="cpu", batched=True, policy=CheckpointPolicy(every_steps=5))
    monkeypatch.setattr(jobs, "RunLog", lambda *a, **k: NullLog())
    reference = fit_many([str(tmp_path / "data")], "fkan", name="reference", **options)

    monkeypatch.setattr(jobs, "RunLog", lambda *a, **k: SignalAtStep(17))
    with pytest.raises(KanInrError, match="checkpointed at step 17; run the same command again"):
        fit_many([str(tmp_path / "data")], "fkan", name="stopped", **options)
    group_dir = tmp_path / "out" / "stopped"
    for n in ("img0", "img1", "img2", "img3"):  # every run of the group stopped after the same step
        assert runs.read_status(group_dir / n)["status"] == "interrupted"
        assert runs.load_checkpoint(group_dir / n)["step"] == 17

    monkeypatch.setattr(jobs, "RunLog", lambda *a, **k: NullLog())
    resumed = fit_many([str(tmp_path / "data")], "fkan", name="stopped", **options)
    assert sorted(p.name for p in resumed.fitted) == ["img0", "img1", "img2", "img3"]
    for n in ("img0", "img1", "img2", "img3"):
        metrics = runs.read_status(group_dir / n)
        assert metrics["status"] == "complete" and metrics["fitted_together"] == 4
        a = torch.load(reference.group_dir / n / runs.WEIGHTS, weights_only=True)
        b = torch.load(group_dir / n / runs.WEIGHTS, weights_only=True)
        assert max((a[k] - b[k]).abs().max().item() for k in a) <= 1e-6
    assert_summaries_close(read_summary(resumed.summary), read_summary(reference.summary), rel=1e-6)


def test_find_signals_errors(tmp_path: Path) -> None:
    with pytest.raises(KanInrError, match="no signal files"):
        find_signals([str(tmp_path)])
    write_images(tmp_path / "a", [(4, 4)])
    write_images(tmp_path / "b", [(4, 4)])
    with pytest.raises(KanInrError, match="share the run folder 'img0'"):
        find_signals([str(tmp_path / "a"), str(tmp_path / "b")])
    with pytest.raises(KanInrError, match="no such file or folder"):
        find_signals([str(tmp_path / "missing")])
    assert find_signals([str(tmp_path / "a" / "*.png")]) == [tmp_path / "a" / "img0.png"]


def test_cli_fit_many_error_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.argv", ["kan-inr", "fit-many", str(tmp_path), "--outputs", str(tmp_path / "out")])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == f"kan-inr: error: no signal files in {tmp_path} (supported: " \
        f"{' '.join(sorted(e for k in signals.KINDS.values() for e in k.EXTENSIONS))})\n"
    assert not (tmp_path / "out").exists()

"""Hostile and odd inputs: each gets a correct result or one error line and exit 2, never a half-written run."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kan_inr import KanInrError, cli, jobs, models, options, runs, signals, step
from kan_inr.logging import NullLog
from kan_inr.metrics import psnr
from kan_inr.pixels import POINT
from kan_inr.render import predict_grid
from conftest import run_cli

from kan_inr import training as fit

TINY = ["--model", "siren", "--set", "hidden_dim=8", "--set", "hidden_layers=1", "--device", "cpu", "-q"]


@pytest.fixture(autouse=True)
def quiet_runs(monkeypatch):
    """No TensorBoard writer: it costs seconds per run and is not under test here."""
    monkeypatch.setattr(jobs, "RunLog", lambda *a, **k: NullLog())


def assert_one_error_line(code: int, err: str, match: str, out: str = "") -> None:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("kan-inr: error: "), (code, err, out)
    assert match in lines[0], lines[0]


def visible(folder: Path) -> list[str]:
    """What a user sees in an outputs folder (hidden staging folders would be leftovers too)."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def write_png(path: Path, shape: tuple[int, ...]) -> Path:
    iio.imwrite(path, np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8))
    return path


def float_tiff(path: Path, bad: float) -> Path:
    array = np.random.default_rng(0).random((6, 6), dtype=np.float32)
    array[2, 3] = bad
    tifffile.imwrite(path, array)
    return path


def wav(path: Path, bad: float | None = None) -> Path:
    import soundfile as sf

    samples = np.sin(np.linspace(0, 60, 400)).astype(np.float32)
    if bad is not None:
        samples[100] = bad
    sf.write(path, samples, 8000, subtype="FLOAT")
    return path


def then(path: Path, *_: object) -> Path:
    """``path``, after the side effects in the other arguments (they make the file)."""
    return path


def truncated(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


BAD_FILES = {  # name -> (make the file in a folder, what the one error line says)
    "truncated PNG": (lambda d: truncated(write_png(d / "t.png", (16, 16, 3))), "cannot read image"),
    "random-bytes PNG": (lambda d: then(d / "r.png", (d / "r.png").write_bytes(os.urandom(300))), "not an image file"),
    "empty file": (lambda d: then(d / "e.png", (d / "e.png").write_bytes(b"")), "not an image file"),
    "0x0 TIFF": (lambda d: then(d / "z.tif", tifffile.imwrite(d / "z.tif", np.zeros((0, 0), np.float32))),
                 "expected a 2-D grayscale, RGB or RGBA image"),
    "NaN in float TIFF": (lambda d: float_tiff(d / "n.tif", np.nan), "NaN or infinite"),
    "inf in float TIFF": (lambda d: float_tiff(d / "i.tif", np.inf), "NaN or infinite"),
    "a directory": (lambda d: then(d / "folder.png", (d / "folder.png").mkdir()), "is a directory"),
    "missing file": (lambda d: d / "nothing.png", "no such file"),
    "unknown type": (lambda d: then(d / "notes.txt", (d / "notes.txt").write_text("hi")), "unknown file type"),
}
BAD_FILES |= {
    "NaN in float WAV": (lambda d: wav(d / "n.wav", np.nan), "NaN or infinite"),
    "inf in float WAV": (lambda d: wav(d / "i.wav", np.inf), "NaN or infinite"),
    "random-bytes WAV": (lambda d: then(d / "r.wav", (d / "r.wav").write_bytes(os.urandom(300))), ""),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_signal_files_end_in_one_line(case, tmp_path, capsys, monkeypatch):
    make, match = BAD_FILES[case]
    (tmp_path / "in").mkdir()
    path = make(tmp_path / "in")
    code, _, err = run_cli(["fit", path, *TINY, "--steps", "2", "--outputs", tmp_path / "out"], capsys, monkeypatch)
    assert_one_error_line(code, err, match)
    assert visible(tmp_path / "out") == []


def test_truncated_wav_loads_the_samples_present(tmp_path):
    """libsndfile reads the frames a cut-off WAV still holds: a correct (shorter) signal, not an error."""
    signal = signals.load(truncated(wav(tmp_path / "t.wav")))
    assert 100 < signal.num_samples < 400 and torch.isfinite(signal.values).all()


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 100_000, 3)], ids=["1x1", "1x100000"])
def test_degenerate_image_shapes_fit_and_render(shape, tmp_path, capsys, monkeypatch):
    path = write_png(tmp_path / "odd.png", shape)
    code, out, err = run_cli(["fit", path, *TINY, "--steps", "2", "--batch", "4096", "--outputs", tmp_path],
                             capsys, monkeypatch)
    assert code == 0, err
    run = tmp_path / "odd-siren"
    metrics = json.loads((run / runs.METRICS).read_text())
    written, source = (signals.load(p).values for p in (run / "reconstruction.png", path))
    # no floor (a 2-step fit to noise): the PSNR reported is the one of the reconstruction written, 8-bit rounding aside
    assert metrics["status"] == "complete" and metrics["final_psnr"] == pytest.approx(psnr(written, source), abs=0.05)
    assert iio.imread(run / "reconstruction.png").shape == shape
    code, out, err = run_cli(["render", run, "--scale", "2", "--device", "cpu"], capsys, monkeypatch)
    assert code == 0, err
    assert iio.imread(out.strip()).shape == (2 * shape[0], 2 * shape[1], 3)


def test_unwritable_outputs(image_file, tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, _, err = run_cli(["fit", image_file, *TINY, "--steps", "2", "--outputs", blocker / "out"], capsys, monkeypatch)
    assert_one_error_line(code, err, "cannot create run folder")
    if os.geteuid() != 0:  # root writes anywhere: only an ordinary user can test permissions for real
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        code, _, err = run_cli(["fit", image_file, *TINY, "--steps", "2", "--outputs", locked], capsys, monkeypatch)
        assert_one_error_line(code, err, "Permission denied")
        assert visible(locked) == []


def full_disk_after(monkeypatch, writes_ok: int) -> None:
    """Simulate a disk that fills up: every torch.save after the first ``writes_ok`` fails with ENOSPC."""
    real, count = torch.save, [0]

    def save(obj, f, *args, **kwargs):
        count[0] += 1
        if count[0] > writes_ok:
            f.write(b"partial")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)


def test_full_disk_at_start_leaves_nothing(image_file, tmp_path, capsys, monkeypatch):
    full_disk_after(monkeypatch, 0)
    code, _, err = run_cli(["fit", image_file, *TINY, "--steps", "4", "--outputs", tmp_path / "out"], capsys, monkeypatch)
    assert_one_error_line(code, err, "No space left on device: free some space")
    assert os.listdir(tmp_path / "out") == []  # no run, no staging folder, no temporary file


def test_full_disk_mid_fit_leaves_a_resumable_run(image_file, tmp_path, capsys, monkeypatch):
    full_disk_after(monkeypatch, 3)  # initial weights, then checkpoint 1 (checkpoint + weights) fit; then ENOSPC
    args = ["fit", image_file, *TINY, "--steps", "6", "--batch", "64", "--checkpoint-every", "2",
            "--outputs", tmp_path]
    code, _, err = run_cli(args, capsys, monkeypatch)
    assert_one_error_line(code, err, "No space left on device")
    run = tmp_path / "tiny-siren"
    assert [p for p in os.listdir(run) if p.endswith(".tmp")] == []
    assert runs.read_status(run)["status"] == "interrupted" and runs.load_checkpoint(run)["step"] == 2
    runs.load_run(run)  # loads and renders meanwhile
    monkeypatch.undo()
    monkeypatch.setattr(jobs, "RunLog", lambda *a, **k: NullLog())
    code, out, err = run_cli(["fit", "--resume", run, "-q"], capsys, monkeypatch)
    assert code == 0 and "6 steps" in out, err


def test_signal_too_large_for_memory(image_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(fit, "free_memory", lambda device: 2**10)  # a device with 1 KiB free
    code, out, err = run_cli(["fit", image_file, *TINY, "--steps", "2", "--batch", "64", "--outputs", tmp_path / "o"],
                           capsys, monkeypatch)
    assert_one_error_line(code, err, "KiB are free: lower --batch (now 64; each coordinate costs", out)
    assert "--resize" in err and visible(tmp_path / "o") == []


def test_memory_estimate_grows_with_batch_and_signal():
    model = models.build("siren", 2, 3, models.SirenConfig(hidden_dim=32, hidden_layers=2))
    small = signals.Signal(torch.zeros(64 * 64, 3), (64, 64), "image", (0.0, 1.0))
    large = signals.Signal(torch.zeros(256 * 256, 3), (256, 256), "image", (0.0, 1.0))
    need_small, per_sample = fit.memory_needed(model, small, 64 * 64, pixels=POINT)
    # SIREN keeps its inputs and sine arguments for backward: about 32 * 2 floats per layer and coordinate
    assert 3 * 2 * 32 * 4 <= per_sample <= 3 * 6 * 32 * 4
    assert fit.memory_needed(model, small, 256, pixels=POINT)[0] < need_small < fit.memory_needed(model, large, 64 * 64, pixels=POINT)[0]


def test_run_locked_by_another_writer(image_file, tmp_path, capsys, monkeypatch):
    args = ["fit", image_file, *TINY, "--steps", "2", "--outputs", tmp_path]
    assert run_cli(args, capsys, monkeypatch)[0] == 0
    fd = runs.lock(tmp_path / "tiny-siren")
    try:
        code, _, err = run_cli([*args, "--overwrite"], capsys, monkeypatch)
    finally:
        runs.unlock(fd)
    assert_one_error_line(code, err, "is being written by another process")
    assert runs.read_status(tmp_path / "tiny-siren")["status"] == "complete"  # the old run is untouched


def test_training_oom_names_the_option(image_file, tmp_path, capsys, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(step, "train_step", out_of_memory)
    outputs = tmp_path / "o"
    code, _, err = run_cli(["fit", image_file, *TINY, "--steps", "2", "--batch", "64", "--outputs", outputs],
                           capsys, monkeypatch)
    assert_one_error_line(code, err, "out of device memory while training: lower --batch (now 64, e.g. --batch 32)")
    assert visible(outputs) == []  # no step was made: no run is left
    code, _, err = run_cli(["fit", image_file, *TINY, "--steps", "2", "--batch", "0", "--outputs", outputs],
                           capsys, monkeypatch)
    assert_one_error_line(code, err, "train on minibatches, e.g. --batch 144 (now the full 576 samples)")


def test_render_retries_oom_with_smaller_chunks():
    model = models.build("siren", 2, 3, models.SirenConfig(hidden_dim=8, hidden_layers=1))
    calls = []

    class Flaky(torch.nn.Module):
        """The model, but a chunk of more than 100 coordinates runs 'out of memory'."""

        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, coords):
            calls.append(len(coords))
            if len(coords) > 100:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory")
            return self.inner(coords)

    expected = predict_grid(model, (30, 30), "cpu", pixels=POINT)
    got = predict_grid(Flaky(), (30, 30), "cpu", chunk=512, pixels=POINT)
    assert torch.allclose(got, expected, rtol=0, atol=1e-6)  # chunk sizes change only the summation order
    assert calls[:3] == [512, 256, 128] and max(calls[3:]) <= 100


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.integers(-2, 3), lr=st.floats(allow_nan=True, allow_infinity=True, width=32),
       batch=st.integers(-2, 700), eval_every=st.integers(-1, 3), checkpoint_every=st.integers(-1, 3))
def test_any_option_values(image_file, tmp_path, capsys, monkeypatch, steps, lr, batch, eval_every, checkpoint_every):
    outputs = tmp_path / f"o{os.urandom(4).hex()}"
    code, out, err = run_cli(["fit", image_file, *TINY, "--steps", steps, "--lr", lr, "--batch", batch,
                              "--eval-every", eval_every, "--checkpoint-every", checkpoint_every,
                              "--outputs", outputs], capsys, monkeypatch)
    if code == 0:
        assert runs.read_status(outputs / "tiny-siren")["status"] == "complete"
    else:
        assert_one_error_line(code, err, "")
        runs_left = visible(outputs)  # refused options leave nothing; a diverged fit keeps its best weights
        assert runs_left == [] or ("diverged" in err and runs.read_status(outputs / runs_left[0])["status"] == "complete")


@settings(max_examples=60, deadline=None)
@given(item=st.one_of(
    st.text(max_size=30),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(["hidden_dim", "hidden_layers", "first_omega", "nope", ""]),
              st.one_of(st.integers(-5, 64).map(str), st.floats(allow_nan=True).map(str), st.text(max_size=8)))))
def test_any_set_string(item):
    signal = signals.Signal(torch.zeros(16, 3), (4, 4), "image", (0.0, 1.0))
    try:
        job = jobs.start_run("x.png", "siren", signal=signal, write=False, model_overrides=options.parse_assignments([item]))
    except KanInrError as exc:
        assert len(cli.error_line(exc).splitlines()) == 1
        return
    assert job.model(torch.zeros(2, 2)).shape == (2, 3)



@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 2000), flips=st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=8))
def test_corrupted_image_bytes(tmp_path, cut, flips):
    original = tmp_path / "good.png"
    if not original.exists():
        write_png(original, (12, 12, 3))
    data = bytearray(original.read_bytes()[:cut])
    for at, value in flips:
        if at < len(data):
            data[at] = value
    path = tmp_path / "bad.png"
    path.write_bytes(bytes(data))
    try:
        signal = signals.load(path)
    except KanInrError as exc:
        assert "\n" not in str(exc)
        return
    assert signal.values.shape[1] in (1, 2, 3, 4) and torch.isfinite(signal.values).all()


def test_ctrl_c_before_training_exits_130_and_writes_nothing(image_file, tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(signals, "load", interrupted)  # Ctrl-C while the signal file is being read
    code, _, err = run_cli(["fit", image_file, *TINY, "--outputs", tmp_path / "o"], capsys, monkeypatch)
    assert code == 130 and err.strip() == "kan-inr: interrupted"
    assert visible(tmp_path / "o") == []

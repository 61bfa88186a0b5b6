"""Hostile decoder, signal, codec and render-size inputs: each is refused with one error line and exit 2
before it costs memory or hours, leaving no file behind, or it works (a 1-bit PNG, a 2-sample clip)."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import soundfile as sf
import tifffile
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kan_inr import KanInrError, jobs, limits, signals
from kan_inr.api import fit, load_signal
from kan_inr.codec import jobs as codec_jobs
from kan_inr.codec.fileformat import Container, pack, unpack
from kan_inr.logging import NullLog
from conftest import run_cli
from test_codec import json_values, small_file
from test_hostile import TINY, assert_one_error_line, visible

FIT = [*TINY, "--steps", "5"]


@pytest.fixture(autouse=True)
def quiet_runs(monkeypatch):
    """No TensorBoard writer: it costs seconds per run and is not under test here."""
    monkeypatch.setattr(jobs, "RunLog", lambda *a, **k: NullLog())


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_declaring(path: Path, width: int, height: int, bit_depth: int) -> Path:
    """A grayscale PNG whose header declares width x height; its one row of data is all the file holds
    (a decoder that trusts the header allocates the whole image, as for a zlib bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (1 + width * bit_depth // 8))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b""))
    return path


def fitted(path: Path, run_dir: Path) -> Path:
    """A 2-step tiny SIREN run folder for the signal file ``path`` (in memory, then saved: no TensorBoard)."""
    run = fit(path, "siren", steps=2, device="cpu", model_config={"hidden_dim": 8, "hidden_layers": 1}, progress=False)
    run.save(run_dir)
    return run_dir


@pytest.fixture(scope="module")
def image_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("runs")
    iio.imwrite(folder / "tiny.png", np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8))
    return fitted(folder / "tiny.png", folder / "img")


@pytest.fixture(scope="module")
def audio_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("runs")
    sf.write(folder / "clip.wav", np.sin(np.linspace(0, 30, 200)).astype(np.float32), 8000, subtype="FLOAT")
    return fitted(folder / "clip.wav", folder / "clip")


# case 12: every decoder under one cap, checked on the declared size before decoding

@pytest.mark.parametrize("bit_depth", [16, 8], ids=["16-bit (pypng)", "8-bit (Pillow)"])
def test_png_declaring_too_many_pixels_is_refused_before_decoding(bit_depth, tmp_path, capsys, monkeypatch):
    path = png_declaring(tmp_path / "bomb.png", 20000, 20000, bit_depth)
    code, _, err = run_cli(["fit", path, *FIT, "--outputs", tmp_path / "o"], capsys, monkeypatch)
    assert_one_error_line(code, err, "pixels the image declares: 400,000,000 exceeds the limit of 268,435,456")
    assert "--no-limits" in err and visible(tmp_path / "o") == []


def write_each_kind(folder: Path) -> list[Path]:
    """A 16x16 image through every image decoder, and a 300-sample clip."""
    image = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    paths = [folder / "a.png", folder / "b.png", folder / "c.tif", folder / "d.jpg", folder / "e.bmp", folder / "f.wav"]
    iio.imwrite(paths[0], image)
    iio.imwrite(paths[1], image.astype(np.uint16)[:, :, 0] * 257)  # 16-bit grayscale: read by pypng
    tifffile.imwrite(paths[2], image, photometric="rgb")
    iio.imwrite(paths[3], image)
    iio.imwrite(paths[4], image)
    sf.write(paths[5], np.zeros(300, np.float32), 8000)
    return paths


def test_every_decoder_keeps_the_one_cap_and_no_limits_lifts_it(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "MAX_DECODED_SAMPLES", 255)  # 16x16 images and a 300-sample clip are over
    for path in write_each_kind(tmp_path):
        with pytest.raises(KanInrError, match="exceeds the limit of 255"):
            signals.load(path)
        with limits.lifted():
            assert signals.load(path).num_samples in (256, 300)
    monkeypatch.setenv(limits.ENV, "1")
    assert signals.load(tmp_path / "a.png").num_samples == 256


# case 13: a clip too short to fit

def test_one_sample_wav_is_refused_and_two_samples_fit(tmp_path, capsys, monkeypatch):
    sf.write(tmp_path / "one.wav", np.array([0.5], np.float32), 8000, subtype="FLOAT")
    code, _, err = run_cli(["fit", tmp_path / "one.wav", *FIT, "--outputs", tmp_path / "o"], capsys, monkeypatch)
    assert_one_error_line(code, err, "1 audio sample(s) is too short a clip to fit (at least 2")
    assert visible(tmp_path / "o") == []
    monkeypatch.undo()  # the real TensorBoard writer: add_audio is what failed on one sample
    sf.write(tmp_path / "two.wav", np.array([0.5, -0.25], np.float32), 8000, subtype="FLOAT")
    code, _, err = run_cli(["fit", tmp_path / "two.wav", *FIT, "--outputs", tmp_path / "o"], capsys, monkeypatch)
    assert code == 0, err
    with pytest.raises(KanInrError, match="too short"):
        load_signal(np.zeros(1), kind="audio", sample_rate=8000)


# case 17: every render capped at one limit; tighter for a size a .kinr file chooses

def forged_config(run: Path, folder: Path, shape: list[int]) -> Path:
    """A copy of ``run`` whose config.json claims the source had ``shape``."""
    copy = folder / "forged"
    copy.mkdir()
    for item in run.iterdir():
        if item.is_file():
            (copy / item.name).write_bytes(item.read_bytes())
    config = json.loads((copy / "config.json").read_text())
    config["signal"]["shape"] = shape
    (copy / "config.json").write_text(json.dumps(config))
    return copy


@pytest.mark.parametrize("args", [["--scale", "1e6"], ["--size", "100000x100000"], ["--scale", "1e308"]],
                         ids=["scale", "size", "scale-overflow"])
def test_huge_image_render_is_refused(args, image_run, tmp_path, capsys, monkeypatch):
    out = tmp_path / "r.png"
    code, _, err = run_cli(["render", image_run, *args, "-o", out, "--device", "cpu"], capsys, monkeypatch)
    assert_one_error_line(code, err, "--scale" if "1e308" in args else "exceeds the limit of 268,435,456")
    assert not out.exists()


def test_forged_run_shape_and_audio_rate_are_refused(image_run, audio_run, tmp_path, capsys, monkeypatch):
    forged = forged_config(image_run, tmp_path, [100000, 100000])
    before = sorted(p.name for p in forged.iterdir())
    code, _, err = run_cli(["render", forged, "--device", "cpu"], capsys, monkeypatch)
    assert_one_error_line(code, err, "samples of a 100000x100000 render: 10,000,000,000 exceeds the limit")
    assert sorted(p.name for p in forged.iterdir()) == before
    for rate in ("1e12", "1e308"):
        code, _, err = run_cli(["render", audio_run, "--rate", rate, "-o", tmp_path / "a.wav", "--device", "cpu"],
                               capsys, monkeypatch)
        assert_one_error_line(code, err, "")
    assert not (tmp_path / "a.wav").exists()


def test_no_limits_lifts_the_render_cap(image_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(limits, "MAX_RENDER_SAMPLES", 100)
    args = ["render", image_run, "-o", tmp_path / "r.png", "--device", "cpu"]
    assert_one_error_line(*run_cli(args, capsys, monkeypatch)[::2], "exceeds the limit of 100")
    code, _, err = run_cli([*args, "--no-limits"], capsys, monkeypatch)
    assert code == 0 and iio.imread(tmp_path / "r.png").shape == (24, 24, 3), err


def test_forged_kinr_size_is_capped_tighter_than_a_given_size(tmp_path, capsys, monkeypatch):
    path = tmp_path / "big.kinr"
    path.write_bytes(small_file(shape=[16384, 16384]))
    out = tmp_path / "out.png"
    code, _, err = run_cli(["decompress", path, "-o", out, "--device", "cpu"], capsys, monkeypatch)
    assert_one_error_line(code, err, "268,435,456 exceeds the limit of 16,777,216")
    code, _, err = run_cli(["decompress", path, "-o", out, "--size", "100000x100000"], capsys, monkeypatch)
    assert_one_error_line(code, err, "exceeds the limit of 268,435,456")
    assert not out.exists()
    code, _, err = run_cli(["decompress", path, "-o", out, "--size", "20x10", "--device", "cpu"], capsys, monkeypatch)
    assert code == 0 and iio.imread(out).shape == (10, 20, 3), err
    monkeypatch.setattr(limits, "MAX_UNTRUSTED_RENDER_SAMPLES", 100)
    (tmp_path / "small.kinr").write_bytes(small_file())  # 12x10
    code, _, err = run_cli(["decompress", tmp_path / "small.kinr", "-o", out, "--no-limits", "--device", "cpu"],
                           capsys, monkeypatch)
    assert code == 0 and iio.imread(out).shape == (12, 10, 3), err


# case 19: a 1-bit PNG

def test_one_bit_png_loads_as_zeros_and_ones_and_fits(tmp_path, capsys, monkeypatch):
    from PIL import Image

    bits = np.random.default_rng(0).random((12, 10)) > 0.5
    Image.fromarray(bits).save(tmp_path / "bits.png")
    signal = signals.load(tmp_path / "bits.png")
    assert torch.equal(signal.values[:, 0], torch.from_numpy(bits.ravel().astype(np.float32)))
    code, _, err = run_cli(["fit", tmp_path / "bits.png", *FIT, "--outputs", tmp_path / "o"], capsys, monkeypatch)
    assert code == 0, err
    assert iio.imread(tmp_path / "o" / "bits-siren" / "reconstruction.png").shape == (12, 10)


# cases 20 and 24: the decoder trusts no header field

@pytest.mark.parametrize("channels", [4, 2], ids=["3->4", "3->2"])
def test_forged_channel_count_is_refused(channels, tmp_path, capsys, monkeypatch):
    good = unpack(small_file())
    path = tmp_path / "forged.kinr"
    path.write_bytes(pack(Container({**good.header, "channels": channels}, good.table, good.payload)))
    code, _, err = run_cli(["decompress", path, "-o", tmp_path / "out.png", "--device", "cpu"], capsys, monkeypatch)
    assert_one_error_line(code, err, "does not hold exactly the")
    assert not (tmp_path / "out.png").exists()


def test_list_for_a_layer_count_is_one_error_line(tmp_path, capsys, monkeypatch):
    path = tmp_path / "forged.kinr"
    path.write_bytes(small_file(config={"hidden_dim": 6, "hidden_layers": [1, 2]}))
    code, _, err = run_cli(["decompress", path, "-o", tmp_path / "out.png"], capsys, monkeypatch)
    assert_one_error_line(code, err, "model field hidden_layers = [1, 2] is out of range")


def header_fields(header: dict) -> list[tuple[str, ...]]:
    """Every field of a header as a path: top-level keys and the keys of its config and quant tables."""
    return [(key,) for key in header] + [(key, sub) for key in ("config", "quant") for sub in header[key]]


GOOD = unpack(small_file())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(header_fields(GOOD.header)), value=json_values)
def test_any_json_value_in_any_header_field_is_decoded_or_one_error(field, value):
    header = json.loads(json.dumps(GOOD.header))
    table = header
    for key in field[:-1]:
        table = table[key]
    table[field[-1]] = value
    try:
        model, _ = codec_jobs.decode(pack(Container(header, GOOD.table, GOOD.payload)))
    except KanInrError as exc:
        assert "\n" not in str(exc)
        return
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in codec_jobs.decode(pack(GOOD))[0].parameters())


# cases 21 and 23: arrays and tensors

@pytest.mark.parametrize("case", ["complex", "complex tensor", "inf range", "empty range", "strings", "meta tensor",
                                  "int64 audio", "ragged"])
def test_array_that_would_be_misread_is_refused(case):
    make = {
        "complex": lambda: load_signal(np.array([1 + 1j, 2, 3]), kind="audio", sample_rate=8000),
        "complex tensor": lambda: load_signal(torch.ones(5, dtype=torch.complex64), kind="audio", sample_rate=8000),
        "inf range": lambda: load_signal(np.random.rand(4, 4), kind="image", value_range=(0, float("inf"))),
        "empty range": lambda: load_signal(np.random.rand(4, 4), kind="image", value_range=(1, 1)),
        "strings": lambda: load_signal(np.array(["a", "b"]), kind="audio", sample_rate=8000),
        "meta tensor": lambda: load_signal(torch.empty(10, device="meta"), kind="audio", sample_rate=8000),
        "int64 audio": lambda: load_signal(np.array([1, 2, 3]), kind="audio", sample_rate=8000),
        "ragged": lambda: load_signal([[0.1, 0.2], [0.3]], kind="audio", sample_rate=8000),
    }[case]
    with pytest.raises(KanInrError) as info:
        make()
    assert "\n" not in str(info.value)


def test_integer_pcm_arrays_read_as_a_wav_reader_does(tmp_path):
    pcm = np.array([-32768, 0, 16384, 32767], dtype=np.int16)
    sf.write(tmp_path / "pcm.wav", pcm, 8000, subtype="PCM_16")
    from_file = signals.load(tmp_path / "pcm.wav").values
    assert torch.equal(load_signal(pcm, kind="audio", sample_rate=8000).values, from_file)
    assert load_signal(np.array([0, 128, 255], np.uint8), kind="audio", sample_rate=8000).values[:, 0].tolist() == \
        [-1.0, 0.0, 127 / 128]
    assert load_signal(torch.ones(3, 3, dtype=torch.bfloat16), kind="image").values.dtype == torch.float32


# case 15, the render half: out of memory

@pytest.mark.parametrize("error", [
    RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you tried to allocate "
                 "40000000000 bytes"),
    MemoryError(),
    torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"),
], ids=["cpu", "MemoryError", "cuda"])
def test_render_out_of_memory_is_one_line(error, image_run, tmp_path, capsys, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise error

    monkeypatch.setattr(jobs, "reconstruct", out_of_memory)
    monkeypatch.setattr(codec_jobs, "predict_grid", out_of_memory)
    (tmp_path / "f.kinr").write_bytes(small_file())
    for args in (["render", image_run], ["decompress", tmp_path / "f.kinr"]):
        code, _, err = run_cli([*args, "-o", tmp_path / "out.png", "--device", "cpu"], capsys, monkeypatch)
        assert_one_error_line(code, err, "out of memory while rendering")
        assert "--scale / --size" in err and not (tmp_path / "out.png").exists()


# case 11: compress checks its output before fitting and leaves no logs on failure

def compress_args(image: Path, out: Path, logdir: Path) -> list:
    return ["compress", image, "--bpp", "4", "--model", "siren", "--steps", "2", "--device", "cpu", "-q",
            "-o", out, "--logdir", logdir]


def test_compress_to_a_folder_or_unwritable_place_fails_before_fitting(image_file, tmp_path, capsys, monkeypatch):
    def no_fit(*args, **kwargs):
        raise AssertionError("fitted before checking the output path")

    monkeypatch.setattr(codec_jobs, "fit", no_fit)
    folder = tmp_path / "existing"
    folder.mkdir()
    code, _, err = run_cli(compress_args(image_file, folder, tmp_path / "logs"), capsys, monkeypatch)
    assert_one_error_line(code, err, "is a folder")
    if os.geteuid() != 0:  # root writes anywhere: only an ordinary user can test permissions for real
        locked = tmp_path / "ro"
        locked.mkdir(mode=0o555)
        code, _, err = run_cli(compress_args(image_file, locked / "x.kinr", tmp_path / "logs"), capsys, monkeypatch)
        assert_one_error_line(code, err, "Permission denied")
        assert visible(locked) == []
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, _, err = run_cli(compress_args(image_file, blocker / "x.kinr", tmp_path / "logs"), capsys, monkeypatch)
    assert_one_error_line(code, err, "is a file, not a folder")
    assert not (tmp_path / "logs").exists() and visible(folder) == []


def test_compress_failing_after_the_fit_leaves_no_logs(image_file, tmp_path, capsys, monkeypatch):
    def full_disk(path, data):
        raise KanInrError(f"cannot write {path}: No space left on device")

    monkeypatch.setattr(codec_jobs, "write_bytes", full_disk)
    kept = tmp_path / "logs" / "earlier.txt"  # a file the user had in the log folder stays
    kept.parent.mkdir()
    kept.write_text("mine")
    for logdir in (tmp_path / "new" / "logs", tmp_path / "logs"):
        code, _, err = run_cli(compress_args(image_file, tmp_path / "x.kinr", logdir), capsys, monkeypatch)
        assert_one_error_line(code, err, "No space left on device")
    assert not (tmp_path / "new").exists() and visible(tmp_path / "logs") == ["earlier.txt"]
    assert not (tmp_path / "x.kinr").exists()

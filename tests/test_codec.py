"""kan-inr compress / decompress: the quantisers, the range coder, the sizing rule, an exact
round trip through the CLI, and hostile .kinr files (one error line, exit 2)."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kan_inr import KanInrError, metrics, models, signals
from kan_inr.config import to_plain
from kan_inr.codec import entropy, fileformat, jobs, quant, sizing
from kan_inr.codec.fileformat import Container, pack, unpack
from kan_inr.codec.weights import encode_weights
from kan_inr.models.siren import SirenConfig
from kan_inr.pixels import POINT
from kan_inr.render import predict_grid
from kan_inr.signals import image
from kan_inr.signals.base import grid
from conftest import constant_psnr, run_cli, tb_scalars

SMALL = SirenConfig(hidden_dim=6, hidden_layers=1)


def small_file(config: dict | None = None, **header: object) -> bytes:
    """A valid .kinr file of a tiny untrained SIREN (no fitting), with header fields replaced."""
    torch.manual_seed(0)
    model = models.build("siren", 2, 3, SMALL)
    q = quant.QuantConfig()
    table, payload = encode_weights(model, q)
    fields = {"family": "siren", "config": config or to_plain(SMALL), "shape": [12, 10], "channels": 3,
              "bit_depth": 8, "target_range": [-1.0, 1.0], "coords": "centers",
              "quant": {"bits": 8, "vector_bits": 12, "per_channel": False}, **header}
    return pack(Container(fields, table, payload))


def with_crc(body: bytes) -> bytes:
    """``body`` (a file without its checksum) with a correct CRC-32 appended."""
    return body + struct.pack("<I", zlib.crc32(body))


def test_quantise_error_is_at_most_half_a_step_and_per_channel_steps_follow_rows():
    w = torch.randn(5, 7) * torch.arange(1, 6).view(5, 1)
    for per_channel in (False, True):
        cfg = quant.QuantConfig(bits=6, per_channel=per_channel)
        q, step = quant.quantise(w, cfg)
        assert step.numel() == (5 if per_channel else 1)
        assert int(q.abs().max()) <= quant.levels(6)
        err = (quant.dequantise(q, step) - w).abs()
        assert torch.all(err <= step.view(-1, 1) / 2 * (1 + 1e-6))
    _, rows = quant.quantise(w, quant.QuantConfig(bits=6, per_channel=True))
    assert torch.allclose(rows, w.abs().amax(dim=1) / quant.levels(6))


def test_fake_quantiser_forward_is_the_decoded_network_and_gradient_passes_straight():
    torch.manual_seed(0)
    model = models.build("siren", 2, 3, SMALL)
    latent = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = quant.QuantConfig(bits=5)
    x = torch.rand(9, 2) * 2 - 1
    quant.attach(model, cfg)
    out = model(x)
    out.sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    quant.detach(model)
    assert all(torch.equal(latent[k], v) for k, v in model.state_dict().items())  # latent weights back
    decoded = models.build("siren", 2, 3, SMALL)
    with torch.no_grad():
        for p_dec, p in zip(decoded.parameters(), model.parameters()):
            p_dec.copy_(quant.dequantise(*quant.quantise(p, cfg)).view_as(p))
    assert torch.equal(decoded(x), out.detach())


def test_range_coder_round_trip_is_exact_and_beats_raw_bits():
    rng = np.random.default_rng(0)
    tensors = [np.clip(np.round(rng.laplace(0, s, n)), -127, 127).astype(np.int32) for s, n in ((3, 500), (20, 300), (0, 7))]
    tensors.append(np.clip(np.round(rng.normal(0, 9, 400)), -2047, 2047).astype(np.int32))
    limits = [127, 127, 127, 2047]
    symbol_models = [entropy.fit_model(t, lim) for t, lim in zip(tensors, limits)]
    payload = entropy.encode(tensors, symbol_models)
    back = entropy.decode(payload, [t.size for t in tensors], symbol_models)
    assert all(np.array_equal(a, b) for a, b in zip(tensors, back))
    assert len(payload) * 8 < 0.7 * (8 * 807 + 12 * 400)  # fewer bits than the fixed-width integers
    assert entropy.SHAPES[symbol_models[0].shape] == "laplace" and entropy.SHAPES[symbol_models[3].shape] == "gaussian"


@pytest.mark.parametrize("model_name", list(sizing.RULES))
def test_sizing_takes_the_widest_network_within_the_budget(model_name):
    shape, bpp = (256, 256), 0.6
    cfg, params = sizing.size_for_budget(model_name, bpp, shape, 3)
    _, recipe = sizing.rule(model_name)
    budget = (bpp * 256 * 256 - sizing.HEADER_BITS) / recipe.bits_per_param
    wider = sizing.config_at(model_name, cfg.hidden_dim + 1, shape)
    family = models.preset(model_name).family
    assert params == sizing.count_params(family, cfg, 2, 3) <= budget
    assert sizing.count_params(family, wider, 2, 3) > budget
    assert sizing.size_for_budget(model_name, 2 * bpp, shape, 3)[1] > params
    with pytest.raises(KanInrError, match="too small a budget"):
        sizing.size_for_budget(model_name, 0.01, shape, 3)


def test_compress_decompress_round_trip_reproduces_the_printed_psnr(image_file, tmp_path, capsys, monkeypatch):
    """The PSNR compress prints is that of the image decompress writes, exactly; the file is the rate."""
    out = tmp_path / "tiny.kinr"
    code, stdout, err = run_cli(["compress", image_file, "--bpp", "40", "--model", "sl2a", "--steps", "150", "-o", out,
                                 "--device", "cpu", "--logdir", tmp_path / "tb", "-q"], capsys, monkeypatch)
    assert code == 0, err
    size = out.stat().st_size
    assert f"{size:,} bytes, {size * 8 / 24 / 24:.4f} bpp" in stdout
    printed = float(stdout.split("PSNR ")[1].split()[0])
    png = tmp_path / "back.png"
    code, _, err = run_cli(["decompress", out, "-o", png], capsys, monkeypatch)
    assert code == 0, err
    source = signals.load(image_file)
    decoded = signals.load(png)
    assert round(metrics.psnr(decoded.values, source.values), 4) == printed
    assert printed > constant_psnr(image_file) + 5  # the fit learned the image, not just its mean colour
    code, _, err = run_cli(["decompress", out, "-o", tmp_path / "big.png", "--size", "40x30"], capsys, monkeypatch)
    assert code == 0 and signals.load(tmp_path / "big.png").shape == (30, 40)
    logged = tb_scalars(tmp_path / "tb")  # rate and distortion logged to TensorBoard, as printed
    (psnr,), (bpp,) = logged["codec/psnr"].values(), logged["codec/bpp"].values()
    assert psnr == pytest.approx(printed, abs=1e-4) and bpp == pytest.approx(size * 8 / 24 / 24, rel=1e-6)


def test_decoded_network_matches_the_encoded_one():
    torch.manual_seed(0)
    model = models.build("siren", 2, 3, SMALL)
    decoded, header = jobs.decode(small_file())
    expected = quant.attach(model, quant.QuantConfig())
    assert torch.equal(predict_grid(decoded, (12, 10), "cpu", pixels=POINT), predict_grid(expected, (12, 10), "cpu", pixels=POINT))
    assert header["shape"] == [12, 10]


def test_files_with_the_old_box_field_still_decode(tmp_path, capsys, monkeypatch):
    """Files of kan-inr 0.1.0 hold ``"box": 0`` (always 0: codec networks fit point pixels); they decode to
    exactly the image of a file without it, the pixel centres' values."""
    decoded, new = jobs.decode(small_file())
    assert "box" not in new
    _, old = jobs.decode(small_file(box=0))
    assert old["box"] == 0
    images = []
    for name, data in (("new", small_file()), ("old", small_file(box=0))):
        (tmp_path / f"{name}.kinr").write_bytes(data)
        code, _, err = run_cli(["decompress", tmp_path / f"{name}.kinr", "-o", tmp_path / f"{name}.png"], capsys,
                               monkeypatch)
        assert code == 0, err
        images.append((tmp_path / f"{name}.png").read_bytes())
    assert images[0] == images[1]
    centres = grid((12, 10), convention="centers")  # (120, 2)
    with torch.no_grad():
        expected = image.to_array((decoded(centres) + 1) / 2, (12, 10), 8)  # the target range [-1, 1] to [0, 1]
    values = jobs.render_values(decoded, old, (12, 10), "cpu")
    assert torch.equal(values, torch.from_numpy(expected.astype(np.float32) / 255).reshape(-1, 3))


def hostile_files() -> dict[str, tuple[bytes, str]]:
    good = small_file()
    body = good[:-4]
    newer = bytearray(body)
    newer[4] = fileformat.VERSION + 1
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0x10
    huge_sizes = bytearray(body)
    struct.pack_into("<I", huge_sizes, 5, 2**31)
    return {
        "truncated": (good[:-9], "truncated"),
        "corrupt": (bytes(flipped), "checksum"),
        "magic": (b"PNG!" + good[4:], "wrong magic"),
        "newer": (with_crc(bytes(newer)), "newer than this kan-inr reads"),
        "sizes": (with_crc(bytes(huge_sizes)), "truncated"),
        "shape": (small_file(shape=[70000, 70000]), "shape must be"),
        "width": (small_file(config={"hidden_dim": 4000, "hidden_layers": 60}), "parameters"),
        "layers": (small_file(config={"hidden_dim": 4, "hidden_layers": 60000}), "out of range"),
        "payload": (small_file(config={"hidden_dim": 1000, "hidden_layers": 3}), "cannot be coded in"),
        "family": (small_file(family="nope"), "unknown model family"),
        "coords": (small_file(coords="elsewhere"), "coordinates"),
        "box": (small_file(box=2), "box must be 0"),
        "table": (small_file(quant={"bits": 8, "vector_bits": 12, "per_channel": True}), "quantiser table"),
        "empty": (b"", "wrong magic"),
    }


@pytest.mark.parametrize("case", list(hostile_files()))
def test_hostile_file_is_one_error_line(case, tmp_path, capsys, monkeypatch):
    data, message = hostile_files()[case]
    path = tmp_path / "bad.kinr"
    path.write_bytes(data)
    code, _, err = run_cli(["decompress", path, "-o", tmp_path / "out.png"], capsys, monkeypatch)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("kan-inr: error: "), err
    assert message in lines[0]
    assert not (tmp_path / "out.png").exists()


json_values = st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats() | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(["family", "config", "shape", "channels", "bit_depth", "target_range", "coords", "quant"]),
       value=json_values, raw=st.binary(max_size=64), use_raw=st.booleans())
def test_fuzzed_header_is_refused_or_decoded_never_a_crash(field, value, raw, use_raw):
    """A header of any content (behind a valid checksum) decodes or is one KanInrError."""
    good = unpack(small_file())
    if use_raw:  # arbitrary header bytes, not even zlib
        body = struct.pack("<4sB3I", b"KINR", 1, len(raw), len(good.table), len(good.payload)) + raw + good.table + good.payload
        data = with_crc(body)
    else:
        data = pack(Container({**good.header, field: value}, good.table, good.payload))
    try:
        model, _ = jobs.decode(data)
    except KanInrError:
        return
    assert sum(p.numel() for p in model.parameters()) <= 10**6


def test_fuzzed_model_config_is_refused_before_building():
    """Fields a preset would never produce (huge or odd values) never reach an allocation."""
    for config in ({"hidden_dim": 2**40}, {"hidden_dim": 5000}, {"hidden_dim": -3}, {"hidden_dim": 1.5}, {"hidden_dim": [3]},
                   {"first_omega": float("nan")}, {"unknown": 1}):
        with pytest.raises(KanInrError):
            jobs.decode(small_file(config=config))

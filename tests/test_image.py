"""Image signals: decoding, bit depths, channels, exact write-back, area resize."""

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
import torch

from kan_inr import KanInrError, signals
from kan_inr.signals import image


@pytest.mark.parametrize("channels", [1, 3, 4])
@pytest.mark.parametrize("dtype,ext", [(np.uint8, ".png"), (np.uint16, ".png"), (np.uint8, ".bmp"),
                                       (np.uint16, ".tif"), (np.uint8, ".tiff")])
def test_load_save_round_trip_is_exact(tmp_path, channels, dtype, ext):
    if ext == ".bmp" and channels == 4:
        pytest.skip("BMP has no alpha channel in Pillow's writer")
    rng = np.random.default_rng(1)
    array = rng.integers(0, np.iinfo(dtype).max, size=(9, 7, channels), dtype=dtype, endpoint=True)
    src = tmp_path / f"src{ext}"
    squeezed = array[:, :, 0] if channels == 1 else array
    if ext in (".tif", ".tiff"):
        tifffile.imwrite(src, squeezed)
    else:  # our writer is the only one here that writes 16-bit RGB PNG
        values = torch.from_numpy(array.reshape(-1, channels).astype(np.float64) / np.iinfo(dtype).max)
        image.save(values, (9, 7), {"bit_depth": np.iinfo(dtype).bits}, src)
    signal = signals.load(src)
    assert signal.shape == (9, 7) and signal.out_dim == channels
    assert signal.values.min() >= 0 and signal.values.max() <= 1
    out = image.save(signal.values, signal.shape, signal.meta, tmp_path / f"out{ext}")
    back = image.read_array(out)
    assert back.dtype == dtype
    np.testing.assert_array_equal(back, array)


def test_values_scale_by_bit_depth(tmp_path):
    iio.imwrite(tmp_path / "a.png", np.full((2, 2), 255, np.uint8))
    tifffile.imwrite(tmp_path / "b.tif", np.full((2, 2), 65535, np.uint16))
    assert signals.load(tmp_path / "a.png").values.max() == 1.0
    assert signals.load(tmp_path / "b.tif").values.max() == 1.0


def test_jpeg_loads_as_rgb(tmp_path):
    iio.imwrite(tmp_path / "a.jpg", np.zeros((8, 8, 3), np.uint8))
    s = signals.load(tmp_path / "a.jpg")
    assert (s.shape, s.out_dim, s.meta["bit_depth"]) == ((8, 8), 3, 8)


def test_float_tiff_kept_and_nan_refused(tmp_path):
    a = np.random.default_rng(0).random((5, 6, 3)).astype(np.float32)
    tifffile.imwrite(tmp_path / "f.tif", a, photometric="rgb")
    s = signals.load(tmp_path / "f.tif")
    assert s.meta["bit_depth"] == "float"
    np.testing.assert_array_equal(s.values.numpy().reshape(5, 6, 3), a)
    a[0, 0, 0] = np.nan
    tifffile.imwrite(tmp_path / "n.tif", a, photometric="rgb")
    with pytest.raises(KanInrError, match="NaN"):
        signals.load(tmp_path / "n.tif")


def test_area_resize_averages_blocks_exactly():
    x = torch.arange(16.0).reshape(4, 4, 1)
    y = image.resize(x, 2)
    assert torch.allclose(y[:, :, 0], torch.tensor([[2.5, 4.5], [10.5, 12.5]]))


def test_area_resize_fractional_ratio_preserves_mean_and_shape():
    x = torch.rand(30, 20, 3)
    y = image.resize(x, 12)
    assert y.shape == (12, 8, 3)
    assert torch.allclose(y.mean(), x.mean(), atol=1e-5)
    assert image.area_matrix(30, 12).sum(1).allclose(torch.ones(12, dtype=torch.float64))


def test_resize_longest_side_and_no_upscale(image_file):
    assert signals.load(image_file, resize_to=12).shape == (12, 12)
    assert signals.load(image_file, resize_to=100).shape == (24, 24)


@pytest.mark.parametrize("content,match", [(b"", "cannot read image"), (b"not an image at all", "cannot read image")])
def test_unreadable_files_raise_one_line(tmp_path, content, match):
    bad = tmp_path / "bad.png"
    bad.write_bytes(content)
    with pytest.raises(KanInrError, match=match) as err:
        signals.load(bad)
    assert "\n" not in str(err.value)


def test_unknown_extension_and_missing_file(tmp_path):
    (tmp_path / "x.xyz").write_text("hi")
    with pytest.raises(KanInrError, match="unknown file type"):
        signals.load(tmp_path / "x.xyz")
    with pytest.raises(KanInrError, match="no such file"):
        signals.load(tmp_path / "missing.png")
    with pytest.raises(KanInrError, match="directory"):
        signals.load(tmp_path)

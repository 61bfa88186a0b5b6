"""Images as signals: PNG, JPEG, BMP, TIFF in; 8-bit, 16-bit or float samples; exact inverse out.

Values: 1-bit as 0 and 1, 8-bit / 255 and 16-bit / 65535 give floats in [0, 1]; float TIFF is kept
as stored.
Grayscale is one channel, RGB three, RGBA four (alpha is a channel like any other).
Coordinates: (row, col) on ``base.grid((H, W))``, row first, at the pixel centres (``base.CENTERS``:
pixel i of n at -1 + (2i + 1)/n), or ``convention="endpoints"`` (linspace(-1, 1) per axis) to
reproduce code that samples so (the FKAN and SL2A protocols).
"""

from __future__ import annotations

import io
import math
import os
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, BinaryIO, Iterator

import imageio.v3 as iio
import numpy as np
import png
import tifffile
import torch
from PIL import Image, UnidentifiedImageError  # imageio's decoder for PNG, JPEG and BMP: its size check is replaced by ours

from kan_inr.errors import KanInrError, first_line
from kan_inr import limits, metrics
from kan_inr.atomic import atomic_write
from kan_inr.geometry import CENTERS, check_convention
from kan_inr.signals.base import Signal

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
VALUE_RANGE = (0.0, 1.0)
RECONSTRUCTION_SUFFIX = ".png"
_SCALE = {np.dtype(np.uint8): (8, 255.0), np.dtype(np.uint16): (16, 65535.0)}


def read_array(path: Path) -> np.ndarray:
    """Decode an image file to (H, W, C) as stored (bool, uint8, uint16 or float). Every decoder is
    held to ``limits.MAX_DECODED_SAMPLES`` pixels, checked on the size its header declares before a
    pixel is decoded (a few hundred bytes of PNG can declare 20000x20000)."""
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                _check_pixels(path, math.prod(n for axis, n in zip(series.axes, series.shape) if axis != "S"))
                array = tif.asarray()
        elif _png_bit_depth(path) == 16:
            array = _read_png16(path)
        else:
            with _our_cap_for_pillow():
                with Image.open(path) as header:
                    _check_pixels(path, header.width * header.height)
                array = iio.imread(path)
    except KanInrError:
        raise
    except Exception as exc:  # decoders raise many types; all mean "not a readable image"
        reason = first_line(exc, 10_000)
        if "Could not find a backend" in reason or isinstance(exc, UnidentifiedImageError):  # bytes no decoder knows
            reason = "not an image file (empty, corrupt or of an unknown format)"
        raise KanInrError(f"cannot read image {path}: {reason}") from None
    array = np.asarray(array)
    return array[:, :, None] if array.ndim == 2 else array


def area_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """Area-averaging resampling matrix (n_out, n_in), the 1-D factor of OpenCV's INTER_AREA.

    Output sample j averages the source interval [j s, (j + 1) s) with s = n_in / n_out, weighting each
    source sample by its overlap with that interval.
    """
    s = n_in / n_out
    lo = torch.arange(n_out, dtype=torch.float64)[:, None] * s  # (n_out, 1)
    src = torch.arange(n_in, dtype=torch.float64)[None, :]  # (1, n_in)
    overlap = (torch.minimum(lo + s, src + 1) - torch.maximum(lo, src)).clamp(min=0)
    return overlap / s


def resize(values: torch.Tensor, longest: int) -> torch.Tensor:
    """Shrink an image (H, W, C) so its longest side is ``longest``, by area averaging."""
    h, w, _ = values.shape
    scale = longest / max(h, w)
    if scale >= 1:
        return values
    h2, w2 = max(1, round(h * scale)), max(1, round(w * scale))
    rows, cols = area_matrix(h, h2), area_matrix(w, w2)
    return torch.einsum("ih,hwc,jw->ijc", rows, values.double(), cols).float()


def load(path: str | os.PathLike, resize_to: int | None = None, convention: str = CENTERS) -> Signal:
    return from_array(read_array(Path(path)), resize_to, source=str(path), convention=convention)


def from_array(array: np.ndarray, resize_to: int | None = None, source: str = "array",
               convention: str = CENTERS) -> Signal:
    """An image array (H, W) or (H, W, C), C = 1..4, of bool (1-bit: 0 and 1), uint8, uint16 (scaled to
    [0, 1]) or float samples (kept) as a Signal; ``source`` names it in messages and in ``meta``; ``convention``: where
    the pixels sit on [-1, 1] (``base.CENTERS``, or ``base.ENDPOINTS`` as the FKAN/SL2A code)."""
    check_convention(convention)
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4) or array.size == 0:
        raise KanInrError(f"{source}: expected a 2-D grayscale, RGB or RGBA image, got array of shape {array.shape}")
    bits: int | str  # bits per sample, or "float"
    if array.dtype == np.bool_:  # a 1-bit image: black 0.0, white 1.0, written back as 8-bit
        bits, values = 8, torch.from_numpy(array.astype(np.float32))
    elif array.dtype in _SCALE:
        bits, scale = _SCALE[array.dtype]
        values = torch.from_numpy(array.astype(np.float32) / scale)
    elif np.issubdtype(array.dtype, np.floating):
        bits = "float"
        values = torch.from_numpy(array.astype(np.float32))
        if not torch.isfinite(values).all():
            raise KanInrError(f"{source}: image contains NaN or infinite values")
    else:
        raise KanInrError(f"{source}: unsupported sample type {array.dtype} (use 1-, 8-, 16-bit or float images)")
    source_shape = list(values.shape[:2])
    if resize_to is not None:
        if resize_to < 1:
            raise KanInrError(f"--resize must be a positive number of pixels, got {resize_to}")
        values = resize(values, resize_to)
    h, w, c = values.shape
    meta: dict[str, Any] = {"source": source, "bit_depth": bits, "source_shape": source_shape}
    return Signal(values.reshape(h * w, c), (h, w), "image", VALUE_RANGE, meta, convention)


def to_array(values: torch.Tensor, shape: tuple[int, ...], bit_depth: Any) -> np.ndarray:
    """Values (N, C) in [0, 1] on grid ``shape`` -> image array (H, W, C) of the source's sample type."""
    image = values.detach().float().cpu().reshape(*shape, -1).numpy()
    if bit_depth == "float":
        return image.astype(np.float32)
    bits = int(bit_depth)
    dtype, scale = (np.uint8, 255.0) if bits == 8 else (np.uint16, 65535.0)
    return np.round(np.clip(image, 0.0, 1.0) * scale).astype(dtype)


def save(values: torch.Tensor, shape: tuple[int, ...], meta: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write values (N, C) as an image file, atomically (``atomic.atomic_write``).

    PNG and TIFF keep 16-bit samples; JPEG and BMP are 8-bit. A float source is written as 16-bit
    unless the target is TIFF.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EXTENSIONS:
        raise KanInrError(f"cannot write {path}: choose one of {', '.join(EXTENSIONS)}")
    bit_depth = meta.get("bit_depth", 8)
    if bit_depth == "float" and suffix not in (".tif", ".tiff"):
        bit_depth = 16
    if suffix in (".jpg", ".jpeg", ".bmp"):
        bit_depth = 8
    array = to_array(values, shape, bit_depth)
    if array.shape[2] == 1:
        array = array[:, :, 0]

    def write(f: BinaryIO) -> None:
        if suffix in (".tif", ".tiff"):
            photometric = "rgb" if array.ndim == 3 and array.shape[2] in (3, 4) else "minisblack"
            buffer = io.BytesIO()  # tifffile wants a named file, and ours is an anonymous descriptor
            tifffile.imwrite(buffer, array, photometric=photometric)
            f.write(buffer.getvalue())
        elif suffix == ".png" and array.dtype == np.uint16:
            _write_png16(f, array)
        else:
            iio.imwrite(f, array, extension=suffix)

    atomic_write(path, write)
    return path


def _png_bit_depth(path: Path) -> int | None:
    """Bit depth from a PNG's IHDR chunk (byte 24), or None for a file that is not a PNG."""
    with open(path, "rb") as f:
        head = f.read(25)
    return head[24] if len(head) == 25 and head[:8] == b"\x89PNG\r\n\x1a\n" else None


def _check_pixels(path: Path, pixels: int) -> None:
    limits.check(f"{path}: pixels the image declares", pixels, limits.MAX_DECODED_SAMPLES)


@contextmanager
def _our_cap_for_pillow() -> Iterator[None]:
    """Pillow's own decompression-bomb cap off for one read, ours (``_check_pixels``) in its place:
    one cap for every decoder, lifted by --no-limits alike. Pillow's is a process-wide setting, so it
    is restored at once."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _read_png16(path: Path) -> np.ndarray:
    """16-bit PNG of any channel count: Pillow would silently reduce RGB(A) to 8 bits. pypng has no
    pixel cap of its own: the size is checked from the header (``preamble``) before any row."""
    reader = png.Reader(filename=str(path))
    reader.preamble()
    _check_pixels(path, reader.width * reader.height)
    width, height, rows, info = reader.asDirect()
    array = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows])  # (H, W * C)
    return array.reshape(height, width, info["planes"])


def _write_png16(f: IO[bytes], array: np.ndarray) -> None:
    """16-bit PNG of any channel count (Pillow writes only 16-bit grayscale)."""
    h, w = array.shape[:2]
    planes = 1 if array.ndim == 2 else array.shape[2]
    mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[planes] + ";16"
    png.from_array(array.reshape(h, w * planes), mode).write(f)


def evaluate(pred: torch.Tensor, target: torch.Tensor, shape: tuple[int, ...]) -> dict[str, float]:
    """PSNR and SSIM of a full-grid prediction (N, C), clamped to [0, 1] (``metrics``)."""
    pred = pred.clamp(*VALUE_RANGE)
    h, w = shape
    return {"psnr": metrics.psnr(pred, target),
            "ssim": metrics.ssim(pred.reshape(h, w, -1), target.reshape(h, w, -1))}


HEADLINE = "psnr"


def log_tensorboard(writer: Any, pred: torch.Tensor, signal: Signal, step: int) -> None:
    """The reconstruction as a TensorBoard image (first three channels; gray repeated)."""
    image = to_array(pred.clamp(*VALUE_RANGE), signal.shape, 8)
    image = np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image[:, :, :3]
    writer.add_image("eval/reconstruction", image, step, dataformats="HWC")

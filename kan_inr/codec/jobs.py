"""``compress`` an image into a ``.kinr`` file at a bit budget and ``decompress`` it at any size.

compress: image -> Signal -> network sized to the budget (sizing.py) -> ``fit`` -> ``fit`` again with
fake-quantised weights (quant.py) -> quantised, entropy-coded weights (weights.py) in a checked
container (fileformat.py) -> decoded again by the decompressor's own path, so that the PSNR and SSIM
it reports are those of the image ``decompress`` writes (same machine, same device), bit for bit.
"""

from __future__ import annotations

import math
import os
import shutil
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from kan_inr.errors import KanInrError
from kan_inr import limits, models, signals
from kan_inr.atomic import write_bytes
from kan_inr.codec import quant, sizing
from kan_inr.codec.fileformat import Container, pack, read, unpack
from kan_inr.codec.quant import QuantConfig
from kan_inr.codec.weights import decode_weights, encode_weights
from kan_inr.config import TrainConfig, replace, to_plain, with_length
from kan_inr.device import resolve_device
from kan_inr.training import fit
from kan_inr.logging import NullLog, RunLog, write_scalars
from kan_inr.pixels import POINT
from kan_inr.render import predict_grid
from kan_inr.signals.plan import check_size, out_of_memory_as_error, target_shape
from kan_inr.signals import Signal, image
from kan_inr.geometry import CONVENTIONS
from kan_inr.signals.base import denormalise


@dataclass
class CompressResult:
    path: Path
    bytes: int
    bpp: float  # file size on disk * 8 / pixels
    psnr: float  # of the decoded image at the file's bit depth, against the signal
    ssim: float
    params: int
    model: str
    config: dict[str, Any]
    float_psnr: float  # after the float fit, before quantisation
    train_s: float


def compress(path: str | Path, bpp: float, model_name: str, out: str | Path, *, resize: int | None = None,
             seed: int = 0, device: str = "auto", steps: int | None = None, tb_dir: Path | None = None,
             console: bool = False) -> CompressResult:
    """Fit ``model_name``'s codec network to the image at ``path`` for ``bpp`` bits per pixel and write
    the ``.kinr`` file ``out``. ``steps`` overrides the float fit's steps (and sets the fine-tuning's to a
    quarter of them); TensorBoard goes to ``tb_dir``."""
    signal = signals.load(path, resize_to=resize)
    if signal.kind != "image":
        raise KanInrError(f"{path}: compress takes images (this is {signal.kind})")
    if steps is not None and steps < 1:
        raise KanInrError(f"--steps must be at least 1, got {steps}")
    _check_writable(Path(out))
    with _logs_removed_on_failure(tb_dir):
        return _compress(signal, bpp, model_name, Path(out), seed, device, steps, tb_dir, console)


def _check_writable(out: Path) -> None:
    """Refuse, before the fit and not after it, an output path that cannot be written: a folder, or
    one whose nearest existing folder (``write_bytes`` makes the missing ones) is not writable."""
    if out.is_dir():
        raise KanInrError(f"cannot write {out}: it is a folder (give a file name, e.g. {out / 'image.kinr'})")
    parent = next(p for p in out.parents if p.exists())
    if not parent.is_dir():
        raise KanInrError(f"cannot write {out}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise KanInrError(f"cannot write {out}: Permission denied (folder {parent})")


@contextmanager
def _logs_removed_on_failure(tb_dir: Path | None) -> Iterator[None]:
    """A compress that fails leaves no TensorBoard files: the folders it made are removed, and in a
    folder that was there before only the files it added."""
    if tb_dir is None:
        yield
        return
    made = [p for p in (tb_dir, *tb_dir.parents) if not p.exists()]  # innermost first
    before = set(tb_dir.rglob("*"))  # empty when tb_dir is new
    try:
        yield
    except BaseException:
        if made:
            shutil.rmtree(made[-1], ignore_errors=True)
        else:
            for added in sorted(set(tb_dir.rglob("*")) - before, reverse=True):  # a folder's files before it
                with suppress(OSError):
                    added.rmdir() if added.is_dir() else added.unlink()
        raise


def _compress(signal: Signal, bpp: float, model_name: str, out: Path, seed: int, device: str, steps: int | None,
              tb_dir: Path | None, console: bool) -> CompressResult:
    """``compress`` once its inputs are checked: fit, quantise, code, verify, write."""
    family = models.preset(model_name).family
    _, recipe = sizing.rule(model_name)
    cfg, params = sizing.size_for_budget(model_name, bpp, signal.shape, signal.out_dim, signal.convention)
    torch.manual_seed(seed)
    model = models.build(family, signal.in_dim, signal.out_dim, cfg)
    fields = recipe.train.train_fields()  # the float fit's lr, batch, length, target range
    train = replace(with_length(TrainConfig(**fields, seed=seed, device=device), signal.num_samples), steps=steps)
    train = replace(train, eval_every=train.steps)  # one evaluation, at the end

    def log(stage: str) -> NullLog:
        return RunLog(tb_dir / stage, console=console) if tb_dir is not None else NullLog()

    first = fit(model, signal, train, log("float"))
    qat_steps = recipe.qat_steps if steps is None else max(1, steps // 4)  # the recipe's proportion
    qat = replace(train, steps=qat_steps, lr=recipe.qat_lr, eval_every=qat_steps)
    second = fit(quant.attach(model, recipe.quant), signal, qat, log("quantised"))
    quant.detach(model)

    header: dict[str, Any] = {"family": family, "config": to_plain(cfg), "shape": list(signal.shape),
              "channels": signal.out_dim, "bit_depth": _bit_depth(signal),
              "target_range": list(train.target_range) if train.target_range else None,
              "coords": signal.convention, "quant": asdict(recipe.quant)}
    table, payload = encode_weights(model.cpu(), recipe.quant)
    data = pack(Container(header, table, payload))
    decoded, header = decode(data, str(out))
    values = render_values(decoded, header, signal.shape, device)
    metrics = image.evaluate(values, signal.values, signal.shape)
    write_bytes(Path(out), data)
    result = CompressResult(Path(out), len(data), len(data) * 8 / math.prod(signal.shape), metrics["psnr"],
                            metrics["ssim"], params, model_name, header["config"],
                            first.metrics["final_psnr"], first.metrics["train_s"] + second.metrics["train_s"])
    if tb_dir is not None:
        write_scalars(tb_dir, {"codec/bpp": result.bpp, "codec/psnr": result.psnr, "codec/ssim": result.ssim,
                               "codec/float_psnr": result.float_psnr}, train.steps + qat.steps)
    return result


def _bit_depth(signal: Signal) -> int:
    """8 or 16: the decoded image's sample depth (a float source decodes to 16-bit)."""
    return 8 if signal.meta.get("bit_depth") == 8 else 16


def decode(data: bytes, name: str = "file") -> tuple[nn.Module, dict[str, Any]]:
    """(network on the CPU, header) from a file's bytes; a defective file is one KanInrError."""
    container = unpack(data, name)
    return _model(container, name), container.header


def _model(container: Container, name: str) -> nn.Module:
    header = container.header
    if header["coords"] not in CONVENTIONS:  # where the pixels sit on [-1, 1], as the image was fitted
        raise KanInrError(f"{name}: unknown coordinates '{header['coords']}' (this kan-inr knows: "
                          f"{', '.join(CONVENTIONS)})")
    try:
        quant_cfg = QuantConfig(**header["quant"])
    except ValueError as exc:
        raise KanInrError(f"{name}: bad header: {exc}") from None
    return decode_weights(header["family"], header["config"], 2, header["channels"], quant_cfg,
                          container.table, container.payload, name)


def render_values(model: nn.Module, header: dict[str, Any], shape: tuple[int, ...], device: str = "auto") -> torch.Tensor:
    """The network at the pixel centres of ``shape`` (the file's coordinate convention; codec networks are
    fitted to point pixels) as the decoded image's values: (N, C) in [0, 1] on the CPU, rounded to the file's
    bit depth (exactly what ``decompress`` writes)."""
    dev = resolve_device(device)
    pred = predict_grid(model.to(dev), shape, dev, out_device="cpu", convention=header["coords"], pixels=POINT)  # (N, C)
    rng = tuple(header["target_range"]) if header["target_range"] else image.VALUE_RANGE
    values = denormalise(pred, image.VALUE_RANGE, rng)
    samples = image.to_array(values, shape, header["bit_depth"])  # (H, W, C) integers
    return torch.from_numpy(samples.astype(np.float32) / (2 ** header["bit_depth"] - 1)).reshape(-1, samples.shape[2])


def decompress(path: str | Path, out: str | Path, scale: float | None = None, size: tuple[int, ...] | None = None,
               device: str = "auto") -> Path:
    """Render a ``.kinr`` file at its own size, ``scale`` times it, or ``size`` (H, W), into an image file.
    Capped (``limits``) at ``MAX_UNTRUSTED_RENDER_SAMPLES`` when the file chooses the size (a few
    hundred forged bytes can claim 16384x16384), at ``MAX_RENDER_SAMPLES`` for a ``size`` given."""
    container = read(path)
    shape = target_shape({"shape": container.header["shape"], "kind": "image"}, scale, size)
    # a size the file chooses (its own, or a multiple of it) is as untrusted as the file; --size is the user's
    check_size(shape, limits.MAX_RENDER_SAMPLES if size is not None else limits.MAX_UNTRUSTED_RENDER_SAMPLES)
    model = _model(container, str(path))
    with out_of_memory_as_error(shape):
        values = render_values(model, container.header, shape, device)
    return image.save(values, shape, {"bit_depth": container.header["bit_depth"]}, out)

"""Signal kinds: one module per kind, chosen by file extension.

Each kind module provides ``EXTENSIONS``, ``VALUE_RANGE``, ``HEADLINE`` (the metric shown first),
``load(path, ...) -> Signal``, ``save(values, shape, meta, path)``, ``evaluate(pred, target, shape)``
and ``log_tensorboard(writer, pred, signal, step)`` (the reconstruction in TensorBoard); optionally
``render_plan(signal_dict, scale, size, **options) -> plan.RenderPlan`` when rendering needs more
than a scaled grid (audio: a new sample rate, a duration, an encoding). ``load`` rejects options its
kind's loader does not take with one clear error (an image given ``--start``).
"""

from __future__ import annotations

import inspect
import math
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from kan_inr.errors import KanInrError, first_line
from kan_inr.signals import audio, image
from kan_inr.signals.base import Signal, denormalise, grid, grid_chunk, normalise
from kan_inr.signals.plan import RenderPlan, check_size, target_shape

KINDS: dict[str, ModuleType] = {"image": image, "audio": audio}
_FLAGS = {"resize_to": "--resize"}  # loader option -> the CLI flag that sets it, where the names differ


def kind_of(path: str | os.PathLike) -> str:
    """The signal kind a file's extension names."""
    suffix = Path(path).suffix.lower()
    for name, module in KINDS.items():
        if suffix in module.EXTENSIONS:
            return name
    known = sorted(ext for module in KINDS.values() for ext in module.EXTENSIONS)
    raise KanInrError(f"{path}: unknown file type '{suffix}' (supported: {' '.join(known)})")


def load(path: str | os.PathLike, **options: Any) -> Signal:
    """Read a signal file. ``options`` are the kind's loader options (e.g. ``resize_to`` for images);
    an option that is None is not passed."""
    path = Path(path)
    if not path.exists():
        raise KanInrError(f"no such file: {path}")
    if path.is_dir():
        raise KanInrError(f"{path} is a directory, not a signal file")
    kind = kind_of(path)
    module = KINDS[kind]
    options = {k: v for k, v in options.items() if v is not None}
    accepted = set(inspect.signature(module.load).parameters) - {"path"}
    unknown = [_FLAGS.get(k, f"--{k.replace('_', '-')}") for k in options if k not in accepted]
    if unknown:
        raise KanInrError(f"{', '.join(unknown)}: not an option for {kind} files like {path.name}")
    return module.load(path, **options)


def from_array(data: Any, kind: str, value_range: tuple[float, float] | None = None, **options: Any) -> Signal:
    """A signal from an array or tensor: an image (H, W[, C]) or a clip (T[, C]) (``kind``).

    ``value_range`` (lo, hi): the range float samples are given in, mapped onto the kind's own range
    (images [0, 1], audio [-1, 1]), in which metrics are taken; ``meta["array_range"]`` keeps it so
    renders can map back. None: samples already in the kind's range (8/16-bit images are scaled as
    files are). ``options`` are the kind's (``resize_to``; audio: ``sample_rate``, ``channels``).

    Refused with one clear error: samples that are not real numbers (complex, text, objects), a
    tensor without data (meta device), a ``value_range`` that is not two finite numbers lo < hi."""
    if kind not in KINDS:
        raise KanInrError(f"unknown signal kind '{kind}' (choose from {', '.join(sorted(KINDS))})")
    kind_module = KINDS[kind]
    array = _as_numpy(data)
    if value_range is not None:
        try:
            lo, hi = map(float, value_range)
        except (TypeError, ValueError):
            raise KanInrError(f"value_range must be two numbers (lo, hi), got {value_range!r:.80}") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo) or not np.issubdtype(array.dtype, np.floating):
            raise KanInrError(f"value_range {value_range} needs float samples and finite lo < hi (integer images are "
                              f"scaled by their bit depth)")
        array = normalise(torch.from_numpy(array.astype(np.float64)), (lo, hi), kind_module.VALUE_RANGE).numpy()
    options = {k: v for k, v in options.items() if v is not None}
    accepted = set(inspect.signature(kind_module.from_array).parameters) - {"array", "source"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise KanInrError(f"{', '.join(unknown)}: not an option for {kind} arrays (valid: {', '.join(sorted(accepted))})")
    signal = kind_module.from_array(array, **options)
    if value_range is not None:
        signal.meta["array_range"] = [lo, hi]
    return signal


def _as_numpy(data: Any) -> np.ndarray:
    """An array or tensor as a NumPy array of real samples (bool, integer or float), checked before
    any conversion that would fail or drop a part (a complex number's imaginary one)."""
    if isinstance(data, torch.Tensor):
        if data.is_meta:
            raise KanInrError("a tensor on the meta device holds no samples (it has a shape only)")
        data = data.detach().cpu()
        # NumPy has no bfloat16: low-precision floats are widened; float64 stays float64
        data = data.float() if data.is_floating_point() and data.dtype != torch.float64 else data
        data = data.resolve_conj().resolve_neg()
    try:
        array = np.asarray(data)
    except (TypeError, ValueError, RuntimeError) as exc:  # ragged nested lists, a tensor NumPy cannot hold
        raise KanInrError(f"not an array of samples: {first_line(exc)}") from None
    if np.issubdtype(array.dtype, np.complexfloating):
        raise KanInrError(f"complex samples ({array.dtype}): give real ones (e.g. the real part, or real and "
                          f"imaginary parts as two channels)")
    if not (array.dtype == np.bool_ or np.issubdtype(array.dtype, np.number)):
        raise KanInrError(f"samples must be numbers, got an array of {array.dtype} ({array.dtype.kind!r} kind)")
    return array


def module(kind: str) -> ModuleType:
    return KINDS[kind]


def render_plan(signal: dict[str, Any], scale: float | None = None, size: tuple[int, ...] | None = None,
                **kind_options: Any) -> RenderPlan:
    """What to render for a run's ``signal`` (config.json): the kind's ``render_plan`` when it has one
    (audio: --rate, --duration, --subtype), else the source grid scaled or resized; options a kind
    does not take, and a render over ``limits.MAX_RENDER_SAMPLES``, are one clear error."""
    kind = module(signal["kind"])
    kind_options = {k: v for k, v in kind_options.items() if v is not None}
    if hasattr(kind, "render_plan"):
        plan = kind.render_plan(signal, scale=scale, size=size, **kind_options)
    elif kind_options:
        flags = ", ".join(f"--{k}" for k in kind_options)
        raise KanInrError(f"{flags}: not an option for {signal['kind']} runs")
    else:
        plan = RenderPlan(target_shape(signal, scale, size), signal["meta"])
    check_size(plan.shape)
    return plan


__all__ = ["KINDS", "RenderPlan", "Signal", "denormalise", "from_array", "grid", "grid_chunk", "kind_of", "load", "module", "normalise",
           "render_plan"]

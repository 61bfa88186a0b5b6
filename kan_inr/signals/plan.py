"""What a render samples: the grid, the coordinate extent and how the kind writes the result; how
large a render may be (``limits``) and what its running out of memory tells the user.

Below both the signal kinds (audio's ``render_plan`` builds one) and ``render`` (which samples it).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

from kan_inr.errors import KanInrError, first_line, is_out_of_memory
from kan_inr import limits


@dataclass(frozen=True)
class RenderPlan:
    """What to render: the grid, the meta the kind's writer needs (sample rate ...), the coordinate
    extent per axis (None = [-1, 1]) and extra keyword options for the kind's ``save``."""

    shape: tuple[int, ...]
    meta: dict[str, Any]
    extent: tuple[tuple[float, float], ...] | None = None
    save_options: dict[str, Any] = field(default_factory=dict)


def target_shape(signal: dict, scale: float | None = None, size: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """The grid to render: the source's (``signal`` as in config.json), scaled by ``scale``, or an
    explicit ``size`` (same axis order)."""
    shape = tuple(signal["shape"])
    if size is not None:
        if len(size) != len(shape) or min(size) < 1:
            raise KanInrError(f"render size {size} does not fit a {len(shape)}-d {signal['kind']} signal")
        return tuple(size)
    if scale is not None:
        if not (scale > 0 and math.isfinite(scale) and all(math.isfinite(n * scale) for n in shape)):
            raise KanInrError(f"--scale must be a positive number of sensible size, got {scale}")
        return tuple(max(1, round(n * scale)) for n in shape)
    return shape


def check_size(shape: tuple[int, ...], cap: int | None = None) -> None:
    """Refuse a render of more than ``cap`` samples (default ``limits.MAX_RENDER_SAMPLES``: hours of
    work, or more memory than there is) before any is computed."""
    cap = limits.MAX_RENDER_SAMPLES if cap is None else cap
    limits.check(f"samples of a {'x'.join(map(str, shape[::-1]))} render", math.prod(shape), cap)


@contextmanager
def out_of_memory_as_error(shape: tuple[int, ...]) -> Iterator[None]:
    """A render of ``shape`` that runs out of host or device memory (after ``render.predict_grid`` has
    halved its chunks down to one sample) becomes one KanInrError with what to do instead."""
    try:
        yield
    except (MemoryError, RuntimeError) as exc:  # torch.cuda.OutOfMemoryError is a RuntimeError
        if not is_out_of_memory(exc):
            raise
        size = "x".join(map(str, shape[::-1]))
        raise KanInrError(f"out of memory while rendering {size} ({first_line(exc, 80)}): render a smaller size "
                          f"(--scale / --size), in smaller chunks, or on a device with more free memory") from None

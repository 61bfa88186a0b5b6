"""What a render samples: the grid, the coordinate extent and how the kind writes the result.

Below both the signal kinds (audio's ``render_plan`` builds one) and ``render`` (which samples it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from kan_inr.errors import KanInrError


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
        if not (scale > 0 and math.isfinite(scale)):
            raise KanInrError(f"--scale must be a positive number, got {scale}")
        return tuple(max(1, round(n * scale)) for n in shape)
    return shape

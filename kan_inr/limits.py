"""Caps on what one input may make kan-inr do: how much a file may decode to, how large a render may be.

A few hundred bytes can claim a 20000x20000 image (a zlib bomb), a clip of billions of frames, or a
render of hours; each cap turns such a claim into one clear error before anything is allocated. A
trusted job lifts them all: ``with lifted():`` (the CLI's ``--no-limits``) or the environment
variable ``KAN_INR_NO_LIMITS=1``.

A sample is a grid point: a pixel of an image (at most four channels) or a frame of a clip; a clip
counts each channel's value, as audio does (a stereo frame is two samples), since its channel count is
the file's to choose.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

from kan_inr.errors import KanInrError

MAX_DECODED_SAMPLES = 1 << 28  # one file: a 16384x16384 image, 93 min of mono 48 kHz audio
MAX_RENDER_SAMPLES = 1 << 28  # one render (render, decompress): the same 16384x16384
MAX_UNTRUSTED_RENDER_SAMPLES = 1 << 24  # a render whose size a .kinr file chooses: 4096x4096
MAX_BOX = 8  # --box K: K^d model calls per pixel and step

ENV = "KAN_INR_NO_LIMITS"
_LIFTED: ContextVar[bool] = ContextVar("kan_inr_limits_lifted", default=False)


def active() -> bool:
    """Whether the caps apply (not lifted by ``lifted()`` or ``KAN_INR_NO_LIMITS=1``)."""
    return not (_LIFTED.get() or os.environ.get(ENV, "") == "1")


def check(what: str, n: int, cap: int) -> None:
    """Refuse ``n`` of ``what`` (e.g. "pixels of image x.png") above ``cap`` while the caps apply."""
    if n > cap and active():
        raise KanInrError(f"{what}: {n:,} exceeds the limit of {cap:,}; --no-limits (or {ENV}=1) lifts it "
                          f"for a trusted job")


@contextmanager
def lifted(on: bool = True) -> Iterator[None]:
    """Within the block, no cap applies when ``on`` (per thread and task: a ``ContextVar``)."""
    token = _LIFTED.set(on or _LIFTED.get())
    try:
        yield
    finally:
        _LIFTED.reset(token)

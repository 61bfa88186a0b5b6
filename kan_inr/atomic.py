"""Atomic file writes, the only way kan-inr writes a file: a temporary file in the same folder, fsync,
rename, fsync the folder. A reader (or a process killed mid-write) sees the old file or the new one,
never half of one. Also the one safe ``.pt`` loader (``weights_only=True``).
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable

import torch
from torch import nn

from kan_inr.errors import KanInrError, first_line


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write ``path`` atomically: temporary file in the same folder, fsync, rename, fsync the folder.
    A failure (full disk, no permission) leaves the previous file untouched and is a KanInrError."""
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; run folders are shared and passed around
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            hint = ": free some space or write elsewhere (--outputs)" if exc.errno == errno.ENOSPC else ""
            raise KanInrError(f"cannot write {path}: {exc.strerror or exc}{hint}") from None
        raise


def fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes(path: Path, data: bytes) -> None:
    """Write a file atomically (``atomic_write``), creating its folder."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write(Path(path), lambda f: f.write(data))


def write_text(path: Path, text: str) -> None:
    """Write a text file atomically (``atomic_write``), creating its folder."""
    write_bytes(path, text.encode())


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (``atomic_write``)."""
    text = json.dumps(data, indent=2, allow_nan=True).encode()
    atomic_write(path, lambda f: f.write(text))


def save_tensors(path: Path, data: Any) -> None:
    """``torch.save`` atomically; ``data`` must be plain (tensors, numbers, strings, lists, dicts) so
    that it loads with ``weights_only=True``."""
    atomic_write(path, lambda f: torch.save(data, f))


def save_weights(path: Path, model: nn.Module) -> None:
    """Save the raw module's state_dict atomically (never a torch.compile wrapper's keys)."""
    module = getattr(model, "_orig_mod", model)
    save_tensors(path, {k: v.detach().cpu() for k, v in module.state_dict().items()})


def load_tensors(path: Path) -> Any:
    """Load a .pt file with ``weights_only=True``: plain tensors and containers only, so a crafted
    pickle (one whose objects would call code when rebuilt) is refused without running anything."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types; all mean a bad or unsafe file
        raise KanInrError(f"cannot load {path}: {first_line(exc)}") from None

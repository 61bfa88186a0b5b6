"""One writer per run folder: ``<run_dir>/.lock`` held with ``fcntl.flock`` (released by the kernel
when the process ends in any way, SIGKILL included, so a killed fit never leaves a stale lock)."""

from __future__ import annotations

import os
from pathlib import Path

from kan_inr.errors import KanInrError
from kan_inr.runs.layout import LOCK

try:
    import fcntl
except ImportError:  # Windows: no flock; runs are then not protected against a second writer
    fcntl = None  # type: ignore[assignment]  # the module or None: callers test it before use


def lock(run_dir: Path, record_pid: bool = True) -> int:
    """Hold ``<run_dir>/.lock`` (``fcntl.flock``) for this process: a second writer of the same run gets
    a clear error. The kernel drops the lock when the process ends in any way, SIGKILL included, so a
    killed fit never leaves a stale lock. ``record_pid``: write our pid into it for the error a second
    writer sees (off for a run we only guard, which must stay byte-identical). Returns the descriptor to
    pass to ``unlock``."""
    path = Path(run_dir) / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise KanInrError(f"cannot lock run folder {run_dir}: {exc.strerror or exc}") from None
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pid = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise KanInrError(f"run folder {run_dir} is being written by another process (pid {pid}): "
                              f"wait for it or stop it") from None
    if record_pid:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
    return fd


def unlock(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # closing the last descriptor releases the flock

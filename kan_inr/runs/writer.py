"""Writing a run folder: created valid and locked, checkpointed, then committed, interrupted or discarded."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from torch import nn

from kan_inr.errors import KanInrError
from kan_inr.atomic import fsync_dir, save_tensors, save_weights, write_json
from kan_inr.runs.layout import CHECKPOINT, COMPLETE, CONFIG, HISTORY, INTERRUPTED, METRICS, RUNNING, WEIGHTS
from kan_inr.runs.load import load_config, read_status
from kan_inr.runs.lock import lock, unlock


class RunWriter:
    """A run folder being written by this process (which holds its lock).

    ``create`` stages config.json, metrics.json (status "running", step 0) and the initial weights in a
    hidden sibling folder and renames it into place, so the run folder is valid from the moment it
    exists; ``reopen`` takes an existing, unfinished run to resume. ``checkpoint`` then replaces
    checkpoint.pt, weights.pt, history.json and metrics.json; ``commit`` marks the run complete;
    ``interrupt`` marks it resumable; ``discard`` (after an error) removes a run that failed before any
    checkpoint and marks any other interrupted.
    """

    def __init__(self, run_dir: Path, overwrite: bool = False) -> None:
        self.run_dir = Path(run_dir)
        self.fd: int | None = None  # our lock, once the folder exists
        self.old_fd: int | None = None  # the lock of a run we are about to overwrite
        self.fresh, self.progress = True, {"status": RUNNING, "step": 0}
        if self.run_dir.exists():
            if not overwrite:
                raise KanInrError(f"run folder {self.run_dir} already exists (use --overwrite, another --name, "
                                  f"or --resume {self.run_dir})")
            if not self.run_dir.is_dir():
                raise KanInrError(f"{self.run_dir} exists and is not a run folder")
            self.old_fd = lock(self.run_dir)  # never replace a run another process is writing

    @classmethod
    def reopen(cls, run_dir: Path) -> "RunWriter":
        """Lock an existing run to resume it; a complete run is refused."""
        writer = cls.__new__(cls)
        writer.run_dir, writer.old_fd, writer.fresh = Path(run_dir), None, False
        load_config(writer.run_dir)  # a clear error for anything that is not a (readable) run folder
        writer.fd = lock(writer.run_dir)
        try:
            for stale in [*writer.run_dir.glob(".*.tmp"), *writer.run_dir.glob(".*.tmp.*")]:
                stale.unlink(missing_ok=True)  # a writer killed mid-write left it; we hold the lock now
            writer.progress = read_status(writer.run_dir)
            if writer.progress.get("status") == COMPLETE:
                raise KanInrError(f"run {writer.run_dir} is complete: nothing to resume (start a new fit with "
                                  f"another --name or --overwrite)")
        except BaseException:
            writer.close()
            raise
        return writer

    def create(self, config: dict[str, Any], model: nn.Module) -> Path:
        parent, name = self.run_dir.parent, self.run_dir.name
        try:
            parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{name}."))
            staging.chmod(0o755)  # mkdtemp makes it private; a run folder is an ordinary folder
        except OSError as exc:
            self.close()
            raise KanInrError(f"cannot create run folder in {parent}: {exc.strerror or exc}") from None
        try:
            self.fd = lock(staging)  # the lock moves with the folder when it is renamed
            write_json(staging / CONFIG, config)
            save_weights(staging / WEIGHTS, model)
            write_json(staging / METRICS, self.progress)
            if self.old_fd is not None:  # --overwrite: swap the old run out, then delete it
                old = Path(tempfile.mkdtemp(dir=parent, prefix=f".{name}.old."))
                os.replace(self.run_dir, old / name)
                os.replace(staging, self.run_dir)
                shutil.rmtree(old, ignore_errors=True)
                unlock(self.old_fd)
                self.old_fd = None
            else:
                os.replace(staging, self.run_dir)  # fails if another process created the run meanwhile
            fsync_dir(parent)
        except BaseException as exc:
            self.close()
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(exc, OSError):
                raise KanInrError(f"cannot create run folder {self.run_dir}: {exc.strerror or exc}") from None
            if isinstance(exc, KanInrError):  # name the run, not the hidden staging folder the user never sees
                raise KanInrError(str(exc).replace(str(staging), str(self.run_dir))) from None
            raise
        return self.run_dir

    def checkpoint(self, state: dict[str, Any]) -> None:
        """Store a ``checkpoint.capture`` state: the checkpoint first (what --resume needs), then the
        latest weights (what render shows), history and status."""
        save_tensors(self.run_dir / CHECKPOINT, state)
        save_tensors(self.run_dir / WEIGHTS, state["model"])
        write_json(self.run_dir / HISTORY, state["history"])
        best = {f"best_{k}": v for k, v in state["best"].items()} if "step" in state["best"] else {}
        self.progress = {"status": RUNNING, "step": state["step"], **best}
        write_json(self.run_dir / METRICS, self.progress)

    def interrupt(self) -> None:
        """Mark the run resumable (after a stop request or an error) and release it."""
        try:
            if self.fd is not None:
                self.progress = {**self.progress, "status": INTERRUPTED}
                write_json(self.run_dir / METRICS, self.progress)
        finally:
            self.close()

    def commit(self, metrics: dict[str, Any]) -> Path:
        """Write the final metrics with status "complete" (the moment the run is finished), drop the
        checkpoint (a complete run is not resumed) and release the run."""
        write_json(self.run_dir / METRICS, {"status": COMPLETE, **metrics})
        (self.run_dir / CHECKPOINT).unlink(missing_ok=True)
        self.close()
        return self.run_dir

    def discard(self, error: BaseException | None = None) -> None:
        """After ``error``: a fresh run that never checkpointed and failed (a bad option, out of memory)
        is removed (renamed away first, so no half-deleted folder remains under its name); any other is
        marked interrupted (resumable). A stop by the user (KeyboardInterrupt, SystemExit) never deletes."""
        failed = not isinstance(error, (KeyboardInterrupt, SystemExit))
        if self.fd is not None and self.fresh and self.progress["step"] == 0 and failed:
            trash = Path(tempfile.mkdtemp(dir=self.run_dir.parent, prefix=f".{self.run_dir.name}.discarded."))
            os.replace(self.run_dir, trash / self.run_dir.name)
            self.close()
            shutil.rmtree(trash, ignore_errors=True)
            return
        try:
            self.interrupt()
        except KanInrError:
            pass  # e.g. the disk is full: the last checkpoint is still valid, status stays "running"

    def close(self) -> None:
        unlock(self.fd)
        unlock(self.old_fd)
        self.fd = self.old_fd = None

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

    Replacing a run (``overwrite``): only a folder that is a run (a readable config.json) is replaced,
    and only once the new run has earned it. The new run lives in its hidden staging folder (``run_dir``
    points there) until its first checkpoint or its commit; then the old run is swapped out and
    deleted. A fit that fails before that point (a bad option, a divergence, out of memory) discards the
    staging folder and leaves the old run exactly as it was, byte for byte.
    """

    def __init__(self, run_dir: Path, overwrite: bool = False) -> None:
        self.target = Path(run_dir)  # where the run lives once it exists (or replaces the old one)
        self.staging: Path | None = None  # the hidden folder of a run waiting to replace the old one
        self.fd: int | None = None  # our lock, once the folder exists
        self.old_fd: int | None = None  # the lock of a run we are about to overwrite
        self.fresh, self.progress = True, {"status": RUNNING, "step": 0}
        if self.target.name in ("", ".", ".."):
            raise KanInrError(f"'{run_dir}' cannot be a run folder: name a folder inside --outputs")
        if self.target.exists() or self.target.is_symlink():
            if not overwrite:
                raise KanInrError(f"run folder {self.target} already exists (use --overwrite, another --name, "
                                  f"or --resume {self.target})")
            if self.target.is_symlink() or not self.target.is_dir() or not (self.target / CONFIG).is_file():
                raise KanInrError(f"{self.target} exists and is not a run folder (no {CONFIG}): --overwrite "
                                  f"replaces only runs; choose another --name")
            load_config(self.target)  # a clear error, and nothing replaced, if it is not a readable run
            self.old_fd = lock(self.target, record_pid=False)  # never replace a run another process is writing

    @property
    def run_dir(self) -> Path:
        """Where the run's files are written now: the staging folder while it waits to replace an old
        run, its own name otherwise."""
        return self.staging if self.staging is not None else self.target

    @classmethod
    def reopen(cls, run_dir: Path) -> "RunWriter":
        """Lock an existing run to resume it; a complete run is refused."""
        writer = cls.__new__(cls)
        writer.target, writer.staging, writer.old_fd, writer.fresh = Path(run_dir), None, None, False
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
        parent, name = self.target.parent, self.target.name
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
            if self.old_fd is not None:
                self.staging = staging  # --overwrite: the old run stays until this one checkpoints or commits
            else:
                os.replace(staging, self.target)  # fails if another process created the run meanwhile
                fsync_dir(parent)
        except BaseException as exc:
            self.close()
            shutil.rmtree(staging, ignore_errors=True)
            self.staging = None
            if isinstance(exc, OSError):
                raise KanInrError(f"cannot create run folder {self.target}: {exc.strerror or exc}") from None
            if isinstance(exc, KanInrError):  # name the run, not the hidden staging folder the user never sees
                raise KanInrError(str(exc).replace(str(staging), str(self.target))) from None
            raise
        return self.target

    def _take_place(self) -> None:
        """Swap a staged run in for the old run it replaces (rename the old one away, rename the new one
        in, delete the old); nothing to do for a run already in place."""
        if self.staging is None:
            return
        parent, name = self.target.parent, self.target.name
        old = Path(tempfile.mkdtemp(dir=parent, prefix=f".{name}.old."))
        os.replace(self.target, old / name)
        try:
            os.replace(self.staging, self.target)
        except BaseException:
            os.replace(old / name, self.target)  # put the old run back: nothing lost
            raise
        self.staging = None
        fsync_dir(parent)
        shutil.rmtree(old, ignore_errors=True)
        unlock(self.old_fd)
        self.old_fd = None

    def checkpoint(self, state: dict[str, Any]) -> None:
        """Store a ``checkpoint.capture`` state: the checkpoint first (what --resume needs), then the
        latest weights (what render shows), history and status."""
        save_tensors(self.run_dir / CHECKPOINT, state)
        save_tensors(self.run_dir / WEIGHTS, state["model"])
        write_json(self.run_dir / HISTORY, state["history"])
        best = {f"best_{k}": v for k, v in state["best"].items()} if "step" in state["best"] else {}
        self.progress = {"status": RUNNING, "step": state["step"], **best}
        write_json(self.run_dir / METRICS, self.progress)
        self._take_place()  # the first checkpoint: the new run has earned the old one's place

    def interrupt(self) -> None:
        """Mark the run resumable (after a stop request or an error) and release it; a staged
        replacement that never checkpointed has nothing to resume and goes (the old run stays)."""
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None
            self.close()
            return
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
        self._take_place()
        self.close()
        return self.target

    def discard(self, error: BaseException | None = None) -> None:
        """After ``error``: a fresh run that never checkpointed and failed (a bad option, out of memory,
        a divergence) is removed (renamed away first, so no half-deleted folder remains under its name;
        a staged replacement simply goes, the old run untouched); any other is marked interrupted
        (resumable). A stop by the user (KeyboardInterrupt, SystemExit) never deletes."""
        failed = not isinstance(error, (KeyboardInterrupt, SystemExit))
        if self.staging is not None and (failed or self.progress["step"] == 0):
            shutil.rmtree(self.staging, ignore_errors=True)  # never took the old run's place
            self.staging = None
            self.close()
            return
        if self.fd is not None and self.fresh and self.progress["step"] == 0 and failed:
            trash = Path(tempfile.mkdtemp(dir=self.target.parent, prefix=f".{self.target.name}.discarded."))
            os.replace(self.target, trash / self.target.name)
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

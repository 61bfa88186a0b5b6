"""Run folders: self-contained, relocatable results of one fit.

    <run_dir>/config.json     plain data: format version, model name/family/config, train config, signal
    <run_dir>/weights.pt      state_dict of the raw module (the latest: initial, checkpointed, then final)
    <run_dir>/metrics.json    status ("running", "interrupted", "complete"), step; when complete the final
                              and best metrics, params, steps, wall time, device, samples/s
    <run_dir>/checkpoint.pt   full training state of the last checkpoint (``checkpoint.capture``) until complete
    <run_dir>/history.json    one row per evaluation (step, time, loss, metrics)
    <run_dir>/reconstruction.<ext>, <run_dir>/tb/  TensorBoard logs, <run_dir>/.lock  held by the writer

A run folder is valid at every moment, even after a SIGKILL: it appears complete-at-step-0 by renaming
a staged folder into place, and every later file is replaced atomically (temporary file, fsync,
rename), so ``render`` (latest weights) and ``kan-inr fit --resume`` accept it. One process writes a
run at a time (``lock``). Every .pt file loads with ``weights_only=True``: a file from someone else
cannot run code. Nothing stores absolute paths the run depends on: ``render`` needs the folder alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kan_inr import KanInrError, __version__, models, plugins
from kan_inr.atomic import fsync_dir, load_tensors, save_tensors, save_weights, write_json
from kan_inr.fit import TrainConfig
from kan_inr.signals.base import CONVENTIONS, ENDPOINTS

try:
    import fcntl
except ImportError:  # Windows: no flock; runs are then not protected against a second writer
    fcntl = None

FORMAT_VERSION = 3
CONFIG, WEIGHTS, METRICS, HISTORY = "config.json", "weights.pt", "metrics.json", "history.json"
CHECKPOINT, LOCK = "checkpoint.pt", ".lock"
RUNNING, INTERRUPTED, COMPLETE = "running", "interrupted", "complete"


def signal_digest(values: torch.Tensor) -> str:
    """SHA-256 of a signal's values (N, C) as float32: a resumed fit checks it trains on the same data."""
    return hashlib.sha256(values.detach().float().cpu().contiguous().numpy().tobytes()).hexdigest()


def upgrade_config(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a config.json of any earlier format to FORMAT_VERSION, one version at a time.

    1 -> 2: ``signal.load_options`` (how the file was read, e.g. resize_to) added, empty for old runs.
    2 -> 3: ``signal.convention`` (where samples sit, ``signals.base.CONVENTIONS``) added: "endpoints",
    the only geometry before, so an old run renders as it was fitted.
    """
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise KanInrError("config.json has no valid format_version")
    if version > FORMAT_VERSION:
        raise KanInrError(f"this run was written by a newer kan-inr (format {version}; this one reads up to "
                          f"{FORMAT_VERSION}): upgrade kan-inr")
    if version == 1:
        signal = data.get("signal")
        data = {**data, "format_version": 2,
                "signal": {**signal, "load_options": {}} if isinstance(signal, dict) else signal}
    if data["format_version"] == 2:
        signal = data.get("signal")
        data = {**data, "format_version": 3,
                "signal": {**signal, "convention": ENDPOINTS} if isinstance(signal, dict) else signal}
    return data


def _matches(value: Any, hint: Any) -> bool:
    """Whether JSON data ``value`` fits the dataclass field type ``hint`` (tuples are JSON lists)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin is tuple:
        items = args[:1] if len(args) == 2 and args[1] is Ellipsis else args
        return isinstance(value, list) and (len(args) == 2 and args[1] is Ellipsis or len(value) == len(args)) \
            and all(_matches(v, items[min(i, len(items) - 1)]) for i, v in enumerate(value))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return True  # a type JSON cannot hold: leave it to the class


def check_fields(cls: type, data: Any, where: str) -> dict[str, Any]:
    """``data`` as keyword arguments for dataclass ``cls``: known fields of the right types, lists
    turned back into tuples; anything else is a KanInrError naming ``where``."""
    if not isinstance(data, dict):
        raise KanInrError(f"{where}: expected a table of fields, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise KanInrError(f"{where}: unknown field(s) {', '.join(unknown)} (written by a newer kan-inr?)")
    for key, value in data.items():
        if not _matches(value, hints[key]):
            raise KanInrError(f"{where}: field '{key}' should be {hints[key]}, got {value!r}"[:300])
    return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}


def train_config(config: dict[str, Any]) -> TrainConfig:
    """The TrainConfig a run was fitted with (validated)."""
    return TrainConfig(**check_fields(TrainConfig, config["train"], f"{CONFIG} train"))


@dataclass
class Run:
    run_dir: Path
    config: dict[str, Any]
    model: nn.Module

    @property
    def signal(self) -> dict[str, Any]:
        return self.config["signal"]


def make_config(model_name: str, family: str, model_cfg: Any, in_dim: int, out_dim: int,
                train: dict[str, Any], signal: dict[str, Any], load_options: dict[str, Any] | None = None,
                digest: str | None = None) -> dict[str, Any]:
    """config.json: ``signal`` is ``Signal.describe()``, plus the loader options that reproduce it from
    its file and its values' digest (both used by ``--resume``)."""
    signal = {**signal, "load_options": {k: v for k, v in (load_options or {}).items() if v is not None}}
    if digest is not None:
        signal["digest"] = digest
    model = {"name": model_name, "family": family, "config": models.config_to_dict(model_cfg),
             "in_dim": in_dim, "out_dim": out_dim}
    if plugins.is_spec(family):  # a plug-in: family is its model's import path; record its config's too
        model["config_class"] = plugins.spec_of(type(model_cfg))
    return {"format_version": FORMAT_VERSION, "kan_inr_version": __version__, "model": model,
            "train": train, "signal": signal}


def load_config(run_dir: Path) -> dict[str, Any]:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise KanInrError(f"no such run folder: {run_dir}")
    path = run_dir / CONFIG
    if not path.is_file():
        raise KanInrError(f"{run_dir} is not a kan-inr run folder (no {CONFIG})")
    try:
        data = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise KanInrError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise KanInrError(f"{path} does not hold a run configuration")
    data = upgrade_config(data)
    try:
        model, signal = data["model"], data["signal"]
        if not (isinstance(model["family"], str) and isinstance(model["config"], dict)
                and _matches(model["in_dim"], int) and _matches(model["out_dim"], int)
                and model["in_dim"] >= 1 and model["out_dim"] >= 1
                and _matches(signal["shape"], tuple[int, ...]) and min(signal["shape"], default=0) >= 1
                and isinstance(signal["kind"], str) and _matches(signal["value_range"], tuple[float, float])
                and isinstance(signal.get("meta", {}), dict) and isinstance(signal["load_options"], dict)
                and signal["convention"] in CONVENTIONS
                and isinstance(data["train"], dict)):
            raise TypeError
    except (KeyError, TypeError):
        raise KanInrError(f"{path} is missing fields or has fields of the wrong type") from None
    from kan_inr import signals  # the signal kinds this kan-inr knows

    if signal["kind"] not in signals.KINDS:
        raise KanInrError(f"{path}: unknown signal kind '{signal['kind']}' (this kan-inr knows: "
                          f"{', '.join(sorted(signals.KINDS))})")
    config_cls = models.resolve_family(model["family"])[0]  # a plug-in is imported only with consent
    check_fields(config_cls, model["config"], f"{path} model config")
    train_config(data)
    return data


def read_status(run_dir: Path) -> dict[str, Any]:
    """metrics.json of a run: {"status": ..., "step": ...} while running, everything once complete
    (runs written before statuses existed are complete)."""
    path = Path(run_dir) / METRICS
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {"status": RUNNING, "step": 0}
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise KanInrError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise KanInrError(f"{path} does not hold run metrics")
    return {"status": COMPLETE, **data}


def build_model(config: dict[str, Any]) -> nn.Module:
    """A run's model, freshly initialised from its (validated) config."""
    spec = config["model"]
    try:
        cfg = models.config_from_dict(spec["family"], spec["config"])
        return models.build(spec["family"], spec["in_dim"], spec["out_dim"], cfg)
    except (TypeError, ValueError, RuntimeError, AssertionError, ArithmeticError) as exc:
        raise KanInrError(f"{CONFIG}: invalid model config ({str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__})") from None


def load_run(run_dir: str | os.PathLike, device: torch.device | str = "cpu") -> Run:
    """Load a run folder: its config and the model with its weights (strict, weights only)."""
    run_dir = Path(run_dir)
    config = load_config(run_dir)
    model = build_model(config)
    path = run_dir / WEIGHTS
    if not path.is_file():
        raise KanInrError(f"{run_dir} has no {WEIGHTS}")
    state = load_tensors(path)
    try:
        model.load_state_dict(state, strict=True)
    except Exception as exc:  # not a dict, missing keys, wrong shapes: all mean weights of another model
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise KanInrError(f"cannot load weights {path}: {first[:200]}") from None
    return Run(run_dir, config, model.to(device).eval())


def load_checkpoint(run_dir: Path) -> dict[str, Any] | None:
    """A run's last checkpoint (``checkpoint.capture``), or None if it has none (stopped before its first
    checkpoint: resuming starts again from step 0, which the seed reproduces exactly)."""
    path = Path(run_dir) / CHECKPOINT
    if not path.is_file():
        return None
    state = load_tensors(path)
    if not isinstance(state, dict):
        raise KanInrError(f"{path} is not a kan-inr checkpoint")
    return state


def lock(run_dir: Path) -> int:
    """Hold ``<run_dir>/.lock`` (``fcntl.flock``) for this process: a second writer of the same run gets
    a clear error. The kernel drops the lock when the process ends in any way, SIGKILL included, so a
    killed fit never leaves a stale lock. Returns the descriptor to pass to ``unlock``."""
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
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    return fd


def unlock(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # closing the last descriptor releases the flock


class RunWriter:
    """A run folder being written by this process (which holds its lock).

    ``create`` stages config.json, metrics.json (status "running", step 0) and the initial weights in a
    hidden sibling folder and renames it into place, so the run folder is valid from the moment it
    exists; ``reopen`` takes an existing, unfinished run to resume. ``checkpoint`` then replaces
    checkpoint.pt, weights.pt, history.json and metrics.json; ``commit`` marks the run complete;
    ``interrupt`` marks it resumable; ``discard`` (after an error) removes a run that made no progress
    and marks any other interrupted.
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

    def discard(self) -> None:
        """After an error: a fresh run that never checkpointed is removed (renamed away first, so no
        half-deleted folder remains under its name); any other is marked interrupted (resumable)."""
        if self.fd is not None and self.fresh and self.progress["step"] == 0:
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

"""Run folders: self-contained, relocatable results of one fit.

    <run_dir>/config.json     plain data: format version, model name/family/config, train config, signal
    <run_dir>/weights.pt      state_dict of the raw module, loaded with weights_only=True, strict
    <run_dir>/metrics.json    final and best metrics, params, steps, wall time, device, samples/s
    <run_dir>/history.json    one row per evaluation (step, time, loss, metrics)
    <run_dir>/reconstruction.<ext>, <run_dir>/tb/  TensorBoard logs

A run is assembled in a hidden sibling folder and renamed into place when complete, so a failed or
interrupted fit never leaves a half-written run under the final name. Nothing stores absolute paths
the run depends on: ``render`` needs the folder alone.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kan_inr import KanInrError, __version__, models

FORMAT_VERSION = 1
CONFIG, WEIGHTS, METRICS, HISTORY = "config.json", "weights.pt", "metrics.json", "history.json"


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically: temporary file in the same folder, fsync, rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, allow_nan=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_weights(path: Path, model: nn.Module) -> None:
    """Save the raw module's state_dict atomically (never a torch.compile wrapper's keys)."""
    module = getattr(model, "_orig_mod", model)
    state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def upgrade_config(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a config.json of any earlier format to FORMAT_VERSION (version 1 is the first)."""
    version = data.get("format_version")
    if not isinstance(version, int):
        raise KanInrError("config.json has no valid format_version")
    if version > FORMAT_VERSION:
        raise KanInrError(f"this run was written by a newer kan-inr (format {version}; this one reads up to "
                          f"{FORMAT_VERSION}): upgrade kan-inr")
    return data


@dataclass
class Run:
    run_dir: Path
    config: dict[str, Any]
    model: nn.Module

    @property
    def signal(self) -> dict[str, Any]:
        return self.config["signal"]


def make_config(model_name: str, family: str, model_cfg: Any, in_dim: int, out_dim: int,
                train: dict[str, Any], signal: dict[str, Any]) -> dict[str, Any]:
    return {"format_version": FORMAT_VERSION, "kan_inr_version": __version__,
            "model": {"name": model_name, "family": family, "config": models.config_to_dict(model_cfg),
                      "in_dim": in_dim, "out_dim": out_dim},
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
        model = data["model"]
        if not (isinstance(model["family"], str) and isinstance(model["config"], dict)
                and isinstance(model["in_dim"], int) and isinstance(model["out_dim"], int)
                and isinstance(data["signal"]["shape"], list) and isinstance(data["signal"]["kind"], str)):
            raise TypeError
    except (KeyError, TypeError):
        raise KanInrError(f"{path} is missing fields or has fields of the wrong type") from None
    return data


def load_run(run_dir: str | os.PathLike, device: torch.device | str = "cpu") -> Run:
    """Load a run folder: its config and the model with its weights (strict, weights only)."""
    run_dir = Path(run_dir)
    config = load_config(run_dir)
    spec = config["model"]
    try:
        cfg = models.config_from_dict(spec["family"], spec["config"])
    except TypeError as exc:
        raise KanInrError(f"{run_dir / CONFIG}: invalid model config ({exc})") from None
    model = models.build(spec["family"], spec["in_dim"], spec["out_dim"], cfg)
    path = run_dir / WEIGHTS
    if not path.is_file():
        raise KanInrError(f"{run_dir} has no {WEIGHTS}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    except Exception as exc:  # unpickling and shape errors come in many types; all mean a bad file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise KanInrError(f"cannot load weights {path}: {first[:200]}") from None
    return Run(run_dir, config, model.to(device).eval())


class RunWriter:
    """Creates ``<outputs>/<name>`` atomically: everything is written to a hidden staging folder that
    is renamed to the final name by ``commit()``; ``discard()`` removes it."""

    def __init__(self, run_dir: Path, overwrite: bool = False) -> None:
        self.run_dir = Path(run_dir)
        if self.run_dir.exists() and not overwrite:
            raise KanInrError(f"run folder {self.run_dir} already exists (use --overwrite or another --name)")
        try:
            self.run_dir.parent.mkdir(parents=True, exist_ok=True)
            self.staging = Path(tempfile.mkdtemp(dir=self.run_dir.parent, prefix=f".{self.run_dir.name}."))
        except OSError as exc:
            raise KanInrError(f"cannot create run folder in {self.run_dir.parent}: {exc.strerror or exc}") from None
        self.overwrite = overwrite

    def commit(self) -> Path:
        if self.run_dir.exists():  # only reachable with overwrite=True
            old = self.run_dir.with_name(f".{self.run_dir.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.run_dir, old)
            os.replace(self.staging, self.run_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.staging, self.run_dir)
        return self.run_dir

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)

"""Reading a run folder: its config.json (validated), its status, its model with weights, its checkpoint."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from kan_inr.errors import KanInrError, first_line
from kan_inr import models, signals
from kan_inr.atomic import load_tensors
from kan_inr.config import check_config, check_fields
from kan_inr.geometry import CONVENTIONS
from kan_inr.runs.layout import CHECKPOINT, COMPLETE, CONFIG, METRICS, RUNNING, WEIGHTS


def signal_digest(values: torch.Tensor) -> str:
    """SHA-256 of a signal's values (N, C) as float32: a resumed fit checks it trains on the same data."""
    return hashlib.sha256(values.detach().float().cpu().contiguous().numpy().tobytes()).hexdigest()


@dataclass
class Run:
    run_dir: Path
    config: dict[str, Any]
    model: nn.Module

    @property
    def signal(self) -> dict[str, Any]:
        return self.config["signal"]


def load_config(run_dir: Path) -> dict[str, Any]:
    """A run's config.json, upgraded to the current format and checked field by field, model config included."""
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
    data = check_config(data, str(path))
    model, signal = data["model"], data["signal"]
    if signal["kind"] not in signals.KINDS:
        raise KanInrError(f"{path}: unknown signal kind '{signal['kind']}' (this kan-inr knows: "
                          f"{', '.join(sorted(signals.KINDS))})")
    if signal["convention"] not in CONVENTIONS:
        raise KanInrError(f"{path}: unknown coordinate convention '{signal['convention']}' "
                          f"(this kan-inr knows: {', '.join(CONVENTIONS)})")
    config_cls = models.resolve_family(model["family"])[0]  # a plug-in is imported only with consent
    check_fields(config_cls, model["config"], f"{path} model config")
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
        raise KanInrError(f"{CONFIG}: invalid model config ({first_line(exc)})") from None


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
        raise KanInrError(f"cannot load weights {path}: {first_line(exc)}") from None
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

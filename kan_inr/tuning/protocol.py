"""A study opened by name: created with its sampler and pruner, and the protocol it was made with
(signals, objective, budget, space, seed) recorded, so that a re-run that asks for other settings is
refused and a study's trials stay comparable."""

from __future__ import annotations

import json
from typing import Any

import optuna

from kan_inr.errors import KanInrError, first_line
from kan_inr.tuning.sampler import STARTUP_TRIALS, TrialSeeded


def open_study(storage: optuna.storages.RDBStorage, name: str, directions: int, protocol: dict[str, Any],
               seed: int, prune: bool) -> optuna.Study:
    """The study ``name`` (created if new) with ``directions`` objectives to maximise. A study records
    its ``protocol`` when made; a re-run that asks for other settings is an error. ``prune``: a median
    pruner on the learning curves (Optuna prunes single-objective studies only)."""
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS - 1, n_warmup_steps=5) if prune
              else optuna.pruners.NopPruner())
    try:
        study = optuna.create_study(storage=storage, study_name=name, directions=["maximize"] * directions,
                                    load_if_exists=True, sampler=TrialSeeded(seed), pruner=pruner)
    except ValueError as exc:
        raise KanInrError(f"study '{name}': {first_line(exc)}") from None
    plain = json.loads(json.dumps(protocol))
    stored = study.user_attrs.get("protocol")
    if stored is None:
        study.set_user_attr("protocol", plain)
    elif stored != plain:
        raise KanInrError(f"study '{name}' was made with other settings ({'; '.join(differences(stored, plain))}): re-run it as it "
                          f"was made, or give another --name")
    return study


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between two protocols: 'key old, now new', or for a table the keys that differ in it."""
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out.append(f"{key}: {', '.join(k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))}")
        else:
            out.append(f"{key} {json.dumps(a)[:60]}, now {json.dumps(b)[:60]}")
    return out

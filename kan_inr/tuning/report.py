"""A study's tune folder: the chosen point as a config ``kan-inr fit --config`` reads, every trial as
CSV, and the figures a person looks at (matplotlib's object API on the Agg canvas, as ``plots``).

    tune-<name>/study.db           the Optuna storage (unless --storage)
    tune-<name>/pareto.png         grid vs 2x: every model of the study name, its Pareto front, its chosen point
    tune-<name>/<model>/best.toml  the chosen point: training options, then the [model] fields
    tune-<name>/<model>/trials.csv every trial: state, scores, seconds, levers
    tune-<name>/<model>/history.png    scores by trial, with the best so far
    tune-<name>/<model>/importance.png the levers' importances (PED-ANOVA) per objective
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from matplotlib.figure import Figure
from optuna.trial import FrozenTrial, TrialState

from kan_inr import superres
from kan_inr.atomic import write_text
from kan_inr.plots import save
from kan_inr.space import SearchSpace
from kan_inr.tuning import spaces
from kan_inr.tuning.objectives import CHOSEN_RULE, FACTOR, MARK_STRIDE, Target, chosen, names

MIN_IMPORTANCE_TRIALS = 3  # importances of fewer complete trials say nothing


def levers(trial: FrozenTrial, space: SearchSpace) -> dict[str, Any]:
    """A trial's lever values, in the space's order: sampled, and fixed by the space."""
    values = spaces.fixed_values(space) | trial.params
    return {name: values[name] for name in space.params if name in values}


def best_point(trial: FrozenTrial, space: SearchSpace, target: Target, wanted: tuple[str, ...]) -> dict[str, Any]:
    """The chosen trial as data: its number, scores, levers and the settings they give for ``target``
    as the study loaded it (its original grid: a derived lever scales with the grid)."""
    values = levers(trial, space)
    return {"number": trial.number, "values": dict(zip(wanted, trial.values)), "params": values,
            "settings": space.settings(values, target.original.shape, target.original.convention)}


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a TOML basic string


def best_toml(trial: FrozenTrial, space: SearchSpace, target: Target, protocol: dict[str, Any],
              study: optuna.Study) -> str:
    """``best.toml``: the chosen point's training options and ``[model]`` fields, with the study's budget
    and seed, so ``kan-inr fit SIGNAL --config best.toml`` fits as the chosen trial did."""
    wanted = names(protocol["objective"])
    point = best_point(trial, space, target, wanted)
    model_fields, train = spaces.split(point["settings"])
    train |= ({"seconds": protocol["seconds"]} if protocol["seconds"] is not None else {}) | {"seed": protocol["seed"]}
    shape = "x".join(map(str, target.original.shape[::-1]))
    scores = ", ".join(f"{k} {v:.2f} dB" for k, v in point["values"].items())
    floor = study.user_attrs.get("floor_2x")
    rule = f"{CHOSEN_RULE} ({floor['method']} {floor['score']:.2f} dB)" if floor else "the best score"
    finished = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))
    lines = [f"# kan-inr tune: the chosen point of study {study.study_name} ({finished} finished trials)",
             f"# trial {trial.number}, objective {protocol['objective']}: {scores} "
             f"(mean over {len(protocol['signals'])} signal(s))",
             f"# chosen: {rule}",
             "# levers: " + ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                                      for k, v in point["params"].items()),
             f"# settings for {target.path.name} as the study loaded it ({shape}, {json.dumps(protocol['load_options'])})",
             f"# use: kan-inr fit SIGNAL --model {protocol['model']} --config best.toml", ""]
    lines += [f"{k} = {toml_value(v)}" for k, v in train.items()]
    if model_fields:
        lines += ["", "[model]", *(f"{k} = {toml_value(v)}" for k, v in model_fields.items())]
    return "\n".join(lines) + "\n"


def note(trial: FrozenTrial) -> str:
    if trial.state == TrialState.PRUNED and trial.intermediate_values:
        step = max(trial.intermediate_values)
        return f"pruned at evaluation {step % MARK_STRIDE} of signal {step // MARK_STRIDE + 1} ({trial.intermediate_values[step]:.2f} dB)"
    return str(trial.user_attrs.get("error", ""))


def trials_csv(study: optuna.Study, space: SearchSpace, wanted: tuple[str, ...]) -> str:
    """One row per trial that ran: number, state, scores (complete trials), seconds, steps per signal, note,
    levers. A queued trial (WAITING: ``sharing``) has not run."""
    trials = [t for t in study.get_trials(deepcopy=False) if t.state != TrialState.WAITING]
    params = list(space.params) + sorted({p for t in trials for p in t.params} - set(space.params))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["number", "state", *wanted, "seconds", "steps", "note", *params])
    fixed = spaces.fixed_values(space)
    for t in trials:
        scores = t.values if t.state == TrialState.COMPLETE and t.values else [None] * len(wanted)
        steps = "/".join(str(f["steps"]) for f in t.user_attrs.get("fits", []))
        seconds = f"{t.duration.total_seconds():.1f}" if t.duration else ""
        values = fixed | t.params
        writer.writerow([t.number, t.state.name, *("" if v is None else f"{v:.4f}" for v in scores), seconds, steps,
                         note(t), *(values.get(p, "") for p in params)])
    return out.getvalue()


def history_figure(study: optuna.Study, wanted: tuple[str, ...], metric: str, path: Path) -> Path:
    """Each objective's score by trial number, the best so far, pruned trials at their last evaluation
    and the chosen point."""
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    pruned = [t for t in trials if t.state == TrialState.PRUNED and t.intermediate_values]
    best = chosen(study)
    fig = Figure(figsize=(7, 1 + 3 * len(wanted)), layout="constrained")
    for i, name in enumerate(wanted):
        ax = fig.add_subplot(len(wanted), 1, i + 1)
        numbers = np.array([t.number for t in complete])
        scores = np.array([t.values[i] for t in complete])
        ax.scatter(numbers, scores, s=18, label="complete")
        if len(scores):
            ax.step(numbers, np.maximum.accumulate(scores), where="post", alpha=0.6, label="best so far")
        if pruned and len(wanted) == 1:
            ax.scatter([t.number for t in pruned], [t.intermediate_values[max(t.intermediate_values)] for t in pruned],
                       marker="x", color="grey", label="pruned (last evaluation)")
        if best is not None:
            ax.scatter([best.number], [best.values[i]], marker="*", s=160, color="red", label="chosen", zorder=3)
        ax.set_xlabel("trial")
        ax.set_ylabel(f"{name} {metric} (dB)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{study.study_name}: optimisation history", fontsize=10)
    return save(fig, path)


def importance_figure(study: optuna.Study, wanted: tuple[str, ...], path: Path) -> Path:
    """Each objective's lever importances (PED-ANOVA, Watanabe et al. IJCAI 2023, arXiv 2304.10255: how much
    each lever's distribution differs between the best trials and all of them), or why there are none yet."""
    complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    fig = Figure(figsize=(7, 1 + 3 * len(wanted)), layout="constrained")
    for i, name in enumerate(wanted):
        ax = fig.add_subplot(len(wanted), 1, i + 1)
        ax.set_title(f"importance for {name}", fontsize=9)
        importances: dict[str, float] = {}
        if complete >= MIN_IMPORTANCE_TRIALS:
            evaluator = optuna.importance.PedAnovaImportanceEvaluator()  # needs no extra library (fANOVA: sklearn)
            try:
                with warnings.catch_warnings():  # its advice to run more trials: the figure says how many there are
                    warnings.simplefilter("ignore")
                    importances = optuna.importance.get_param_importances(  # it minimises: scores negated
                        study, evaluator=evaluator, target=lambda t, i=i: -t.values[i])  # type: ignore[misc]
            except (ValueError, RuntimeError):  # no lever varied over the complete trials
                importances = {}
        if importances:
            ax.barh(list(importances)[::-1], list(importances.values())[::-1])
            ax.set_xlabel(f"importance to reach the best 10 % of {name} scores (PED-ANOVA, {complete} trials)")
        else:
            ax.text(0.5, 0.5, f"needs at least {MIN_IMPORTANCE_TRIALS} complete trials with varied levers "
                    f"(has {complete})", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
    return save(fig, path)


def baselines(targets: list[Target]) -> dict[str, float]:
    """The classical upsamplers' 2x scores of the study's signals (mean): bicubic and Lanczos for images,
    linear and windowed sinc for audio (``superres.classical``)."""
    scores: dict[str, list[float]] = {}
    for t in targets:
        for method, pred in superres.classical(t.fitted, t.original.shape, FACTOR).items():
            scores.setdefault(method, []).append(superres.score(pred, t.original)[t.headline])
    return {method: float(np.mean(v)) for method, v in scores.items()}


def pareto_figure(url: str, prefix: str, metric: str, classical: dict[str, float], path: Path) -> Path | None:
    """Grid vs 2x score of every two-objective study in the storage named ``<prefix>...`` (one per model):
    its complete trials, its Pareto front and its chosen point, with the classical upsamplers' 2x
    scores; None when there is no such study with a complete trial."""
    studies = [optuna.load_study(study_name=n, storage=url) for n in optuna.get_all_study_names(storage=url)
               if n.startswith(prefix)]
    studies = [s for s in studies if len(s.directions) == 2
               and s.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]
    if not studies:
        return None
    fig = Figure(figsize=(7, 5), layout="constrained")
    ax = fig.add_subplot()
    for k, study in enumerate(studies):
        colour = f"C{k}"
        points = np.array([t.values for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))])
        front = np.array(sorted(t.values for t in study.best_trials))  # (P, 2) by grid score
        ax.scatter(points[:, 0], points[:, 1], s=14, alpha=0.35, color=colour)
        ax.plot(front[:, 0], front[:, 1], marker="o", markersize=4, color=colour,
                label=f"{study.study_name[len(prefix):]} ({len(points)} trials)")
        best = chosen(study)
        if best is not None:
            ax.scatter([best.values[0]], [best.values[1]], marker="*", s=180, color=colour, edgecolor="black",
                       zorder=3)
    for j, (method, score) in enumerate(classical.items()):
        ax.axhline(score, linestyle="--", color="grey", alpha=0.8 - 0.3 * j, linewidth=1, label=f"{method} {score:.2f} dB")
    ax.set_xlabel(f"grid {metric} of the fit, on the reduced signal (dB)")
    ax.set_ylabel(f"2x {metric} against the original (dB)")
    ax.set_title(f"Pareto fronts of study {prefix.rstrip('/')} (star: chosen point)", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return save(fig, path)


def write(study: optuna.Study, url: str, tune_dir: Path, space: SearchSpace, targets: list[Target],
          protocol: dict[str, Any]) -> list[Path]:
    """The tune folder's files for ``study`` (and ``pareto.png`` for every model of its name)."""
    wanted = names(protocol["objective"])
    prefix, _, label = study.study_name.partition("/")
    folder = tune_dir / label
    metric = targets[0].headline.upper()
    files = [folder / "trials.csv"]
    folder.mkdir(parents=True, exist_ok=True)
    write_text(files[0], trials_csv(study, space, wanted))
    files.append(history_figure(study, wanted, metric, folder / "history.png"))
    files.append(importance_figure(study, wanted, folder / "importance.png"))
    trial = chosen(study)
    if trial is not None:
        files.append(folder / "best.toml")
        write_text(files[-1], best_toml(trial, space, targets[0], protocol, study))
    if len(wanted) == 2:
        pareto = pareto_figure(url, prefix + "/", metric, baselines(targets), tune_dir / "pareto.png")
        files += [pareto] if pareto is not None else []
    return files

#!/usr/bin/env python
"""Equal-effort studies (shared/docs/benchmarks.md protocol 9): one ``kan-inr tune`` study per model with
the same signals, trials, seconds (or epochs) per trial, sampler seed and objectives, in one storage;
then a benchmark record of every model's trials, chosen point and Pareto front, and the Pareto figure.

    OMP_NUM_THREADS=1 python scripts/study.py --name div2k64 --models siren fkan sl2a \\
        --signals ../shared/data/div2k/00.png ../shared/data/div2k/05.png --size 64 --trials 12 --seconds 30
    OMP_NUM_THREADS=1 python scripts/study.py --name div2k64 --models siren fkan sl2a --seconds 30 --size 64 \\
        --validate ../shared/data/div2k/10.png ../shared/data/div2k/15.png

The study writes ``benchmarks/tune-<name>.json`` and ``benchmarks/tune-<name>.png`` (the Pareto fronts of
every model on one plot, with the classical upsamplers' 2x scores); the tune folder
``outputs/tune-<name>/`` keeps the study database, each model's best.toml, trials.csv and figures. A
re-run continues the studies (a model already at ``--trials`` is only summarised).

``--validate FILE...`` fits each model's chosen point on signals the study did not see (audio: other
clip offsets, ``--validate-start``), under the study's objective and budget, beside the preset's default
recipe under the same budget and the classical upsamplers, and writes ``benchmarks/tune-<name>-validation.json``.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import typing
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source tree without installing

import optuna  # noqa: E402

import kan_inr  # noqa: E402
import records  # noqa: E402
from kan_inr import models, plugins  # noqa: E402
from kan_inr.device import resolve_device  # noqa: E402
from kan_inr.errors import KanInrError  # noqa: E402
from kan_inr.options import options_of  # noqa: E402
from kan_inr.tune_config import TuneConfig  # noqa: E402
from kan_inr.tuning import objectives, report, spaces  # noqa: E402
from kan_inr.tuning.objectives import CHOSEN_RULE, chosen  # noqa: E402
from kan_inr.tuning.sampler import STARTUP_TRIALS  # noqa: E402
from kan_inr.tuning.storage import storage_url  # noqa: E402


OWN = ("name", "space")  # TuneConfig options this script declares its own way: --name required, --space per model


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", required=True, help="study name: outputs/tune-<name>/, benchmarks/tune-<name>.json")
    parser.add_argument("--models", nargs="+", default=["siren", "fkan", "sl2a"])
    parser.add_argument("--signals", nargs="+", type=Path, default=[], help="the study's signals")
    parser.add_argument("--size", type=int, default=None, help="images: longest side in pixels (area)")
    parser.add_argument("--start", type=float, default=None, help="audio: the study's clip start (s)")
    parser.add_argument("--duration", type=float, default=None, help="audio: clip length (s)")
    for o in options_of(TuneConfig).values():  # kan-inr tune's options, from their one declaration
        if o.name not in OWN:
            parser.add_argument(o.flag, type=plain_type(o.hint), default=o.default, choices=o.choices, help=o.help)
    parser.add_argument("--space", action="append", default=[], metavar="MODEL=FILE", help="a model's --space file")
    parser.add_argument("--outputs", type=Path, default=Path("outputs"))
    parser.add_argument("--bench-dir", type=Path, default=records.BENCH_DIR, help="where the records go")
    parser.add_argument("--validate", nargs="+", type=Path, default=None, help="signals the study did not see")
    parser.add_argument("--validate-start", nargs="+", type=float, default=None,
                        help="audio: clip starts of the validation signals (each with --duration)")
    args = parser.parse_args()
    args.seconds, args.epochs = TuneConfig(seconds=args.seconds, epochs=args.epochs).budget()
    args.device = str(resolve_device(args.device))  # the record names the device that ran ("auto" resolved)
    return args


def plain_type(hint: Any) -> Any:
    """The type argparse converts an option's text to: its declared type without None."""
    return next((t for t in typing.get_args(hint) if t is not type(None)), hint)


def budget(args: argparse.Namespace) -> str:
    return f"{args.seconds:g} s of training" if args.seconds is not None else f"{args.epochs:g} epochs"


def space_files(args: argparse.Namespace) -> dict[str, Path]:
    files = {}
    for item in args.space:
        model, sep, path = item.partition("=")
        if not sep or model not in args.models:
            raise KanInrError(f"--space takes MODEL=FILE for one of --models, got '{item}'")
        files[model] = Path(path)
    return files


def load_options(args: argparse.Namespace, start: float | None) -> dict[str, Any]:
    return {"resize_to": args.size, "start": start, "duration": args.duration}


def studied(url: str, name: str, model: str, kind: str) -> tuple[optuna.Study, Any, dict[str, Any]]:
    """The study of ``model`` under ``name``: (study, its search space, its protocol)."""
    try:
        study = optuna.load_study(study_name=f"{name}/{plugins.label(model)}", storage=url)
    except KeyError:
        raise KanInrError(f"no study {name}/{model} in {url}: run the study first") from None
    protocol = study.user_attrs["protocol"]
    return study, spaces.from_plain(spaces.search_space(model, kind), protocol["space"]), protocol


def summary(study: optuna.Study, space: Any, target: objectives.Target, wanted: tuple[str, ...]) -> dict[str, Any]:
    """A model's study as plain data: its trials, Pareto front and chosen point."""
    trials = study.get_trials(deepcopy=False)
    states = [t.state.name for t in trials]
    front = sorted(study.best_trials, key=lambda t: t.values[0]) if any(s == "COMPLETE" for s in states) else []
    best = chosen(study)
    return {
        "trials": {s: states.count(s) for s in ("COMPLETE", "PRUNED", "FAIL")},
        "best": None if best is None else report.best_point(best, space, target, wanted),
        "pareto": [{"number": t.number, "values": dict(zip(wanted, t.values)), "params": report.levers(t, space)}
                   for t in front],
        "all": [{"number": t.number, "state": t.state.name, "values": t.values and dict(zip(wanted, t.values)),
                 "seconds": t.duration.total_seconds() if t.duration else None, "params": report.levers(t, space),
                 "fits": t.user_attrs.get("fits", [])} for t in trials],
    }


def shown(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def run_study(args: argparse.Namespace) -> None:
    if not args.signals:
        raise KanInrError("give the study's signals: --signals FILE...")
    files = space_files(args)
    for model in args.models:
        print(f"== {model}", flush=True)
        kan_inr.tune(args.signals, model, trials=args.trials, seconds=args.seconds, epochs=args.epochs,
                     objective=args.objective, space=files.get(model), storage=args.storage, name=args.name,
                     outputs=args.outputs, seed=args.seed, resize=args.size, start=args.start,
                     duration=args.duration, device=args.device)
    wanted = objectives.names(args.objective)
    targets = objectives.targets(args.signals, args.objective, load_options(args, args.start))
    kind = targets[0].original.kind
    url = storage_url(args.outputs / f"tune-{args.name}", args.storage)
    per_model = {}
    for model in args.models:
        study, space, _ = studied(url, args.name, model, kind)
        per_model[model] = summary(study, space, targets[0], wanted)
    classical = report.baselines(targets) if "2x" in wanted else {}
    results = {
        "protocol": {"signals": [str(p) for p in args.signals], "size": args.size, "start": args.start,
                     "duration": args.duration, "trials": args.trials, "seconds": args.seconds, "epochs": args.epochs,
                     "objective": args.objective, "seed": args.seed, "models": args.models,
                     "spaces": {m: str(f) for m, f in files.items()},
                     "sampler": f"TPE, multivariate, {STARTUP_TRIALS} random trials first, seeded per trial",
                     "pruner": "median of earlier trials' evaluations" if len(wanted) == 1 else "none (two objectives)",
                     "chosen": CHOSEN_RULE if len(wanted) == 2 else "the best score"},
        "classical_2x": classical,
        "models": per_model,
    }
    metric = targets[0].headline.upper()
    what = ", ".join(f"{p.name}" for p in args.signals)
    lines = [f"One Optuna study per model, the same for each: {what}"
             f"{f' at {args.size} px' if args.size else ''}, {args.trials} trials of {budget(args)} per signal, "
             f"objective {args.objective}, sampler seed {args.seed}. Chosen point: "
             f"{results['protocol']['chosen']}.", "",
             "| model | trials (complete / pruned / failed) | chosen trial | " + " | ".join(
                 f"{w} {metric} (dB)" for w in wanted) + " | settings |",
             "|---|---|---|" + "---|" * len(wanted) + "---|"]
    for model, data in per_model.items():
        best, n = data["best"], data["trials"]
        counts = f"{n['COMPLETE']} / {n['PRUNED']} / {n['FAIL']}"
        if best is None:
            lines.append(f"| {model} | {counts} | - |" + " - |" * len(wanted) + " - |")
            continue
        settings = ", ".join(f"{k} {shown(v)}" for k, v in best["params"].items())
        lines.append(f"| {model} | {counts} | {best['number']} | "
                     + " | ".join(f"{best['values'][w]:.2f}" for w in wanted) + f" | {settings} |")
    if classical:
        lines += ["", "2x of the classical upsamplers (same signals): "
                  + ", ".join(f"{m} {v:.2f} dB" for m, v in classical.items()) + "."]
    if len(wanted) == 2:
        report.pareto_figure(url, f"{args.name}/", metric, classical, args.bench_dir / f"tune-{args.name}.png")
    print(records.record(f"tune-{args.name}", results, "\n".join(lines), device=args.device,
                         bench_dir=args.bench_dir))


def validate(args: argparse.Namespace) -> None:
    starts = args.validate_start or [args.start]
    url = storage_url(args.outputs / f"tune-{args.name}", args.storage)
    kind = objectives.targets(args.validate[:1], "grid", load_options(args, starts[0]))[0].original.kind
    studies = {model: studied(url, args.name, model, kind) for model in args.models}
    protocol = studies[args.models[0]][2]  # the same for every model of the study (run_study)
    objective, wanted = protocol["objective"], objectives.names(protocol["objective"])
    chosen_points = {}
    for model, (study, space, _) in studies.items():
        best = chosen(study)
        if best is None:
            raise KanInrError(f"study {study.study_name} has no complete trial")
        chosen_points[model] = {"number": best.number, "params": report.levers(best, space)}
    rows = []
    for path, start in itertools.product(args.validate, starts):
        (target,) = objectives.targets([path], objective, load_options(args, start))
        classical = report.baselines([target]) if "2x" in wanted else {}
        for model, (_, space, _) in studies.items():
            recipe = models.preset(model, kind).recipe_for("default")
            # the recipe's length (in epochs, as tuning.spaces.recipe_space counts it) within the study's budget
            epochs = min(recipe.epochs or recipe.steps or math.inf, protocol["epochs"] or math.inf)
            length = {"epochs": epochs} if math.isfinite(epochs) else {}
            levers = chosen_points[model]["params"]
            runs = {"default": ({}, length),  # the preset's recipe, cut by the same budget
                    "tuned": spaces.split(space.settings(levers, target.fitted.shape, target.fitted.convention))}
            row: dict[str, Any] = {"signal": path.name, "start": start, "model": model, "classical_2x": classical}
            for label, (fields, train) in runs.items():
                train = {**train, "seed": protocol["seed"], "device": args.device,
                         **objectives.budget_options(target, protocol["seconds"], protocol["epochs"],
                                                     train.get("batch", recipe.batch))}
                scores, facts = objectives.fit_scores(target, model, fields, train, objective)
                row[label] = {**scores, **facts}
                print(f"{path.name} {start or ''} {model} {label}: "
                      + ", ".join(f"{k} {v:.2f}" for k, v in scores.items()), flush=True)
            rows.append(row)
    methods = list(rows[0]["classical_2x"])
    lines = [f"Each model's chosen point of study `{args.name}` (objective {objective}, "
             f"{budget(argparse.Namespace(seconds=protocol['seconds'], epochs=protocol['epochs']))} per fit) on "
             f"signals the study did not see ({', '.join(p.name for p in args.validate)}"
             f"{f' from {starts} s' if args.validate_start else ''}), beside the preset's default recipe under the "
             f"same budget; mean over the signals (dB):", "",
             "| model | " + " | ".join(f"{w} default | {w} tuned" for w in wanted)
             + "".join(f" | 2x {m}" for m in methods) + " |",
             "|---|" + "---|---|" * len(wanted) + "---|" * len(methods)]
    for model in args.models:
        mine = [r for r in rows if r["model"] == model]
        cells = [f"{np.mean([r[label][w] for r in mine]):.2f}" for w in wanted for label in ("default", "tuned")]
        cells += [f"{np.mean([r['classical_2x'][m] for r in mine]):.2f}" for m in methods]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    results = {"study": args.name, "validate": [str(p) for p in args.validate], "starts": args.validate_start,
               "size": args.size, "duration": args.duration, "protocol": protocol, "chosen": chosen_points,
               "rows": rows}
    print(records.record(f"tune-{args.name}-validation", results, "\n".join(lines), device=args.device,
                         bench_dir=args.bench_dir))


def main() -> None:
    args = parse()
    if args.validate is not None:
        validate(args)
    else:
        run_study(args)


if __name__ == "__main__":
    records.run_script(main, "study.py")

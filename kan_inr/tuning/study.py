"""``tune``: a study that fits one model again and again under sampled settings and keeps the best.

    signals -> targets (objectives) -> space (spaces) -> study (storage) -> trials -> tune folder (report)

A trial is an ordinary fit (``objectives.fit_scores``) with the trial's settings under the study's
budget, one per signal; its evaluations are reported to the pruner (single-objective studies only:
Optuna cannot prune a multi-objective one, so with ``--objective both`` every trial runs its budget).
The storage is the only state: a re-run of the same command continues the study up to ``trials``
finished trials, Ctrl-C or a kill loses at most the trial that was running, and several processes
on one storage share the work (``storage``).
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import optuna
from optuna.trial import TrialState

from kan_inr.errors import KanInrError, first_line
from kan_inr import models, plugins
from kan_inr.config import TrainConfig
from kan_inr.tune_config import TuneConfig
from kan_inr.jobs import run_path
from kan_inr.logging import NullLog
from kan_inr.runs import signal_digest
from kan_inr.training import check_train_config
from kan_inr.tuning import objectives, report, spaces
from kan_inr.tuning.objectives import MARK_STRIDE, MarkLog, Target, chosen
from kan_inr.tuning.progress import TuneLog
from kan_inr.tuning.storage import (COUNTED, claim, count, fail_dead_trials, open_storage, open_study, over_quota,
                                    storage_url)

class StudyFull(Exception):
    """A trial that found the study's trials counted before it: it gives way without running."""


@dataclass
class Tuned:
    """What a study holds after ``tune``: where it lives, its finished trials and its chosen point."""

    tune_dir: Path
    storage: str
    study_name: str
    finished: int  # complete or pruned trials in the study (every process's)
    best: dict[str, Any] | None  # number, values {objective: score}, params (levers), settings (fields and options)
    files: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        """One line: the tune folder, its trials and the chosen point's scores."""
        if self.best is None:
            return f"{self.study_name}: {self.finished} trials, none complete"
        scores = ", ".join(f"{k} {v:.2f} dB" for k, v in self.best["values"].items())
        return (f"{self.study_name}: {self.finished} trials; chosen trial {self.best['number']}: {scores} "
                f"({self.tune_dir / self.study_name.partition('/')[2] / 'best.toml'})")


@contextlib.contextmanager
def optuna_quiet() -> Iterator[None]:
    """Optuna's own log lines (each trial, each failure with its traceback) off: ``TuneLog`` reports."""
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


def tune(paths: list[Path], model: str, cfg: TuneConfig, *, outputs: Path, load_options: dict[str, Any],
         console: bool) -> Tuned:
    """Run the study ``<name>/<model>`` until it holds ``cfg.trials`` finished trials, then write the tune
    folder ``<outputs>/tune-<name>`` (default name: the first signal's stem): ``study.db`` (unless
    ``cfg.storage``), ``pareto.png`` (every model of the study name) and ``<model>/`` with ``best.toml``,
    ``trials.csv``, ``history.png`` and ``importance.png`` (``report``). Each trial fits every signal for
    ``cfg.budget()``: seconds of training or epochs (the length lever then capped at them). Every user
    error is raised before anything is written."""
    trials, objective, space_file, name, seed = cfg.trials, cfg.objective, cfg.space, cfg.name, cfg.seed
    seconds, epochs = cfg.budget()
    wanted = objectives.names(objective)
    check_train_config(TrainConfig(seed=seed, device=cfg.device), 1)  # the device exists
    targets = objectives.targets([Path(p) for p in paths], objective, load_options)
    kind, first = targets[0].original.kind, targets[0].fitted
    preset = models.preset(model, kind)
    space = spaces.search_space(model, kind)
    if space_file is not None:
        space = spaces.changed(space, spaces.read(Path(space_file)), preset.config, str(space_file))
    space = spaces.within_budget(space, epochs, seconds)
    spaces.check(space, preset.config_for(first.shape), first.shape, first.convention,
                 str(space_file) if space_file is not None else "search space")
    name = name if name is not None else targets[0].path.stem
    try:
        tune_dir = run_path(outputs, f"tune-{name}")
    except KanInrError:
        raise KanInrError(f"study name {name!r} must be a plain folder name (no '/', not hidden)") from None
    study_name = f"{name}/{plugins.label(model)}"
    protocol = {"model": model, "kind": kind, "signals": [t.path.name for t in targets],
                "digests": [signal_digest(t.original.values) for t in targets],
                "load_options": {k: v for k, v in load_options.items() if v is not None},
                "objective": objective, "seconds": None if seconds is None else float(seconds),
                "epochs": None if epochs is None else float(epochs), "seed": seed,
                "space": spaces.plain(space)}
    if cfg.storage is None:
        tune_dir.mkdir(parents=True, exist_ok=True)  # the default storage's file lives there
    url = storage_url(tune_dir, cfg.storage)
    log = TuneLog(trials, wanted, "dB", console)
    with optuna_quiet():
        study = open_study(open_storage(url), study_name, len(wanted), protocol, seed, prune=len(wanted) == 1)
        if "2x" in wanted and "floor_2x" not in study.user_attrs:  # the chosen point's bar (objectives.chosen)
            method, score = next(iter(report.baselines(targets).items()))
            study.set_user_attr("floor_2x", {"method": method, "score": score})
        if not study.trials:  # a new study weighs its model's default first (spaces.default_point)
            study.enqueue_trial(spaces.default_point(space, preset, first.shape, kind), skip_if_exists=True)
        dead = fail_dead_trials(study)
        if dead:
            log.message(f"trial(s) {', '.join(map(str, dead))} were left running by a process that is gone: failed")
        done, running = count(study), count(study, (TrialState.RUNNING,))
        log.message(f"study {study_name}: {done} of {trials} trials finished"
                    f"{f', {running} running elsewhere' if running else ''}; {budget_words(seconds, epochs)} "
                    f"per signal, {len(targets)} signal(s), objective {objective}")
        run = Trials(study, targets, model, space, cfg, preset.recipe_for("default").batch)
        if done + running < trials:
            try:
                study.optimize(run, n_trials=trials - done, catch=(KanInrError, StudyFull),
                               callbacks=[optuna.study.MaxTrialsCallback(trials, states=COUNTED), log])
            except KeyboardInterrupt:
                log.message(f"interrupted: the study keeps its {count(study)} finished trials; run the same command "
                            f"again to continue it")
                raise
        tune_dir.mkdir(parents=True, exist_ok=True)
        files = report.write(study, url, tune_dir, space, targets, protocol)
    trial = chosen(study)
    best = None if trial is None else report.best_point(trial, space, targets[0], wanted)
    if run.failed:
        number, error = run.failed[0]
        raise KanInrError(f"{len(run.failed)} trial(s) failed (trial {number}: {error}); the study holds "
                          f"{count(study)} of {trials}: run the same command again to retry")
    return Tuned(tune_dir, url, study_name, count(study), best, files)


def budget_words(seconds: float | None, epochs: float | None) -> str:
    return f"{seconds:g} s of training" if seconds is not None else f"at most {epochs:g} epochs"


class Trials:
    """The objective ``Study.optimize`` calls: one trial, its fits, its scores."""

    def __init__(self, study: optuna.Study, targets: list[Target], model: str, space: Any, cfg: TuneConfig,
                 batch: int) -> None:
        self.study, self.targets, self.model, self.space, self.cfg = study, targets, model, space, cfg
        self.seconds, self.epochs = cfg.budget()
        self.batch = batch  # the recipe's (FULL_BATCH: all the samples), unless a trial samples its own
        self.failed: list[tuple[int, str]] = []  # (trial number, error) of this call's failed trials

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        claim(trial)
        if over_quota(self.study, trial.number, self.cfg.trials):
            trial.set_user_attr("yielded", True)
            raise StudyFull(f"the study already counts {self.cfg.trials} trials")
        values = spaces.sample(trial, self.space)
        wanted = objectives.names(self.cfg.objective)
        fits = []
        for i, target in enumerate(self.targets):
            model_fields, train = spaces.split(self.space.settings(values, target.fitted.shape, target.fitted.convention))
            train |= objectives.budget_options(target, self.seconds, self.epochs, train.get("batch", self.batch))
            train |= {"seed": self.cfg.seed, "device": self.cfg.device}
            log = MarkLog(functools.partial(self.report, trial, i), target.headline) if len(wanted) == 1 else NullLog()
            try:
                scores, facts = objectives.fit_scores(target, self.model, model_fields, train, self.cfg.objective, log)
            except KanInrError as exc:
                trial.set_user_attr("error", first_line(exc))
                self.failed.append((trial.number, first_line(exc)))
                raise
            fits.append({"signal": target.path.name, **scores, **facts})
            trial.set_user_attr("fits", fits)
        means = [sum(f[name] for f in fits) / len(fits) for name in wanted]
        return means[0] if len(means) == 1 else means

    @staticmethod
    def report(trial: optuna.Trial, signal: int, mark: int, value: float) -> None:
        """Report a fit's evaluation to the pruner; a trial the pruner gives up on stops here."""
        trial.report(value, signal * MARK_STRIDE + mark)
        if trial.should_prune():
            raise optuna.TrialPruned(f"below the median of earlier trials at evaluation {mark}")

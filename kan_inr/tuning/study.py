"""``tune``: a study that fits one model again and again under sampled settings and keeps the best.

    signals -> targets (objectives) -> space (spaces) -> study (storage) -> trials -> tune folder (report)

A trial is an ordinary fit (``objectives.fit_scores``) with the trial's settings under the study's
budget, one per signal; its evaluations are reported to the pruner (single-objective studies only:
Optuna cannot prune a multi-objective one, so with ``--objective both`` every trial runs its budget).
The storage is the only state: a re-run of the same command continues the study up to ``trials``
finished trials, Ctrl-C or a kill loses at most the trial that was running, and several processes
on one storage share the work (``sharing``).
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
from kan_inr.space import SearchSpace
from kan_inr.tune_config import TuneConfig
from kan_inr.jobs import run_path
from kan_inr.logging import NullLog
from kan_inr.runs import signal_digest
from kan_inr.training import check_train_config
from kan_inr.tuning import objectives, report, spaces
from kan_inr.tuning.objectives import MARK_STRIDE, MarkLog, Target, chosen
from kan_inr.tuning.progress import TuneLog
from kan_inr.tuning.protocol import open_study
from kan_inr.tuning.reaping import fail_dead_trials
from kan_inr.tuning.sharing import count, work
from kan_inr.tuning.storage import open_storage, storage_url


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
    wanted = objectives.names(cfg.objective)
    check_train_config(TrainConfig(seed=cfg.seed, device=cfg.device), 1)  # the device exists
    targets = objectives.targets([Path(p) for p in paths], cfg.objective, load_options)
    preset = models.preset(model, targets[0].original.kind)
    space = study_space(model, preset, targets[0], cfg)
    name = cfg.name if cfg.name is not None else targets[0].path.stem
    tune_dir = tune_folder(outputs, name)
    study_name = f"{name}/{plugins.label(model)}"
    protocol = protocol_of(model, targets, load_options, cfg, space)
    if cfg.storage is None:
        tune_dir.mkdir(parents=True, exist_ok=True)  # the default storage's file lives there
    url = storage_url(tune_dir, cfg.storage)
    log = TuneLog(cfg.trials, wanted, "dB", console)
    with optuna_quiet():
        storage = open_storage(url)
        study = open_study(storage, study_name, len(wanted), protocol, cfg.seed, prune=len(wanted) == 1)
        prepare(study, space, preset, targets, log)
        run = Trials(study, targets, model, space, cfg, preset.recipe_for("default").batch)
        run_share(study, storage, run, cfg, log)
        tune_dir.mkdir(parents=True, exist_ok=True)
        files = report.write(study, url, tune_dir, space, targets, protocol)
    trial = chosen(study)
    best = None if trial is None else report.best_point(trial, space, targets[0], wanted)
    if run.failed:
        number, error = run.failed[0]
        raise KanInrError(f"{len(run.failed)} trial(s) failed (trial {number}: {error}); the study holds "
                          f"{count(study)} of {cfg.trials}: run the same command again to retry")
    return Tuned(tune_dir, url, study_name, count(study), best, files)


def study_space(model: str, preset: models.Preset, first: Target, cfg: TuneConfig) -> SearchSpace:
    """The preset's search space, changed by ``cfg.space`` (a TOML file), fitted to the budget and
    checked at its corners on the first signal."""
    seconds, epochs = cfg.budget()
    fitted = first.fitted
    space = spaces.search_space(model, fitted.kind)
    where = str(cfg.space) if cfg.space is not None else "search space"
    if cfg.space is not None:
        space = spaces.changed(space, spaces.read(Path(cfg.space)), preset.config, where)
    space = spaces.within_budget(space, epochs, seconds)
    spaces.check(space, preset.config_for(fitted.shape), fitted.shape, fitted.convention, where)
    return space


def tune_folder(outputs: Path, name: str) -> Path:
    """``<outputs>/tune-<name>`` for a study name that is a plain folder name."""
    try:
        return run_path(outputs, f"tune-{name}")
    except KanInrError:
        raise KanInrError(f"study name {name!r} must be a plain folder name (no '/', not hidden)") from None


def protocol_of(model: str, targets: list[Target], load_options: dict[str, Any], cfg: TuneConfig,
                space: SearchSpace) -> dict[str, Any]:
    """What the study records of how it was made (``protocol.open_study`` refuses a re-run with others)."""
    seconds, epochs = cfg.budget()
    return {"model": model, "kind": targets[0].original.kind, "signals": [t.path.name for t in targets],
            "digests": [signal_digest(t.original.values) for t in targets],
            "load_options": {k: v for k, v in load_options.items() if v is not None},
            "objective": cfg.objective, "seconds": None if seconds is None else float(seconds),
            "epochs": None if epochs is None else float(epochs), "seed": cfg.seed,
            "space": spaces.plain(space)}


def prepare(study: optuna.Study, space: SearchSpace, preset: models.Preset, targets: list[Target],
            log: TuneLog) -> None:
    """A study ready for this process's trials: the classical 2x score (the chosen point's bar,
    ``objectives.chosen``) recorded, a new study's default point queued first (``spaces.default_point``),
    and the trials of processes that died failed."""
    if len(study.directions) > 1 and "floor_2x" not in study.user_attrs:
        method, score = next(iter(report.baselines(targets).items()))
        study.set_user_attr("floor_2x", {"method": method, "score": score})
    if not study.trials:
        first = targets[0].fitted
        study.enqueue_trial(spaces.default_point(space, preset, first.shape, first.kind), skip_if_exists=True)
    dead = fail_dead_trials(study)
    if dead:
        log.message(f"trial(s) {', '.join(map(str, dead))} were left running by a process that is gone: failed")


def run_share(study: optuna.Study, storage: optuna.storages.RDBStorage, run: Trials, cfg: TuneConfig,
              log: TuneLog) -> None:
    """This process's trials, until the study holds ``cfg.trials`` (``sharing.work``)."""
    seconds, epochs = cfg.budget()
    done, running = count(study), count(study, (TrialState.RUNNING,))
    log.message(f"study {study.study_name}: {done} of {cfg.trials} trials finished"
                f"{f', {running} running elsewhere' if running else ''}; {budget_words(seconds, epochs)} "
                f"per signal, {len(run.targets)} signal(s), objective {cfg.objective}")
    try:
        work(study, storage, run, cfg.trials, attempts=cfg.trials - done, catch=(KanInrError,), callbacks=[log])
    except KeyboardInterrupt:
        log.message(f"interrupted: the study keeps its {count(study)} finished trials; run the same command "
                    f"again to continue it")
        raise


def budget_words(seconds: float | None, epochs: float | None) -> str:
    return f"{seconds:g} s of training" if seconds is not None else f"at most {epochs:g} epochs"


class Trials:
    """The objective ``sharing.work`` calls: one trial, its fits, its scores."""

    def __init__(self, study: optuna.Study, targets: list[Target], model: str, space: SearchSpace, cfg: TuneConfig,
                 batch: int) -> None:
        self.study, self.targets, self.model, self.space, self.cfg = study, targets, model, space, cfg
        self.batch = batch  # the recipe's (FULL_BATCH: all the samples), unless a trial samples its own
        self.failed: list[tuple[int, str]] = []  # (trial number, error) of this call's failed trials

    def options(self, values: dict[str, Any], target: Target) -> tuple[dict[str, Any], dict[str, Any]]:
        """(model fields, training options) of a trial's fit of ``target`` at lever ``values``: its
        settings, under the study's budget (``objectives.budget_options``), seed and device."""
        model_fields, train = spaces.split(self.space.settings(values, target.fitted.shape, target.fitted.convention))
        seconds, epochs = self.cfg.budget()
        train |= objectives.budget_options(target, seconds, epochs, train.get("batch", self.batch))
        return model_fields, train | {"seed": self.cfg.seed, "device": self.cfg.device}

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        values = spaces.sample(trial, self.space)
        wanted = objectives.names(self.cfg.objective)
        fits = []
        for i, target in enumerate(self.targets):
            model_fields, train = self.options(values, target)
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

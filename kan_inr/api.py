"""The public Python API: load a signal, fit a model, load, render and save runs, compare models.

    import kan_inr
    signal = kan_inr.load_signal("data/astronaut.png", resize=64)
    run = kan_inr.fit(signal, model="siren", steps=200, progress=False)  # in memory
    image = run.render(scale=2)  # (128, 128, 3) float32 in [0, 1]

The command line is a thin layer over these functions (cli.py), so every command has its Python twin:
``fit`` -> ``fit`` / ``resume``, ``render`` -> ``export`` (or ``load(...).export``), ``models`` -> ``presets``,
``compare`` -> ``compare``, ``tune`` -> ``tune``. A model is a preset name, a plug-in spec (``FILE.py:Class``,
``module:Class``) or an ``nn.Module`` class following the registry's contract (plugins.py).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence, Union

import numpy as np
import torch
from torch import nn

from kan_inr.errors import KanInrError
from kan_inr import plugins
from kan_inr import models as registry
from kan_inr import signals as signal_kinds
from kan_inr.atomic import write_json
from kan_inr.checkpoint import CheckpointPolicy
from kan_inr.comparison import Budget, Comparison, run_comparison
from kan_inr.config import TrainConfig
from kan_inr.options import fields_from, options_help
from kan_inr.tune_config import TuneConfig
from kan_inr.device import resolve_device
from kan_inr.jobs import fit_file, fit_file_ddp, fit_one, render_model, render_run, resume_run, start_run
from kan_inr.logging import RunLog
from kan_inr.render import Fitted, reconstruct
from kan_inr.runs import COMPLETE, HISTORY, RunWriter, load_run, read_status
from kan_inr.signals import RenderPlan, Signal, render_plan
from kan_inr.signals.base import normalise
from kan_inr.superres import fit_scored

if TYPE_CHECKING:  # optuna loads with the first study (start-up time), not with kan_inr.api
    from kan_inr.tuning import Tuned

SignalLike = Union[str, os.PathLike, np.ndarray, torch.Tensor, Signal]
ModelLike = Union[str, type[nn.Module]]


def load_signal(source: SignalLike, *, kind: str | None = None, value_range: tuple[float, float] | None = None,
                resize: int | None = None, channels: str | None = None, start: float | None = None,
                duration: float | None = None, sample_rate: int | None = None) -> Signal:
    """A signal from a file (image or audio, by extension) or from an array / tensor.

    Files: ``resize`` (images: longest side in pixels, area averaging); audio ``channels="mono"``,
    ``start`` / ``duration`` in seconds. Arrays: ``kind`` ("image": (H, W[, C]); "audio": (T[, C]) with
    ``sample_rate``), ``value_range`` the range float samples are given in (finite, lo < hi; default:
    the kind's own, images [0, 1], audio [-1, 1]). Integer samples are scaled as files are: images
    bool (1-bit) as 0/1, uint8 / 255, uint16 / 65535; audio as PCM, int16 / 32768, int32 / 2^31, int8
    / 128, uint8 (k - 128) / 128 (other integer types are refused). Complex, text or object samples,
    a meta-device tensor and an audio clip of fewer than 2 samples are refused (KanInrError)."""
    if isinstance(source, Signal):
        return source
    if isinstance(source, (str, os.PathLike)):
        given = [k for k, v in (("kind", kind), ("value_range", value_range), ("sample_rate", sample_rate)) if v is not None]
        if given:
            raise KanInrError(f"{', '.join(given)}: for arrays only (a file says what it holds)")
        return signal_kinds.load(source, resize_to=resize, channels=channels, start=start, duration=duration)
    if kind is None:
        raise KanInrError("a signal from an array needs kind='image' (H, W[, C]) or kind='audio' (T[, C])")
    return signal_kinds.from_array(source, kind, value_range, resize_to=resize, channels=channels, start=start,
                              duration=duration, sample_rate=sample_rate)


class Run:
    """A fitted INR: in memory (``run_dir`` None) or a run folder.

    ``model``: the plain ``nn.Module``, called on coordinates (N, in_dim) in [-1, 1] -> (N, out_dim) in
    the range it was trained on; ``config``: config.json (model, training, signal description);
    ``metrics``: metrics.json (``status``; final_* / best_* metrics, params, steps, time ...);
    ``history``: one row per full-grid evaluation."""

    def __init__(self, model: nn.Module, config: dict[str, Any], metrics: dict[str, Any],
                 history: list[dict[str, float]], run_dir: Path | None = None) -> None:
        self.model, self.config, self.metrics, self.history, self.run_dir = model, config, metrics, history, run_dir
        self.exit_code: int | None = None  # a fit stopped by a signal: 128 + its number

    @property
    def status(self) -> str:
        """"complete", "interrupted" (resumable) or "running"."""
        return self.metrics.get("status", COMPLETE)

    @property
    def signal(self) -> dict[str, Any]:
        """What the model was fitted to: kind, shape, channels, value_range, meta."""
        return self.config["signal"]

    def __repr__(self) -> str:
        shown = ", ".join(f"{k[6:]}={v:.4g}" for k, v in self.metrics.items() if k.startswith("final_"))
        where = f" at {self.run_dir}" if self.run_dir else ""
        return f"Run({self.config['model']['name']}, {self.status}{', ' + shown if shown else ''}{where})"

    def _plan(self, scale: float | None, size: tuple[int, ...] | None, kind_options: dict[str, Any]) -> RenderPlan:
        if scale is not None and size is not None:
            raise KanInrError("give scale or size, not both")
        return render_plan(self.signal, scale, tuple(size) if size is not None else None, **kind_options)

    def _device(self, device: str | None) -> torch.device:
        if device is None:
            return next(self.model.parameters()).device
        dev = resolve_device(device)
        self.model.to(dev)
        return dev

    def render(self, scale: float | None = None, size: tuple[int, ...] | None = None, *, device: str | None = None,
               prefilter: bool = True, **kind_options: Any) -> np.ndarray:
        """The INR sampled on a grid of the source's extent: the source grid, ``scale`` times it, or
        ``size`` (grid order: (H, W) for images, (T,) for audio); audio also takes ``rate`` and
        ``duration``. ``prefilter``: below the fitted size, average over each output pixel
        (``spectral.prefiltered``) instead of aliasing. Returns float32 (H, W, C) or (T, C) clamped to the signal's range (an array signal
        given with ``value_range``: mapped back into that range)."""
        todo = self._plan(scale, size, kind_options)
        values = reconstruct(self.model, Fitted.of_run(self.config), todo.shape, self._device(device), extent=todo.extent,
                             prefilter=prefilter)  # (N, C)
        lo, hi = self.signal["value_range"]
        values = values.clamp(lo, hi)
        if "array_range" in self.signal["meta"]:
            values = normalise(values, (lo, hi), tuple(self.signal["meta"]["array_range"]))
        return values.reshape(*todo.shape, -1).numpy()

    def export(self, path: str | os.PathLike | None = None, scale: float | None = None,
               size: tuple[int, ...] | None = None, *, device: str | None = None, prefilter: bool = True,
               **kind_options: Any) -> Path:
        """Write a render as a file of the signal's kind (what ``kan-inr render`` does): PNG / TIFF /
        JPEG / BMP or WAV / FLAC / OGG / AIFF by extension, at the source's bit depth or encoding (audio:
        ``subtype``). Default path: ``render-<size>.<ext>`` in the run folder."""
        todo = self._plan(scale, size, kind_options)
        if path is None:
            if self.run_dir is None:
                raise KanInrError("an in-memory run has no folder: give the path to write")
            suffix = signal_kinds.module(self.signal["kind"]).RECONSTRUCTION_SUFFIX
            path = self.run_dir / f"render-{'x'.join(map(str, todo.shape))}{suffix}"
        return render_model(self.model, self.config, todo, Path(path), self._device(device), prefilter=prefilter)

    def save(self, run_dir: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write this (complete) run as a run folder that ``load`` and ``kan-inr render`` read:
        config.json, weights.pt, metrics.json, history.json and the reconstruction."""
        if self.status != COMPLETE:
            raise KanInrError(f"run is {self.status}: resume it before saving it elsewhere")
        writer = RunWriter(Path(run_dir), overwrite)
        writer.create(self.config, self.model)
        try:
            write_json(writer.run_dir / HISTORY, self.history)
            self.export(writer.run_dir / f"reconstruction{signal_kinds.module(self.signal['kind']).RECONSTRUCTION_SUFFIX}")
        except BaseException:
            writer.discard()
            raise
        return writer.commit({k: v for k, v in self.metrics.items() if k != "status"})


def load(run_dir: str | os.PathLike, *, device: str = "cpu", allow_code: bool = False) -> Run:
    """A run folder as a ``Run`` (weights loaded strictly, ``weights_only``). A run of a plug-in model
    imports its module only if it is an installed entry point or ``allow_code`` is True."""
    with plugins.allowing_code(allow_code):
        run = load_run(run_dir, resolve_device(device))
    path = run.run_dir / HISTORY
    try:
        history = json.loads(path.read_text()) if path.is_file() else []
    except (OSError, ValueError) as exc:
        raise KanInrError(f"cannot read {path}: {exc}") from None
    return Run(run.model, run.config, read_status(run.run_dir), history, run.run_dir)


def export(run_dir: str | os.PathLike, path: str | os.PathLike | None = None, scale: float | None = None,
           size: tuple[int, ...] | None = None, *, device: str = "auto", allow_code: bool = False,
           prefilter: bool = True, **kind_options: Any) -> Path:
    """``load(run_dir).export(path, ...)`` as ``kan-inr render`` runs it: the options are checked
    before the weights are read."""
    if scale is not None and size is not None:
        raise KanInrError("give scale or size, not both")
    with plugins.allowing_code(allow_code):
        return render_run(os.fspath(run_dir), None if path is None else os.fspath(path), scale=scale, size=size,
                          device=device, prefilter=prefilter, **kind_options)


def model_name(model: ModelLike) -> str:
    """The registry name of a model given as a name, a spec or an ``nn.Module`` class (its spec)."""
    return model if isinstance(model, str) else plugins.remember(model)


def fit(signal: SignalLike, model: ModelLike = "fkan", *, model_config: dict[str, Any] | None = None,
        resize: int | None = None, channels: str | None = None, start: float | None = None,
        duration: float | None = None, outputs: str | os.PathLike | None = None, name: str | None = None,
        overwrite: bool = False, progress: bool = True, checkpoint_every: int | None = None,
        checkpoint_minutes: float = 10.0, distributed: bool = False, **train_options: Any) -> Run | None:
    """Fit ``model`` to ``signal``: a file path (read with ``resize``, ``channels``, ``start``,
    ``duration``) or a Signal from ``load_signal`` (arrays and tensors go through it first).

    ``train_options`` are the training options, each of ``config.TrainConfig``'s by the name ``kan-inr fit``
    gives it (``--lr-decay`` is ``lr_decay``; the clock is ``seconds``), listed with their help at the end.
    Those left None come from the preset's recipe (``kan-inr models``; ``recipe="paper"`` for the paper's
    published network and settings) or the declared default; the length is ``steps``, ``epochs`` (passes
    over the samples) or ``seconds`` alone (the lr schedule ends with the clock); ``batch`` 0
    (``FULL_BATCH``) or at least the signal's size is full batch; ``box`` k >= 2 makes each pixel the INR's
    mean over its cell (k x k samples, ``pixels.PixelModel``; 0: its centre value). ``model_config``
    replaces model fields (e.g. ``{"hidden_dim": 64}``). ``outputs`` None: in memory; else a run folder
    ``<outputs>/<name>`` (default name ``<file stem>-<model>``) with checkpoints, TensorBoard logs and
    the reconstruction; a stopped fit (Ctrl-C) returns with ``status == "interrupted"``, and
    ``resume`` continues it (reading a path's file again with the same options: give a path for a
    run to be resumable). ``progress`` shows a progress bar on stderr. ``distributed``: DDP under
    torchrun, from a path (returns None on processes other than rank 0)."""
    chosen = model_name(model)
    path = Path(signal) if isinstance(signal, (str, os.PathLike)) else None
    load_options = {"resize_to": resize, "channels": channels, "start": start, "duration": duration}
    loaded = signal if isinstance(signal, Signal) else None  # what path None leaves (else an error below)
    if path is None:
        if not isinstance(signal, Signal):
            raise KanInrError("fit takes a file path or a Signal: kan_inr.load_signal(array, kind=...) for arrays")
        given = [k for k, v in load_options.items() if v is not None]
        if given or distributed:
            raise KanInrError(f"{', '.join(given) or 'distributed'}: for a file path (a Signal is already loaded)")
    train = fields_from(TrainConfig, train_options, "fit")
    if model_config is not None and not isinstance(model_config, dict):
        raise KanInrError(f"model_config must be a dict of model fields, got {type(model_config).__name__}")
    options: dict[str, Any] = dict(model_overrides=dict(model_config or {}), load_options=load_options if path is not None else None, **train)
    if outputs is None:
        if distributed:
            raise KanInrError("a distributed fit writes a run folder: give outputs")
        fitted = fit_scored(path or "array", chosen, signal=loaded, log=RunLog(None, console=progress), **options)
        if fitted.diverged_at is not None:  # a user's fit refuses diverged weights, as for a run folder (jobs.run_jobs)
            raise KanInrError(f"training diverged at step {fitted.diverged_at} (the loss became NaN or infinite); "
                              f"try a lower lr")
        return Run(fitted.model, fitted.config, {"status": COMPLETE, **fitted.result.metrics}, fitted.result.history)
    source = loaded.meta.get("source", "array") if loaded is not None else "array"
    stem = (path if path is not None else Path(str(source))).stem
    name = name or f"{stem}-{plugins.label(chosen)}"
    policy = CheckpointPolicy(checkpoint_every, checkpoint_minutes)
    common: dict[str, Any] = dict(outputs=outputs, name=name, overwrite=overwrite, console=progress, **options)
    if distributed:
        assert path is not None  # a Signal with distributed was refused above
        run_dir, result = fit_file_ddp(path, chosen, policy=policy, **common)
        if run_dir is None:
            return None
    elif path is not None:
        run_dir, result = fit_file(path, chosen, policy=policy, **common)
    else:
        run_dir, result = fit_one(start_run(stem, chosen, signal=loaded, **common), policy)
        assert run_dir is not None  # start_run wrote a run folder
    return _loaded(run_dir, result)


def resume(run_dir: str | os.PathLike, signal: str | os.PathLike | None = None, *, device: str | None = None,
           progress: bool = True, allow_code: bool = False, checkpoint_every: int | None = None,
           checkpoint_minutes: float = 10.0, distributed: bool = False) -> Run | None:
    """Continue an interrupted run folder with the options it was started with (on a CPU bit-for-bit
    the uninterrupted result); ``signal`` if its file moved. ``allow_code`` as for ``load``.
    ``distributed``: DDP under torchrun on any number of processes dividing the run's global batch
    (returns None on processes other than rank 0)."""
    with plugins.allowing_code(allow_code):
        done, result = resume_run(os.fspath(run_dir), None if signal is None else os.fspath(signal), console=progress,
                                  device=device, distributed=distributed,
                                  policy=CheckpointPolicy(checkpoint_every, checkpoint_minutes))
        return None if done is None else _loaded(done, result)


def _loaded(run_dir: Path, result: Any) -> Run:
    """The run folder a fit wrote, with how a stopped fit was stopped (``Run.exit_code``: 130 SIGINT,
    143 SIGTERM)."""
    run = load(run_dir)
    run.exit_code = result.exit_code
    return run


# What ``presets`` counts parameters for without a signal: (in_dim, out_dim, shape) per kind.
DEFAULT_SIGNALS: dict[str, tuple[int, int, tuple[int, ...]]] = {"image": (2, 3, (512, 512)), "audio": (1, 1, (44_100,))}


def presets(for_signal: SignalLike | None = None) -> list[dict[str, Any]]:
    """Every preset (built-in, then those of installed plug-in packages and ``register_model``): name,
    family, paper, parameter counts for ``for_signal`` (default: a 512x512 RGB image) of its default network
    and of its paper network (``paper_params``: ``--recipe paper``'s) and recipe. A preset
    with no recipe for that kind (neaf on an image) is counted for its own kind's ``DEFAULT_SIGNALS``
    (its row's ``kind``, ``shape`` and ``channels`` say so)."""
    shape: tuple[int, ...]
    kind, (in_dim, out_dim, shape) = "image", DEFAULT_SIGNALS["image"]
    if for_signal is not None:
        sig = load_signal(for_signal)
        kind, in_dim, out_dim, shape = sig.kind, sig.in_dim, sig.out_dim, sig.shape
    plugins.load_entry_points()
    usable = registry.names_for(kind)
    rows = []
    for name in [*registry.PRESETS, *(n for n in plugins.PRESETS if n not in registry.PRESETS)]:
        own = kind if name not in registry.PRESETS or name in usable else next(iter(registry.PRESETS[name]))
        rows.append(_preset_row(name, kind, in_dim, out_dim, shape) if own == kind
                    else _preset_row(name, own, *DEFAULT_SIGNALS[own]))
    return rows


def _preset_row(name: str, kind: str, in_dim: int, out_dim: int, shape: tuple[int, ...]) -> dict[str, Any]:
    """``presets``' row of preset ``name`` built for a signal of ``kind`` of that shape and dimensions."""
    p = registry.preset(name, kind)
    n, paper_n = (registry.num_params(registry.build(p.family, in_dim, out_dim, p.config_for(shape, recipe)))
                  for recipe in ("default", "paper"))  # the networks `fit` and `fit --recipe paper` build
    r = p.recipe
    return {"name": name, "family": p.family, "paper": p.paper, "params": n, "paper_params": paper_n, "lr": r.lr,
            "batch": r.batch, "epochs": r.epochs, "steps": r.steps,
            "length": r.length(), "schedule": r.schedule, "box": r.box, "kind": kind,
            "shape": list(shape), "channels": out_dim,
            "paper_recipe": None if p.published is None else p.published.length()}


def compare(signals: Sequence[str | os.PathLike] | None = None, models: Sequence[ModelLike] | None = None,
            budget: int | Budget | None = None, *, batch: int | None = None, protocol: str | None = None,
            data: str | os.PathLike | None = None, resize: int | None = None, seed: int = 0,
            device: str | None = None, eval_every: int | None = None, name: str | None = None,
            outputs: str | os.PathLike = "outputs", progress: bool = True, command: str | None = None, allow_code: bool = False, downsample: int | None = None) -> Comparison:
    """Fit every model to every signal file under one budget (an int: that many steps each, with the
    shared ``batch``, default 4,096; or ``Budget(seconds=...)`` / ``Budget(recipe="default")``), same seed,
    same full-grid evaluation; or a named ``protocol``. Writes what ``kan-inr compare`` writes
    (``<outputs>/compare-<name>/``: results.csv, results.md, figures, run folders) and returns its
    rows (one per signal and model, then mean and std per model) and markdown. ``allow_code``: existing run folders of plug-in
    models named by spec may import their module (as for ``load``). ``downsample``: the super-resolution
    protocol on any signals: fit each signal reduced by that factor, score its render at full size."""
    if isinstance(budget, bool):
        raise KanInrError(f"budget is a number of steps or a Budget, not {budget}")
    if isinstance(budget, int):
        budget = Budget(steps=budget, batch=batch)
    elif batch is not None:
        raise KanInrError("batch goes with a steps budget (an int); in a Budget, give Budget(..., batch=N)")
    names = [model_name(m) for m in models] if models else None
    with plugins.allowing_code(allow_code):
        result = run_comparison([os.fspath(s) for s in signals or []], names, budget, protocol=protocol, name=name,
                                outputs=os.fspath(outputs), data_dir=None if data is None else os.fspath(data),
                                resize=resize, seed=seed, device=device, eval_every=eval_every,
                                console=progress and sys.stderr.isatty(), command=command,
                                log=RunLog(None, console=progress), downsample=downsample)
    return result


def tune(signals: str | os.PathLike | Sequence[str | os.PathLike], model: ModelLike = "fkan", *,
         trials: int = TuneConfig.trials, seconds: float | None = TuneConfig.seconds,
         epochs: float | None = TuneConfig.epochs, objective: str = TuneConfig.objective,
         space: str | os.PathLike | None = TuneConfig.space, storage: str | None = TuneConfig.storage,
         name: str | None = TuneConfig.name, seed: int = TuneConfig.seed, device: str = TuneConfig.device,
         outputs: str | os.PathLike = "outputs", resize: int | None = None, channels: str | None = None,
         start: float | None = None, duration: float | None = None, progress: bool = True) -> Tuned:
    """Tune ``model`` on signal files (what ``kan-inr tune`` runs): an Optuna study of ``trials`` finished
    trials, each a fit per signal under sampled settings for ``seconds`` of training (default
    ``tune_config.DEFAULT_TRIAL_SECONDS``) or ``epochs``, scored by ``objective``: "grid" (PSNR / SNR on the grid),
    "2x" (fitted on the signal reduced 2x, rendered back and scored against it) or "both" (one fit on the
    reduced signal gives both: a Pareto front); several signals: the mean. ``space``: a TOML file narrowing
    or widening the preset's search space (``kan_inr.tuning.spaces``). The study lives in ``storage`` (an
    Optuna database URL; default ``<outputs>/tune-<name>/study.db``, name default the first signal's stem)
    and a second call continues it. The study's options and their defaults are ``tune_config.TuneConfig``'s; the
    signal files are read as ``load_signal`` reads them (``resize``, ``channels``, ``start``, ``duration``).
    Returns where it lives, its finished trials and its chosen point (``best``: scores, levers, settings),
    also written as ``<model>/best.toml`` for ``fit --config``."""
    from kan_inr.tuning import tune as run_study  # here, not at the top: start-up time (optuna)

    cfg = TuneConfig(trials=trials, seconds=seconds, epochs=epochs, objective=objective,
                     space=None if space is None else Path(space), storage=storage, name=name, seed=seed,
                     device=device)
    paths = [Path(signals)] if isinstance(signals, (str, os.PathLike)) else [Path(s) for s in signals]
    return run_study(paths, model_name(model), cfg, outputs=Path(outputs), console=progress,
                     load_options={"resize_to": resize, "channels": channels, "start": start, "duration": duration})


if fit.__doc__ is not None:  # None under python -OO
    fit.__doc__ += "\n\n    Training options:\n\n" + options_help(TrainConfig, indent=8)

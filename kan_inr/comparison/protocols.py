"""Comparison protocols as plain data: budgets, the papers' recipes and published numbers.

Budgets (one per comparison):
1. steps: every model takes the same number of steps of the same batch (default ``DEFAULT_BATCH``);
   each keeps its own learning rate and schedule (its protocol recipe's, else its preset's);
2. seconds: every model trains for the same wall-clock time (``TrainConfig.max_seconds``);
3. recipe ("default" or "paper", as ``fit --recipe``): every model under its own recipe of that family,
   the protocol's where it has one.

Named protocols (``PROTOCOLS``, each described by its ``description``): their signals, models,
per-model recipes as the papers' code ran them (defined here and nowhere else) and the published
numbers printed beside ours. Published PSNR/SSIM of the SL2A and FKAN code come from reconstructions
stitched from training batches and SSIM after min-max rescaling; ours are a clean full-grid pass.
A protocol's signals are read from the data folder (``--data DIR`` / ``$KAN_INR_DATA``), a ``bundled``
protocol's from kan-inr's own data/ folder unless ``--data`` is given.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kan_inr.errors import KanInrError
from kan_inr import models
from kan_inr.config import FULL_BATCH, batch_size
from kan_inr.jobs import train_config_for
from kan_inr.recipe import RECIPES, Recipe
from kan_inr.signals import Signal

DEFAULT_BATCH = 4096  # shared batch of the steps and seconds budgets (the FKAN recipe's minibatch)


@dataclass(frozen=True)
class Published:
    """A paper's number for one model: metric -> mean over the protocol's signals, and per signal."""

    values: dict[str, float]
    params: int | None = None
    per_signal: dict[str, dict[str, float]] = field(default_factory=dict)  # signal stem -> metric -> value


@dataclass(frozen=True)
class Budget:
    """What every model of a comparison gets: ``steps``, ``seconds`` or its own ``recipe`` of a family
    (``recipe.RECIPES``: "default" or "paper")."""

    steps: int | None = None
    seconds: float | None = None
    recipe: str | None = None
    batch: int | None = None  # shared batch of a steps/seconds budget (FULL_BATCH: all); None = DEFAULT_BATCH

    def __post_init__(self) -> None:
        given = sum([self.seconds is not None and self.recipe is None, self.recipe is not None,
                     self.steps is not None and self.seconds is None])
        if given != 1:
            raise KanInrError("give one budget: --steps N, --seconds S or --recipe default|paper "
                              "(--recipe with --seconds: each model's own recipe, cut at S seconds)")
        if self.recipe is not None and self.recipe not in RECIPES:
            raise KanInrError(f"unknown recipe {self.recipe!r} (choose from {', '.join(RECIPES)})")
        if self.steps is not None and self.steps < 1:
            raise KanInrError(f"--steps must be at least 1, got {self.steps}")
        if self.seconds is not None and not self.seconds > 0:
            raise KanInrError(f"--seconds must be positive, got {self.seconds}")
        if self.batch is not None and self.batch < 0:
            raise KanInrError(f"--batch must be 0 (full batch) or positive, got {self.batch}")
        if self.recipe is not None and self.batch is not None:
            raise KanInrError("--batch sets the shared batch of a steps or seconds budget, not of --recipe")

    def describe(self) -> str:
        own = "its own recipe" if self.recipe == "default" else f"its own {self.recipe} recipe"
        if self.recipe is not None and self.seconds is not None:
            return f"each model under {own} for {self.seconds:g} s of training"
        if self.recipe is not None:
            return f"each model under {own}"
        batch = "full batch" if self.batch == FULL_BATCH else f"batch {self.batch or DEFAULT_BATCH:,}"
        if self.seconds is not None:
            return f"{self.seconds:g} s of training per model, {batch}"
        return f"{self.steps:,} steps per model, {batch}"

    def slug(self) -> str:
        if self.recipe is not None:
            family = "" if self.recipe == "default" else f"-{self.recipe}"
            return f"recipe{family}" + (f"-seconds{self.seconds:g}" if self.seconds is not None else "")
        return f"seconds{self.seconds:g}" if self.seconds is not None else f"steps{self.steps}"


@dataclass(frozen=True)
class Protocol:
    name: str
    description: str
    signals: tuple[str, ...]  # relative to the data folder (``bundled``: to kan-inr's own data/)
    models: tuple[str, ...]  # () = every registered preset
    budget: Budget
    recipes: dict[str, Recipe] = field(default_factory=dict)  # model -> the protocol's recipe
    model_overrides: dict[str, dict[str, str]] = field(default_factory=dict)  # model -> {field: value}
    published: dict[str, Published] = field(default_factory=dict)
    resize: int | None = None
    kind: str = "image"
    downsample: int | None = None  # superres: fit the signals reduced by this factor (superres.py)
    convention: str | None = None  # image grid convention (signals.base); None = the loader's default
    load_options: dict[str, Any] = field(default_factory=dict)  # more loader options (audio: start, duration)
    # its signals ship with kan-inr (``run.BUNDLED_DATA``, the repository's data/): read from there unless --data
    # is given, so the protocol runs without the shared data folder
    bundled: bool = False


# The Bach protocols' window: 0.5 s from 2.0 s (22,050 samples of music, RMS 0.16); the clip's first 0.5 s is
# nearly silent (RMS 0.0015), so a fit of it says little about music
_BACH_WINDOW = {"start": 2.0, "duration": 0.5}


def _audio_2x(name: str, description: str, signal: str, budget: Budget, **options: Any) -> Protocol:
    """An audio protocol of the 2x measure (superres.py: fitted to every other sample, scored at all of
    them) on one clip, with the audio presets scripts/audio_acceptance.py measures by default."""
    return Protocol(name, description, (signal,), ("siren", "fkan", "sl2a"), budget, kind="audio", downsample=2,
                    **options)


# NeAF's recipe (lif314/NeAF, opt.py): Adam 1e-4, CosineAnnealingLR(T_max = epochs, eta_min = lr / 100),
# 1,000 epochs of shuffled 16,384-sample batches. Two small differences: our epochs drop the last partial batch
# (config.epoch_steps: 18 steps an epoch on the full clip, where NeAF's loader runs 19), and our cosine moves every
# step where NeAF's scheduler steps once an epoch.
NEAF_RECIPE = Recipe(1e-4, 16_384, epochs=1000, schedule="cosine", lr_decay=0.01)

_SL2A_PER_IMAGE = {"00": {"psnr": 33.40}, "05": {"psnr": 34.02}, "10": {"psnr": 41.04}, "15": {"psnr": 36.70}}

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    Protocol(
        "div2k-sl2a",
        "Image quality vs the SL2A paper's table (Heidari et al. 2024, arXiv 2409.10836): DIV2K 00, 05, 10, "
        "15 at 512x512, each model with the lr and batch the SL2A code used for it, 501 epochs of random "
        "minibatches, lr x 0.1^(epoch/501) (the same epochs and decay for every model are assumed).",
        tuple(f"div2k/{i:02d}.png" for i in (0, 5, 10, 15)),
        ("sl2a", "finer", "relu-pe", "gauss", "siren", "wire"),
        Budget(recipe="default"),
        recipes={"sl2a": Recipe(1e-3, 16_384, epochs=501), "finer": Recipe(1e-4, 16_384, epochs=501),
                 "relu-pe": Recipe(1e-3, 1_024, epochs=501), "gauss": Recipe(1e-4, 1_024, epochs=501),
                 "siren": Recipe(1e-3, 65_536, epochs=501), "wire": Recipe(1e-3, 65_536, epochs=501)},
        published={"sl2a": Published({"psnr": 36.88, "ssim": 0.933}, 330_200, _SL2A_PER_IMAGE),
                   "finer": Published({"psnr": 36.35, "ssim": 0.924}, 198_900),
                   "relu-pe": Published({"psnr": 35.27, "ssim": 0.916}, 204_000),
                   "gauss": Published({"psnr": 34.96, "ssim": 0.914}, 198_900),
                   "siren": Published({"psnr": 33.47, "ssim": 0.896}, 198_900),
                   "wire": Published({"psnr": 30.63, "ssim": 0.818}, 91_600)},
        convention="endpoints",  # the SL2A code samples linspace(-1, 1)
    ),
    Protocol(
        "div2k-16",
        "All 16 DIV2K crops (512x512), every registered model under one equal budget (same steps, same "
        "batch); mean +- std and per-image values.",
        tuple(f"div2k/{i:02d}.png" for i in range(16)),
        (),
        Budget(steps=2000, batch=16_384),
    ),
    Protocol(
        "fkan-recipe",
        "The FKAN paper's public recipe (Mehrabian et al. 2024, arXiv 2409.09323): Adam lr 1e-4 x "
        "0.1^(epoch/500), 500 epochs of 4,096-pixel minibatches, on Kodak kodim03 (768x512; not shipped: "
        "put it at <data>/kodak/kodim03.png). The published 43.86 dB is PSNR on stitched training batches.",
        ("kodak/kodim03.png",),
        ("fkan",),
        Budget(recipe="default"),
        recipes={"fkan": Recipe(1e-4, 4_096, epochs=500)},
        published={"fkan": Published({"psnr": 43.86}, 436_367)},
        model_overrides={"fkan": {"grid_size": "270"}},  # the paper's K, above the 768x512 grid's Nyquist cap
        convention="endpoints",  # the FKAN notebook samples linspace(-1, 1)
    ),
    Protocol(
        "superres",
        "Super-resolution: DIV2K 00, 05, 10, 15 shrunk to 256x256 (area), "
        "area-downsampled 2x to 128x128, fitted, rendered at 256x256 and scored against the 256x256 image, "
        "beside Pillow bicubic and Lanczos of the same 128x128 input.",
        tuple(f"div2k/{i:02d}.png" for i in (0, 5, 10, 15)),
        ("fkan", "sl2a", "siren"),
        Budget(steps=1000, batch=4096),  # the budget the box-pixel defaults were measured with (2 x 2 box: 16,384 evaluations a step)
        # FKAN's published lr (1e-4) is for 500 epochs of 4,096 pixels at 512 px (32,000 steps); over this
        # budget's 1,000 steps it underfits (25.3 dB on the grid after 300), so it gets the demo's 3e-4.
        # SIREN's paper lr (1e-4, full batch) left it at 29.9 dB on the grid of 00 here: it gets the SL2A
        # code's 1e-3.
        recipes={"fkan": Recipe(3e-4), "siren": Recipe(1e-3)},
        resize=256,
        downsample=2,
    ),
    _audio_2x(
        "bach-superres",
        "Audio super-resolution: 0.5 s of the SIREN Bach clip from 2.0 s (music; its first 0.5 s is nearly "
        "silent), every other sample kept (22.05 kHz, plain decimation), fitted, rendered at 44.1 kHz and scored "
        "against the original, beside linear interpolation and a windowed-sinc resampler of the same samples.",
        "audio/bach.wav", Budget(steps=1000, batch=0), load_options=_BACH_WINDOW,
    ),
    _audio_2x(
        "speech-superres",
        "Audio super-resolution on speech: kan-inr's bundled speech.wav (2.86 s, 22,050 Hz, 16-bit; whole "
        "clip), every other sample kept (11.025 kHz, plain decimation), fitted, rendered at 22.05 kHz and scored "
        "against the original, beside linear interpolation and a windowed-sinc resampler of the same samples.",
        "speech.wav", Budget(steps=1000, batch=0), bundled=True,
    ),
    Protocol(
        "ttq",
        "Time to quality: DIV2K 00, 05, 10, 15 shrunk to 256x256 (area) and "
        "area-downsampled 2x to 128x128; every model under its own default recipe for the same wall-clock "
        "time, one fit after another in one process. PSNR on the 128x128 grid against time, the time to "
        "30, 35 and 40 dB, and the 2x render scored against the 256x256 image beside bicubic and Lanczos.",
        tuple(f"div2k/{i:02d}.png" for i in (0, 5, 10, 15)),
        ("siren", "fkan", "sl2a"),
        Budget(seconds=120, recipe="default"),
        resize=256,
        downsample=2,
    ),
    _audio_2x(
        "ttq-bach",
        "Time to quality for audio: 0.5 s of the SIREN Bach clip from 2.0 s, every other sample kept (22.05 "
        "kHz), every audio model under its own default recipe for the same wall-clock time; SNR on the grid "
        "against time and the 2x rate render against the original, beside linear and windowed-sinc "
        "interpolation.",
        "audio/bach.wav", Budget(seconds=60, recipe="default"), load_options=_BACH_WINDOW,
    ),
    _audio_2x(
        "ttq-speech",
        "Time to quality on speech: kan-inr's bundled speech.wav (2.86 s, 22,050 Hz; whole clip), every other "
        "sample kept (11.025 kHz), every audio model under its own default recipe for the same wall-clock time; "
        "SNR on the grid against time and the 2x rate render against the original, beside linear and "
        "windowed-sinc interpolation.",
        "speech.wav", Budget(seconds=60, recipe="default"), bundled=True,
    ),
    Protocol(
        "bach",
        "Audio: the SIREN Bach clip (44.1 kHz, 308,207 samples) under NeAF's recipe for every model (the "
        "public NeAF code, lif314/NeAF: Adam lr 1e-4 cosine-annealed to 1e-6, 1,000 epochs of shuffled "
        "16,384-sample batches). Published SNR from NeAF's README: SIREN 36.2 dB, SIREN with first-layer "
        "omega0 = 3000 37.3 dB (the 'siren' row: SIREN's published audio network), Fourier(1024) 4 x 64 35.2 dB "
        "(the 'neaf' row, 254,593 parameters). Every model is its paper's network (--recipe paper).",
        ("audio/bach.wav",),
        ("siren", "neaf"),
        Budget(recipe="paper"),
        recipes={"siren": NEAF_RECIPE, "neaf": NEAF_RECIPE},
        published={"siren": Published({"snr": 37.3}), "neaf": Published({"snr": 35.2}, 254_593)},
        kind="audio",
    ),
    Protocol(
        "bach-cpu",
        "The CPU cut of 'bach': 1.0 s of the SIREN Bach clip from 2.0 s (44,100 samples), the same networks "
        "under the same NeAF recipe (1,000 epochs of 16,384-sample batches, lr 1e-4 cosine to 1e-6). Its "
        "numbers are not comparable with the published full-clip ones of 'bach' (the same networks fit 7x "
        "fewer samples, in fewer steps), so none are printed beside them.",
        ("audio/bach.wav",),
        ("siren", "neaf"),
        Budget(recipe="paper"),
        recipes={"siren": NEAF_RECIPE, "neaf": NEAF_RECIPE},
        kind="audio",
        load_options={"start": 2.0, "duration": 1.0},
    ),
)}


@dataclass(frozen=True)
class PlannedRun:
    signal_path: Path
    signal_name: str
    model: str
    run_dir: Path
    train: dict[str, Any]  # TrainConfig fields for fit_file
    model_overrides: dict[str, str]


def resolve_protocol(name: str | None) -> Protocol | None:
    if name is None:
        return None
    if name not in PROTOCOLS:
        raise KanInrError(f"unknown protocol '{name}' (available: {', '.join(PROTOCOLS)})")
    return PROTOCOLS[name]


def make_budget(steps: int | None, seconds: float | None, recipe: str | None, batch: int | None,
                protocol: str | None) -> Budget | None:
    """The budget the options give; None (the protocol's own) when none is given. ``batch`` alone
    changes the shared batch of the protocol's budget."""
    if steps is not None or seconds is not None or recipe is not None:
        return Budget(steps=steps, seconds=seconds, recipe=recipe, batch=batch)
    proto = resolve_protocol(protocol)
    if batch is None:
        return None
    if proto is None:
        raise KanInrError("--batch needs a budget: --steps N or --seconds S")
    return dataclasses.replace(proto.budget, batch=batch)


def budget_fields(model: str, signal: Signal, budget: Budget, protocol: Protocol | None, seed: int,
                  device: str | None, eval_every: int | None) -> dict[str, Any]:
    """The TrainConfig fields one run of a comparison is given (``jobs.start_run`` fills the rest from the
    preset's recipe): the budget's, the protocol's recipe for the model (``Recipe.train_fields``), and the
    evaluation cadence ``jobs.train_config_for`` (the one budget conversion) gives them."""
    recipe = protocol.recipes.get(model) if protocol else None
    options: dict[str, Any] = {"seed": seed, "device": device, "eval_every": eval_every}
    if budget.recipe is not None:  # the model's own recipe of that family: the protocol's, else its preset's
        options["recipe"] = budget.recipe
        if recipe is not None:
            options |= recipe.train_fields()
        if budget.seconds is not None:  # the clock ends it, not the recipe's length
            options = {k: v for k, v in options.items() if k not in ("steps", "epochs")}
            options["max_seconds"] = budget.seconds
    else:
        if recipe is not None:  # the model's own lr and schedule; steps and batch are the budget's
            options |= {"lr": recipe.lr, "schedule": recipe.schedule}
        batch = budget.batch if budget.batch is not None else DEFAULT_BATCH
        options |= {"batch": batch_size(batch, signal.num_samples), "steps": budget.steps,
                    "max_seconds": budget.seconds}
    train = train_config_for(models.preset(model, signal.kind), signal.num_samples, **options)
    return {k: v for k, v in options.items() if v is not None} | {"eval_every": train.eval_every}

"""Configuration: the training options (``TrainConfig``), a study's options (``TuneConfig``), the
run-config schema (config.json). The options as the command line gives them (a TOML file, ``--set
key=value``) are ``options.train_options``.

One validator for every typed field that arrives as data: ``check_fields`` for JSON values read
from a run's config.json, ``parse_field`` for the text of a ``--set key=value``; both follow the
dataclass's type hints. ``upgrade_config`` brings an old config.json to ``FORMAT_VERSION``, one
version at a time (the big_vision / nanochat pattern: one named function per added field).
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

from kan_inr import limits
from kan_inr.errors import KanInrError
from kan_inr._version import __version__

SCHEDULES = ("exp", "cosine", "constant")
PRECISIONS = ("auto", "fp32", "tf32", "bf16")  # auto: precision.plan
COMPILE_MODES = ("auto", "off", "default", "reduce-overhead", "max-autotune-no-cudagraphs")
FORMAT_VERSION = 4


MAX_STEPS = 10**9  # no step limit: the step count of a time budget (the clock stops it first), and its eval_every
FULL_BATCH = 0  # a batch of 0 coordinates per step means all of them, whatever the signal's size
EVALS_PER_CURVE = 20  # evaluations of a run given no cadence: the points of its quality-over-steps/time curves
MAX_SEED = 2**63 - 1  # torch.manual_seed takes a 64-bit integer
# auto switches a bf16 fit to fp32 this far below where bf16 stalls its recipe (Recipe.bf16_ceiling ->
# bf16_until): early enough that the fp32 rest of a fit ends where an fp32 fit ends, late enough to keep most
# of bf16's steps (benchmarks/precision-switch.json, precision-budget-*.json; precision.plan)
BF16_SWITCH_MARGIN_DB = 6.0


def option(default: Any, help: str, *, lo: float | None = None, hi: float | None = None, above: bool = False,
           choices: tuple[str, ...] | None = None, name: str | None = None, recipe: bool = False,
           deprecated: tuple[str, ...] = ()) -> Any:
    """A config field declared once: its default, its help text and its valid values (``lo`` <= value <=
    ``hi``, strictly above ``lo`` when ``above``; one of ``choices``), which ``check_values`` enforces for
    every way a value arrives (CLI, TOML, API, config.json); ``name``, what users call it (CLI, API, TOML)
    if not the field's name, and its ``deprecated`` older names; ``recipe``: a preset's recipe sets it. The
    command line and the API are generated from these (``options.options_of``)."""
    return dataclasses.field(default=default, metadata={"help": help, "lo": lo, "hi": hi, "above": above,
                                                        "choices": choices, "name": name, "recipe": recipe,
                                                        "deprecated": deprecated})


@dataclass(frozen=True)
class TrainConfig:
    """How a network is trained. Every field is checked when the config is made (``check_values``),
    so an invalid option fails before any run folder is created or replaced."""

    steps: int = option(2000, "Training steps.", lo=1, hi=MAX_STEPS, recipe=True)
    epochs: float | None = option(None, "Passes over the signal's samples (box samples counted once); when "
                                        "given, steps = epochs x (samples // batch), rounded up.", lo=0, above=True,
                                  recipe=True)
    lr: float = option(1e-4, "Adam learning rate.", lo=0, hi=1, above=True, recipe=True)
    batch: int = option(FULL_BATCH, "Coordinates per step (all processes together); 0 or at least the signal's "
                                    "size = full batch.", lo=0, recipe=True)
    schedule: str = option("exp", "lr schedule: exp (lr * lr_decay^(t/T)), cosine or constant.", choices=SCHEDULES,
                           recipe=True)
    lr_decay: float = option(0.1, "Final lr = lr * lr_decay (exp and cosine).", lo=0, hi=1, above=True, recipe=True)
    eval_every: int = option(250, "Steps between full-grid evaluations.", lo=1)
    log_every: int = option(10, "Steps between progress lines.", lo=1)
    seed: int = option(0, "Random seed (same seed, same result on a CPU).", lo=0, hi=MAX_SEED)
    device: str = option("auto", "auto (CUDA when present), cpu, cuda, cuda:N.")
    target_range: tuple[float, float] | None = option(None, "Range (low, high) the model is trained on; None = the "
                                                            "signal's.", recipe=True)
    max_seconds: float | None = option(None, "Training seconds (evaluation excluded): alone, the fit's length, and "
                                             "the lr schedule ends with them; None = steps or epochs only.", lo=0,
                                       above=True, name="seconds", deprecated=("max_seconds",))
    precision: str = option("auto", "auto (bf16 where the device has native bf16 and the recipe's bf16 ceiling is "
                                    "measured, until bf16_until, then fp32; tf32 on CUDA; else fp32 or tf32 "
                                    "throughout); fp32; tf32 matmuls (CUDA); bf16 autocast forward (+ tf32).",
                            choices=PRECISIONS)
    bf16_until: float | None = option(None, "A bf16 fit goes on in full precision (fp32; tf32 on CUDA) from the first "
                                            "evaluation whose grid PSNR/SNR (dB) reaches this; auto takes the "
                                            "recipe's (precision.plan). None = bf16 throughout.", lo=0, above=True,
                                      recipe=True)
    compile: str = option("auto", "A torch.compile mode, off, or auto (default on CUDA, off on a CPU).",
                          choices=COMPILE_MODES)
    jitter: float = option(0.0, "Sub-pixel jitter: positions drawn within this fraction of each cell.", lo=0, hi=1)
    freq_penalty: float = option(0.0, "Weight of the first KAN layer's frequency penalty.", lo=0)
    freq_alpha: float = option(2.0, "Its exponent: coefficient k weighs (k / Nyquist)^alpha.", lo=0)
    recipe: str = option("default", "Which recipe family the preset's settings came from: default (the fastest "
                                    "route measured to a good fit on the grid, its 2x render scored too) or paper "
                                    "(the paper's published network and settings).", choices=("default", "paper"))
    box: int = option(0, "Box pixels: a pixel is the INR's mean over its cell from box^d samples; 0 = its "
                         "centre value.", lo=0, recipe=True)

    def __post_init__(self) -> None:
        check_values(self)
        limits.check("box samples per pixel axis", self.box, limits.MAX_BOX)  # K^d model calls per pixel
        if self.target_range is not None and not self.target_range[0] < self.target_range[1]:
            raise KanInrError(f"target_range must be (low, high) with low < high, got {self.target_range}")


def help_of(cls: type, name: str) -> str:
    """The help text a config field was declared with (``option``)."""
    return next(f.metadata["help"] for f in dataclasses.fields(cls) if f.name == name)


def check_values(cfg: Any) -> None:
    """Check every field of the config dataclass instance ``cfg`` against its type hint (``matches``:
    finite numbers only) and its declared range or choices; ints given for float fields become floats
    and lists tuples, so config.json stores the declared types. A KanInrError names the field."""
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        value, name = getattr(cfg, f.name), f.metadata.get("name") or f.name  # as the user named it
        if not matches(value, hints[f.name], finite=True):
            raise KanInrError(f"{name} should be {_type_name(hints[f.name])}, got {value!r}"[:300])
        coerced = _coerce(value, hints[f.name])
        if coerced is not value:
            object.__setattr__(cfg, f.name, coerced)
        meta = f.metadata
        if value is None or isinstance(value, (tuple, list)):
            continue
        if meta.get("choices") is not None:
            check_choice(name, value, meta["choices"])
        lo, hi = meta.get("lo"), meta.get("hi")
        if lo is not None and (value <= lo if meta.get("above") else value < lo):
            bound = "positive" if lo == 0 and meta.get("above") else f"{'above' if meta.get('above') else 'at least'} {lo:g}"
            raise KanInrError(f"{name} must be {bound}{f' and at most {_num(hi)}' if hi is not None else ''}, got {value!r}")
        if hi is not None and value > hi:
            raise KanInrError(f"{name} must be at most {_num(hi)}, got {value!r}")


def _num(bound: float) -> str:
    """A range bound as an error shows it: integers in full (a seed's 2^63 - 1), floats short."""
    return f"{bound:,}" if isinstance(bound, int) else f"{bound:g}"


def _type_name(hint: Any) -> str:
    """'int', 'float', 'int or None', 'tuple[float, float] or None': how an error names a type."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(hint))
    return "None" if hint is type(None) else (hint.__name__ if isinstance(hint, type) else str(hint))


def _coerce(value: Any, hint: Any) -> Any:
    """``value`` (already ``matches(value, hint)``) in the declared Python type: int -> float for a
    float field, list -> tuple (recursively); ``value`` itself when nothing changes."""
    if isinstance(value, list):
        return tuple(value)
    if isinstance(value, int) and not isinstance(value, bool) and (
            hint is float or float in typing.get_args(hint) and int not in typing.get_args(hint)):
        return float(value)
    return value


def with_length(cfg: TrainConfig, num_samples: int) -> TrainConfig:
    """``cfg`` with its length resolved for a signal of ``num_samples``: ``epochs`` become steps
    (``epoch_steps``); a config without epochs is returned as it is."""
    if cfg.epochs is not None:
        return dataclasses.replace(cfg, steps=epoch_steps(cfg.epochs, cfg.batch, num_samples))
    return cfg


def batch_size(batch: int, num_samples: int) -> int:
    """Coordinates per step of a ``batch`` option on a signal of ``num_samples``: all of them for
    ``FULL_BATCH`` or a batch at least that large."""
    return num_samples if batch == FULL_BATCH or batch >= num_samples else batch


def epoch_steps(epochs: float, batch: int, num_samples: int) -> int:
    """Steps of ``epochs`` passes over ``num_samples`` in batches of ``batch`` (``batch_size``). An
    epoch is num_samples // batch steps: the sampler draws a fresh permutation each epoch and drops
    the remainder, as the FKAN and SL2A code do."""
    per_epoch = max(1, num_samples // batch_size(batch, num_samples))
    return min(MAX_STEPS, max(1, math.ceil(epochs * per_epoch)))


def eval_every_for(steps: int, max_seconds: float | None) -> int:
    """Steps between full-grid evaluations of a run given no cadence, decided here alone: a time budget
    none by step count (MAX_STEPS): ``training.train`` evaluates it at EVALS_PER_CURVE marks of its
    clock, as a step cadence would give one or two points when steps are slow; a step budget every
    steps / EVALS_PER_CURVE steps."""
    return MAX_STEPS if max_seconds is not None else max(1, steps // EVALS_PER_CURVE)


def replace(cfg: TrainConfig, **changes: Any) -> TrainConfig:
    """``dataclasses.replace`` that ignores None values (options the user did not give)."""
    return dataclasses.replace(cfg, **{k: v for k, v in changes.items() if v is not None})


def check_choice(what: str, value: str, choices: tuple[str, ...]) -> str:
    """``value`` if it is one of ``choices``, else a user error naming them."""
    if value not in choices:
        raise KanInrError(f"unknown {what} '{value}' (choose from {', '.join(choices)})")
    return value


def matches(value: Any, hint: Any, finite: bool = True) -> bool:
    """Whether data ``value`` fits the dataclass field type ``hint`` (tuples may be JSON lists); with
    ``finite``, a float must be finite (NaN or inf is never a setting)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(matches(value, a, finite) for a in args)
    if origin is tuple:
        items = args[:1] if len(args) == 2 and args[1] is Ellipsis else args
        return isinstance(value, (list, tuple)) and (len(args) == 2 and args[1] is Ellipsis or len(value) == len(args)) \
            and all(matches(v, items[min(i, len(items) - 1)], finite) for i, v in enumerate(value))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and (not finite or math.isfinite(value))
    if hint is str:
        return isinstance(value, str)
    return True  # a type JSON cannot hold: leave it to the class


def _field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def check_fields(cls: type, data: Any, where: str) -> dict[str, Any]:
    """``data`` (JSON) as keyword arguments for dataclass ``cls``: known fields of the right types,
    lists turned back into tuples; anything else is a KanInrError naming ``where``."""
    if not isinstance(data, dict):
        raise KanInrError(f"{where}: expected a table of fields, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(_field_names(cls)))
    if unknown:
        raise KanInrError(f"{where}: unknown field(s) {', '.join(unknown)} (written by a newer kan-inr?)")
    for key, value in data.items():
        if not matches(value, hints[key]):
            raise KanInrError(f"{where}: field '{key}' should be {hints[key]}, got {value!r}"[:300])
    return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}


def parse_field(cls: type, key: str, value: Any) -> Any:
    """The value of field ``key`` of dataclass ``cls``: parsed from the text of ``--set key=text``, or a
    typed value (the Python API, a TOML table) checked against the field's type (finite numbers only)."""
    names = _field_names(cls)
    if key not in names:
        raise KanInrError(f"unknown model field '{key}' for {cls.__name__} (valid: {', '.join(names)})")
    hint = typing.get_type_hints(cls)[key]
    if isinstance(value, str):
        return _parse(value, hint, key)
    if not matches(value, hint):
        raise KanInrError(f"model field '{key}' should be {_type_name(hint)}, got {value!r}"[:300])
    return _coerce(value, hint)


def _parse(text: str, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is tuple:
        (item, *_) = typing.get_args(hint)
        return tuple(_parse(part.strip(), item, key) for part in text.strip("()[] ").split(",") if part.strip())
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if text.lower() in ("none", "null"):
            return None
        return _parse(text, args[0], key)
    try:
        if hint is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if hint is int:
            return int(text)
        if hint is float:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError(text)
            return value
        return str(text)
    except ValueError:
        raise KanInrError(f"--set {key}={text}: expected a{' finite' if hint is float else ''} value of type "
                          f"{getattr(hint, '__name__', hint)}") from None


def to_plain(cfg: Any) -> dict[str, Any]:
    """A frozen config dataclass as JSON data (tuples as lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}


def upgrade_config(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a config.json of any earlier format to FORMAT_VERSION, one version at a time.

    1 -> 2: ``signal.load_options`` (how the file was read, e.g. resize_to) added, empty for old runs.
    2 -> 3: ``signal.convention`` (where samples sit, ``signals.base.CONVENTIONS``) added: "endpoints"
    (``signals.base.ENDPOINTS``), the only geometry before, so an old run renders as it was fitted.
    3 -> 4: a full batch is ``train.batch`` FULL_BATCH (0), no longer null.
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
                "signal": {**signal, "convention": "endpoints"} if isinstance(signal, dict) else signal}
    if data["format_version"] == 3:
        train = data.get("train")
        if isinstance(train, dict) and train.get("batch", FULL_BATCH) is None:
            train = {**train, "batch": FULL_BATCH}
        data = {**data, "format_version": 4, "train": train}
    return data


def make_config(model_name: str, family: str, model_cfg: Any, in_dim: int, out_dim: int,
                train: TrainConfig, signal: dict[str, Any], load_options: dict[str, Any] | None = None,
                digest: str | None = None, config_class: str | None = None) -> dict[str, Any]:
    """config.json: ``signal`` is ``Signal.describe()``, plus the loader options that reproduce it from
    its file and its values' digest (both used by ``--resume``). ``config_class``: a plug-in model's
    config dataclass import path (its family is the model's import path)."""
    signal = {**signal, "load_options": {k: v for k, v in (load_options or {}).items() if v is not None}}
    if digest is not None:
        signal["digest"] = digest
    model = {"name": model_name, "family": family, "config": to_plain(model_cfg), "in_dim": in_dim, "out_dim": out_dim}
    if config_class is not None:
        model["config_class"] = config_class
    return {"format_version": FORMAT_VERSION, "kan_inr_version": __version__, "model": model,
            "train": to_plain(train), "signal": signal}


def check_config(data: Any, where: str) -> dict[str, Any]:
    """A config.json's data, upgraded and checked field by field (the model family's own fields are
    checked where the registry is known, ``runs.load``)."""
    if not isinstance(data, dict):
        raise KanInrError(f"{where} does not hold a run configuration")
    data = upgrade_config(data)
    try:
        model, signal = data["model"], data["signal"]
        if not (isinstance(model["family"], str) and isinstance(model["config"], dict)
                and matches(model["in_dim"], int) and matches(model["out_dim"], int)
                and model["in_dim"] >= 1 and model["out_dim"] >= 1
                and matches(signal["shape"], tuple[int, ...]) and min(signal["shape"], default=0) >= 1
                and isinstance(signal["kind"], str) and matches(signal["value_range"], tuple[float, float])
                and isinstance(signal.get("meta", {}), dict) and isinstance(signal["load_options"], dict)
                and isinstance(signal["convention"], str) and isinstance(data["train"], dict)):
            raise TypeError
    except (KeyError, TypeError):
        raise KanInrError(f"{where} is missing fields or has fields of the wrong type") from None
    train_config(data)
    return data


def train_config(config: dict[str, Any], where: str = "config.json") -> TrainConfig:
    """The TrainConfig a run was fitted with (validated)."""
    return TrainConfig(**check_fields(TrainConfig, config["train"], f"{where} train"))

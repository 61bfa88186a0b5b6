"""Model plug-ins: your own INR, named by file or import path, and presets added by installed packages.

A plug-in model keeps the registry's contract (``models``' docstring): an ``nn.Module`` built as
``Model(in_dim, out_dim, cfg)``, ``cfg`` a frozen dataclass (the annotation of ``cfg``, or the
``config`` given to ``register_model``). It is named by a *spec*, ``LEFT:Class``:

    path/to/my_inr.py:MyINR     a Python file, imported under a private module name
    my_package.models:MyINR     an importable module

``@register_model("name", config=..., recipe=..., paper=...)`` adds a preset (a config and the
optimiser recipe it was made for); installed packages declare modules holding such decorators in the
entry-point group ``kan_inr.models`` (``[project.entry-points."kan_inr.models"]``), so their presets
appear in ``kan-inr models`` and work with ``--model NAME``.

Trust: a spec you type runs its code, as ``python my_inr.py`` would. A run folder names its model's
spec in config.json, and a run folder may come from anyone, so a spec read from a run is imported only
when its module belongs to an installed entry point, was already imported by this process, or code
was allowed (``allowing_code(True)``: ``--allow-code``, ``allow_code=True``); otherwise one error line.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import hashlib
import importlib
import importlib.metadata
import importlib.util
import inspect
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from torch import nn

from kan_inr.errors import KanInrError

GROUP = "kan_inr.models"  # the entry-point group of installed plug-in packages


@dataclass(frozen=True)
class PluginPreset:
    """A preset registered by ``register_model``: ``recipe`` is a ``models.Recipe`` (None: the
    registry's default for plug-ins)."""

    name: str
    spec: str  # import path of the model class, what config.json stores as the family
    config: Any  # a frozen dataclass instance
    recipe: Any
    paper: str
    space: Any = None  # levers for ``kan-inr tune``: a ``space.SearchSpace`` or {name: ``space.Param``}


PRESETS: dict[str, PluginPreset] = {}  # name -> preset, from @register_model in imported modules
_CLASSES: dict[str, type[nn.Module]] = {}  # canonical spec -> model class imported by this process
_CONFIGS: dict[type, type] = {}  # model class -> config class given to register_model
_FILES: dict[str, Path] = {}  # private module name -> the plug-in file it was imported from
_ALLOW_CODE = contextvars.ContextVar("kan_inr_allow_code", default=False)
_entry_points_loaded = False


def is_spec(name: str) -> bool:
    """Whether a model name is a plug-in spec (``LEFT:Class``) rather than a preset or family name."""
    return ":" in name


@contextlib.contextmanager
def allowing_code(allow: bool = True) -> Iterator[None]:
    """Within the block, a plug-in module named by a run folder may be imported (``--allow-code``)."""
    token = _ALLOW_CODE.set(allow)
    try:
        yield
    finally:
        _ALLOW_CODE.reset(token)


def spec_of(cls: type) -> str:
    """The import path that names ``cls`` in a new process: ``module:Qualname``, with a plug-in file's
    (or a script's ``__main__``) absolute path as the module."""
    module = cls.__module__
    if module in _FILES:
        left = str(_FILES[module])
    elif module == "__main__" and (main_file := getattr(sys.modules["__main__"], "__file__", None)):
        left = str(Path(main_file).resolve())  # a script: its `if __name__` guard
    else:  # keeps its main block from running when imported as a plug-in
        left = module
    return f"{left}:{cls.__qualname__}"


def remember(model_cls: type[nn.Module]) -> str:
    """Record a model class this process already holds (defined in a script or notebook, or decorated)
    under its spec, so runs naming it need no import; returns the spec."""
    if not (inspect.isclass(model_cls) and issubclass(model_cls, nn.Module)):
        raise KanInrError(f"a model must be a preset name, a spec FILE.py:Class or an nn.Module class, "
                          f"got {model_cls!r}")
    config_class(model_cls)  # the contract, checked before the class is used
    spec = spec_of(model_cls)
    _CLASSES.setdefault(spec, model_cls)
    return spec


def _split(spec: str) -> tuple[str, str, bool]:
    """(module or absolute file path, attribute path, is a file) of a spec; nothing is imported."""
    left, _, attr = spec.rpartition(":")
    if not left or not attr:
        raise KanInrError(f"a plug-in model is named FILE.py:Class or package.module:Class, got '{spec}'")
    is_file = left.endswith(".py") or "/" in left or "\\" in left
    return (str(Path(left).expanduser().resolve()) if is_file else left), attr, is_file


def canonical(spec: str) -> str:
    """The spec with a file's path made absolute: the key under which it is imported and stored."""
    left, attr, _ = _split(spec)
    return f"{left}:{attr}"


def _import_module(left: str, is_file: bool) -> Any:
    if not is_file:
        try:
            return importlib.import_module(left)
        except ModuleNotFoundError as exc:
            raise KanInrError(f"plug-in module '{left}' cannot be imported ({exc}): install it or fix the "
                              f"spec") from None
        except Exception as exc:  # the plug-in's own code failed while importing
            raise KanInrError(f"plug-in module '{left}' failed to import: {type(exc).__name__}: {exc}") from None
    path = Path(left)
    if not path.is_file():
        raise KanInrError(f"plug-in file {path} is not there (moved or deleted?): put it back or give its path")
    name = f"_kan_inr_plugin_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    loader_spec = importlib.util.spec_from_file_location(name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise KanInrError(f"plug-in file {path} is not a Python module")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[name], _FILES[name] = module, path  # dataclasses and decorators look the module up by name
    try:
        loader_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise KanInrError(f"plug-in file {path} failed to import: {type(exc).__name__}: {exc}") from None
    return module


def _installed(module: str) -> bool:
    """Whether ``module`` is (inside) the module of an installed ``kan_inr.models`` entry point."""
    return any(module == ep.module or module.startswith(ep.module + ".")
               for ep in importlib.metadata.entry_points(group=GROUP))


def model_class(spec: str, *, from_run: bool) -> type[nn.Module]:
    """The model class a spec names, importing its module if needed.

    ``from_run``: the spec was read from a run folder, so its module is imported only with consent
    (installed entry point, ``allowing_code``); a spec the user typed is consent in itself."""
    left, attr, is_file = _split(spec)
    key = f"{left}:{attr}"
    if key in _CLASSES:
        return _CLASSES[key]
    if from_run and not _ALLOW_CODE.get() and (is_file or not _installed(left)):
        raise KanInrError(f"this run's model is plug-in code ({key}), which is imported only if you trust it: "
                          f"pass --allow-code (Python: allow_code=True)")
    obj: Any = _import_module(left, is_file)
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise KanInrError(f"plug-in {left} has no '{attr}'")
        obj = getattr(obj, part)
    if not (inspect.isclass(obj) and issubclass(obj, nn.Module)):
        raise KanInrError(f"plug-in {key} is not an nn.Module class")
    config_class(obj)  # the contract, checked once at import
    _CLASSES[key] = obj
    remember(obj)  # also under its own spec (a class re-exported from another module)
    return obj


def config_class(model_cls: type) -> type:
    """The frozen dataclass ``model_cls`` is built with: given to ``register_model``, else the
    annotation of the third parameter of ``__init__(in_dim, out_dim, cfg)``."""
    cfg_cls = _CONFIGS.get(model_cls)
    if cfg_cls is None:
        init = model_cls.__init__  # type: ignore[misc]  # the class's own __init__ (mypy: unsound on instances)
        params = list(inspect.signature(init).parameters.values())[1:]
        try:
            hints = typing.get_type_hints(init)
        except Exception:  # an annotation that does not resolve
            hints = {}
        cfg_cls = hints.get(params[2].name) if len(params) >= 3 else None
    if not (inspect.isclass(cfg_cls) and dataclasses.is_dataclass(cfg_cls)
            and getattr(cfg_cls, "__dataclass_params__").frozen):  # no public API tells frozen
        raise KanInrError(f"plug-in model {model_cls.__qualname__} must be built as Model(in_dim, out_dim, cfg) "
                          f"with cfg annotated as a frozen dataclass (or give register_model(config=...))")
    return cfg_cls


def default_config(model_cls: type) -> Any:
    """The config a plug-in is built with when none is given: its config class's defaults."""
    cfg_cls = config_class(model_cls)
    try:
        return cfg_cls()
    except TypeError as exc:
        raise KanInrError(f"config {cfg_cls.__qualname__} of plug-in {model_cls.__qualname__} needs a default "
                          f"for every field ({exc})") from None


def register_model(name: str | None = None, *, config: Any = None, recipe: Any = None,
                   paper: str = "", space: Any = None) -> Callable[[type], type]:
    """Class decorator: a preset ``name`` (default: the class name in lower case) of this model, built
    with ``config`` (an instance of its frozen config dataclass; default: the class's defaults) and
    trained with ``recipe`` (a ``kan_inr.Recipe``; default: the registry's plug-in recipe); ``space``:
    the levers ``kan-inr tune`` varies beside the recipe's, {config field: ``kan_inr.space.number(...)``
    or ``choice(...)``} or a ``SearchSpace``. Stack it to register several presets of one class.
    Built-in presets keep their names."""

    def decorate(model_cls: type) -> type:
        if config is not None:
            if not (dataclasses.is_dataclass(config) and not isinstance(config, type)):
                raise KanInrError(f"register_model(config=...) takes a config instance, got {config!r}")
            _CONFIGS[model_cls] = type(config)
        spec = remember(model_cls)
        cfg = config if config is not None else default_config(model_cls)
        preset_name = name or model_cls.__name__.lower()
        PRESETS[preset_name] = PluginPreset(preset_name, spec, cfg, recipe, paper, space)
        return model_cls

    return decorate


def load_entry_points() -> None:
    """Import the modules of installed ``kan_inr.models`` entry points once (their decorators register
    presets); an entry point naming a model class itself becomes a preset of the entry point's name."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in importlib.metadata.entry_points(group=GROUP):
        try:
            obj = ep.load()
        except Exception as exc:
            raise KanInrError(f"installed plug-in '{ep.name}' ({ep.value}) failed to load: "
                              f"{type(exc).__name__}: {exc}") from None
        if inspect.isclass(obj) and issubclass(obj, nn.Module) and ep.name not in PRESETS:
            register_model(ep.name, paper=f"plug-in {ep.value}")(obj)


def find_preset(name: str) -> PluginPreset | None:
    """A plug-in preset by name, looking at installed entry points too."""
    if name not in PRESETS:
        load_entry_points()
    return PRESETS.get(name)


def label(name: str) -> str:
    """A model name fit for a folder name: a spec's class name, any other name as it is."""
    return name.rpartition(":")[2].rpartition(".")[2] if is_spec(name) else name

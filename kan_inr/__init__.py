"""kan-inr: implicit neural representations with Kolmogorov-Arnold networks.

Data flows one way: file -> Signal -> model -> fit -> run folder -> render / compare. The modules are
layered, bottom to top; a module imports only from its own layer or the layers below it, and the
imports form no cycle (tests/test_imports.py reads every module's imports, function-level ones
included, and checks both against this list):

    0. errors, _version, limits  (the user-error type; the version; caps on input and render sizes: what every layer may import)
    1. atomic, checkpoint, config, device, geometry, metrics, options, plugins, precision, recipe, space, tables, tune_config  (files, training state, options and their names for users, devices, cell centres, Nyquist limits and the basis sizes they allow, numbers, plug-in loading, which precision a step runs, how a preset trains, search-space declarations, CSV and Markdown tables)
    2. signals  (file <-> Signal, render plans)
    3. models, pixels, plots, spectral  (networks, their registry and the preset table; the pixel model: training positions, reduction, render positions; figures; first-layer spectra)
    4. logging, render  (progress and TensorBoard; model x grid -> values)
    5. step, training, batched, distributed  (one training loop, its injected steps)
    6. runs  (run folders: layout, loading, locking, writing)
    7. jobs, inspection, superres, codec  (file -> finished run folder -> render; run analyses; compression)
    8. comparison, many, tuning  (several fits and their reports; studies over the one fit)
    9. api  (the public Python API below)
    10. cli, cli_options  (the command line; the options its commands share)

The public API (README "In five lines", kan_inr/api.py): ``load_signal``, ``fit``, ``load``, ``resume``, ``export``,
``compare``, ``tune``, ``presets``, the ``Run`` they return; ``register_model`` and ``Recipe`` for your own models and
presets; the KAN layers ``FourierKAN``, ``ChebyshevKAN``, ``BSplineKAN`` ((..., in) -> (..., out)) and
``edge_functions`` (their learned univariate functions). Names load on first use, so
``from kan_inr import KanInrError`` does not import torch. Modules of the package import
``KanInrError`` from ``kan_inr.errors``, never from this facade.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from kan_inr._version import __version__
from kan_inr.errors import KanInrError


_EXPORTS = {
    "kan_inr.api": ("Run", "compare", "export", "fit", "load", "load_signal", "presets", "resume", "tune"),
    "kan_inr.comparison": ("Budget",),
    "kan_inr.models.layers": ("BSplineKAN", "ChebyshevKAN", "FourierKAN", "edge_functions"),
    "kan_inr.plugins": ("register_model",),
    "kan_inr.recipe": ("Recipe",),
    "kan_inr.signals": ("Signal",),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = ["KanInrError", "__version__", *sorted(_WHERE)]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time __getattr__ imports on first use
    # re-exports (the linter's unused-import check cannot read the __all__ built above)
    from kan_inr.api import Run, compare, export, fit, load, load_signal, presets, resume, tune  # noqa: F401
    from kan_inr.comparison import Budget  # noqa: F401
    from kan_inr.models.layers import BSplineKAN, ChebyshevKAN, FourierKAN, edge_functions  # noqa: F401
    from kan_inr.plugins import register_model  # noqa: F401
    from kan_inr.recipe import Recipe  # noqa: F401
    from kan_inr.signals import Signal  # noqa: F401


def __getattr__(name: str) -> Any:
    """Import a public name's module when the name is first used (PEP 562)."""
    if name not in _WHERE:
        raise AttributeError(f"module 'kan_inr' has no attribute '{name}'")
    return getattr(importlib.import_module(_WHERE[name]), name)

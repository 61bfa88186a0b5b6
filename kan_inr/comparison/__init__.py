"""Comparisons of models on the same signals: ``protocols`` (budgets, recipes, published numbers as
data), ``run`` (planning, fitting, resuming) and ``report`` (tables, figures)."""

from kan_inr.comparison.protocols import (DEFAULT_BATCH, PROTOCOLS, Budget, PlannedRun, Protocol, Published, Recipe,
                                       make_budget, resolve_protocol)
from kan_inr.comparison.run import Comparison, run_comparison

__all__ = ["Budget", "Comparison", "DEFAULT_BATCH", "PROTOCOLS", "PlannedRun", "Protocol", "Published", "Recipe",
           "make_budget", "resolve_protocol", "run_comparison"]

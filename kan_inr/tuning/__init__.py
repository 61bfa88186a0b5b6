"""Studies over the one fit (``kan-inr tune``): equal-effort searches for each model's best settings, on Optuna.

    spaces      the levers a study varies: declared beside each family's config, changed by --space
    objectives  what it maximises (grid, 2x, both) and the one fit a trial makes per signal
    storage     where it lives (SQLite or any database URL)
    protocol    a study opened by name, with the settings it was made with
    sampler     TPE seeded per trial
    sharing     several processes on one study: which trials count, the quota, each process's loop
    reaping     the trials of processes that died
    progress    one console line per trial
    report      the tune folder: best.toml, trials.csv, figures
    study       ``tune``: all of it, in that order

Tuning is a client of fitting, never a second loop: a trial is the fit of ``kan-inr fit`` with
sampled options, reporting its evaluations.
"""

from kan_inr.tuning.objectives import CHOSEN_RULE, OBJECTIVES
from kan_inr.tuning.study import Tuned, tune

__all__ = ["CHOSEN_RULE", "OBJECTIVES", "Tuned", "tune"]

"""Compare models on the same signals: `python scripts/compare.py SIGNALS... --models ... --budget-steps N`.

A thin wrapper around `kan-inr compare` (kan_inr/cli.py, kan_inr/comparison/), so the script and the
CLI share one implementation; see `--help` for the options and the named protocols.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a clone without installing

from kan_inr.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.argv[1:1] = ["compare"]
    main()

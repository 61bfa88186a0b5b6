#!/usr/bin/env python
"""Record a finished comparison (``kan-inr compare``) as benchmarks/compare-NAME.json, so that a README
block ``<!-- benchmark:compare-NAME -->`` shows it from a committed file (``records.check_readme``).

The comparison's folder (outputs/compare-NAME/) is git-ignored: this copies its results.csv rows (the
data) and results.md (what the README shows, figure links dropped) with the comparison's own command.

    python scripts/record_compare.py steps300-r128 [--outputs outputs]
"""

from __future__ import annotations

import argparse
import csv
import re
import shlex
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source tree without installing

from kan_inr import KanInrError  # noqa: E402
from kan_inr.comparison.report import readme_body  # noqa: E402
import records  # noqa: E402

COMMAND = re.compile(r"^Command: `(?P<command>.+)`$", re.M)


def record(name: str, outputs: Path) -> Path:
    folder = outputs / f"compare-{name}"
    try:
        results_md = (folder / "results.md").read_text()
        with open(folder / "results.csv", newline="") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise KanInrError(f"no finished comparison in {folder}: {exc.strerror or exc}") from None
    command = COMMAND.search(results_md)
    if command is None or not rows:
        raise KanInrError(f"{folder / 'results.md'} names no command, or results.csv has no rows")
    devices = {row["device"] for row in rows if row["device"]}
    return records.record(f"compare-{name}", rows, readme_body(results_md),
                          device=devices.pop() if len(devices) == 1 else "cpu",
                          command=shlex.split(command["command"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the comparison's name: outputs/compare-NAME/")
    parser.add_argument("--outputs", type=Path, default=Path("outputs"))
    args = parser.parse_args()
    records.check_name(f"compare-{args.name}")
    path = record(args.name, args.outputs)
    print(f"recorded {path}; show it with a <!-- benchmark:{path.stem} --> block and python scripts/sync_readme.py")


if __name__ == "__main__":
    records.run_script(main, "record_compare")

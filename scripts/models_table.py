#!/usr/bin/env python
"""The table of presets in benchmarks/README.md: for each built-in preset, its paper, the parameter counts of
its default network and of its paper network (``fit --recipe paper``) for a 512x512 RGB image, and its default
recipe: the rows ``kan-inr models`` prints (``kan_inr.presets``), as Markdown.

    python scripts/models_table.py --record models   # then python scripts/sync_readme.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source tree without installing

import kan_inr  # noqa: E402
from kan_inr import models  # noqa: E402
from kan_inr.config import FULL_BATCH  # noqa: E402
import records  # noqa: E402


def rows() -> list[dict[str, Any]]:
    """``kan-inr models``' rows of the built-in presets (a plug-in registered in this process left out): a
    512x512 RGB image, or a preset for other kinds only (neaf: audio) on its own kind's default signal."""
    return [{k: r[k] for k in ("name", "paper", "params", "paper_params", "lr", "batch", "length", "box", "schedule",
                               "kind", "channels")}
            for r in kan_inr.presets() if r["name"] in models.PRESETS]


def _lr(lr: float) -> str:
    return f"{lr:.0e}".replace("e-0", "e-")  # 1e-4, as the papers write it


def _params(row: dict[str, Any], key: str) -> str:
    """A count; for a preset of another kind, which signal it was counted for."""
    if row["kind"] == "image":
        return f"{row[key]:,}"
    return f"{row[key]:,} ({'mono' if row['channels'] == 1 else str(row['channels']) + '-channel'} {row['kind']})"


def _pixels(box: int) -> str:
    return f"box {box}x{box}" if box else "point"


def markdown(table: list[dict[str, Any]]) -> str:
    lines = ["| name | paper | params (512² RGB): default | paper network | "
             "default recipe: Adam lr, batch, length, schedule, pixels |",
             "|---|---|---:|---:|---|"]
    lines += [f"| `{r['name']}` | {r['paper']} | {_params(r, 'params')} | {_params(r, 'paper_params')} | "
              f"{_lr(r['lr'])}, {'full' if r['batch'] == FULL_BATCH else format(r['batch'], ',')}, {r['length']}, "
              f"{r['schedule']}, {_pixels(r['box'])} |" for r in table]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--record", default="", help="record the table as benchmarks/NAME.json")
    args = parser.parse_args()
    if args.record:
        records.check_name(args.record)
    table = rows()
    print(markdown(table))
    if args.record:
        path = records.record(args.record, table, markdown(table), device="cpu")
        print(f"recorded {path}; python scripts/sync_readme.py puts it into the README")


if __name__ == "__main__":
    records.run_script(main, "models_table.py")

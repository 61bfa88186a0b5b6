#!/usr/bin/env python
"""The README's table of presets: for each registered preset, its paper, its parameter count for a
512x512 RGB image and its default recipe (the numbers ``kan-inr models`` prints), from the registry.

    python scripts/models_table.py --record models   # then python scripts/sync_readme.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a source tree without installing

from kan_inr import models  # noqa: E402
from kan_inr.api import DEFAULT_SIGNALS  # noqa: E402
from kan_inr.config import FULL_BATCH  # noqa: E402
import records  # noqa: E402

SHAPE = (512, 512)


def rows() -> list[dict[str, Any]]:
    """One row per preset, built for a 512x512 RGB image as ``fit`` would build it; a preset for other kinds
    only (neaf: audio) for its own kind's default signal, as ``kan-inr models`` counts it (``kind``)."""
    out = []
    for name in models.PRESETS:
        kind = "image" if name in models.names_for("image") else next(iter(models.PRESETS[name]))
        in_dim, out_dim, shape = (2, 3, SHAPE) if kind == "image" else DEFAULT_SIGNALS[kind]
        preset = models.preset(name, kind)
        model = models.build(preset.family, in_dim, out_dim, preset.config_for(shape))
        r = preset.recipe
        out.append({"name": name, "paper": preset.paper, "params": models.num_params(model), "lr": r.lr,
                    "batch": r.batch, "length": r.length(), "box": r.box, "schedule": r.schedule, "kind": kind,
                    "channels": out_dim})
    return out


def _lr(lr: float) -> str:
    return f"{lr:.0e}".replace("e-0", "e-")  # 1e-4, as the papers write it


def _params(row: dict[str, Any]) -> str:
    """The count; for a preset of another kind, which signal it was counted for."""
    if row["kind"] == "image":
        return f"{row['params']:,}"
    return f"{row['params']:,} ({'mono' if row['channels'] == 1 else str(row['channels']) + '-channel'} {row['kind']})"


def _pixels(box: int) -> str:
    return f"box {box}x{box}" if box else "point"


def markdown(table: list[dict[str, Any]]) -> str:
    lines = ["| name | paper | params (512² RGB) | default recipe: Adam lr, batch, length, schedule, pixels |",
             "|---|---|---:|---|"]
    lines += [f"| `{r['name']}` | {r['paper']} | {_params(r)} | {_lr(r['lr'])}, "
              f"{'full' if r['batch'] == FULL_BATCH else format(r['batch'], ',')}, {r['length']}, {r['schedule']}, "
              f"{_pixels(r['box'])} |" for r in table]
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
    main()

"""Record super-resolution comparisons (``superres.json`` of ``kan-inr compare --downsample``) as one
benchmark file for the README: benchmarks/superres-<NAME>.json (``records.record``).

    python scripts/superres_record.py NAME outputs/compare-A [outputs/compare-B ...]

Several folders (e.g. one comparison per model, run in parallel on the same signals) are joined: the
classical rows are taken from the first folder, the model rows from each.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from kan_inr import superres
import records


def main(name: str, folders: list[Path]) -> None:
    data = [json.loads((folder / "superres.json").read_text()) for folder in folders]
    factor, kind = data[0]["factor"], data[0]["kind"]
    classical = {"bicubic", "lanczos", "linear", "sinc"}
    rows = [r for r in data[0]["rows"] if r["method"] in classical]
    rows += [r for d in data for r in d["rows"] if r["method"] not in classical]
    scored = [superres.Scored(r["signal"], r["method"],
                              {k[10:]: v for k, v in r.items() if k.startswith("upsampled_")},
                              {k[5:]: v for k, v in r.items() if k.startswith("grid_")}) for r in rows]
    _, markdown = superres.table(scored, kind, factor)
    header = []
    for folder in folders:  # results.md opens with the command and the budget, seed, device, versions
        lines = [line for line in (folder / "results.md").read_text().splitlines()[:6] if line.strip()]
        header += [f"- {lines[1]}", f"  {lines[2].split(' Metrics from')[0]}"]
    header = "\n".join(header)
    text = f"{header}\n\n{markdown}"
    print(text)
    print(records.record(f"superres-{name}", rows, text, device=torch.device("cpu")))


if __name__ == "__main__":
    main(sys.argv[1], [Path(p) for p in sys.argv[2:]])

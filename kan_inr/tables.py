"""The tables kan-inr writes, as text: CSV files and Markdown tables (comparison reports, fit-many
summaries), one definition of each for every writer."""

from __future__ import annotations

import csv
import io
from typing import Any, Collection


def rows_to_csv(rows: list[dict[str, Any]], columns: list[str] | None = None) -> str:
    """CSV text of ``rows`` (columns: ``columns``, else the first row's keys); None is an empty cell."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns or list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows([{k: "" if row.get(k) is None else row[k] for k in writer.fieldnames} for row in rows])
    return buffer.getvalue()


def markdown_table(columns: list[str], rows: list[list[str]], right: Collection[str] = frozenset()) -> list[str]:
    """Lines of a Markdown table; columns named in ``right`` are right-aligned."""
    return ["| " + " | ".join(columns) + " |", "|" + "|".join("---:" if c in right else "---" for c in columns) + "|",
            *("| " + " | ".join(cells) + " |" for cells in rows)]

"""kan_inr/ type-checks: mypy, configured in pyproject.toml ([tool.mypy]), reports no errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy", reason="mypy is not installed (pip install -e '.[test]' brings it)")

ROOT = Path(__file__).resolve().parent.parent


def test_mypy_reports_no_errors() -> None:
    # A subprocess in the repository root: the command a developer runs, with pyproject.toml's
    # settings and its incremental cache (.mypy_cache), and no state shared with this test process.
    done = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=280)
    report = done.stdout + done.stderr
    assert done.returncode == 0, f"mypy found type errors in kan_inr/:\n{report}"
    assert "Success: no issues found" in report, report

"""The repository lints clean: ``ruff check``, configured in pyproject.toml ([tool.ruff]), finds nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("ruff", reason="ruff is not installed (pip install -e '.[test]' brings it)")

ROOT = Path(__file__).resolve().parent.parent


def ruff(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """``ruff check ARGS`` in the repository root, with pyproject.toml's settings."""
    return subprocess.run([sys.executable, "-m", "ruff", "check", *args], cwd=ROOT, capture_output=True, text=True,
                          input=stdin, timeout=120)


def test_ruff_finds_nothing() -> None:
    done = ruff(".")
    assert done.returncode == 0, f"ruff check found problems:\n{done.stdout}{done.stderr}"


def test_ruff_applies_the_projects_rules() -> None:
    """The configuration is live: an unused import anywhere and a long line in cli.py are findings."""
    assert "F401" in ruff("--stdin-filename", "kan_inr/new.py", "-", stdin="import os\n").stdout
    long_line = f"x = {'1 + ' * 40}1\n"  # 124 characters
    assert "E501" in ruff("--stdin-filename", "kan_inr/cli.py", "-", stdin=long_line).stdout

"""Measured results and the README: a block equals its benchmarks/*.json, and a hand edit is caught."""

import json

import pytest

from kan_inr import KanInrError, results


def test_record_sync_check_round_trip(tmp_path):
    bench = tmp_path / "benchmarks"
    path = results.record("speed-x", {"ratio": 9.9}, "| a | b |\n|---|---|\n| 1 | 2 |",
                          device="cpu", command=["scripts/bench.py", "--quick"], bench_dir=bench)
    data = json.loads(path.read_text())
    assert data["results"] == {"ratio": 9.9} and data["command"] == "scripts/bench.py --quick"
    assert data["torch"] and data["date"] and data["device"].startswith("cpu")
    readme = tmp_path / "README.md"
    readme.write_text("# t\n<!-- benchmark:speed-x -->\nold numbers\n<!-- /benchmark:speed-x -->\nafter\n")
    assert results.check_readme(readme, bench) == ["speed-x: README block differs from benchmarks/speed-x.json"]
    assert results.sync_readme(readme, bench) == ["speed-x"]
    assert results.check_readme(readme, bench) == []
    text = readme.read_text()
    assert "| 1 | 2 |" in text and text.endswith("<!-- /benchmark:speed-x -->\nafter\n")
    readme.write_text(text.replace("| 1 | 2 |", "| 1 | 3 |"))  # a number typed in by hand
    assert results.check_readme(readme, bench) != []


def test_missing_file_is_reported(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("<!-- benchmark:nothing -->\nx\n<!-- /benchmark:nothing -->\n")
    (stale,) = results.check_readme(readme, tmp_path)
    assert stale.startswith("nothing: cannot read")


def test_bad_name_is_refused(tmp_path):
    with pytest.raises(KanInrError, match="bad benchmark name"):
        results.record("../x", {}, "", device="cpu", bench_dir=tmp_path)


def test_project_readme_matches_its_benchmark_files():
    assert results.check_readme() == []

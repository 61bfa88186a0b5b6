"""scripts/records.py: a benchmark file records its provenance (git commit included), a README block equals
its benchmarks/*.json (or says it is not measured yet), a hand edit is caught, and benchmarks/README.md is
generated from the files."""

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

import records
from kan_inr import KanInrError
from kan_inr.comparison.report import readme_body

REPO = Path(__file__).resolve().parents[1]


def test_record_sync_check_round_trip(tmp_path):
    bench = tmp_path / "benchmarks"
    path = records.record("speed-x", {"ratio": 9.9}, "| a | b |\n|---|---|\n| 1 | 2 |",
                          device="cpu", command=["scripts/bench.py", "--quick"], bench_dir=bench)
    data = json.loads(path.read_text())
    assert data["results"] == {"ratio": 9.9} and data["command"] == "scripts/bench.py --quick"
    assert data["torch"] and data["date"] and data["device"].startswith("cpu")
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert data["commit"] == head and isinstance(data["dirty"], bool)
    assert f"commit {head[:10]}" in records.provenance_line(data)
    readme = tmp_path / "README.md"
    readme.write_text("# t\n<!-- benchmark:speed-x -->\nold numbers\n<!-- /benchmark:speed-x -->\nafter\n")
    assert records.check_readme(readme, bench) == ["speed-x: README block differs from benchmarks/speed-x.json"]
    assert records.sync_readme(readme, bench) == ["speed-x"]
    assert records.check_readme(readme, bench) == []
    text = readme.read_text()
    assert "| 1 | 2 |" in text and text.endswith("<!-- /benchmark:speed-x -->\nafter\n")
    readme.write_text(text.replace("| 1 | 2 |", "| 1 | 3 |"))  # a number typed in by hand
    assert records.check_readme(readme, bench) != []


def test_git_state_says_whether_the_tree_differs_from_its_commit(tmp_path):
    assert records.git_state(tmp_path) == {"commit": None}  # not a checkout: nothing to name

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                       check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "kan_inr").mkdir()
    (tmp_path / "kan_inr" / "a.py").write_text("1")
    git("add", "kan_inr")
    git("commit", "-q", "-m", "a")
    state = records.git_state(tmp_path)
    assert len(state["commit"]) == 40 and state["dirty"] is False and list(state["code"]) == ["kan_inr"]
    (tmp_path / "new.txt").write_text("untracked files do not change what was measured")
    assert records.git_state(tmp_path)["dirty"] is False
    (tmp_path / "kan_inr" / "a.py").write_text("2")
    dirty = records.git_state(tmp_path)
    assert (dirty["commit"], dirty["dirty"]) == (state["commit"], True) and dirty["code"] != state["code"]
    assert subprocess.run(["git", "-C", str(tmp_path), "diff", "--cached", "--quiet"]).returncode == 0  # its index untouched


def test_a_block_names_the_commit_that_holds_its_code(tmp_path):
    """Measured on a clean tree: its commit. With uncommitted changes: flagged, until ``seal`` finds the
    commit where exactly that code went in (later edits to other files do not matter)."""
    repo, bench = tmp_path / "repo", tmp_path / "bench"

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                              check=True, capture_output=True, text=True).stdout.strip()

    (repo / "kan_inr").mkdir(parents=True)
    (repo / "kan_inr" / "a.py").write_text("1")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "one")
    clean = {"command": "c", "device": "cpu", "torch": "2", "kan_inr": "0.1", "date": "d", "name": "clean",
             **records.git_state(repo)}
    assert f"code at commit {git('rev-parse', 'HEAD')[:10]};" in records.provenance_line(clean)

    (repo / "kan_inr" / "a.py").write_text("2")
    (repo / "kan_inr" / "new.py").write_text("untracked code runs too")
    bench.mkdir()
    (bench / "x.json").write_text(json.dumps({**clean, "name": "x", **records.git_state(repo)}))
    assert not records.seal("x", bench, repo)  # no commit holds that code yet
    line = records.provenance_line(records.load("x", bench))
    assert f"**commit {clean['commit'][:10]} + uncommitted changes, which no commit is known to hold**" in line
    git("add", "-A")
    git("commit", "-q", "-m", "two")
    two = git("rev-parse", "HEAD")
    (repo / "README.md").write_text("not code")
    git("add", "-A")
    git("commit", "-q", "-m", "three")
    assert records.seal("x", bench, repo) and not records.seal("x", bench, repo)  # once
    assert records.load("x", bench)["code_commit"] == two
    assert f"code at commit {two[:10]};" in records.provenance_line(records.load("x", bench))


def test_missing_file_is_reported(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("<!-- benchmark:nothing -->\nx\n<!-- /benchmark:nothing -->\n")
    (stale,) = records.check_readme(readme, tmp_path)
    assert stale.startswith("nothing: cannot read")


def test_bad_name_is_refused(tmp_path):
    with pytest.raises(KanInrError, match="bad benchmark name"):
        records.record("../x", {}, "", device="cpu", bench_dir=tmp_path)


def test_project_readme_matches_its_benchmark_files():
    assert records.check_readme() == []


def test_a_comparisons_block_drops_its_figure_links():
    results_md = "### Comparison `tiny`\n\n| model | PSNR |\n|---|---|\n| siren | 25.00 |\n\n![f](psnr.png)\n"
    assert readme_body(results_md) == "### Comparison `tiny`\n\n| model | PSNR |\n|---|---|\n| siren | 25.00 |"


def test_recorded_models_table_matches_the_registry():
    """Parameter counts and recipes are computed, not measured: the recorded table must be today's."""
    spec = importlib.util.spec_from_file_location("models_table", REPO / "scripts" / "models_table.py")
    models_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(models_table)
    assert records.load("models")["markdown"] == models_table.markdown(models_table.rows()) + "\n"


def test_a_block_still_to_be_measured_says_so_until_its_file_exists(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("<!-- benchmark:ttq -->\n<!-- /benchmark:ttq -->\n")
    (stale,) = records.check_readme(readme, tmp_path)  # an empty block is not a measurement
    assert stale.startswith("ttq: cannot read")
    assert records.sync_readme(readme, tmp_path) == ["ttq"] and records.not_measured_blocks(readme, tmp_path) == ["ttq"]
    assert "Not measured yet: `benchmarks/ttq.json`" in readme.read_text()
    assert records.check_readme(readme, tmp_path) == []
    records.record("ttq", {"t35": 1.0}, "| model | t35 |", device="cpu", command=["kan-inr", "compare"], bench_dir=tmp_path)
    assert records.check_readme(readme, tmp_path) == ["ttq: README block differs from benchmarks/ttq.json"]
    records.sync_readme(readme, tmp_path)
    assert records.check_readme(readme, tmp_path) == [] and records.not_measured_blocks(readme, tmp_path) == []
    assert "| model | t35 |" in readme.read_text()


def test_benchmarks_readme_has_a_section_per_file_superseded_last(tmp_path, monkeypatch):
    monkeypatch.setattr(records, "SUPERSEDED", {"a-old": "point pixels"})
    for name in ("b-speed", "a-old", "c-codec"):
        records.record(name, {}, f"table of {name}", device="cpu", command=["x"], bench_dir=tmp_path)
    (tmp_path / "c-codec.png").write_bytes(b"png")
    (tmp_path / "notes.md").write_text("# Notes\n\n## b-speed\n\nWhat b measures.\n")
    text = records.benchmarks_readme(tmp_path)
    assert text.index("## b-speed") < text.index("## c-codec") < text.index("## Older results") < text.index("### a-old")
    assert "What b measures.\n\ntable of b-speed" in text and "![c-codec](c-codec.png)" in text
    assert "**Superseded:** point pixels" in text and text.count("`benchmarks/b-speed.json`") == 1
    assert records.check_benchmarks_readme(tmp_path) != []
    records.write_benchmarks_readme(tmp_path)
    assert records.check_benchmarks_readme(tmp_path) == []
    (tmp_path / "notes.md").write_text("## gone\n\nA note on a file that was deleted.\n")
    with pytest.raises(KanInrError, match="no file: gone"):
        records.benchmarks_readme(tmp_path)

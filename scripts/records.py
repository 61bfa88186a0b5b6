"""Benchmark records: measured results with their provenance, and the README blocks made from them.

Repository tooling, not part of the installed package: every number in the README comes from a file
``benchmarks/<name>.json`` written by the script that measured it (``record``): the results as data,
the command that produced them, the git commit it ran at, whether the tree had uncommitted changes and
the git tree ids of the code that ran (``kan_inr/`` and ``scripts/`` as they were on disk), the device,
the torch and kan-inr versions, the date, and the markdown the script rendered from them.

Each block names a commit that holds the code it was measured with: the commit it ran at, or, for a
result measured with uncommitted changes, the commit where exactly that code was committed later
(``seal``, run by ``sync_readme``, finds it by the tree ids and records it as ``code_commit``). A result
no commit holds says so in its block: it cannot be reproduced from a commit. The README holds that markdown verbatim between ``<!-- benchmark:NAME -->`` and
``<!-- /benchmark:NAME -->``; ``sync_readme`` (``scripts/sync_readme.py``) pastes it there and
``check_readme`` (run by the tests) fails when a block differs from its file, so a number cannot be
typed in by hand or go stale silently.

A block whose file does not exist yet holds ``NOT_MEASURED`` (the benchmark is still to be run):
``sync_readme`` writes it and ``check_readme`` accepts it only while the file is missing.

``benchmarks/README.md`` is generated, never edited (``benchmarks_readme``): one section per
``benchmarks/*.json`` (its title, its note from ``benchmarks/notes.md``, its figure
``benchmarks/<name>.png`` if there is one, its markdown and provenance line, its links to files under
``benchmarks/`` made relative to that folder), the files of
``SUPERSEDED`` last, under "Older results", each with the reason it no longer describes the code.

A comparison's table reaches the README the same way: ``scripts/record_compare.py`` records its
results.md as ``benchmarks/compare-NAME.json``, shown in a ``<!-- benchmark:compare-NAME -->`` block.

Scripts import this module by name (``import records``): ``python scripts/X.py`` puts scripts/ on the
path, and so does pytest's ``pythonpath`` for the tests.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch

from kan_inr.errors import KanInrError
from kan_inr._version import __version__
from kan_inr.atomic import write_json, write_text

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO_ROOT / "benchmarks"
BLOCK = re.compile(r"<!-- benchmark:(?P<name>[\w.-]+) -->\n(?P<body>.*?)<!-- /benchmark:(?P=name) -->", re.S)
NOTE = re.compile(r"^## (?P<name>[\w.-]+)\n(?P<body>.*?)(?=^## |\Z)", re.M | re.S)
NOTES = BENCH_DIR / "notes.md"

# Benchmarks measured under settings the code no longer uses: kept, and listed as such, in
# benchmarks/README.md; never in the README. name -> why it no longer describes today's code.
SUPERSEDED = {
    "compare-steps300-r128": "300 steps of the presets' recipes of the time; the time-to-quality protocol "
                             "(`compare --protocol ttq`, benchmarks/compare-ttq.json) replaces it.",
    "superres-div2k-128-300": "the superres protocol with point pixels and the step-counted recipes of the time; "
                              "`compare-ttq` scores today's defaults' 2x renders.",
    "superres-div2k-128-box": "the superres protocol with the 2x2 box pixel default of the time (1,000 steps of "
                              "4,096 pixels); the defaults are point samples since the time-to-quality "
                              "measurements (benchmarks/ttq-levers.json), scored in `compare-ttq`.",
    "audio-fractions": "the audio presets' first layer sized as a fraction of Nyquist (K = 1/16, D = 1/4, up to "
                       "1,024): they now spread a fixed 64 frequencies over a band (benchmarks/audio-band.json).",
    "superres-demo": "the demo of the fkan of the time (300 steps, on code no commit holds); "
                     "`scripts/demo_record.py` records today's demo as benchmarks/demo.json.",
    "superres-bach": "the first 0.5 s of Bach (nearly silent) and the audio presets of the time; the window is "
                     "now 0.5 s from 2.0 s (benchmarks/audio-acceptance.json).",
    "compare-ttq-bach": "the first 0.5 s of Bach (nearly silent) and the audio presets of the time; the window is "
                        "now 0.5 s from 2.0 s (benchmarks/audio-acceptance.json).",
}


def not_measured(name: str) -> str:
    """The body of a README block whose benchmark file does not exist yet."""
    return f"*Not measured yet: `benchmarks/{name}.json` does not exist; `python scripts/sync_readme.py` fills this block once it does.*\n"


def device_description(device: torch.device | str) -> str:
    """'cpu (N threads, <processor>)' or the CUDA device's name: what a reader needs to weigh a time."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads, {platform.processor() or platform.machine()})"


STARTED: dict[str, Any] | None = None  # git_state() when run_script began: the code that ran, not the code at the end


def run_script(main: Callable[[], None], prog: str) -> None:
    """Run a measuring script's ``main``: bad input (a KanInrError) ends as one line on stderr, exit 2.
    The code's git state is taken before ``main`` runs, so edits made while a long measurement runs are
    not recorded as the code that measured."""
    global STARTED
    STARTED = git_state()
    try:
        main()
    except KanInrError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        sys.exit(2)


def check_name(name: str) -> None:
    """A benchmark name is a file stem: letters, digits, '.', '-', '_' (no path)."""
    if not re.fullmatch(r"[\w.-]+", name):
        raise KanInrError(f"bad benchmark name '{name}' (letters, digits, '.', '-', '_')")


CODE_DIRS = ("kan_inr", "scripts")  # the code a measurement runs: the package and the measuring script


def _git(repo: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True,
                          env=env, input=stdin).stdout


def code_trees(repo: Path = REPO_ROOT) -> dict[str, str]:
    """The git tree ids of ``CODE_DIRS`` as they are on disk (uncommitted and new unignored files
    included), built in a private index: the working tree and the repository's index are untouched."""
    dirs = [d for d in CODE_DIRS if (repo / d).is_dir()]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        _git(repo, "read-tree", "HEAD", env=env)
        if dirs:
            _git(repo, "add", "-A", "--", *dirs, env=env)
        listed = _git(repo, "ls-files", "--", *dirs, env=env).splitlines() if dirs else []
        return {d: _git(repo, "write-tree", f"--prefix={d}/", env=env).strip() for d in dirs
                if any(line.startswith(f"{d}/") for line in listed)}


def git_state(repo: Path = REPO_ROOT) -> dict[str, Any]:
    """The commit the working tree is at, whether its tracked files differ from it (a result measured
    on uncommitted code says so) and the tree ids of the code on disk (``code_trees``); ``{"commit":
    None}`` outside a git checkout."""
    try:
        commit = _git(repo, "rev-parse", "HEAD").strip()
        dirty = bool(_git(repo, "status", "--porcelain", "--untracked-files=no").strip())
        code = code_trees(repo)
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None}
    return {"commit": commit, "dirty": dirty, "code": code}


def holding_commit(code: dict[str, str], repo: Path = REPO_ROOT) -> str | None:
    """The oldest commit of HEAD's history whose ``CODE_DIRS`` trees are ``code``: the commit that holds
    the code a result was measured with; None when none does (or outside a git checkout)."""
    try:
        commits = _git(repo, "rev-list", "--reverse", "HEAD").split()
        asked = [f"{c}:{d}" for c in commits for d in code]
        found = _git(repo, "cat-file", "--batch-check=%(objectname)", stdin="\n".join(asked) + "\n").split("\n")
    except (OSError, subprocess.CalledProcessError):
        return None
    wanted = list(code.values())
    for i, commit in enumerate(commits):
        if found[i * len(code):(i + 1) * len(code)] == wanted:
            return commit
    return None


def reproducible_from(data: dict[str, Any]) -> str | None:
    """The commit that holds the code a recorded result was measured with, or None when no commit is
    known to: measured on a clean tree, its commit; with uncommitted changes, the one ``seal`` found."""
    if data.get("commit") and not data.get("dirty"):
        return data["commit"]
    return data.get("code_commit")


def seal(name: str, bench_dir: Path = BENCH_DIR, repo: Path = REPO_ROOT) -> bool:
    """Record in ``bench_dir/<name>.json`` the commit that holds the code it was measured with, when it
    was measured with uncommitted changes and that code has been committed since; True if it did."""
    data = load(name, bench_dir)
    if reproducible_from(data) or not data.get("code"):
        return False
    commit = holding_commit(data["code"], repo)
    if commit is None:
        return False
    write_json(bench_dir / f"{name}.json", {**data, "code_commit": commit})
    return True


def record(name: str, results: Any, markdown: str, *, device: torch.device | str,
           command: list[str] | None = None, bench_dir: Path = BENCH_DIR) -> Path:
    """Write ``bench_dir/<name>.json``: ``results`` (plain data), the ``markdown`` rendered from them
    (what the README shows), and how they were measured: the command (default: this process's), the
    git commit and whether the tree was dirty, the device, the versions and the date."""
    check_name(name)
    argv = command if command is not None else [Path(sys.argv[0]).name if sys.argv[0].endswith("kan-inr")
                                                 else sys.argv[0], *sys.argv[1:]]
    data = {
        "name": name,
        "command": shlex.join(argv),
        **(STARTED if STARTED is not None else git_state()),
        "device": device_description(device),
        # CPU timings depend on the threads and on what else ran: measured one process at a time
        "torch_threads": torch.get_num_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "torch": torch.__version__,
        "kan_inr": __version__,
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "results": results,
        "markdown": markdown.strip() + "\n",
    }
    path = bench_dir / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, data)
    return path


def provenance_line(data: dict[str, Any]) -> str:
    """One italic line under a README block: where its numbers came from, the commit that holds the
    code that measured them, or, where no commit does, a plain warning that they cannot be reproduced
    from one."""
    commit = reproducible_from(data)
    if commit:
        code = f"code at commit {commit[:10]}"
    elif data.get("commit"):
        code = f"**commit {data['commit'][:10]} + uncommitted changes, which no commit is known to hold**"
    else:
        code = "**no commit recorded**"
    return (f"*`{data['command']}`; {code}; {data['device']}; torch {data['torch']}; kan-inr {data['kan_inr']}; "
            f"{data['date']}; `benchmarks/{data['name']}.json`.*\n")


def block_body(data: dict[str, Any]) -> str:
    return data["markdown"] + "\n" + provenance_line(data)


def load(name: str, bench_dir: Path = BENCH_DIR) -> dict[str, Any]:
    path = bench_dir / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise KanInrError(f"cannot read {path}: {exc}") from None


def expected_body(name: str, bench_dir: Path = BENCH_DIR) -> str:
    """What the README block ``name`` must hold: its file's markdown and provenance, or ``not_measured``
    while the file does not exist (an unreadable file is an error)."""
    if not (bench_dir / f"{name}.json").exists():
        return not_measured(name)
    return block_body(load(name, bench_dir))


def sync_readme(readme: Path = REPO_ROOT / "README.md", bench_dir: Path = BENCH_DIR) -> list[str]:
    """Replace every benchmark block of ``readme`` by its file's markdown (``not_measured`` while there
    is no file); returns the names of the blocks, in order."""
    text = readme.read_text()
    names: list[str] = []

    def fill(match: re.Match[str]) -> str:
        name = match["name"]
        names.append(name)
        return f"<!-- benchmark:{name} -->\n{expected_body(name, bench_dir)}<!-- /benchmark:{name} -->"

    write_text(readme, BLOCK.sub(fill, text))
    return names


def check_readme(readme: Path = REPO_ROOT / "README.md", bench_dir: Path = BENCH_DIR) -> list[str]:
    """The README blocks that differ from their files (empty when all match)."""
    text = readme.read_text()
    stale: list[str] = []
    for match in BLOCK.finditer(text):
        name = match["name"]
        missing = not (bench_dir / f"{name}.json").exists()
        if missing and match["body"] != not_measured(name):
            stale.append(f"{name}: cannot read {bench_dir / f'{name}.json'} (a block still to be measured holds "
                         f"only the not-measured line that sync_readme writes)")
            continue
        try:
            expected = expected_body(name, bench_dir)
        except KanInrError as exc:
            stale.append(f"{name}: {exc}")
            continue
        if match["body"] != expected:
            stale.append(f"{name}: README block differs from benchmarks/{name}.json")
    return stale


def seal_all(bench_dir: Path = BENCH_DIR, repo: Path = REPO_ROOT) -> list[str]:
    """``seal`` every benchmark file; the names of those it sealed now."""
    return [p.stem for p in sorted(bench_dir.glob("*.json")) if seal(p.stem, bench_dir, repo)]


def unreproducible_blocks(readme: Path = REPO_ROOT / "README.md", bench_dir: Path = BENCH_DIR) -> list[str]:
    """The README's measured blocks that no commit is known to hold the code of (``reproducible_from``)."""
    names = [m["name"] for m in BLOCK.finditer(readme.read_text()) if (bench_dir / f"{m['name']}.json").exists()]
    return [n for n in names if reproducible_from(load(n, bench_dir)) is None]


def not_measured_blocks(readme: Path = REPO_ROOT / "README.md", bench_dir: Path = BENCH_DIR) -> list[str]:
    """The README's blocks whose benchmark is still to be measured (no file yet)."""
    return [m["name"] for m in BLOCK.finditer(readme.read_text()) if not (bench_dir / f"{m['name']}.json").exists()]


def notes(path: Path = NOTES) -> dict[str, str]:
    """The hand-written notes on the benchmarks: ``## NAME`` then prose on what NAME measured and why."""
    return {m["name"]: m["body"].strip() + "\n" for m in NOTE.finditer(path.read_text())} if path.exists() else {}


def benchmarks_readme(bench_dir: Path = BENCH_DIR, notes_path: Path | None = None) -> str:
    """benchmarks/README.md: one section per ``bench_dir/*.json`` (name order), SUPERSEDED ones last under
    "Older results". A note naming no benchmark file is an error: it would describe nothing."""
    notes_path = bench_dir / "notes.md" if notes_path is None else notes_path
    names = sorted(p.stem for p in bench_dir.glob("*.json"))
    text_of = notes(notes_path)
    orphans = sorted(set(text_of) - set(names))
    if orphans:
        raise KanInrError(f"{notes_path} has notes for benchmarks with no file: {', '.join(orphans)}")
    current = [n for n in names if n not in SUPERSEDED]
    older = [n for n in names if n in SUPERSEDED]

    def section(name: str, level: str) -> str:
        data = load(name, bench_dir)
        parts = [f"{level} {name}\n"]
        if name in SUPERSEDED:
            parts.append(f"**Superseded:** {SUPERSEDED[name]}\n")
        if name in text_of:
            parts.append(text_of[name])
        if (bench_dir / f"{name}.png").exists():
            parts.append(f"![{name}]({name}.png)\n")
        # a record's markdown links files from the repository root, as the README reads it; this file is
        # one folder down, beside them
        parts.append(block_body(data).replace("](benchmarks/", "]("))
        return "\n".join(parts)

    head = ("# Benchmarks\n\n"
            "Generated by `python scripts/sync_readme.py` from the files `benchmarks/*.json` and the notes in "
            "`benchmarks/notes.md`; do not edit it (a test fails when it differs from what the script writes). "
            "Each section is one file: what was measured, its results as the measuring script rendered them, "
            "and a provenance line (command, commit, device, versions, date).\n\n"
            + "".join(f"- [{n}](#{n})\n" for n in current)
            + ("- [Older results](#older-results): " + ", ".join(f"`{n}`" for n in older) + "\n" if older else ""))
    body = [head] + [section(n, "##") for n in current]
    if older:
        body.append("## Older results\n\nMeasured under settings the code no longer uses; kept for the record.\n")
        body += [section(n, "###") for n in older]
    return "\n".join(body)


def write_benchmarks_readme(bench_dir: Path = BENCH_DIR) -> Path:
    path = bench_dir / "README.md"
    write_text(path, benchmarks_readme(bench_dir))
    return path


def check_benchmarks_readme(bench_dir: Path = BENCH_DIR) -> list[str]:
    """Empty when benchmarks/README.md is exactly what ``benchmarks_readme`` generates."""
    path = bench_dir / "README.md"
    if not path.exists() or path.read_text() != benchmarks_readme(bench_dir):
        return [f"{path} differs from what scripts/sync_readme.py generates"]
    return []

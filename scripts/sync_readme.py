"""Write the README's benchmark blocks and benchmarks/README.md from the files ``benchmarks/*.json``.

    python scripts/sync_readme.py          # fill the README's blocks, regenerate benchmarks/README.md
    python scripts/sync_readme.py --check  # exit 1 and name what differs from the files

A README block whose file does not exist yet holds a "not measured yet" line (``records.not_measured``);
the script names those blocks. Before syncing, it records in each file measured with uncommitted changes
the commit that has since committed that code (``records.seal``), and names the blocks no commit holds.
"""

import sys

import records

if __name__ == "__main__":
    pending = records.not_measured_blocks()
    if "--check" in sys.argv[1:]:
        stale = records.check_readme() + records.check_benchmarks_readme()
        print("\n".join(stale) or "README blocks and benchmarks/README.md match benchmarks/")
        if pending:
            print("not measured yet: " + ", ".join(pending))
        sys.exit(1 if stale else 0)
    sealed = records.seal_all()
    if sealed:
        print("code committed since their measurement: " + ", ".join(sealed))
    print("synced: " + (", ".join(records.sync_readme()) or "no blocks"))
    unreproducible = records.unreproducible_blocks()
    if unreproducible:
        print("no commit is known to hold the code of: " + ", ".join(unreproducible) + " (measure them again on a commit)")
    print(f"wrote {records.write_benchmarks_readme()}")
    if pending:
        print("not measured yet: " + ", ".join(pending))

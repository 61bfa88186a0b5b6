"""Paste every ``benchmarks/<name>.json`` into its README block (``records.sync_readme``).

    python scripts/sync_readme.py          # rewrite the blocks
    python scripts/sync_readme.py --check  # exit 1 and name the blocks that differ from their files
"""

import sys

import records

if __name__ == "__main__":
    if "--check" in sys.argv[1:]:
        stale = records.check_readme()
        print("\n".join(stale) or "README blocks match benchmarks/")
        sys.exit(1 if stale else 0)
    print("synced: " + (", ".join(records.sync_readme()) or "no blocks"))

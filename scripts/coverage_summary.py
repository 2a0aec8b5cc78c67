"""Prints line and branch coverage per package from `coverage json` output and fails (exit 1)
when the total falls below the floors given: `coverage_summary.py REPORT.json [--lines N --branches N]`.

Lines and branches are checked separately because coverage's own `fail_under` blends them."""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path


def _percent(covered: int, total: int) -> float:
    return 100.0 * covered / total if total else 100.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("report", type=Path)
    parser.add_argument("--lines", type=float, default=0.0, help="floor for lines, %%")
    parser.add_argument("--branches", type=float, default=0.0, help="floor for branches, %%")
    args = parser.parse_args(argv)

    files = json.loads(args.report.read_text(encoding="utf-8"))["files"]
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for path, data in files.items():
        summary = data["summary"]
        for key in (path.split("/", 1)[0], "TOTAL"):
            row = sums[key]
            row[0] += summary["covered_lines"]
            row[1] += summary["num_statements"]
            row[2] += summary["covered_branches"]
            row[3] += summary["num_branches"]

    print(f"{'package':<12}{'lines':>16}{'branches':>18}")
    for name in sorted(sums, key=lambda key: (key == "TOTAL", key)):
        covered, statements, taken, branches = sums[name]
        print(
            f"{name:<12}{_percent(covered, statements):>7.1f} % of {statements:<5}"
            f"{_percent(taken, branches):>7.1f} % of {branches:<5}"
        )
    covered, statements, taken, branches = sums["TOTAL"]
    lines, branch = _percent(covered, statements), _percent(taken, branches)
    failures = []
    if lines < args.lines:
        failures.append(f"lines {lines:.1f} % < floor {args.lines} %")
    if branch < args.branches:
        failures.append(f"branches {branch:.1f} % < floor {args.branches} %")
    if failures:
        print("Coverage below the floor: " + "; ".join(failures), file=sys.stderr)
        return 1
    if args.lines or args.branches:
        print(f"Coverage floor met (lines ≥ {args.lines} %, branches ≥ {args.branches} %).")
    return 0


if __name__ == "__main__":
    sys.exit(main())

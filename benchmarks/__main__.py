"""``python -m benchmarks``: asms side by side with its peers.

Options: ``--quick``, ``--scenario S1`` (repeatable), ``--reps N``, ``--connections 10,50``,
``--baseline TREE``. Writes ``benchmarks/results/latest.json``,
``benchmarks/RESULTS.md`` and ``benchmarks/results/chart.png`` (under ``--out``).

``--baseline TREE`` adds, to S1, S1E and S2, the asms client of another source tree (a git
worktree of an earlier commit: ``git worktree add /tmp/before <commit>``) as contenders named
``asms@baseline``, taking turns with the current code, and reports the ratios current/baseline;
to S9, ``asms-bulk@baseline`` and ``asms-bulk-journal@baseline`` (this tree's
``benchmarks._s9`` importing the other tree's ``asms``).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from . import _scenarios
from ._harness import ROOT, dump
from ._report import chart, markdown
from ._scenarios import DESCRIPTIONS, FULL, QUICK, SCENARIOS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the under-3-minute profile")
    parser.add_argument(
        "--scenario",
        action="append",
        help="a scenario to run, repeatable or comma-separated (default: all): "
        + ", ".join(SCENARIOS),
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="source tree of an earlier commit whose asms joins S1, S1E, S2 and S9 as *@baseline",
    )
    parser.add_argument("--reps", type=int, help="repetitions per series (default: the profile's)")
    parser.add_argument(
        "--connections",
        help="S1's and S1E's connection counts, comma-separated (default: the profile's)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else FULL
    if args.reps is not None:
        if args.reps < 1:
            parser.error("--reps: must be at least 1")
        profile = dataclasses.replace(profile, reps=args.reps)
    if args.connections is not None:
        try:
            counts = tuple(int(c) for c in args.connections.split(",") if c.strip())
        except ValueError:
            parser.error("--connections: whole numbers separated by commas, such as 10,50")
        if not counts or min(counts) < 1:
            parser.error("--connections: whole numbers of at least 1, such as 10,50")
        profile = dataclasses.replace(profile, s1_connections=counts)
    given = args.scenario or [",".join(SCENARIOS)]
    chosen = [s.strip().upper() for arg in given for s in arg.split(",") if s.strip()]
    if args.baseline is not None:
        tree = args.baseline.resolve()
        if not (tree / "asms" / "__init__.py").is_file() or not (tree / "benchmarks").is_dir():
            parser.error(f"--baseline: {tree} is not an asms source tree (asms/, benchmarks/)")
        _scenarios.baseline_tree = tree
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    all_series = []
    ratios: dict[str, float | None] = {}
    for name in chosen:
        t0 = time.perf_counter()
        print(f"[{name}] {DESCRIPTIONS[name]} …", flush=True)
        series, found = SCENARIOS[name](profile)
        all_series += series
        ratios |= found
        for s in series:
            summary = s.summary()
            status = "ok" if s.ok else f"FAILED ({'; '.join(s.failures)[:120]})"
            med = summary.get("median")
            shown = f"{med:,.1f}" if med is not None else "—"
            print(f"    {s.contender:28} {s.params!s:40} {shown:>14} {s.unit}  {status}")
        print(f"    ({time.perf_counter() - t0:.0f} s)", flush=True)
    command = "make bench-quick" if args.quick else "make bench"
    doc = dump(all_series, ratios, args.out / "results" / "latest.json")
    (args.out / "RESULTS.md").write_text(markdown(doc, command, DESCRIPTIONS))
    chart(doc, args.out / "results" / "chart.png")
    for name, value in ratios.items():
        unit = "" if "µs" in name else "x"  # a cost such as S9's CPU µs/msg, not a ratio
        print(f"{name:40} {'refused (a run failed)' if value is None else f'{value:.2f}{unit}'}")
    print(f"wrote {args.out / 'RESULTS.md'} and {args.out / 'results'}/latest.json, chart.png")
    return 0 if all(s.ok for s in all_series) else 1


if __name__ == "__main__":
    sys.exit(main())

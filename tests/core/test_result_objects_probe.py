"""benchmarks/result_objects.py compares like with like: every case builds (or reads) the
same 600 results, so its floor is a floor for what asms builds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from benchmarks import result_objects

ROOT = Path(__file__).resolve().parents[2]


def test_every_case_builds_the_same_results() -> None:
    cases = result_objects.cases(600)
    built = cases["asms: build"]()
    assert isinstance(built, list) and len(built) == 600
    for name in ("floor: slots class", "floor: tuple subclass"):
        floor = cases[name]()
        assert isinstance(floor, list)
        assert [(f.to, f.apimsgid, f.parts) for f in floor] == [
            (r.to, r.apimsgid, r.parts) for r in built
        ], name
        # Built anew on every call (the columns are reusable, not spent iterators).
        assert len(cases[name]()) == 600, name
    assert cases["reader loop"]() == cases["asms: build + read"]() == 600
    bare = cases["floor: bare objects"]()
    assert isinstance(bare, list) and len(bare) == 600 and len({id(b) for b in bare}) == 600


def test_the_probe_runs_and_refuses_bad_counts() -> None:
    script = ROOT / "benchmarks" / "result_objects.py"
    done = subprocess.run(
        [sys.executable, str(script), "--reps", "1", "--runs", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=True,
    )
    assert done.stdout.count("\n") == 7 and "floor: slots class" in done.stdout
    bad = subprocess.run(
        [sys.executable, str(script), "--runs", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert bad.returncode == 2 and "--reps and --runs must be at least 1" in bad.stderr

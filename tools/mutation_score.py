"""Print the mutation score of each module `make mutants` mutates, from `mutmut results`.

Run after `mutmut run`: ``python tools/mutation_score.py`` (``make mutants`` does both). The
score is killed / (killed + survived); mutants that were not run (skipped, timed out, no
tests) are listed separately. Equivalent survivors are judged by hand: see
docs/guarantees.md ("How this is tested").
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter, defaultdict

_LINE = re.compile(r"\s*asms\.(?P<module>[\w.]+?)\.x\S*: (?P<status>.+)")


def main() -> int:
    out = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    counts: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for line in out.splitlines():
        match = _LINE.match(line)
        if match:
            counts[match["module"]][match["status"].strip()] += 1
    if not counts:
        print("no mutants found: run `mutmut run` first")
        return 1
    print(f"{'module':<16} {'killed':>7} {'survived':>9} {'other':>6} {'score':>7}")
    for module in sorted(counts):
        c = counts[module]
        killed, survived = c["killed"], c["survived"]
        other = sum(c.values()) - killed - survived
        score = killed / (killed + survived) if killed + survived else 0.0
        print(f"{module:<16} {killed:>7} {survived:>9} {other:>6} {score:>7.1%}")
    print("survivors: `mutmut results` lists them, `mutmut show NAME` shows one")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

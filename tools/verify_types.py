"""``make verifytypes``: the public API is fully typed and documented, as an IDE sees it.

Runs ``pyright --verifytypes asms --ignoreexternal`` and fails unless the type completeness
score is 100 % and every exported function and class has a docstring (pyright reports missing
docstrings without failing on them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def main() -> int:
    env = dict(
        os.environ, VIRTUAL_ENV=str(BIN.parent), PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}"
    )
    done = subprocess.run(
        [str(BIN / "pyright"), "--verifytypes", "asms", "--ignoreexternal", "--outputjson"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    try:
        report = json.loads(done.stdout)["typeCompleteness"]
    except (ValueError, KeyError):
        sys.stderr.write(done.stdout[-2000:] + done.stderr[-2000:])
        return 2
    problems = [
        f"{symbol['name']}: {diagnostic['message']}"
        for symbol in report["symbols"]
        for diagnostic in symbol.get("diagnostics", [])
        if diagnostic.get("severity") in {"error", "warning"}
    ]
    score = report["completenessScore"]
    undocumented = report["missingFunctionDocStringCount"] + report["missingClassDocStringCount"]
    exported = report["exportedSymbolCounts"]
    total = exported["withKnownType"] + exported["withAmbiguousType"] + exported["withUnknownType"]
    print(
        f"pyright --verifytypes asms: {score:.1%} type completeness over {total} exported symbols, "
        f"{undocumented} without a docstring"
    )
    for line in problems:
        print("  " + line)
    return 0 if score == 1.0 and undocumented == 0 and not problems else 1


if __name__ == "__main__":
    sys.exit(main())

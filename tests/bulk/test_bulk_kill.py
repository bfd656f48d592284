"""Kill test: a journaled campaign SIGKILLed five times still commits every message once."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from helpers.bulk_runs import unresolved
from helpers.kill_campaign import campaign_messages

from asms._bulk.journal import FOUND_OTHERS
from asms._cli.demo import admin, emulator_process

CAMPAIGN = Path(__file__).resolve().parents[1] / "helpers" / "kill_campaign.py"
COUNT = 5_000
KILLS = 5


def start(url: str, journal: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(CAMPAIGN), url, str(journal), "--count", str(COUNT)],
        stdout=subprocess.PIPE,
        text=True,
    )


def found_others(journal: Path) -> int:
    """Messages left unknown because their request was found without their line."""
    db = sqlite3.connect(journal)
    try:
        query = "SELECT COUNT(*) FROM messages WHERE state = 'unknown' AND error_description = ?"
        return int(db.execute(query, (FOUND_OTHERS,)).fetchone()[0])
    finally:
        db.close()


@pytest.mark.slow
def test_a_campaign_killed_five_times_commits_every_message_exactly_once(
    tmp_path: Path,
) -> None:
    rng = random.Random(5)
    journal = tmp_path / "campaign.db"
    in_flight_at_kill: list[int] = []
    # 20 ms per reply keeps dozens of requests in flight, so most kills land amid them.
    with emulator_process("--fault", "latency=0.02") as url:
        for _ in range(KILLS):
            process = start(url, journal)
            assert process.stdout is not None
            for line in process.stdout:  # wait until it is sending (past the resume)
                assert not line.startswith("report "), "finished before it could be killed"
                if line.startswith("progress "):
                    break
            # A random point of the run: at 2,000 msg/s, at most 800 more messages.
            time.sleep(rng.uniform(0.0, 0.4))
            os.kill(process.pid, signal.SIGKILL)
            process.wait(30)
            process.stdout.close()
            assert process.returncode == -signal.SIGKILL
            in_flight_at_kill.append(unresolved(journal))

        process = start(url, journal)
        out, _ = process.communicate(timeout=90)
        assert process.returncode == 0, out
        report = json.loads(out.splitlines()[-1].removeprefix("report "))

        statistics = admin(url, "statistics")
        duplicates = admin(url, "duplicates")
        stored = admin(url, f"messages?limit={COUNT * 2}")["messages"]

    expected = Counter(m.to for m in campaign_messages(COUNT))
    committed = Counter(m["to"] for m in stored)
    assert committed == expected  # every number once: nothing lost, nothing twice
    assert statistics["messages"] == COUNT
    assert duplicates == {"climsgids": {}, "recipients": []}
    # A request found by its climsgid names its first recipient only: the others of a
    # multi-recipient request stay unknown (committed once above, never resent).
    assert report["total"] == report["accepted"] + report["unknown"] == COUNT
    assert report["resumed"] > 0 and report["not_sent"] == 0
    # The kills did land while requests were in flight, so reconciliation was exercised.
    print("unresolved after each kill:", in_flight_at_kill, "final report:", report)
    assert sum(in_flight_at_kill) > 0
    assert unresolved(journal) == found_others(journal) == report["unknown"]

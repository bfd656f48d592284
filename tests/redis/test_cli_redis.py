"""The distributed mode's command line against a real redis-server and the emulator over a
socket: ``asms bulk --redis`` submits, ``asms worker`` sends (a real process, for its
signals), ``asms campaign status|results`` read the campaign back.

Each test has an account of its own (a numeric api_id the emulator knows), so its keys on the
session's Redis are nobody else's and its workers take only its campaigns.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result
from helpers.cli import ENV, PASSWORD, make_cli, read_results, start
from helpers.emulator import committed
from helpers.redis_server import RedisServer, free_port, start_redis

from asms._cli._rows import RESULT_COLUMNS
from asms.testing import Account, GatewayEmulator, running_emulator

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

_DEADLINE = 60.0  # seconds a test waits for a worker before it fails
STATUS_KEYS = {"total", "accepted", "rejected", "unknown", "queued", "sending", "dead"}


@pytest.fixture
def api_id() -> int:
    """A numeric account of this test alone."""
    return 100_000 + uuid.uuid4().int % 900_000


@pytest.fixture
def emulator(api_id: int) -> GatewayEmulator:
    account = Account(api_id=api_id, user="demo", password=PASSWORD, credits=1_000_000.0)
    return GatewayEmulator(accounts=[account])


@pytest.fixture
def env(api_id: int, emulator: GatewayEmulator) -> Iterator[dict[str, str]]:
    """The variables of the test's account, with the emulator served over a socket."""
    with running_emulator(emulator) as url:
        yield {**ENV, "ASMS_API_ID": str(api_id), "ASMS_BASE_URL": url}


def asms(env: dict[str, str], *args: str | Path) -> Result:
    """``asms *args`` in process; anything but a clean exit fails the test."""
    result = CliRunner().invoke(make_cli(), [str(a) for a in args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.output and PASSWORD not in result.output
    return result


def status(env: dict[str, str], redis_url: str, name: str) -> dict[str, object]:
    result = asms(env, "campaign", "status", name, "--redis", redis_url, "--json")
    assert result.exit_code == 0, result.output
    found: dict[str, object] = json.loads(result.stdout)
    return found


def write_csv(path: Path, rows: int, *, shared: int = 0, first: int = 27_821_000_000) -> Path:
    """``rows`` numbers; the first ``shared`` rows share one text (sent grouped)."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["to", "text"])
        for i in range(rows):
            text = "Spring offer" if i < shared else f"Your code is {i:05d}"
            writer.writerow([str(first + i), text])
    return path


class Worker:
    """``asms worker`` as a real process; its stderr is read as it comes."""

    def __init__(self, env: dict[str, str], redis_url: str, *args: str) -> None:
        self.process = start("worker", "--redis", redis_url, *args, env=env)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.append(line)

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str) -> str:
        """The first log line holding ``text``; fails if the worker ends first."""
        deadline = time.monotonic() + _DEADLINE
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if text in line:
                    return line
            if self.process.poll() is not None:
                self._reader.join(5)
                raise AssertionError(f"the worker ended ({self.process.returncode}): {self.log}")
            time.sleep(0.02)
        raise AssertionError(f"no {text!r} from the worker: {self.log}")

    def finish(self, timeout: float = _DEADLINE) -> int:
        """Wait for the worker's end; its exit status (its log is complete then)."""
        try:
            code = self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        self._reader.join(5)
        assert "Traceback" not in self.log and PASSWORD not in self.log, self.log
        return code

    def stop(self, signum: int = signal.SIGTERM) -> int:
        self.process.send_signal(signum)
        return self.finish()


def wait_until(env: dict[str, str], redis_url: str, name: str, done: str) -> dict[str, object]:
    """Poll the campaign's status until ``done`` ("settled", or "accepted>=N")."""
    deadline = time.monotonic() + _DEADLINE
    while True:
        found = status(env, redis_url, name)
        if done == "settled" and found["settled"]:
            return found
        if done.startswith("accepted>="):
            accepted = found["accepted"]
            assert isinstance(accepted, int)
            if accepted >= int(done.split(">=")[1]):
                return found
        assert time.monotonic() < deadline, f"campaign {name} did not get {done}: {found}"
        time.sleep(0.05)


# -- the round trip ---------------------------------------------------------------------------


def test_submit_work_status_results_round_trip(
    tmp_path: Path, redis_url: str, env: dict[str, str], emulator: GatewayEmulator
) -> None:
    emulator.blocked.add("27821000007")
    campaign = write_csv(tmp_path / "spring.csv", 40, shared=20)
    submitted = asms(env, "bulk", campaign, "--redis", redis_url, "--campaign", "spring")
    assert submitted.exit_code == 0, submitted.output
    assert submitted.stdout == "campaign spring: 40 messages submitted (40 added)\n"
    again = asms(env, "bulk", campaign, "--redis", redis_url, "--campaign", "spring")
    assert again.exit_code == 0, again.output
    assert again.stdout == "campaign spring: 40 messages submitted (0 added)\n"
    waiting = status(env, redis_url, "spring")
    assert STATUS_KEYS <= set(waiting)
    assert {key: waiting[key] for key in ("total", "queued", "accepted", "settled")} == {
        "total": 40,
        "queued": 40,
        "accepted": 0,
        "settled": False,
    }
    assert emulator.statistics().messages == 0  # submitting sends nothing

    worker = Worker(env, redis_url, "--metrics-port", "0")
    started = worker.wait_for(" started: ")
    assert re.search(r"Redis at 127\.0\.0\.1:\d+/0", started), started
    metrics_url = re.search(r"metrics at (http://\S+)", worker.log)
    assert metrics_url is not None, worker.log
    done = wait_until(env, redis_url, "spring", "settled")
    scraped = httpx.get(metrics_url.group(1)).text
    assert re.search(r"^asms_messages_sent_total 39(\.0)?$", scraped, re.M), scraped
    assert worker.stop(signal.SIGTERM) == 0
    assert "stopping (SIGTERM)" in worker.log and " stopped" in worker.log

    assert {key: done[key] for key in (*STATUS_KEYS, "settled")} == {
        "total": 40,
        "accepted": 39,
        "rejected": 1,
        "unknown": 0,
        "queued": 0,
        "sending": 0,
        "dead": 0,
        "settled": True,
    }
    numbers = {f"2782100{i:04d}" for i in range(40)} - {"27821000007"}
    assert committed(emulator) == Counter(dict.fromkeys(numbers, 1))

    table = asms(env, "campaign", "status", "spring", "--redis", redis_url)
    assert table.exit_code == 0
    assert table.stdout.splitlines()[0] == "campaign spring: settled"
    assert "accepted\t39" in table.stdout.splitlines()

    out = tmp_path / "spring.results.csv"
    written = asms(env, "campaign", "results", "spring", "--redis", redis_url, "--out", out)
    assert written.exit_code == 1, written.output  # one row not accepted, as asms bulk says
    assert "40 rows" in written.stderr
    with out.open(encoding="utf-8") as handle:
        assert next(csv.reader(handle)) == list(RESULT_COLUMNS)
    rows = read_results(out)
    # The rows asms bulk writes for the same file, apart from the ids the gateway gave.
    plain = tmp_path / "plain.results.csv"
    run = asms(env, "bulk", campaign, "-o", plain, "--rate", "1000")
    assert run.exit_code == 1, run.output
    same = ("row", "to", "status", "error_code", "error_description", "parts")

    def comparable(found: list[dict[str, str]]) -> list[tuple[str, ...]]:
        return sorted((tuple(r[c] for c in same) for r in found), key=lambda r: int(r[0]))

    assert comparable(rows) == comparable(read_results(plain))
    assert [r["row"] for r in rows] == [str(n) for n in range(1, 41)]
    assert all(len(r["apimsgid"]) == 32 for r in rows if r["status"] == "accepted")


def test_wait_follows_the_campaign_and_reports_as_bulk_does(
    tmp_path: Path, redis_url: str, env: dict[str, str], emulator: GatewayEmulator
) -> None:
    emulator.blocked.add("27821000003")
    campaign = write_csv(tmp_path / "wave.csv", 30, shared=10)
    worker = Worker(env, redis_url)
    worker.wait_for(" started: ")
    results = tmp_path / "wave.out.csv"
    args = ["--redis", redis_url, "--campaign", "wave", "--wait", "--results", results]
    waited = asms(env, "bulk", campaign, *args, "--progress-interval", "0.2")
    assert worker.stop(signal.SIGINT) == 0
    assert waited.exit_code == 1, waited.output  # as plain asms bulk: a row not accepted
    assert waited.stdout == "campaign wave: 30 messages submitted (30 added)\n"
    assert "progress done=30 total=30 accepted=29 rejected=1" in waited.stderr
    report = dict(
        re.findall(r"^\s*(messages|accepted|rejected|outcome unknown)\s+(\S+)", waited.stderr, re.M)
    )
    assert report == {"messages": "30", "accepted": "29", "rejected": "1", "outcome unknown": "0"}
    assert "30 rows → " in waited.stderr
    rows = read_results(results)
    assert Counter(r["status"] for r in rows) == {"accepted": 29, "rejected": 1}
    assert [r["row"] for r in rows] == [str(n) for n in range(1, 31)]


def test_wait_without_a_worker_says_so_and_ends_when_one_settles_it(
    tmp_path: Path, redis_url: str, env: dict[str, str]
) -> None:
    campaign = write_csv(tmp_path / "late.csv", 5)
    args = ["bulk", str(campaign), "--redis", redis_url, "--campaign", "late", "--wait"]
    waiting = start(*args, env=env)
    worker: Worker | None = None
    try:
        assert waiting.stderr is not None
        lines = [waiting.stderr.readline() for _ in range(2)]  # a progress line, the note
        assert "No worker is running for this account" in lines[1], lines
        worker = Worker(env, redis_url)
        out, err = waiting.communicate(timeout=_DEADLINE)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
        if worker is not None:
            assert worker.stop() == 0
    assert waiting.returncode == 0, err
    assert out == "campaign late: 5 messages submitted (5 added)\n"
    assert "Traceback" not in err and PASSWORD not in err
    # Followed to the end without --results: written where plain asms bulk writes them.
    rows = read_results(tmp_path / "late.results.csv")
    assert [r["status"] for r in rows] == ["accepted"] * 5


def test_ctrl_c_stops_only_the_watching(
    tmp_path: Path, redis_url: str, env: dict[str, str]
) -> None:
    campaign = write_csv(tmp_path / "watched.csv", 5)
    args = ["bulk", str(campaign), "--redis", redis_url, "--campaign", "watched", "--wait"]
    waiting = start(*args, env=env)
    try:
        assert waiting.stderr is not None
        lines = [waiting.stderr.readline() for _ in range(2)]  # a progress line, the note
        assert "No worker is running for this account" in lines[1], lines
        waiting.send_signal(signal.SIGINT)
        out, err = waiting.communicate(timeout=_DEADLINE)
        assert out == "campaign watched: 5 messages submitted (5 added)\n"
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait()
    assert waiting.returncode == 130, err
    assert "Stopped watching. The workers go on with campaign watched" in err
    assert "Traceback" not in err
    assert not (tmp_path / "watched.results.csv").exists()  # nothing settled, nothing written
    left = status(env, redis_url, "watched")
    assert (left["total"], left["queued"]) == (5, 5)


# -- refusals before anything is submitted ----------------------------------------------------


def test_a_latin1_file_is_refused_as_plain_bulk_refuses_it(
    tmp_path: Path, redis_url: str, env: dict[str, str]
) -> None:
    campaign = tmp_path / "latin.csv"
    campaign.write_bytes("to,text\n27821000001,Café au lait\n".encode("latin-1"))
    plain = asms(env, "bulk", campaign, "-o", tmp_path / "plain.csv")
    on_redis = asms(env, "bulk", campaign, "--redis", redis_url, "--campaign", "latin")
    assert plain.exit_code == on_redis.exit_code == 2
    error = [line for line in plain.output.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and "is not valid utf-8" in error[0]
    assert error[0] in on_redis.output.splitlines()
    missing = asms(env, "campaign", "status", "latin", "--redis", redis_url)
    assert missing.exit_code == 2
    assert "no campaign 'latin'" in missing.output


def test_an_invalid_row_refuses_the_whole_file(
    tmp_path: Path, redis_url: str, env: dict[str, str]
) -> None:
    campaign = tmp_path / "bad.csv"
    campaign.write_text("to,text\n27821000001,Hello\n12,Too short a number\n27821000003,Bye\n")
    refused = asms(env, "bulk", campaign, "--redis", redis_url, "--campaign", "bad")
    assert refused.exit_code == 2, refused.output
    lines = refused.output.splitlines()
    assert lines[0].startswith("row 2 (line 3): ")
    assert lines[-1].startswith("Error: ")
    assert "1 invalid row (listed above)" in lines[-1] and "nothing was submitted" in lines[-1]
    assert asms(env, "campaign", "status", "bad", "--redis", redis_url).exit_code == 2


def test_another_file_under_a_submitted_name_is_refused(
    tmp_path: Path, redis_url: str, env: dict[str, str]
) -> None:
    first = write_csv(tmp_path / "first.csv", 6)
    second = tmp_path / "second.csv"
    lines = first.read_text().splitlines()
    lines[4] = "27829999999,Another text"  # the fourth data row differs
    second.write_text("\n".join(lines) + "\n")
    assert asms(env, "bulk", first, "--redis", redis_url, "--campaign", "x").exit_code == 0
    refused = asms(env, "bulk", second, "--redis", redis_url, "--campaign", "x")
    assert refused.exit_code == 2, refused.output
    error = refused.output.strip()
    assert error.startswith(f"Error: {second}: ") and "row 4" in error, error
    assert "nothing of this input was queued" in error
    kept = status(env, redis_url, "x")
    assert (kept["total"], kept["queued"]) == (6, 6)


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--redis", "{redis}"], "--redis needs --campaign NAME"),
        (["--campaign", "c", "--wait"], "--wait follows a campaign on Redis"),
        (["--campaign", "c"], "--replay and --campaign need a --journal"),
        (["--redis", "{redis}", "--campaign", "c", "--journal", "{tmp}/j.db"], "--journal cannot"),
        (["--redis", "{redis}", "--campaign", "c", "--replay"], "--replay cannot be used"),
        (["--redis", "{redis}", "--campaign", "c", "--concurrency", "4"], "--concurrency cannot"),
        (["--redis", "{redis}", "--campaign", "c", "--max-parts", "2"], "--max-parts cannot"),
        (["--redis", "{redis}", "--campaign", "c", "-o", "{tmp}/r.csv"], "needs --wait"),
        (["--redis", "{redis}", "--campaign", " "], "--campaign must not be empty"),
        (["--redis", "http://{tmp}", "--campaign", "c"], "--redis: must start with redis://"),
    ],
)
def test_options_that_do_not_go_with_redis_are_usage_errors(
    tmp_path: Path, redis_url: str, env: dict[str, str], extra: list[str], said: str
) -> None:
    campaign = write_csv(tmp_path / "c.csv", 3)
    args = [a.format(redis=redis_url, tmp=tmp_path) for a in extra]
    refused = asms(env, "bulk", campaign, *args)
    assert refused.exit_code == 2, refused.output
    assert said in refused.output
    assert not (tmp_path / "r.csv").exists() and not (tmp_path / "j.db").exists()
    assert asms(env, "campaign", "status", "c", "--redis", redis_url).exit_code == 2


def test_a_missing_api_id_is_the_error_bulk_gives(
    tmp_path: Path, redis_url: str, env: dict[str, str]
) -> None:
    campaign = write_csv(tmp_path / "c.csv", 3)
    without = {**env, "ASMS_API_ID": ""}
    plain = asms(without, "bulk", campaign, "-o", tmp_path / "out.csv")
    on_redis = asms(without, "bulk", campaign, "--redis", redis_url, "--campaign", "c")
    status_of = asms(without, "campaign", "status", "c", "--redis", redis_url)
    for result in (plain, on_redis, status_of):
        assert result.exit_code == 2
        assert result.output.startswith("Error: missing environment variable ASMS_API_ID")


# -- the account's shared rate ----------------------------------------------------------------


def test_rate_is_stored_once_and_another_is_refused(
    tmp_path: Path, redis_url: str, env: dict[str, str]
) -> None:
    campaign = write_csv(tmp_path / "c.csv", 3)
    first = asms(env, "bulk", campaign, "--redis", redis_url, "--campaign", "a", "--rate", "80")
    assert first.exit_code == 0, first.output
    same = asms(env, "bulk", campaign, "--redis", redis_url, "--campaign", "b", "--rate", "80")
    assert same.exit_code == 0, same.output
    other = asms(env, "bulk", campaign, "--redis", redis_url, "--campaign", "c", "--rate", "50")
    assert other.exit_code == 2, other.output
    error = other.output.strip().splitlines()[-1]
    assert error.startswith("Error: --rate 50: the account's processes share 80/s (burst 1)")
    assert asms(env, "campaign", "status", "c", "--redis", redis_url).exit_code == 2

    refused = Worker(env, redis_url, "--rate", "50")
    assert refused.finish() == 2
    assert "--rate 50: the account's processes share 80/s" in refused.log
    stored = Worker({**env, "ASMS_LOG": "info"}, redis_url)  # its own log: each line once
    assert "rate 80/s, stored" in stored.wait_for(" started: ")
    wait_until(env, redis_url, "b", "settled")
    assert stored.stop() == 0
    assert stored.log.count(" started: ") == 1


def test_a_worker_on_the_stored_rate_stops_when_it_is_replaced(
    tmp_path: Path, redis_url: str, env: dict[str, str], emulator: GatewayEmulator
) -> None:
    # A stranger's trial: the rate replaced under a running worker made it fail unit after
    # unit (a traceback each) and dead-letter them; then the error advised replace_rate=True.
    campaign = write_csv(tmp_path / "rerate.csv", 300)
    args = ["--redis", redis_url, "--campaign", "rerate", "--rate", "50"]
    assert asms(env, "bulk", campaign, *args).exit_code == 0
    first = Worker(env, redis_url)
    first.wait_for(" started: ")
    wait_until(env, redis_url, "rerate", "accepted>=5")
    replace = (
        "import anyio, asms, sys\n"
        "async def main():\n"
        "    async with asms.RedisRateLimiter(sys.argv[1], sys.argv[2], rate=400,"
        " replace_rate=True):\n"
        "        pass\n"
        "anyio.run(main)\n"
    )
    subprocess.run(
        [sys.executable, "-c", replace, redis_url, env["ASMS_API_ID"]], check=True, timeout=60
    )
    assert first.finish() == 2
    said = [line for line in first.log.splitlines() if line.startswith("Error: ")]
    assert said == [
        "Error: the account's rate was changed in Redis at "
        f"{redis_url.removeprefix('redis://')} to 400/s (burst 1) while this worker ran; it "
        "stopped and handed its units back: start it again to send at the new rate"
    ], first.log
    between = status(env, redis_url, "rerate")
    assert (between["dead"], between["sending"]) == (0, 0)
    second = Worker(env, redis_url)
    done = wait_until(env, redis_url, "rerate", "settled")
    assert second.stop() == 0
    assert (done["accepted"], done["dead"]) == (300, 0)
    sent = Counter(m.to for m in emulator.recorder.messages)
    assert len(sent) == 300 and set(sent.values()) == {1}


# -- workers: stopping, handing over, refused credentials ------------------------------------


def test_a_stopped_worker_leaves_the_rest_to_the_next_one(
    tmp_path: Path, redis_url: str, env: dict[str, str], emulator: GatewayEmulator
) -> None:
    campaign = write_csv(tmp_path / "long.csv", 300)
    args = ["--redis", redis_url, "--campaign", "long", "--rate", "50"]
    assert asms(env, "bulk", campaign, *args).exit_code == 0
    first = Worker(env, redis_url)
    first.wait_for(" started: ")
    wait_until(env, redis_url, "long", "accepted>=10")
    assert first.stop(signal.SIGTERM) == 0
    assert "stopping (SIGTERM)" in first.log
    between = status(env, redis_url, "long")
    assert between["workers"] == 0  # it left: what it held was finished or handed back
    second = Worker(env, redis_url)
    done = wait_until(env, redis_url, "long", "settled")
    assert second.stop(signal.SIGINT) == 0
    assert (done["accepted"], done["rejected"], done["unknown"], done["dead"]) == (300, 0, 0, 0)
    assert committed(emulator) == Counter({f"2782{1_000_000 + i:07d}": 1 for i in range(300)})
    assert emulator.recorder.duplicates() == {}


def test_a_second_sigint_cancels_and_the_worker_still_exits_cleanly(
    tmp_path: Path, redis_url: str, env: dict[str, str], emulator: GatewayEmulator
) -> None:
    campaign = write_csv(tmp_path / "slow.csv", 200)
    args = ["--redis", redis_url, "--campaign", "slow", "--rate", "20"]
    assert asms(env, "bulk", campaign, *args).exit_code == 0
    worker = Worker(env, redis_url, "--metrics-port", "0")
    worker.wait_for(" started: ")
    wait_until(env, redis_url, "slow", "accepted>=2")
    # From now on the gateway answers late: the first SIGINT has requests to wait for.
    emulator.configure_faults(latency=_DEADLINE)
    metrics = re.search(r"metrics at (http://\S+)", worker.log)
    assert metrics is not None, worker.log
    deadline = time.monotonic() + _DEADLINE
    while not re.search(r"^asms_requests_in_flight [1-9]", httpx.get(metrics[1]).text, re.M):
        assert time.monotonic() < deadline, "no request in flight"
        time.sleep(0.02)
    worker.process.send_signal(signal.SIGINT)
    worker.wait_for("stopping (SIGINT)")
    worker.process.send_signal(signal.SIGINT)
    assert worker.finish() == 0
    assert "SIGINT again: cancelling" in worker.log


def test_a_refused_password_stops_the_worker_and_loses_no_unit(
    tmp_path: Path, redis_url: str, env: dict[str, str]
) -> None:
    campaign = write_csv(tmp_path / "c.csv", 20)
    assert asms(env, "bulk", campaign, "--redis", redis_url, "--campaign", "pw").exit_code == 0
    wrong = Worker({**env, "ASMS_PASSWORD": "not-the-password"}, redis_url)
    assert wrong.finish() == 2
    assert "Error: authentication failed (ERR 001" in wrong.log
    assert "not-the-password" not in wrong.log
    kept = status(env, redis_url, "pw")
    assert (kept["queued"], kept["sending"], kept["accepted"]) == (20, 0, 0)
    right = Worker(env, redis_url)
    done = wait_until(env, redis_url, "pw", "settled")
    assert right.stop() == 0
    assert done["accepted"] == 20


# -- Redis unreachable ------------------------------------------------------------------------


def restart_on(server: RedisServer) -> RedisServer:
    """A new redis-server on the stopped ``server``'s port (empty: no persistence)."""
    binary = shutil.which("redis-server")
    assert binary is not None
    process = subprocess.Popen(
        [binary, "--port", str(server.port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(server.directory), "--daemonize", "no"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    again = RedisServer(server.port, server.directory, process)
    deadline = time.monotonic() + _DEADLINE
    while True:
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return again
        except OSError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, "redis did not restart"
        time.sleep(0.02)


def test_the_worker_says_when_redis_goes_away_and_when_it_is_back(
    tmp_path: Path, env: dict[str, str]
) -> None:
    server = start_redis(tmp_path / "redis")
    try:
        campaign = write_csv(tmp_path / "c.csv", 100)
        args = ["--redis", server.url, "--campaign", "c", "--rate", "20"]
        assert asms(env, "bulk", campaign, *args).exit_code == 0
        worker = Worker(env, server.url)
        worker.wait_for(" started: ")
        server.stop()
        gone = worker.wait_for("the worker sends nothing, retrying in")
        assert re.search(rf"Redis at 127\.0\.0\.1:{server.port}/0 (is unreachable|did not)", gone)
        server = restart_on(server)
        back = worker.wait_for(" is back")
        assert f"Redis at 127.0.0.1:{server.port}/0 is back" in back
        assert worker.stop(signal.SIGTERM) == 0
        lines = worker.log.splitlines()
        assert all(" Traceback" not in line for line in lines)
    finally:
        server.stop()


def test_an_unreachable_redis_is_one_line_without_its_password(
    tmp_path: Path, env: dict[str, str]
) -> None:
    port = free_port()
    url = f"redis://:hunter2-secret@127.0.0.1:{port}/0"
    campaign = write_csv(tmp_path / "c.csv", 3)
    out = tmp_path / "out.csv"
    for args in (
        ["campaign", "status", "c", "--redis", url],
        ["campaign", "results", "c", "--redis", url, "--out", str(out)],
        ["bulk", str(campaign), "--redis", url, "--campaign", "c"],
    ):
        result = asms(env, *args)
        assert result.exit_code == 1, result.output
        line = result.output.strip()
        assert "\n" not in line, line
        assert line.startswith(f"Error: Redis at 127.0.0.1:{port}/0 is unreachable"), line
        assert "hunter2" not in line
    assert not out.exists()
    worker = Worker(env, url)
    assert worker.finish() == 1
    assert f"Redis at 127.0.0.1:{port}/0 is unreachable" in worker.log
    assert "hunter2" not in worker.log


def test_results_of_an_unknown_campaign_leave_the_file_alone(
    tmp_path: Path, redis_url: str, env: dict[str, str]
) -> None:
    out = tmp_path / "earlier.csv"
    out.write_text("kept\n")
    result = asms(env, "campaign", "results", "nope", "--redis", redis_url, "--out", out)
    assert result.exit_code == 2
    assert result.output.startswith("Error: no campaign 'nope'")
    assert out.read_text() == "kept\n"


def test_the_commands_are_listed_in_asms_help() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "asms", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("worker", "campaign"):
        assert re.search(rf"^\s+{command}\s+\S", shown, re.M), shown


def test_results_to_a_full_disk_is_one_line(
    tmp_path: Path, redis_url: str, env: dict[str, str]
) -> None:
    csv = write_csv(tmp_path / "full.csv", 700)
    assert asms(env, "bulk", csv, "--redis", redis_url, "--campaign", "full").exit_code == 0
    result = asms(env, "campaign", "results", "full", "--redis", redis_url, "--out", "/dev/full")
    # Found when the file is opened (its header does not go out): refused as an unusable
    # --out, before a row is read.
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        "Error: cannot write /dev/full: No space left on device"
    )


def test_a_status_whose_reader_stops_early_still_exits_0(
    tmp_path: Path, redis_url: str, env: dict[str, str]
) -> None:
    csv = write_csv(tmp_path / "head.csv", 5)
    assert asms(env, "bulk", csv, "--redis", redis_url, "--campaign", "head").exit_code == 0
    command = [sys.executable, "-m", "asms", "campaign", "status", "head", "--redis", redis_url]
    process = subprocess.Popen(
        command,
        env={**env, "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # `| head -0`: the reader is gone before the first line
    assert process.wait(30) == 0
    assert b"Traceback" not in process.stderr.read()

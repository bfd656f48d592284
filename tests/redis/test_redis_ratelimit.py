"""asms.RedisRateLimiter against a real redis-server: the counts the algorithm guarantees.

Several limiter objects on one account stand for several processes (each has its own
connection). The slots are read from the reservation script's replies, which are on Redis's
clock, so nothing here depends on how fast this machine is.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers.redis_bookings import Booking, Recorder, check_schedule
from helpers.redis_server import RedisServer, free_port, start_redis

import asms
from asms._redis.ratelimit import account_rate  # asms.account_rate once re-exported

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("never_late")]

TESTS = Path(__file__).resolve().parents[1]


async def limiters(
    stack: AsyncExitStack, url: str, account: str, count: int, **options: Any
) -> list[asms.RedisRateLimiter]:
    return [
        await stack.enter_async_context(asms.RedisRateLimiter(url, account, **options))
        for _ in range(count)
    ]


def test_import_asms_does_not_import_coredis() -> None:
    code = (
        "import sys, asms\n"
        "assert asms.RedisRateLimiter and asms.Limiter and asms.RedisError\n"
        "limiter = asms.RedisRateLimiter('redis://localhost', '1', rate=10)\n"
        "assert 'coredis' not in sys.modules, 'coredis imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_without_the_extra_asms_imports_and_the_limiter_says_what_to_install() -> None:
    code = (
        "import sys\n"
        "sys.modules['coredis'] = None  # as if asms[redis] were not installed\n"
        "import anyio, asms\n"
        "async def main():\n"
        "    try:\n"
        "        async with asms.RedisRateLimiter('redis://localhost', '1', rate=10):\n"
        "            pass\n"
        "    except asms.RedisError as exc:\n"
        "        print(exc)\n"
        "anyio.run(main)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, timeout=60, capture_output=True, text=True
    )
    assert "pip install 'asms[redis]'" in done.stdout


@pytest.mark.parametrize("burst", [1, 3])
async def test_instances_on_one_account_keep_one_schedule(
    redis_url: str, account: str, recorder: Recorder, burst: int
) -> None:
    rate = 400.0
    async with AsyncExitStack() as stack:
        group = await limiters(stack, redis_url, account, 3, rate=rate, burst=burst)

        async def send(limiter: asms.RedisRateLimiter, tokens: int) -> None:
            for _ in range(6):
                await limiter.acquire(tokens)

        async with anyio.create_task_group() as tg:
            for index, limiter in enumerate(group):
                for tokens in (1, 2, 5):
                    tg.start_soon(send, limiter, tokens + index)
    # The slots kept: on a loaded machine a limiter that woke too late gives its slots back
    # and books again, and the first booking is then no one's.
    bookings = recorder.granted()
    assert sum(b.tokens for b in bookings) == 6 * sum(t + i for i in range(3) for t in (1, 2, 5))
    assert len({b.connection for b in bookings}) == 3
    check_schedule(bookings, rate, burst)
    assert sum(limiter.statistics().tokens_granted for limiter in group) == sum(
        b.tokens for b in bookings
    )


async def test_no_start_burst(redis_url: str, account: str, recorder: Recorder) -> None:
    async with AsyncExitStack() as stack:
        group = await limiters(stack, redis_url, account, 2, rate=100.0)
        async with anyio.create_task_group() as tg:
            for limiter in group:
                for _ in range(3):
                    tg.start_soon(limiter.acquire)
    bookings = sorted(recorder.granted(), key=lambda b: b.due)  # kept (see above)
    origin = min(b.now for b in bookings)
    # One token at once, then one every 10 ms: the sixth is due 50 ms after the first.
    assert [b.due - origin >= i * 10_000 for i, b in enumerate(bookings)] == [True] * 6
    assert bookings[0].wait == 0
    assert all(b.wait > 0 for b in bookings[1:])


async def test_a_600_recipient_request_costs_600(
    redis_url: str, account: str, recorder: Recorder
) -> None:
    async with asms.RedisRateLimiter(redis_url, account, rate=4000.0) as limiter:
        async with anyio.create_task_group() as tg:
            tg.start_soon(limiter.acquire, 600)
            await recorder.until(lambda: bool(recorder.bookings()))
            await limiter.acquire(1)  # booked while the 600 wait: right after their slots
    first, second = recorder.bookings()
    assert first.reserved - first.now == 600 * 250
    assert first.wait == 599 * 250
    assert second.start == first.reserved
    assert limiter.statistics().tokens_granted == 601


async def test_max_wait_bounds_how_far_ahead_anyone_books(
    redis_url: str, account: str, recorder: Recorder
) -> None:
    async with AsyncExitStack() as stack:
        group = await limiters(stack, redis_url, account, 2, rate=200.0, max_wait=0.02)
        async with anyio.create_task_group() as tg:
            for limiter in group:
                for _ in range(8):
                    tg.start_soon(limiter.acquire, 2)
    bookings = recorder.bookings()
    assert sum(b.tokens for b in bookings) == 32
    assert recorder.backoffs() > 0
    assert all(b.start - b.now <= 20_000 for b in bookings)
    check_schedule(bookings, 200.0, 1)


async def test_a_cancelled_wait_gives_its_slots_back_when_it_was_last(
    redis_url: str, account: str, recorder: Recorder
) -> None:
    async with asms.RedisRateLimiter(redis_url, account, rate=100.0) as limiter:
        await limiter.acquire()
        with anyio.move_on_after(0.05):
            await limiter.acquire(50)
        await limiter.acquire()
    first, cancelled, third = recorder.bookings()
    assert cancelled.previous == str(first.reserved)
    assert [reply for name, _, reply, _ in recorder.calls if name == "release"] == [1]
    # The schedule is back where the cancelled caller found it.
    assert third.previous == str(first.reserved)
    assert limiter.statistics().tokens_granted == 2


async def test_a_cancelled_wait_keeps_its_slots_when_someone_booked_after(
    redis_url: str, account: str, recorder: Recorder
) -> None:
    async with AsyncExitStack() as stack:
        early, late = await limiters(stack, redis_url, account, 2, rate=100.0)
        async with anyio.create_task_group() as tg:

            async def wait(limiter: asms.RedisRateLimiter, scope: anyio.CancelScope) -> None:
                with scope:
                    await limiter.acquire(50)

            early_scope = anyio.CancelScope()
            late_scope = anyio.CancelScope()
            tg.start_soon(wait, early, early_scope)
            await recorder.until(lambda: bool(recorder.bookings()))
            tg.start_soon(wait, late, late_scope)
            await recorder.until(lambda: len(recorder.bookings()) == 2)
            early_scope.cancel()  # someone booked after it: its slots stay booked
            await recorder.until(lambda: recorder.count("release") == 1)
            late_scope.cancel()  # the last: gives its slots back
        await early.acquire()
    first, second, third = recorder.bookings()
    assert second.previous == str(first.reserved)
    assert [reply for name, _, reply, _ in recorder.calls if name == "release"] == [0, 1]
    assert third.previous == str(first.reserved)


async def test_callers_cancelled_at_once_leave_the_schedule_as_it_was(
    redis_url: str, account: str, recorder: Recorder
) -> None:
    async with asms.RedisRateLimiter(redis_url, account, rate=100.0) as limiter:
        await limiter.acquire()
        for _ in range(10):
            # Cancelled before its first checkpoint: the booking round trip still completes
            # (shielded), so the caller knows what it booked and gives it back.
            with anyio.move_on_after(0):
                await limiter.acquire(50)
        await limiter.acquire()
    bookings = recorder.bookings()
    assert len(bookings) == 12
    assert [reply for name, _, reply, _ in recorder.calls if name == "release"] == [1] * 10
    assert bookings[-1].previous == str(bookings[0].reserved)
    assert limiter.statistics().tokens_granted == 2
    assert limiter.statistics().tasks_waiting == 0


async def test_a_pause_in_one_process_holds_every_process(
    redis_url: str, account: str, recorder: Recorder
) -> None:
    async with AsyncExitStack() as stack:
        throttled, other = await limiters(stack, redis_url, account, 2, rate=100.0)
        await other.acquire()
        throttled.pause_for(0.3)
        assert throttled.statistics().paused_until is not None
        await throttled.acquire()  # books after the pause, written to Redis once
        await other.acquire()
    _, paused, after = recorder.bookings()
    [(pause, written)] = [reply for name, _, reply, _ in recorder.calls if name == "pause"]
    assert 0 < pause - written <= 300_000  # the local pause, from the moment Redis got it
    assert paused.due >= pause and after.due >= pause
    assert other.statistics().tokens_granted == 2


async def test_a_pause_that_began_while_waiting_is_honoured_on_waking(
    redis_url: str, account: str, recorder: Recorder
) -> None:
    async with AsyncExitStack() as stack:
        throttled, sleeper = await limiters(stack, redis_url, account, 2, rate=100.0)
        async with anyio.create_task_group() as tg:
            tg.start_soon(sleeper.acquire, 20)  # due about 190 ms from now
            await recorder.until(lambda: bool(recorder.bookings()))
            throttled.pause_for(0.5)
            await throttled.acquire()
    bookings = recorder.bookings()
    booked_before, _, rebooked = bookings
    assert rebooked.connection == booked_before.connection
    confirms = [reply for name, _, reply, _ in recorder.calls if name == "confirm"]
    assert confirms and int(confirms[0]) > booked_before.due  # the pause covered the slot
    assert rebooked.due >= int(confirms[0])
    assert sleeper.statistics().tokens_granted == 20


async def test_a_different_rate_is_refused(redis_url: str, account: str) -> None:
    async with asms.RedisRateLimiter(redis_url, account, rate=100.0) as first:
        with pytest.raises(asms.ValidationError, match=r"rate=100\.0 burst=1.*rate=50\.0"):
            async with asms.RedisRateLimiter(redis_url, account, rate=50.0):
                pass
        with pytest.raises(asms.ValidationError, match="burst=2"):
            async with asms.RedisRateLimiter(redis_url, account, rate=100.0, burst=2):
                pass
        # Changed deliberately: the new rate is stored, the old limiter is refused from its
        # next reservation on.
        async with asms.RedisRateLimiter(redis_url, account, rate=50.0, replace_rate=True) as new:
            await new.acquire()
            with pytest.raises(asms.ValidationError, match=r"rate=50\.0 burst=1.*rate=100\.0"):
                await first.acquire()


async def test_an_unreachable_redis_is_a_clear_error(account: str) -> None:
    port = free_port()
    limiter = asms.RedisRateLimiter(f"redis://:hunter2@127.0.0.1:{port}/0", account, rate=1.0)
    with pytest.raises(asms.RedisError) as caught:
        async with limiter:
            pass
    error = caught.value
    assert f"127.0.0.1:{port}" in str(error) and "unreachable" in str(error)
    assert error.location == f"127.0.0.1:{port}/0"
    assert "hunter2" not in str(error) and "hunter2" not in repr(limiter)
    assert error.__cause__ is None and error.__suppress_context__  # no coredis traceback


async def test_redis_gone_mid_run_is_a_clear_error(tmp_path: Any, account: str) -> None:
    server: RedisServer = start_redis(tmp_path / "redis")
    try:
        async with asms.RedisRateLimiter(server.url, account, rate=100.0) as limiter:
            await limiter.acquire()
            server.stop()
            with pytest.raises(asms.RedisError, match=f"127.0.0.1:{server.port}") as caught:
                await limiter.acquire()
            assert caught.value.__suppress_context__
    finally:
        server.stop()


async def test_account_rate_reads_what_the_limiters_share(redis_url: str, account: str) -> None:
    assert await account_rate(redis_url, account) is None
    async with asms.RedisRateLimiter(redis_url, account, rate=250.0, burst=3):
        assert await account_rate(redis_url, account) == (250.0, 3)
    async with asms.RedisRateLimiter(redis_url, account, rate=0.5, replace_rate=True):
        pass
    stored = await account_rate(redis_url, account, timeout=1.0)
    assert stored == (0.5, 1) and isinstance(stored[0], float) and isinstance(stored[1], int)
    assert await account_rate(redis_url, f"{account}-other") is None


async def test_account_rate_errors(redis_url: str, account: str) -> None:
    port = free_port()
    with pytest.raises(asms.RedisError, match=f"127.0.0.1:{port}.*unreachable") as caught:
        await account_rate(f"redis://:hunter2@127.0.0.1:{port}/0", account)
    assert "hunter2" not in str(caught.value)
    with pytest.raises(asms.ValidationError, match="braces"):
        await account_rate(redis_url, "a{b")
    with pytest.raises(ValueError, match="timeout"):
        await account_rate(redis_url, account, timeout=0)


def test_bad_urls_and_values_are_refused() -> None:
    with pytest.raises(asms.ValidationError, match="redis://") as caught:
        asms.RedisRateLimiter("http://:secret@host", "1", rate=1.0)
    assert "secret" not in str(caught.value)
    with pytest.raises(asms.ValidationError, match="braces"):
        asms.RedisRateLimiter("redis://localhost", "a}b", rate=1.0)
    # A database that is not a number was dropped, and database 0 used (a stranger's trial).
    for path in ("/abc", "/0/extra", "/-1"):
        with pytest.raises(asms.ValidationError, match="database after the host must be a"):
            asms.RedisRateLimiter(f"redis://:secret@localhost:6379{path}", "1", rate=1.0)
    asms.RedisRateLimiter("redis://localhost:6379/15", "1", rate=1.0)
    for rate in (0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="rate"):
            asms.RedisRateLimiter("redis://localhost", "1", rate=rate)
    with pytest.raises(ValueError, match="burst"):
        asms.RedisRateLimiter("redis://localhost", "1", rate=1.0, burst=0)


async def test_using_it_outside_async_with_is_an_error() -> None:
    limiter = asms.RedisRateLimiter("redis://localhost", "1", rate=1.0)
    with pytest.raises(RuntimeError, match="async with"):
        await limiter.acquire()


def test_both_limiters_implement_the_interface() -> None:
    assert isinstance(asms.RateLimiter(10.0), asms.Limiter)
    assert isinstance(asms.RedisRateLimiter("redis://localhost", "1", rate=10.0), asms.Limiter)


def test_two_processes_share_one_limit(redis_url: str, account: str) -> None:
    rate, count = 200.0, 60
    start = time.time() + 2.0  # both are running by then
    command = [sys.executable, "-m", "helpers.redis_limiter_process", redis_url, account]
    processes = [
        subprocess.Popen(
            [*command, str(rate), str(count), str(start)],
            stdout=subprocess.PIPE,
            cwd=TESTS,
            text=True,
        )
        for _ in range(2)
    ]
    bookings: list[Booking] = []
    released: set[str] = set()
    for index, process in enumerate(processes):
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        for line in out.splitlines():
            record = json.loads(line)
            args, reply = record["args"], record["reply"]
            if record["script"] == "release":
                released.add(str(args[0]))
                continue
            assert reply[0] == 1
            bookings.append(
                Booking(index, args[1], args[0], reply[2], reply[1], reply[4], str(reply[5]))
            )
    # The slots kept: on a loaded machine a process that woke too late gives its slot back
    # and books again (as in test_instances_on_one_account_keep_one_schedule).
    bookings = [b for b in bookings if str(b.reserved) not in released]
    assert len(bookings) == 2 * count
    check_schedule(bookings, rate, 1)
    # They did share: each process's slots fall between the other's.
    first = sorted(b.start for b in bookings if b.connection == 0)
    second = sorted(b.start for b in bookings if b.connection == 1)
    assert first[0] < second[-1] and second[0] < first[-1]


async def test_an_error_inside_the_block_comes_out_as_raised(redis_url: str, account: str) -> None:
    # coredis's pool wraps what leaves its block in an exception group: the caller gets back
    # its own exception, an OSError too (it is not Redis's).
    for error in (KeyError("mine"), OSError("disk full")):
        with pytest.raises(type(error), match=str(error.args[0])):
            async with asms.RedisRateLimiter(redis_url, account, rate=10.0):
                raise error

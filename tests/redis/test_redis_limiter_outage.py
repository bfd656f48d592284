"""RedisRateLimiter when Redis goes away: callers get a clear asms.RedisError at once (within
the timeout, naming host:port, never the password), and the same limiter object works again
when Redis is back on its address, without being entered again."""

from __future__ import annotations

import logging
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import anyio
import pytest
from helpers.redis_bookings import Recorder
from helpers.redis_server import INSTALL_HINT, RedisServer, free_port

import asms
from asms._redis.ratelimit import account_rate  # asms.account_rate once re-exported

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("never_late")]


def pauses(recorder: Recorder) -> list[tuple[int, int]]:
    """The pause script's replies: (pause stored, Redis's now), µs."""
    return [(int(r[0]), int(r[1])) for name, _, r, _ in recorder.calls if name == "pause"]


PASSWORD = "hunter2-secret"


def _up(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def serve_on(directory: Path, port: int, *extra: str) -> RedisServer:
    """A redis-server on ``port`` (again, after one there was stopped), no persistence."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    directory.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(directory), "--daemonize", "no", *extra],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    server = RedisServer(port, directory, process)
    deadline = time.monotonic() + 10
    while process.poll() is None and time.monotonic() < deadline:
        if _up(port):
            return server
        time.sleep(0.02)
    server.stop()
    pytest.fail(f"redis-server did not start on port {port}", pytrace=False)


def with_password(server: RedisServer) -> str:
    return f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0"


def check_unreachable(error: asms.RedisError, port: int) -> None:
    assert f"Redis at 127.0.0.1:{port}/0 is unreachable" in str(error)
    assert error.location == f"127.0.0.1:{port}/0"
    assert PASSWORD not in str(error) and PASSWORD not in repr(error)
    assert error.__suppress_context__  # no coredis traceback


async def test_redis_stopped_before_acquire_is_a_prompt_clear_error(
    tmp_path: Path, account: str
) -> None:
    server = serve_on(tmp_path / "redis", free_port(), "--requirepass", PASSWORD)
    try:
        limiter = asms.RedisRateLimiter(with_password(server), account, rate=100.0, timeout=2.0)
        async with limiter:
            await limiter.acquire()
            server.stop()
            for _ in range(2):  # every caller, not only the first
                started = anyio.current_time()
                with pytest.raises(asms.RedisError) as caught:
                    await limiter.acquire()
                # Within the timeout (the reservation is shielded: measured, not cancelled).
                assert anyio.current_time() - started < 2.0
                check_unreachable(caught.value, server.port)
            assert PASSWORD not in repr(limiter)
            assert limiter.statistics().tasks_waiting == 0
    finally:
        server.stop()


async def test_redis_stopped_while_callers_wait_for_their_slots(
    tmp_path: Path, account: str, recorder: Recorder
) -> None:
    server = serve_on(tmp_path / "redis", free_port(), "--requirepass", PASSWORD)
    errors: list[asms.RedisError] = []

    async def caller(limiter: asms.RedisRateLimiter) -> None:
        try:
            await limiter.acquire(5)
        except asms.RedisError as exc:
            errors.append(exc)

    try:
        async with asms.RedisRateLimiter(with_password(server), account, rate=10.0) as limiter:
            with anyio.fail_after(10):
                async with anyio.create_task_group() as tg:
                    for _ in range(3):
                        tg.start_soon(caller, limiter)
                    await recorder.until(lambda: len(recorder.bookings()) == 3)
                    assert all(booking.wait > 0 for booking in recorder.bookings())
                    server.stop()  # all three are asleep until their slots
            assert limiter.statistics().tokens_granted == 0
            assert limiter.statistics().tasks_waiting == 0
    finally:
        server.stop()
    assert len(errors) == 3  # each learnt it on waking, none was granted blindly
    for error in errors:
        check_unreachable(error, server.port)


async def test_a_frozen_redis_is_an_error_within_the_timeout(tmp_path: Path, account: str) -> None:
    server = serve_on(tmp_path / "redis", free_port())
    try:
        async with asms.RedisRateLimiter(server.url, account, rate=100.0, timeout=1.0) as limiter:
            await limiter.acquire()
            server.process.send_signal(signal.SIGSTOP)  # up, but answering nothing
            try:
                # One timeout, not one per retry of the Redis client's (that took 3 s).
                started = anyio.current_time()
                with pytest.raises(asms.RedisError) as caught:
                    await limiter.acquire()
                assert anyio.current_time() - started < 2.5
            finally:
                server.process.send_signal(signal.SIGCONT)
            assert f"Redis at 127.0.0.1:{server.port}/0 did not answer in time" in str(caught.value)
            await limiter.acquire()  # answering again: the same limiter goes on
            assert limiter.statistics().tokens_granted == 2
    finally:
        server.stop()


async def test_the_same_limiter_works_again_when_redis_is_back(
    tmp_path: Path, account: str, recorder: Recorder
) -> None:
    server = serve_on(tmp_path / "redis", free_port(), "--requirepass", PASSWORD)
    url = with_password(server)
    try:
        async with asms.RedisRateLimiter(url, account, rate=100.0, burst=2) as limiter:
            await limiter.acquire()
            server.stop()
            with pytest.raises(asms.RedisError) as caught:
                await limiter.acquire()
            check_unreachable(caught.value, server.port)
            server = serve_on(server.directory, server.port, "--requirepass", PASSWORD)
            # Not entered again: the connection pool reconnects by itself.
            for _ in range(3):
                await limiter.acquire()
            assert limiter.statistics().tokens_granted == 4
            # Redis lost everything (no persistence): the next booking stored the rate again.
            assert await account_rate(url, account) == (100.0, 2)
    finally:
        server.stop()
    bookings = recorder.bookings()
    assert len(bookings) == 4
    assert bookings[1].previous == ""  # a new schedule on the new server
    assert bookings[3].start - bookings[2].start >= 10_000


class Warnings(logging.Handler):
    """The warnings the asms logger gives, and an event set by each."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.given = anyio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self.given.set()


async def test_a_pause_redis_missed_is_written_when_redis_is_back(
    tmp_path: Path, account: str, recorder: Recorder
) -> None:
    server = serve_on(tmp_path / "redis", free_port())
    directory, port = server.directory, server.port
    warnings = Warnings()
    logger = logging.getLogger("asms")
    logger.addHandler(warnings)
    try:
        async with asms.RedisRateLimiter(server.url, account, rate=100.0, timeout=2.0) as told:
            server.stop()
            told.pause_for(4.0)
            with anyio.fail_after(10):
                await warnings.given.wait()  # the limiter's task tried, and will again
            assert not pauses(recorder)  # nothing written while Redis is down
            server = serve_on(directory, port)
            with anyio.fail_after(10):
                await recorder.until(lambda: bool(pauses(recorder)))
            async with asms.RedisRateLimiter(server.url, account, rate=100.0) as other:
                await other.acquire()
    finally:
        logger.removeHandler(warnings)
        server.stop()
    [(pause, _)] = pauses(recorder)
    [booking] = recorder.granted()
    assert booking.due >= pause
    assert f"Redis at 127.0.0.1:{port}/0 is unreachable" in warnings.messages[0]
    assert "could not be shared" in warnings.messages[0]
    assert "retrying in" in warnings.messages[0]

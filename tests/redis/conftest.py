"""The Redis tests' server: one real ``redis-server`` for the session, started here.

Each test uses its own account (so its own keys) on it; a test that stops Redis starts its
own with :func:`helpers.redis_server.start_redis`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from helpers.redis_bookings import Recorder
from helpers.redis_server import RedisServer, start_redis

from asms._redis import ratelimit


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A ``redis-server`` on a free loopback port for the whole session."""
    server = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session server's URL."""
    return redis_server.url


@pytest.fixture
def account() -> str:
    """An account label of this test alone (its keys are nobody else's)."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """Every script call of every RedisRateLimiter of the test."""
    return Recorder(monkeypatch)


@pytest.fixture
def never_late(monkeypatch: pytest.MonkeyPatch) -> None:
    """No wake counts as late, for tests that count every booking exactly: on a loaded
    machine a caller woken a few ms late gives its slot back and books again (the rule
    test_redis_limiter_late.py tests, with the real limit)."""
    monkeypatch.setattr(ratelimit, "REDIS_LATE_GRANT", 3600.0)

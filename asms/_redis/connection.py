"""The small interface asms has to Redis, and the one module that imports coredis.

``async with connect(url) as redis:`` opens a connection pool; :meth:`RedisConnection.script`
registers a Lua script and :meth:`RedisConnection.run` runs it (the script is loaded again if
Redis forgot it). Every failure comes out as :class:`asms.RedisError` naming where Redis was
looked for (``host:port/db``), never the URL's password, and without coredis's traceback.

coredis is imported when a connection is opened: ``import asms`` must not pay for it, and
asms without the ``redis`` extra must still import.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Final, NoReturn
from urllib.parse import urlsplit

from .._config import DEFAULT_REDIS_TIMEOUT
from .._exceptions import RedisError, ValidationError

if TYPE_CHECKING:
    import coredis
    from coredis.commands.script import Script

__all__ = ["LuaScript", "RedisConnection", "connect", "redis_location"]

_SCHEMES: Final = ("redis", "rediss", "unix")
_INSTALL: Final = "Redis support needs the extra: pip install 'asms[redis]'"


def redis_location(url: str) -> str:
    """Where ``url`` points, for messages: ``host:port/db`` or the socket path, no password."""
    if not isinstance(url, str):
        raise ValidationError("redis_url", "must be a string")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValidationError("redis_url", "is not a valid URL") from None
    if parts.scheme not in _SCHEMES:
        # The URL itself is not shown: it may carry a password.
        raise ValidationError("redis_url", "must start with redis://, rediss:// or unix://")
    if parts.scheme == "unix":
        return parts.path or "(no socket path)"
    host = parts.hostname or "localhost"
    if ":" in host:
        host = f"[{host}]"
    location = f"{host}:{port if port is not None else 6379}"
    database = parts.path.strip("/")
    return f"{location}/{database}" if database else location


class LuaScript:
    """A Lua script registered on a connection (run it with :meth:`RedisConnection.run`)."""

    __slots__ = ("_script", "name")

    def __init__(self, name: str, script: Script[str]) -> None:
        self.name = name
        self._script = script

    def __repr__(self) -> str:
        return f"LuaScript({self.name!r})"


class RedisConnection:
    """An open connection pool to one Redis: Lua scripts and the few commands asms uses."""

    __slots__ = ("_client", "location")

    def __init__(self, client: coredis.Redis[str], location: str) -> None:
        self._client = client
        self.location = location

    def script(self, name: str, source: str) -> LuaScript:
        """Register ``source`` (loaded into Redis on its first run, and again if Redis forgot
        it); ``name`` names it in error messages."""
        return LuaScript(name, self._client.register_script(source))

    async def run(self, script: LuaScript, keys: Sequence[str], args: Sequence[int | str]) -> Any:
        """Run ``script`` with ``keys`` and ``args``; its reply as Redis gave it."""
        try:
            return await script._script(keys=list(keys), args=list(args))
        except Exception as exc:
            self._fail(f"script {script.name}", exc)

    async def ping(self) -> None:
        """Check that Redis answers."""
        try:
            await self._client.ping()
        except Exception as exc:
            self._fail("PING", exc)

    def _fail(self, what: str, exc: Exception) -> NoReturn:
        raise _redis_error(exc, self.location, what) from None

    def __repr__(self) -> str:
        return f"RedisConnection({self.location!r})"


def _redis_error(exc: BaseException, location: str, what: str = "") -> RedisError:
    import coredis.exceptions

    if isinstance(exc, TimeoutError):
        reason = "did not answer in time"
    elif isinstance(exc, coredis.exceptions.ConnectionError | OSError):
        reason = "is unreachable"
    elif isinstance(
        exc, coredis.exceptions.AuthenticationError | coredis.exceptions.AuthorizationError
    ):
        reason = "refused the credentials"
    else:
        reason = "failed"
    during = f" ({what})" if what else ""
    # coredis's own text names host and port only; the URL (and its password) is never in it.
    detail = str(exc) or type(exc).__name__
    return RedisError(f"Redis at {location} {reason}{during}: {detail}", location)


def _only_error(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception inside (nested) groups, or None when there are several."""
    found: BaseException = group
    while isinstance(found, BaseExceptionGroup):
        if len(found.exceptions) != 1:
            return None
        found = found.exceptions[0]
    return found


@asynccontextmanager
async def connect(
    url: str, *, command_timeout: float = DEFAULT_REDIS_TIMEOUT
) -> AsyncIterator[RedisConnection]:
    """A connection pool to the Redis at ``url`` for the block; Redis is asked to answer a
    PING first, so an unreachable Redis fails here, with :class:`asms.RedisError`."""
    location = redis_location(url)
    try:
        import coredis
    except ImportError:
        raise RedisError(_INSTALL, location) from None
    import coredis.exceptions

    client: coredis.Redis[str] = coredis.Redis.from_url(
        url,
        decode_responses=True,
        stream_timeout=command_timeout,
        connect_timeout=command_timeout,
    )
    try:
        async with client:
            connection = RedisConnection(client, location)
            await connection.ping()
            yield connection
    except BaseExceptionGroup as group:
        # coredis's pool runs a task group, which wraps whatever leaves the block (ours or
        # the caller's) in a group: give the caller back the one exception it raised.
        single = _only_error(group)
        if single is None:
            raise
        if isinstance(single, coredis.exceptions.RedisError):  # the pool's own failure
            raise _redis_error(single, location) from None
        raise single from single.__cause__

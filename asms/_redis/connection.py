"""The small interface asms has to Redis, and the one module that imports coredis.

``async with connect(url) as redis:`` opens a connection pool; :meth:`RedisConnection.script`
registers a Lua script and :meth:`RedisConnection.run` runs it (the script is loaded again if
Redis forgot it). Every failure comes out as :class:`asms.RedisError` naming where Redis was
looked for (``host:port/db``), never the URL's password, and without coredis's traceback.

coredis is imported when a connection is opened: ``import asms`` must not pay for it, and
asms without the ``redis`` extra must still import.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
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
    if database and not (database.isascii() and database.isdigit()):
        # Not shown either; a word here would otherwise be dropped and database 0 used.
        raise ValidationError(
            "redis_url", "the database after the host must be a number: redis://host:6379/0"
        )
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

    async def create_group(self, stream: str, group: str) -> None:
        """Make consumer ``group`` on ``stream`` (and the stream) unless it exists; a new group
        reads the stream from its start."""
        try:
            await self._client.xgroup_create(stream, group, "0", mkstream=True)
        except Exception as exc:
            # BUSYGROUP: it exists (coredis may drop the code and keep the words).
            if "BUSYGROUP" not in str(exc) and "already exists" not in str(exc):
                self._fail("XGROUP CREATE", exc)

    async def read_group(
        self, stream: str, group: str, consumer: str, *, count: int, block_ms: int
    ) -> list[tuple[str, dict[str, str]]]:
        """Up to ``count`` entries never delivered to ``group``, waiting at most ``block_ms``
        (never 0: a read blocked for ever could not be stopped cleanly)."""
        try:
            found = await self._client.xreadgroup(
                group, consumer, streams={stream: ">"}, count=count, block=max(1, block_ms)
            )
        except Exception as exc:
            self._fail("XREADGROUP", exc)
        entries: list[tuple[str, dict[str, str]]] = []
        for stream_entries in (found or {}).values():
            for entry in stream_entries:
                entries.append((str(entry.identifier), _fields(entry.field_values)))
        return entries

    async def autoclaim(
        self, stream: str, group: str, consumer: str, *, min_idle_ms: int, start: str, count: int
    ) -> tuple[str, list[tuple[str, dict[str, str]]], list[str]]:
        """Take entries of ``group`` idle for ``min_idle_ms`` or longer (``XAUTOCLAIM``): the
        cursor to go on from ("0-0" at the end), the entries, and the ids of deleted ones."""
        try:
            reply: Any = await self._client.xautoclaim(
                stream, group, consumer, min_idle_ms, start, count=count
            )
        except Exception as exc:
            self._fail("XAUTOCLAIM", exc)
        cursor = str(reply[0])
        entries = [
            (str(entry.identifier), _fields(entry.field_values))
            for entry in reply[1]
            if entry is not None and entry.field_values is not None
        ]
        deleted = [str(i) for i in reply[2]] if len(reply) > 2 else []
        return cursor, entries, deleted

    async def ack_delete(self, stream: str, group: str, entry_ids: Sequence[str]) -> None:
        """Acknowledge and delete stream entries (a settled entry must not stay in the PEL
        nor in the stream)."""
        if not entry_ids:
            return
        try:
            await self._client.xack(stream, group, list(entry_ids))
            await self._client.xdel(stream, list(entry_ids))
        except Exception as exc:
            self._fail("XACK/XDEL", exc)

    async def hash(self, key: str) -> dict[str, str]:
        """Every field of the hash at ``key`` (empty when there is none)."""
        try:
            return dict(await self._client.hgetall(key))
        except Exception as exc:
            self._fail("HGETALL", exc)

    async def hash_fields(self, key: str, fields: Sequence[str]) -> list[str | None]:
        """Some fields of the hash at ``key`` (None for a missing one)."""
        try:
            return list(await self._client.hmget(key, list(fields)))
        except Exception as exc:
            self._fail("HMGET", exc)

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


def _fields(values: Mapping[Any, Any] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (values or {}).items()}


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
    import coredis.retry

    client: coredis.Redis[str] = coredis.Redis.from_url(
        url,
        decode_responses=True,
        stream_timeout=command_timeout,
        connect_timeout=command_timeout,
        # No retries of coredis's own: a command that timed out may have run (a script run
        # twice books or moves twice), and each retry would wait ``command_timeout`` again.
        # A failure is asms's caller's to handle; a later command reconnects by itself.
        retry_policy=coredis.retry.NoRetryPolicy(),
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

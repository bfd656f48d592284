"""The gateway session: one ``auth`` per client, shared by every request in flight.

A session id is valid for 15 minutes after the last call that used it. Requests run
concurrently, so when it expires many of them learn it at once; they all ask for a new one
with the generation they saw, and only the first of them authenticates (single flight): the
others find a newer generation when they get the lock and reuse its id.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Final

import anyio

from ._exceptions import ASMSError, GatewayError, TransportError, error_for
from ._logging import logger, register_secret

__all__ = ["Session", "copy_transport_error"]


def _copy(error: ASMSError) -> ASMSError:
    """A fresh instance of a failure, for each waiter that shares it (no shared traceback)."""
    if isinstance(error, GatewayError):
        return error_for(error.code, error.description)
    if isinstance(error, TransportError):
        return copy_transport_error(error)
    return error


_KEEP: Final = object()


def copy_transport_error(error: TransportError, *, sent: object = _KEEP) -> TransportError:
    """A fresh instance of ``error`` with the same text and attributes (``sent`` changed if
    given), without its traceback."""
    # Not through the constructor: subclasses take other arguments (HTTPStatusError takes
    # the status code), and the copy must keep every attribute of the original.
    copy = type(error).__new__(type(error))
    copy.args = error.args
    copy.__dict__.update(error.__dict__)
    if sent is not _KEEP:
        copy.sent = sent  # type: ignore[assignment]
    return copy


class Session:
    """The current session id, its generation and when it was last used.

    ``authenticate`` performs the ``auth`` call and returns the new session id. ``clock``
    measures idleness (monotonic seconds); tests inject their own.
    """

    def __init__(
        self,
        authenticate: Callable[[], Awaitable[str]],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._authenticate = authenticate
        self._clock = clock
        # fast_acquire: a free lock is taken without yielding, so the task that authenticates
        # announces it (``_renewing``) before any other task can look.
        self._lock = anyio.Lock(fast_acquire=True)
        self._renewing: anyio.Event | None = None  # set when the auth under way ends
        self._session_id: str | None = None
        self._generation = 0
        self._attempts = 0
        self._last_error: ASMSError | None = None
        self.last_used = clock()
        self.auth_calls = 0

    def __repr__(self) -> str:
        state = "active" if self._session_id else "none"
        return f"<Session {state} generation={self._generation}>"

    @property
    def generation(self) -> int:
        """How many session ids this session has had (0: never authenticated)."""
        return self._generation

    @property
    def active(self) -> bool:
        """Whether there is a session id to use."""
        return self._session_id is not None

    def current_id(self) -> tuple[str, int] | None:
        """The session id and generation, or None when there is no session (no auth)."""
        session_id = self._session_id
        return None if session_id is None else (session_id, self._generation)

    def idle_for(self) -> float:
        """Seconds since a request last used the session id."""
        return self._clock() - self.last_used

    def touch(self) -> None:
        """A request used the session id successfully: the gateway restarted its timer."""
        self.last_used = self._clock()

    def invalidate(self, generation: int) -> None:
        """Forget the session of ``generation`` (the gateway said it is gone)."""
        if generation == self._generation:
            self._session_id = None

    async def current(self) -> tuple[str, int]:
        """The session id to use and its generation, authenticating if there is none."""
        session_id = self._session_id
        if session_id is not None:
            return session_id, self._generation
        session_id, generation, _ = await self.renew(self._generation)
        return session_id, generation

    async def renew(self, stale: int) -> tuple[str, int, bool]:
        """A session newer than generation ``stale``: the one another task just got, or a
        new one; the flag says whether this call authenticated. A failed ``auth`` is shared
        with the tasks that waited for it, so a burst of refused requests causes one
        ``auth``, successful or not.
        """
        attempts_seen = self._attempts
        renewing = self._renewing
        if renewing is not None:
            # Every task that waits for the auth under way wakes when it ends, at once: taking
            # the lock in turn would let them go one per turn of the event loop (a burst of
            # many requests at start-up then trickles out, its connections opened one by one).
            attempts_seen -= 1  # that auth is one this call waits for: it shares a failure
            await renewing.wait()
            session_id = self._session_id
            if session_id is not None and self._generation != stale:
                return session_id, self._generation, False
        async with self._lock:
            session_id = self._session_id
            if session_id is not None and self._generation != stale:
                return session_id, self._generation, False
            if self._attempts != attempts_seen and self._last_error is not None:
                raise _copy(self._last_error)
            self._attempts += 1
            self._session_id = None
            self.auth_calls += 1
            renewing = self._renewing = anyio.Event()
            try:
                session_id = await self._authenticate()
            except ASMSError as exc:
                self._last_error = exc
                logger.debug("auth failed: %s", type(exc).__name__)
                raise
            finally:
                self._renewing = None
                renewing.set()
            register_secret(session_id)
            self._last_error = None
            self._session_id = session_id
            self._generation += 1
            self.touch()
            logger.debug("authenticated (session generation %d)", self._generation)
            return session_id, self._generation, True

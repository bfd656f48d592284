"""The fault dice: which injected fault (if any) each request of a faulted command gets."""

from __future__ import annotations

import random

from ._config import OUTCOME_KINDS, Faults

__all__ = ["FaultInjector"]


class FaultInjector:
    """Draws the fault of each request from a seeded generator, so runs repeat exactly.

    Two numbers are drawn per request whatever the outcome (one for the outcome, one for
    latency), so enabling one fault does not shift the draws of the others.
    """

    __slots__ = (
        "_bucket_at",
        "_err130_once",
        "_faults",
        "_rng",
        "_script",
        "_session_rng",
        "_tokens",
    )

    def __init__(self, faults: Faults, now: float) -> None:
        self._faults = faults
        self._rng = random.Random(faults.seed)
        # Session expiry is drawn only for requests that carry a valid session: from its own
        # stream, so switching it on leaves every other fault where it was.
        self._session_rng = random.Random(f"session_expiry:{faults.seed}")
        self._script = list(reversed(faults.script))
        self._tokens = faults.rate_cap or 0.0
        self._bucket_at = now
        self._err130_once = faults.err130_once  # armed until one request took it

    def take_err130_once(self) -> int | None:
        """The time ``err130_once`` names, for the first request that asks (then None)."""
        until, self._err130_once = self._err130_once, None
        return until

    def draw(self) -> tuple[str | None, float]:
        """The outcome kind (or None) and the latency of the next request."""
        faults = self._faults
        rng = self._rng
        u = rng.random()
        v = rng.random()
        kind: str | None = None
        if self._script:
            kind = self._script.pop()
        else:
            for name in OUTCOME_KINDS:
                p = getattr(faults, name)
                if u < p:
                    kind = name
                    break
                u -= p
        latency = faults.latency if faults.latency and v < faults.latency_probability else 0.0
        return kind, latency

    def session_expires(self) -> bool:
        """Whether the valid session of the request at hand expires now."""
        p = self._faults.session_expiry
        return bool(p) and self._session_rng.random() < p

    def take(self, messages: int, now: float) -> bool:
        """Token bucket of ``rate_cap`` messages per second with one second of burst."""
        rate = self._faults.rate_cap
        if rate is None:
            return True
        elapsed = now - self._bucket_at
        if elapsed > 0:
            self._tokens = min(rate, self._tokens + elapsed * rate)
            self._bucket_at = now
        if messages > self._tokens:
            return False
        self._tokens -= messages
        return True

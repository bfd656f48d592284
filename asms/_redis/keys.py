"""The names of the Redis keys of one account, built in one place.

Every key of an account carries the hash tag ``{a:<account>}``, so that a Lua script touching
several of them runs on one Redis Cluster slot (a script over keys of two slots fails with
CROSSSLOT).
"""

from __future__ import annotations

from dataclasses import dataclass

from .._exceptions import ValidationError

__all__ = ["GROUP", "PREFIX", "AccountKeys"]

PREFIX = "asms"
"""The first part of every key asms writes."""

GROUP = "send"
"""The consumer group of the workers on an account's queue."""


@dataclass(frozen=True, slots=True)
class AccountKeys:
    """The keys of one account (``account`` is its api_id or any label every process of the
    account shares). The account is kept out of the repr: an api_id is a credential."""

    account: str

    def __post_init__(self) -> None:
        if not isinstance(self.account, str) or not self.account:
            raise ValidationError("account", "must be a non-empty string")
        if any(char in self.account for char in "{}") or not self.account.isprintable():
            # A brace would end the hash tag early and split the account over slots.
            raise ValidationError("account", "must not contain braces or control characters")

    def _key(self, name: str) -> str:
        return f"{PREFIX}:{{a:{self.account}}}:{name}"

    @property
    def tat(self) -> str:
        """The rate schedule: the theoretical arrival time, integer µs of Redis's clock."""
        return self._key("tat")

    @property
    def pause(self) -> str:
        """Until when nobody sends (``ERR 130``), integer µs of Redis's clock."""
        return self._key("pause")

    @property
    def limit(self) -> str:
        """The account's rate and burst (a hash), which every process must share."""
        return self._key("limit")

    @property
    def queue(self) -> str:
        """The stream of units waiting to be sent (consumer group :data:`GROUP`)."""
        return self._key("q")

    @property
    def dead(self) -> str:
        """The stream of dead-lettered units, each with its reason."""
        return self._key("dlq")

    @property
    def workers(self) -> str:
        """The live workers (a sorted set: name -> when its heartbeat expires, ms)."""
        return self._key("workers")

    @property
    def campaigns(self) -> str:
        """The names of the account's campaigns (a set)."""
        return self._key("campaigns")

    def campaign(self, name: str) -> str:
        """A campaign's identity, size and counters (a hash)."""
        return self._key(f"c:{name}")

    def unit(self, name: str, unit: int) -> str:
        """One unit of a campaign: its messages, state, lease and per-message rows (a hash)."""
        return self._key(f"c:{name}:u:{unit}")

    def __repr__(self) -> str:
        return "AccountKeys(account=<hidden>)"

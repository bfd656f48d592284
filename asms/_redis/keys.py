"""The names of the Redis keys of one account, built in one place.

Every key of an account carries the hash tag ``{a:<account>}``, so that a Lua script touching
several of them runs on one Redis Cluster slot (a script over keys of two slots fails with
CROSSSLOT).
"""

from __future__ import annotations

from dataclasses import dataclass

from .._exceptions import ValidationError

__all__ = ["PREFIX", "AccountKeys"]

PREFIX = "asms"
"""The first part of every key asms writes."""


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

    def __repr__(self) -> str:
        return "AccountKeys(account=<hidden>)"

"""Configuration of the emulator's Platform endpoints: integrations (API keys) and the
response variant it answers in.

An :class:`Integration` is what the Clickatell portal creates for an account since 2016: an
API key plus its settings (where status and reply callbacks go, in which form, whether it is
two-way). Every integration belongs to one emulator :class:`~asms.testing.Account`: credits,
stored messages and the recorder are the account's, whichever wire a message came in on.

:class:`PlatformProfile` picks the response shapes seen in the wild (docs/protocol.md, "The
Platform wires"), so a client's parser meets each of them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Final, Literal, get_args

from .._config import PLATFORM_MAX_RECIPIENTS, ApiKey
from .._exceptions import ValidationError

__all__ = [
    "PLATFORM_VARIANTS",
    "Integration",
    "IntegrationCallbackFormat",
    "IntegrationCallbackMethod",
    "PlatformProfile",
    "PlatformVariant",
]

#: The Platform SMS response shapes: "current" (2019 on: error keys at both levels), "2020"
#: (as captured in 2020: no top-level error keys), "2017" (error texts only, no codes).
PlatformVariant = Literal["current", "2020", "2017"]
PLATFORM_VARIANTS: Final[tuple[str, ...]] = get_args(PlatformVariant)
#: How an integration's status callbacks are sent: GET with a query, or POST with JSON.
IntegrationCallbackMethod = Literal["get", "post"]
#: Which callback form an integration uses: "auto" follows the wire the message came in
#: on (Platform SMS "current" fields, or the One API envelope); the others force one form.
IntegrationCallbackFormat = Literal["auto", "current", "2017", "one-api"]

_INTEGRATION_METHODS: Final = frozenset(get_args(IntegrationCallbackMethod))
_FORMATS: Final = frozenset(get_args(IntegrationCallbackFormat))
DEFAULT_CURRENCY: Final = "ZAR"


@dataclass(frozen=True, slots=True, kw_only=True)
class Integration:
    """An integration API key of the emulated platform, and its settings.

    ``api_id`` names the account the key belongs to (``None``: the emulator's first
    account). Any key works on both Platform wires (``/messages`` and ``/v1/message``).
    ``callback_url`` receives a status callback for every status change of a message sent
    with this key (``callback_method`` GET query or POST JSON; ``callback_format`` as
    :data:`IntegrationCallbackFormat` says); ``mo_callback_url`` receives replies (MO),
    always POST JSON. ``two_way=False`` refuses a ``from`` number (Platform SMS 607, One API
    45). ``name`` and ``integration_id`` are what callbacks carry as ``integrationName`` and
    ``integrationId`` (the id is derived from the key unless given).
    """

    key: str = field(repr=False)
    api_id: int | None = None
    name: str = "asms emulator integration"
    integration_id: str = ""
    callback_url: str | None = None
    callback_method: IntegrationCallbackMethod = "post"
    callback_format: IntegrationCallbackFormat = "auto"
    mo_callback_url: str | None = None
    two_way: bool = True

    def __post_init__(self) -> None:
        try:
            ApiKey(self.key)  # the client's rule: a key it would refuse could never be used
        except ValidationError as exc:
            raise ValueError(f"key {exc.rule}") from None
        if self.api_id is not None and (
            isinstance(self.api_id, bool) or not isinstance(self.api_id, int) or self.api_id < 0
        ):
            raise ValueError("api_id must be a non-negative integer or None")
        if self.callback_method not in _INTEGRATION_METHODS:
            raise ValueError("callback_method must be 'get' or 'post'")
        if self.callback_format not in _FORMATS:
            raise ValueError(f"callback_format must be one of {', '.join(sorted(_FORMATS))}")
        if not self.integration_id:
            # Derived, not random: the same key has the same id in every run.
            digest = hashlib.blake2b(self.key.encode(), digest_size=16).hexdigest()
            object.__setattr__(self, "integration_id", digest)

    def __repr__(self) -> str:
        # The key is a credential: shown by its length only.
        return (
            f"Integration(key=<{len(self.key)} chars>, api_id={self.api_id!r}, "
            f"name={self.name!r}, callback_url={self.callback_url!r}, "
            f"callback_format={self.callback_format!r}, two_way={self.two_way!r})"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformProfile:
    """How the emulator's Platform endpoints answer.

    ``variant`` is the Platform SMS response shape (:data:`PlatformVariant`). ``shuffle``
    answers the results of a request in another order than its recipients (seeded), so a
    client must match them by number. ``errors_as_200`` answers every request-level failure
    of Platform SMS with HTTP 200 (as captured in 2019), instead of 400/401/402; faults
    (429, 500, 503) keep their status. ``max_recipients`` caps one request (a larger one is
    refused whole: Platform SMS 101, One API 22). ``currency`` is what balances report.
    """

    variant: PlatformVariant = "current"
    shuffle: bool = False
    errors_as_200: bool = False
    max_recipients: int = PLATFORM_MAX_RECIPIENTS
    currency: str = DEFAULT_CURRENCY

    def __post_init__(self) -> None:
        if self.variant not in PLATFORM_VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(PLATFORM_VARIANTS)}")
        if self.max_recipients < 1:
            raise ValueError("max_recipients must be at least 1")

    @classmethod
    def named(cls, name: str) -> PlatformProfile:
        """A variant name (``"current"``, ``"2020"``, ``"2017"``), optionally followed by
        ``+shuffled`` and/or ``+200`` (``"2017+shuffled+200"``)."""
        variant, *flags = name.split("+")
        unknown = set(flags) - {"shuffled", "200"}
        if variant not in PLATFORM_VARIANTS or unknown:
            raise ValueError(
                f"unknown platform variant {name!r}: use one of {', '.join(PLATFORM_VARIANTS)}, "
                "optionally with +shuffled and/or +200"
            )
        return cls(
            variant=variant,  # type: ignore[arg-type]
            shuffle="shuffled" in flags,
            errors_as_200="200" in flags,
        )

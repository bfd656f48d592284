"""Events the emulator hands to its callback sender, and the sender's interface."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from .._codes import MessageStatus

if TYPE_CHECKING:
    from ._config import Account

__all__ = ["CallbackSink", "MOEvent", "StatusEvent"]


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """A message changed status, and its ``callback`` value asked to hear about it."""

    api_id: int
    apimsgid: str
    climsgid: str  # "" when the message had none
    to: str
    from_: str  # "" when the message had none
    status: MessageStatus
    charge: float
    timestamp: int  # unix seconds of the change
    callback_value: int


@dataclass(frozen=True, slots=True)
class MOEvent:
    """One inbound (mobile-originated) message part, as the MO callback carries it."""

    api_id: int
    momsgid: str
    from_: str  # the handset
    to: str  # the account's number
    timestamp_gmt2: str  # "YYYY-MM-DD HH:MM:SS" in GMT+2, as the gateway writes it
    text: str
    charset: str
    udh: str  # hex, "" for a single-part message
    network: str | None = None


class CallbackSink(Protocol):
    """What receives events: ``asms.testing._callbacks.CallbackDispatcher`` or a test fake.

    Both methods are called synchronously, in time order, from the code that moved the clock
    or handled the request; they must only queue the delivery.
    """

    def status_changed(self, account: Account, event: StatusEvent) -> None:
        """A message of ``account`` changed status, and its callback value asks to hear it."""
        ...

    def mo_received(self, account: Account, event: MOEvent) -> None:
        """An inbound message part arrived for ``account``."""
        ...

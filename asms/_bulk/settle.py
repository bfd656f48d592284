"""Settling a journal's unknown messages from the status callbacks a receiver recorded.

On the Platform wires the gateway cannot be asked about a request by its ``climsgid``, so a
request whose reply was lost leaves its messages ``unknown``, never resent (docs/protocol.md,
"The Platform wires"). A status callback exists only for a message the gateway accepted, and
it carries the request's ``clientMessageId`` and the recipient: a
:class:`~asms.callbacks.CallbackReceiver` whose store lives in the journal's file records
that (``CallbackStore.accepted``), and a resumed run reads it here. A message found there is
accepted with the callback's ``apimsgid``; one not found stays unknown (a callback may still
come, or never will: the run cannot tell, so it never resends).

The One API's status callbacks name no recipient: they settle a request of one message only.
"""

from __future__ import annotations

import os
from typing import Final

from .._numbers import InvalidNumberError, normalize_msisdn
from ..callbacks._store import CallbackStore

__all__ = ["CallbackSettlement"]

#: Requests whose recorded callbacks a run keeps at once (a resume walks them in order).
_REMEMBERED: Final = 256


class CallbackSettlement:
    """What the status callbacks recorded in ``path`` say about a journal's unknown messages.

    Each recorded ``apimsgid`` settles one message, never two: a request that carried one
    number twice needs a callback for each (one of them may have been refused).
    """

    def __init__(self, path: str | os.PathLike[str], country_code: str | int | None) -> None:
        self._store = CallbackStore(path)
        self._country_code = country_code
        # climsgid -> recipient ("" when the callback named none) -> ids not yet given out.
        self._left: dict[str, dict[str, list[str]]] = {}

    async def apimsgid(self, climsgid: str, to: str, *, messages: int) -> str | None:
        """The ``apimsgid`` a status callback gave the message to ``to`` of the request
        ``climsgid`` (of ``messages`` messages in all); None when no callback said so.

        A resumed run asks once per message, in input order: a request's messages are
        consecutive, so only the requests it is walking need remembering.
        """
        left = self._left.get(climsgid)
        if left is None:
            left = {}
            for apimsgid, recipient in (await self._store.accepted_messages(climsgid)).items():
                left.setdefault(recipient, []).append(apimsgid)
            if len(self._left) >= _REMEMBERED:
                self._left.clear()
            self._left[climsgid] = left
        try:
            number = normalize_msisdn(to, self._country_code).removeprefix("+")
        except (InvalidNumberError, TypeError):
            return None
        ids = left.get(number)
        if not ids and messages == 1:
            # A callback that named no number (the One API's) for a request of one message.
            ids = left.get("")
        return ids.pop() if ids else None

    async def aclose(self) -> None:
        """Close the store's connection."""
        await self._store.aclose()

"""The batch (template) API: ``startbatch`` once, then ``senditem``/``quicksend`` per item.

A `Batch` talks to the gateway through :class:`BatchCalls`, which the client that opens it
hands over (``asms._base_client.ClientBatchCalls``): the batch never reaches into the
client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Final, Protocol, TypeVar

from ._exceptions import ASMSError, ValidationError
from ._logging import logger
from ._models import SendResult
from ._optable import OPERATIONS, Operation
from ._replies import expect_id, expect_ok
from ._results import SendResults
from ._sending import normalize_one, normalize_recipients

__all__ = ["Batch", "BatchCalls", "Fields"]

Fields = Sequence[str] | Mapping[int | str, str]

_R = TypeVar("_R")

_START: Final = OPERATIONS["startbatch"]
_ITEM: Final = OPERATIONS["senditem"]
_QUICK: Final = OPERATIONS["quicksend"]
_END: Final = OPERATIONS["endbatch"]


def _field_params(fields: Fields | None) -> dict[str, str]:
    if fields is None:
        return {}
    if isinstance(fields, str):
        raise ValidationError("fields", "must be a sequence or mapping of strings")
    pairs: Iterable[tuple[int | str, str]]
    if isinstance(fields, Mapping):
        pairs = fields.items()
    else:
        pairs = enumerate(fields, start=1)
    out: dict[str, str] = {}
    for key, value in pairs:
        name = key if isinstance(key, str) and key.startswith("field") else f"field{key}"
        if _ITEM.param(name) is None:
            raise ValidationError("fields", f"{name} is not a batch field (field1-field10)")
        if not isinstance(value, str):
            raise ValidationError(name, "must be a string")
        out[name] = value
    return out


class BatchCalls(Protocol):
    """What a :class:`Batch` asks of the client that opened it."""

    @property
    def country_code(self) -> str | int | None:
        """The client's country code, for national numbers."""
        ...

    async def read(
        self, op: Operation, params: Mapping[str, str], parse: Callable[[bytes | str], _R]
    ) -> _R:
        """``op``, a command without side effects (retried), its answer parsed by ``parse``."""
        ...

    async def send_items(
        self,
        op: Operation,
        params: Mapping[str, str],
        recipients: Sequence[str],
        climsgid: str | None,
        parts: int,
    ) -> SendResults:
        """Send ``op`` to ``recipients`` (in as many requests as needed), each request with
        the batch's ``climsgid``: never looked up after an attempt of unknown outcome."""
        ...


class Batch:
    """A template batch; use it as ``async with client.batch(template, **options) as b``.

    Items are not looked up after an attempt of unknown outcome (their ``climsgid`` is the
    batch's): such items come back with ``error_code=OUTCOME_UNKNOWN`` rather than being
    sent twice.
    """

    def __init__(
        self, calls: BatchCalls, params: Mapping[str, str], *, unicode: bool, parts: int
    ) -> None:
        """Made by :meth:`AsyncClient.batch`, which hands over ``calls``."""
        self._calls = calls
        self._params = dict(params)
        self._unicode = unicode
        self._parts = parts
        self._climsgid = params.get("climsgid")
        self._batch_id: str | None = None
        self._ended = False

    def __repr__(self) -> str:
        state = "ended" if self._ended else "open" if self._batch_id else "not started"
        return f"<Batch {self._batch_id or ''} {state}>"

    @property
    def batch_id(self) -> str:
        """The id ``startbatch`` returned; a batch not started yet raises ``ValidationError``."""
        if self._batch_id is None:
            raise ValidationError("batch", "is not started: use it with 'async with'")
        return self._batch_id

    async def start(self) -> str:
        """``startbatch``: the batch id (done by ``async with``)."""
        if self._batch_id is None:
            reply = await self._calls.read(_START, self._params, expect_id)
            self._batch_id = reply.apimsgid
        return self._batch_id

    async def end(self) -> None:
        """``endbatch`` (done by ``async with``; batches also expire after 24 hours)."""
        if self._batch_id is not None and not self._ended:
            self._ended = True
            await self._calls.read(_END, {"batch_id": self._batch_id}, expect_ok)

    async def __aenter__(self) -> Batch:
        """Start the batch (``startbatch``)."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        """End the batch (``endbatch``); a failure to end it does not hide the block's error."""
        if exc_type is None:
            await self.end()
            return
        try:
            await self.end()
        except ASMSError as exc:  # do not hide the error that ended the block
            logger.info("endbatch failed: %s", type(exc).__name__)

    def _check_open(self) -> str:
        if self._ended:
            raise ValidationError("batch", "has ended")
        return self.batch_id

    async def send_item(self, to: str, fields: Fields | None = None) -> SendResult:
        """``senditem``: one recipient, with the template's ``#fieldN#`` filled in."""
        batch_id = self._check_open()
        values = _field_params(fields)
        if values and self._unicode:
            raise ValidationError("fields", "unicode batches cannot use field substitution")
        number = normalize_one(to, self._calls.country_code)
        params = {"batch_id": batch_id, **values}
        results = await self._calls.send_items(_ITEM, params, [number], self._climsgid, self._parts)
        return results[0]

    async def quick_send(self, to: str | Iterable[str]) -> SendResults:
        """``quicksend``: the template as it is to many recipients (split when needed)."""
        batch_id = self._check_open()
        recipients = normalize_recipients(to, self._calls.country_code)
        return await self._calls.send_items(
            _QUICK, {"batch_id": batch_id}, recipients, self._climsgid, self._parts
        )

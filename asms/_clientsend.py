"""The sending commands of `AsyncClient`: ``send``, ``send_batch`` and the pushes."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, Final, TypedDict, Unpack

import anyio

from ._base_client import MAX_REMEMBERED_CLIMSGIDS, _ClientBase
from ._exceptions import (
    ASMSError,
    AuthenticationError,
    GatewayError,
    ThrottledError,
    ValidationError,
)
from ._logging import logger
from ._models import DEFAULT_OPTIONS, Message, SendOptions, SendResult, new_climsgid
from ._optable import OPERATIONS, Operation
from ._results import SendResults
from ._retry import NOT_SENT, OUTCOME_UNKNOWN, AttemptIds, Found, GaveUp, recover
from ._sending import (
    SendReply,
    all_results,
    check_climsgid,
    chunk_climsgid,
    chunks,
    derived_climsgid,
    found_results,
    match_replies,
    normalize_one,
    normalize_recipients,
    op_options,
    parse_send,
)

__all__ = ["SendKeywords", "_SendCommands"]


class SendKeywords(TypedDict, total=False):
    """The keyword options of :meth:`AsyncClient.send`: those of :class:`SendOptions`.

    For type checkers and IDEs only (a misspelt option is caught before running); at run
    time they arrive as a plain dict, as before, and ``SendOptions`` checks the values.
    """

    from_: str | None
    mo: bool | None
    callback: int | None
    deliv_ack: bool | None
    concat: int | None
    deliv_time: int | None
    scheduled_time: int | datetime | None
    queue: int | None
    escalate: bool | None
    max_credits: float | None
    req_feat: int | None
    validity: int | None
    unicode: bool | None
    msg_type: str | None
    udh: str | None
    data: str | None
    binary: bool | None


_OPS: Final = OPERATIONS
_SENDMSG: Final = OPERATIONS["sendmsg"]


class _SendCommands(_ClientBase):
    """``send``, ``send_message``, ``send_batch``, ``si_push``, ``ind_push``."""

    # -- sending -----------------------------------------------------------------------------

    async def send(
        self,
        text: str,
        to: str | Iterable[str],
        *,
        climsgid: str | None = None,
        **options: Unpack[SendKeywords],
    ) -> SendResults:
        """Send ``text`` to one or many recipients; one :class:`SendResult` per recipient.

        ``to`` is a number, a comma list or an iterable of numbers. ``options`` are the
        ``sendmsg`` options (``from_``/``from``, ``callback``, ``concat``, ``msg_type``,
        ``udh``, ``data``, …). Unicode, long and binary messages are detected and encoded
        for the wire; ``concat`` is set to the parts needed unless given.

        Per-recipient outcomes are data, never raises: an ``apimsgid``, a gateway error
        code, ``OUTCOME_UNKNOWN`` (-1: retries spent, the gateway may have the message; look
        it up by ``climsgid``) or ``NOT_SENT`` (-2: it provably never left). A gateway
        ``ERR`` refusing the whole request becomes every recipient's error. Raised are only
        problems of the call as a whole, where nothing was accepted: ``ValidationError``
        (before sending), ``AuthenticationError``, ``TLSError``, a non-retryable
        ``HTTPStatusError``, ``SOAPFault``, ``ClientClosedError``.

        More recipients than one request carries are split into requests sent concurrently;
        each gets its own ``climsgid`` (``climsgid`` + ``c<n>`` when you gave one, see
        :meth:`send_batch`).

        ``climsgid`` is used as given the first time this client (or a client
        ``with_options`` made from it) sends it. A ``climsgid`` it has sent before gets a
        derived one (its first 16 characters plus random hex): a lookup after a failed
        attempt must find this request's message, never the earlier one's. The client
        remembers up to 100,000 ids; past that, every id you give gets a derived
        one. Each result's ``climsgid`` is the id really used. Across
        processes (or separate clients), reusing an id remains your responsibility.
        """
        self._ensure_open()
        opts = SendOptions.from_kwargs(options) if options else DEFAULT_OPTIONS
        if opts.scheduled_time is not None:
            opts.check_schedule(self._clock())
        recipients = normalize_recipients(to, self._options.country_code)
        if climsgid is not None:
            check_climsgid(climsgid)
            climsgid = self._unused_climsgid(climsgid)
        prepared = self._texts(text, opts)
        if len(recipients) <= self._wire.max_recipients:  # one request: no split to plan
            return await self._send_request(
                _SENDMSG, prepared.params, recipients, climsgid or new_climsgid(), prepared.parts
            )
        return await self._send_split(
            _SENDMSG, prepared.params, recipients, climsgid, prepared.parts
        )

    async def send_message(self, message: Message) -> SendResult:
        """Send one :class:`Message`; its ``climsgid`` (or a new one) and ``ref`` come back."""
        return (await self.send_batch([message]))[0]

    async def send_batch(
        self, messages: Sequence[Message], *, wait_throttled: bool = True
    ) -> SendResults:
        """Send messages sharing text and options in ONE request (the bulk sender's unit).

        Every message must have the same ``text`` and ``options``; at most
        :attr:`max_recipients` messages. The request carries one ``climsgid``: the messages'
        own when they give one (they must then all give the same), else a new one. As with
        :meth:`send`, an id this client already sent gets a derived one (the result's
        ``climsgid`` says which): a reused id would let the lookup after a lost reply find the
        earlier message. Results
        come back in message order with each message's ``ref``; per-recipient failures are
        data as in :meth:`send`. After an attempt of unknown outcome that the gateway turns
        out to have accepted, a single message gets the ``apimsgid`` the lookup returns;
        several are all of unknown outcome (``error_code`` ``OUTCOME_UNKNOWN``): the lookup
        names a message but not its recipient, and any of them, the first included, may
        have been refused on its own.

        An ``ERR 130`` (MT limit reached until a time) is waited out, up to the retry
        policy's ``throttle_max_wait``. With ``wait_throttled=False`` it comes back at once
        as every message's result (``error_code`` 130, the description ending in the
        timestamp): for a caller that pauses all its requests until then, as ``send_bulk``
        does.
        """
        self._ensure_open()
        if not messages:
            return SendResults()
        first = messages[0]
        climsgid = first.climsgid
        text, opts = first.text, first.options
        for m in messages:
            if m is first:
                continue
            if m.text != text or (m.options is not opts and m.options != opts):
                raise ValidationError("messages", "must share text and options")
            if m.climsgid != climsgid:
                if climsgid is not None and m.climsgid is not None:
                    raise ValidationError("climsgid", "messages of one request share one")
                climsgid = climsgid or m.climsgid
        if len(messages) > self._wire.max_recipients:
            raise ValidationError(
                "messages", f"at most {self._wire.max_recipients} per request on this wire"
            )
        first.options.check_schedule(self._clock())
        cc = self._options.country_code
        recipients = [normalize_one(m.to, cc) for m in messages]
        prepared = self._texts(first.text, first.options)
        return await self._send_request(
            _SENDMSG,
            prepared.params,
            recipients,
            self._batch_climsgid(climsgid),
            prepared.parts,
            [m.ref for m in messages],
            wait_throttled=wait_throttled,
        )

    def _batch_climsgid(self, climsgid: str | None) -> str:
        if climsgid is None:
            return new_climsgid()
        reserved = self._shared.reserved_climsgids
        if climsgid in reserved:
            reserved.discard(climsgid)
            return climsgid
        return self._unused_climsgid(climsgid)

    def _reserve_climsgid(self, climsgid: str) -> None:
        """``send_bulk`` made ``climsgid`` unique and journaled it: send it once as given."""
        self._shared.reserved_climsgids.add(climsgid)

    def _unused_climsgid(self, climsgid: str) -> str:
        """The id a request given the caller's ``climsgid`` carries: as given the first time,
        a derived one once this client (or a ``with_options`` sibling) has sent it.

        Reusing it would make the lookup after a failed attempt find the earlier message and
        report this one accepted under its id, never sent. Checked and recorded before any
        await, so two concurrent sends with one id cannot both use it.
        """
        shared = self._shared
        if shared.climsgids_full:
            # Ids given since the set filled were never recorded: none can be trusted unused.
            return derived_climsgid(climsgid)
        seen = shared.climsgids
        if climsgid in seen:
            climsgid = derived_climsgid(climsgid)
        if len(seen) >= MAX_REMEMBERED_CLIMSGIDS:
            shared.climsgids_full = True
            logger.warning(
                "%d caller climsgids remembered: every further one gets a derived id",
                MAX_REMEMBERED_CLIMSGIDS,
            )
            return climsgid  # unrecorded, but every later id is derived: never reused
        # A derived id is remembered too: a caller may pass back the id a result reported.
        seen.add(climsgid)
        return climsgid

    def _remember_climsgids(self, climsgids: Iterable[str]) -> None:
        """Ids a split send used besides the caller's (``<id>c<n>``), while there is room."""
        seen = self._shared.climsgids
        for climsgid in climsgids:
            if len(seen) >= MAX_REMEMBERED_CLIMSGIDS:
                return
            seen.add(climsgid)

    async def _send_split(
        self,
        op: Operation,
        params: Mapping[str, str],
        recipients: list[str],
        climsgid: str | None,
        parts: int,
        *,
        reconcile: bool = True,
    ) -> SendResults:
        groups = chunks(recipients, self._wire.max_recipients)
        count = len(groups)
        base = climsgid or ""
        if count == 1:
            cid = (base or new_climsgid()) if reconcile else climsgid
            return await self._send_request(op, params, groups[0], cid, parts, reconcile=reconcile)
        logger.debug("%s to %d recipients in %d requests", op.name, len(recipients), count)
        if base and reconcile:
            self._remember_climsgids(chunk_climsgid(base, i, count) for i in range(count))
        slots: list[SendResults] = [SendResults() for _ in groups]
        errors: list[ASMSError] = []

        async def one(index: int) -> None:
            cid: str | None = chunk_climsgid(base, index, count) if base else new_climsgid()
            if not reconcile:
                cid = climsgid  # batch items carry the batch's id, if any
            try:
                slots[index] = await self._send_request(
                    op, params, groups[index], cid, parts, reconcile=reconcile
                )
            except ASMSError as exc:
                errors.append(exc)

        async with anyio.create_task_group() as group:
            for index in range(count):
                group.start_soon(one, index)
        if errors:
            raise errors[0]
        return SendResults(result for slot in slots for result in slot)

    async def _send_request(
        self,
        op: Operation,
        params: Mapping[str, str],
        recipients: Sequence[str],
        climsgid: str | None,
        parts: int,
        refs: Sequence[Any] | None = None,
        *,
        reconcile: bool = True,
        wait_throttled: bool = True,
    ) -> SendResults:
        """One request (at most the wire's recipient limit) with retries, and with
        reconciliation by ``climsgid`` unless ``reconcile`` is off (batch items: their
        ``climsgid`` belongs to the batch, so an unknown outcome cannot be looked up).
        Without ``wait_throttled`` an ``ERR 130`` is every recipient's result at once.
        """
        full: dict[str, str | Sequence[str]] = dict(params)
        full["to"] = recipients
        ids: AttemptIds | None = None
        if reconcile:
            assert climsgid is not None
            full["climsgid"] = climsgid
            ids = AttemptIds(climsgid)
        error: ASMSError
        first: ASMSError | None = None

        def again() -> Awaitable[SendReply]:
            if ids is not None:
                full["climsgid"] = ids.current  # a new id after a "missing" verdict
            return self._call(op, full, parse_send)

        try:
            # The first attempt inline (the retry machinery only when it fails): as
            # run() does, but without its frames on every successful request.
            self._counters.attempts += 1
            try:
                outcome: SendReply | Found = await self._call(op, full, parse_send)
            except ASMSError as exc:
                first = exc
            if first is not None:
                outcome = await recover(
                    first,
                    again,
                    mode="send" if reconcile else "write",
                    policy=self._retry if wait_throttled else self._retry_no_throttle_wait,
                    counters=self._counters,
                    lookup=self._lookup if reconcile else None,
                    ids=ids,
                    clock=self._clock,
                )
        except GaveUp as exc:
            code = NOT_SENT if exc.sent is False else OUTCOME_UNKNOWN
            what = "not sent" if exc.sent is False else "outcome unknown"
            note = f"{what} after {self._retry.attempts} attempts: {exc.last}"
            used = climsgid if ids is None else ids.current
            logger.info("%s climsgid=%s: %s", op.name, used, note)
            return all_results(recipients, used, code, note, parts, refs)
        except GatewayError as exc:
            if isinstance(exc, AuthenticationError):
                error = exc
            else:
                used = climsgid if ids is None else ids.current
                refused = all_results(recipients, used, exc.code, exc.description, parts, refs)
                if isinstance(exc, ThrottledError):
                    refused.throttled = exc  # a caller pausing for it needs the gateway's clock
                return refused
        else:
            if isinstance(outcome, Found):
                results = found_results(recipients, outcome.climsgid, outcome.reply, parts, refs)
            elif ids is None:
                return match_replies(recipients, outcome, climsgid, parts, refs)
            else:
                results = match_replies(recipients, outcome, ids.current, parts, refs)
            if ids is not None and ids.duplicates:
                results = self._duplicates(op, results, ids)
            return results
        raise error

    def _duplicates(self, op: Operation, results: SendResults, ids: AttemptIds) -> SendResults:
        """Mark the accepted recipients of a request the gateway accepted more than once."""
        marked = SendResults(replace(r, duplicate=True) if r.accepted else r for r in results)
        count = sum(r.duplicate for r in marked)
        self._counters.duplicates_detected += count
        logger.warning(
            "%s climsgid=%s: the gateway accepted it twice (an attempt looked up as missing"
            " showed up later): %d recipient(s) got it twice",
            op.name,
            ids.current,
            count,
        )
        return marked

    # -- push messages ----------------------------------------------------------------------

    async def si_push(
        self,
        to: str | Iterable[str],
        *,
        si_id: str,
        si_url: str,
        si_text: str,
        climsgid: str | None = None,
        **options: Any,
    ) -> SendResults:
        """A WAP Service Indication push (``si_push``); results as for :meth:`send`."""
        return await self._push(
            _OPS["si_push"],
            to,
            {"si_id": si_id, "si_url": si_url, "si_text": si_text, **options},
            climsgid,
        )

    async def ind_push(
        self,
        to: str | Iterable[str],
        *,
        mms_subject: str,
        mms_class: str | int,
        mms_expire: str | int,
        mms_from: str,
        mms_url: str,
        climsgid: str | None = None,
        **options: Any,
    ) -> SendResults:
        """An MMS notification push (``ind_push``); results as for :meth:`send`."""
        fields = {
            "mms_subject": mms_subject,
            "mms_class": mms_class,
            "mms_expire": mms_expire,
            "mms_from": mms_from,
            "mms_url": mms_url,
        }
        return await self._push(_OPS["ind_push"], to, {**fields, **options}, climsgid)

    async def _push(
        self,
        op: Operation,
        to: str | Iterable[str],
        options: Mapping[str, Any],
        climsgid: str | None,
    ) -> SendResults:
        self._ensure_open()
        params = op_options(op, options, exclude=("to", "climsgid"))
        recipients = normalize_recipients(to, self._options.country_code)
        if climsgid is not None:
            check_climsgid(climsgid)
            climsgid = self._unused_climsgid(climsgid)
        return await self._send_split(op, params, recipients, climsgid, 1)

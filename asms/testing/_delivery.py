"""Accepting messages: per-recipient checks, charging, storing, scheduling status events.

The hot path of the emulator (every accepted message passes through :func:`commit`), kept
apart from the gateway state so both stay readable.
"""

from __future__ import annotations

from collections.abc import Mapping

from .._codes import MessageStatus
from ._call import Call, err_line
from ._config import Account
from ._content import Content, is_msisdn
from ._recorder import CommittedMessage
from ._state import DUE, GatewayState

__all__ = ["commit"]

S = MessageStatus
_E105, _E114, _E121 = err_line(105), err_line(114), err_line(121)
_E122, _E128, _E301 = err_line(122), err_line(128), err_line(301)


def commit(
    state: GatewayState,
    call: Call,
    account: Account,
    params: Mapping[str, str],
    content: Content,
    due: float,
    now: float,
) -> list[str]:
    """Accept each recipient that can be accepted; one reply line per recipient."""
    recipients = call.to
    multi = len(recipients) > 1
    suffix = multi and state.profile.error_lines_with_to
    climsgid = params.get("climsgid", "")
    sender = params.get("from", "")
    callback = int(params.get("callback") or 0)
    raw_cap = params.get("max_credits")
    max_credits = float(raw_cap) if raw_cap else None
    validity = params.get("validity")
    expires = None
    if validity and int(validity) * 60 < state.lifecycle.queued:
        expires = due + int(validity) * 60  # still queued when its validity ends
    deferred = due > now
    api_id = account.api_id
    balance = state.balances[api_id]
    text, parts, command = content.text, content.parts, call.op.name
    lines: list[str] = []
    committed: list[CommittedMessage] = []
    for to in recipients:
        error = ""
        charge = None
        if not is_msisdn(to):
            error = _E105
        elif to in state.blocked:
            error = _E121
        elif to in state.opted_out:
            error = _E122
        elif to in state.delisted:
            error = _E128
        else:
            charge = state.route(to)
            if charge is None:
                error = _E114
        if charge is not None:
            if parts != 1:
                charge = round(charge * parts, 6)
            final = 0
            final_at = 0.0
            paid = False
            if max_credits is not None and charge > max_credits:
                final, final_at = S.ROUTING_ERROR, now  # still gets an ID, then 009
            elif expires is not None:
                final, final_at = S.MESSAGE_EXPIRED, expires
            elif balance < charge:
                error = _E301
            else:
                if not deferred:
                    balance -= charge
                    paid = True
                if to in state.undeliverable:
                    final, final_at = S.ERROR_DELIVERING_MESSAGE, due + state.lifecycle.queued
            if not error:
                message = CommittedMessage(
                    state.new_id(),
                    climsgid,
                    to,
                    sender,
                    text,
                    parts,
                    charge,
                    now,
                    due,
                    api_id,
                    command,
                    callback,
                )
                if final:
                    message.final, message.final_at = final, final_at
                message.paid = paid
                committed.append(message)
                apimsgid = message.apimsgid
                lines.append(f"ID: {apimsgid} To: {to}" if multi else f"ID: {apimsgid}")
                continue
        lines.append(f"{error} To: {to}" if suffix else error)
    if committed:
        state.balances[api_id] = round(balance, 6)
        _store(state, committed, account, climsgid, deferred)
    return lines


def _store(
    state: GatewayState,
    committed: list[CommittedMessage],
    account: Account,
    climsgid: str,
    deferred: bool,
) -> None:
    messages = state.messages
    order = state.order
    for message in committed:
        messages[message.apimsgid] = message
        order.append(message.apimsgid)
    if len(committed) > 1:
        for message in committed:
            message.group = committed
    if climsgid:
        state.by_climsgid.setdefault((account.api_id, climsgid), committed[0])
    state.recorder.record_commit(climsgid, committed)
    if deferred:
        for message in committed:
            state.push(message.due, DUE, message, S.QUEUED_FOR_LATER_DELIVERY)
    callback = committed[0].callback
    if (
        callback
        and account.callback_url
        and state.sink is not None
        and state.profile.callback_triggers.get(callback)
    ):
        for message in committed:
            state.schedule_events(message)
    retention = state.retention
    if retention is not None:
        while len(order) > retention:
            _forget(state, messages.pop(order.popleft()))


def _forget(state: GatewayState, message: CommittedMessage) -> None:
    key = (message.api_id, message.climsgid)
    if message.climsgid and state.by_climsgid.get(key) is message:
        del state.by_climsgid[key]

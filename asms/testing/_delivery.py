"""Accepting messages: per-recipient checks, charging, storing, scheduling status events.

The hot path of the emulator (every accepted message passes through `commit`), kept apart
from the emulator class so both stay readable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .._codes import MessageStatus
from ._call import Call, err_line
from ._config import Account
from ._content import Content, is_msisdn
from ._recorder import CommittedMessage

if TYPE_CHECKING:
    from ._emulator import GatewayEmulator

__all__ = ["DUE", "STATUS", "commit"]

S = MessageStatus
DUE, STATUS = 0, 1  # kinds of pending entries; at the same instant a due entry goes first
_E105, _E114, _E121 = err_line(105), err_line(114), err_line(121)
_E122, _E128, _E301 = err_line(122), err_line(128), err_line(301)


def commit(
    emu: GatewayEmulator,
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
    suffix = multi and emu.profile.error_lines_with_to
    climsgid = params.get("climsgid", "")
    sender = params.get("from", "")
    callback = int(params.get("callback") or 0)
    raw_cap = params.get("max_credits")
    max_credits = float(raw_cap) if raw_cap else None
    validity = params.get("validity")
    expires = None
    if validity and int(validity) * 60 < emu.lifecycle.queued:
        expires = due + int(validity) * 60  # still queued when its validity ends
    deferred = due > now
    api_id = account.api_id
    balance = emu._balances[api_id]
    text, parts, command = content.text, content.parts, call.op.name
    lines: list[str] = []
    committed: list[CommittedMessage] = []
    for to in recipients:
        error = ""
        charge = None
        if not is_msisdn(to):
            error = _E105
        elif to in emu.blocked:
            error = _E121
        elif to in emu.opted_out:
            error = _E122
        elif to in emu.delisted:
            error = _E128
        else:
            charge = emu._route(to)
            if charge is None:
                error = _E114
        if charge is not None:
            if parts != 1:
                charge = round(charge * parts, 6)
            final = 0
            final_at = 0.0
            paid = False
            if max_credits is not None and charge > max_credits:
                final, final_at = S.ROUTING_ERROR, now  # ID first, then 009 (research §3)
            elif expires is not None:
                final, final_at = S.MESSAGE_EXPIRED, expires
            elif balance < charge:
                error = _E301
            else:
                if not deferred:
                    balance -= charge
                    paid = True
                if to in emu.undeliverable:
                    final, final_at = S.ERROR_DELIVERING_MESSAGE, due + emu.lifecycle.queued
            if not error:
                message = CommittedMessage(
                    emu._new_id(),
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
        emu._balances[api_id] = round(balance, 6)
        _store(emu, committed, account, climsgid, deferred)
    return lines


def _store(
    emu: GatewayEmulator,
    committed: list[CommittedMessage],
    account: Account,
    climsgid: str,
    deferred: bool,
) -> None:
    messages = emu._messages
    order = emu._order
    for message in committed:
        messages[message.apimsgid] = message
        order.append(message.apimsgid)
    if len(committed) > 1:
        for message in committed:
            message.group = committed
    if climsgid:
        emu._by_climsgid.setdefault((account.api_id, climsgid), committed[0])
    emu.recorder.record_commit(climsgid, committed)
    if deferred:
        for message in committed:
            emu._push(message.due, DUE, message, S.QUEUED_FOR_LATER_DELIVERY)
    callback = committed[0].callback
    if (
        callback
        and account.callback_url
        and emu._sink is not None
        and emu.profile.callback_triggers.get(callback)
    ):
        for message in committed:
            emu._schedule_events(message)
    retention = emu.retention
    if retention is not None:
        while len(order) > retention:
            _forget(emu, messages.pop(order.popleft()))


def _forget(emu: GatewayEmulator, message: CommittedMessage) -> None:
    key = (message.api_id, message.climsgid)
    if message.climsgid and emu._by_climsgid.get(key) is message:
        del emu._by_climsgid[key]

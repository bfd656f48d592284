"""The gateway's commands, wire-independent: a parsed call in, reply lines out.

HTTP and both SOAP styles parse their requests into a :class:`Call` (parameters keyed by
their canonical operation-table name) and render the lines this module returns.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Mapping

from .._codes import ErrorCode
from .._config import SESSION_LIFETIME
from .._replies import format_number
from ._call import ERR_LINES, Call, CallOutcome, Channel
from ._config import Account
from ._content import Content, check_schedule, content_of, param_error
from ._delivery import commit
from ._recorder import CommittedMessage
from ._state import BatchRecord, GatewayState

__all__ = ["execute"]

E = ErrorCode

_BEFORE_COMMIT = frozenset({"err901_before_commit", "drop_before_commit", "connect_error"})
_ACTIONS: Mapping[str, str] = {
    "drop_before_commit": "drop",
    "drop_after_commit": "drop",
    "connect_error": "connect",
    "truncated_reply": "truncate",
}
_FIELD = re.compile(r"#field(\d+)#")
_COVERAGE_OK = (
    "OK: This prefix is currently supported. Messages sent to this prefix will be routed."
)
_COVERAGE_ERR = (
    "ERR: This prefix is not currently supported. Messages sent to this prefix will fail. "
    "Please contact support for assistance."
)


def _credits_text(value: float) -> str:
    # Balances and charges are float sums: rounding drops their binary noise
    # (0.30000000000000004) before the number is written as the gateway writes it.
    return format_number(round(value, 6))


def execute(state: GatewayState, call: Call) -> CallOutcome:
    """Run one command, with the configured faults around it (its arrival is recorded)."""
    now = state.time()
    outcome = _execute(state, call, now)
    state.recorder.record_arrival(now, call.op.name, outcome.lines)
    return outcome


def _execute(state: GatewayState, call: Call, now: float) -> CallOutcome:
    pending = state.pending
    if pending and pending[0][0] <= now:
        state.process_due(now)
    name = call.op.name
    recorder = state.recorder
    recorder.record_request(name)
    kind: str | None = None
    delay = 0.0
    faults = state.faults
    if state.faults_active and name in faults.commands:
        kind, delay = state.injector.draw()
        if delay:
            recorder.record_fault("latency")
        if kind in _BEFORE_COMMIT:
            recorder.record_fault(kind)
            if kind == "err901_before_commit":
                recorder.record_error(E.INTERNAL_ERROR)
                return CallOutcome([ERR_LINES[E.INTERNAL_ERROR]], None, delay)
            return CallOutcome([], _ACTIONS[kind], delay)
    if call.malformed:
        lines = [ERR_LINES[E.INVALID_OR_MISSING_PARAMETERS]]
    else:
        lines = _HANDLERS[name](state, call, now)
    for line in lines:
        if line[:5] == "ERR: " and line[5:8].isdigit():
            recorder.record_error(int(line[5:8]))
    if kind is not None:
        recorder.record_fault(kind)
        if kind == "err901_after_commit":
            recorder.record_error(E.INTERNAL_ERROR)
            lines = [ERR_LINES[E.INTERNAL_ERROR]]
        elif kind == "slow_reply":
            delay += faults.slow_reply_seconds
    if pending and pending[0][0] <= now:  # events this request created (a cancel…)
        state.process_due(now)
    return CallOutcome(lines, _ACTIONS.get(kind) if kind else None, delay)


# -- authentication ------------------------------------------------------------------------


def _credentials(state: GatewayState, auth: Mapping[str, str]) -> Account | ErrorCode:
    key = (auth.get("api_id", ""), auth.get("user", ""), auth.get("password", ""))
    cached = state.credentials_seen.get(key)
    if cached is not None:  # the same valid credentials on every request of a bulk run
        return cached
    raw = key[0].strip()
    account = state.accounts.get(int(raw)) if raw.isdigit() else None
    if account is None:
        return E.INVALID_OR_MISSING_API_ID
    if auth.get("user") != account.user:
        return E.UNKNOWN_USERNAME_OR_PASSWORD
    if not hmac.compare_digest(
        auth.get("password", "").encode("utf-8", "replace"), account.password.encode("utf-8")
    ):
        return E.AUTHENTICATION_FAILED
    seen = state.credentials_seen
    if len(seen) >= 256:
        seen.clear()
    seen[key] = account
    return account


def _admit(state: GatewayState, account: Account, call: Call) -> Account | ErrorCode:
    if account.allowed_ips is not None and call.client_ip not in account.allowed_ips:
        return E.IP_LOCKDOWN_VIOLATION
    if account.frozen:
        return E.ACCOUNT_FROZEN
    return account


def _authenticate(state: GatewayState, call: Call, now: float) -> Account | ErrorCode:
    """The calling account, by session id or by credentials on the request."""
    auth = call.auth
    session_id = auth.get("session_id")
    if session_id:
        session = state.sessions.get(session_id.lower())
        if session is None or now - session.last_used > SESSION_LIFETIME:
            state.sessions.pop(session_id.lower(), None)
            return E.SESSION_ID_EXPIRED
        account = state.accounts.get(session.api_id)
        if account is None:
            return E.SESSION_ID_EXPIRED
        faults = state.faults
        if (
            faults.session_expiry
            and call.op.name in faults.commands
            and state.injector.session_expires()
        ):
            del state.sessions[session_id.lower()]
            state.recorder.record_fault("session_expiry")
            return E.SESSION_ID_EXPIRED
        session.last_used = now  # sliding expiry: every call with the session extends it
        return _admit(state, account, call)
    if call.op.auth == "session" or not ("api_id" in auth or "user" in auth or "password" in auth):
        return E.MISSING_SESSION_ID
    found = _credentials(state, auth)
    if isinstance(found, ErrorCode):
        return found
    return _admit(state, found, call)


def _request_error(state: GatewayState, code: ErrorCode | str, call: Call) -> list[str]:
    """A request-level error (a code or a whole line); on a multi-recipient send, one line
    per recipient, as the gateway's SOAP example shows (docs 002).
    """
    line = code if isinstance(code, str) else ERR_LINES[code]
    if len(call.to) > 1 and call.op.multi and state.profile.error_lines_with_to:
        return [f"{line} To: {to}" for to in call.to]
    return [line]


# -- commands ------------------------------------------------------------------------------


def _auth(state: GatewayState, call: Call, now: float) -> list[str]:
    found = _credentials(state, call.auth)
    if not isinstance(found, ErrorCode):
        found = _admit(state, found, call)
    if isinstance(found, ErrorCode):
        return [ERR_LINES[found]]
    return [f"OK: {state.open_session(found, now)}"]


def _ping(state: GatewayState, call: Call, now: float) -> list[str]:
    found = _authenticate(state, call, now)
    if isinstance(found, ErrorCode):
        return [ERR_LINES[found]]
    return ["OK:"]


def _getbalance(state: GatewayState, call: Call, now: float) -> list[str]:
    found = _authenticate(state, call, now)
    if isinstance(found, ErrorCode):
        return [ERR_LINES[found]]
    return [f"Credit: {_credits_text(state.balances[found.api_id])}"]


def _route_coverage(state: GatewayState, call: Call, now: float) -> list[str]:
    found = _authenticate(state, call, now)
    if isinstance(found, ErrorCode):
        return [ERR_LINES[found]]
    code = param_error(call.op, call.params, False, state.profile)
    if code is not None:
        return [ERR_LINES[code]]
    charge = state.route(call.params["msisdn"])
    if charge is None:
        return [_COVERAGE_ERR]
    return [f"{_COVERAGE_OK} Charge: {_credits_text(charge)}"]


def _token_pay(state: GatewayState, call: Call, now: float) -> list[str]:
    found = _authenticate(state, call, now)
    if isinstance(found, ErrorCode):
        return [ERR_LINES[found]]
    code = param_error(call.op, call.params, False, state.profile)
    credits = state.vouchers.pop(call.params.get("token", ""), None) if code is None else None
    if credits is None:  # malformed, unknown or already redeemed
        return [ERR_LINES[E.INVALID_OR_MISSING_PARAMETERS]]
    state.balances[found.api_id] = round(state.balances[found.api_id] + credits, 6)
    return [f"OK: {_credits_text(credits)}"]


def _lookup_common(
    state: GatewayState, call: Call, now: float
) -> tuple[CommittedMessage, Account] | list[str]:
    found = _authenticate(state, call, now)
    if isinstance(found, ErrorCode):
        return [ERR_LINES[found]]
    params = call.params
    code = param_error(call.op, params, False, state.profile)
    if code is not None:
        return [ERR_LINES[code]]
    apimsgid = params.get("apimsgid")
    climsgid = params.get("climsgid")
    if not apimsgid and not climsgid:
        return [ERR_LINES[E.MISSING_MESSAGE_ID]]
    message = state.lookup(found.api_id, apimsgid, climsgid, now)
    if message is None:
        code = E.UNKNOWN_API_MESSAGE_ID if apimsgid else E.UNKNOWN_CLIENT_MESSAGE_ID
        return [ERR_LINES[code]]
    return message, found


def _querymsg(state: GatewayState, call: Call, now: float) -> list[str]:
    found = _lookup_common(state, call, now)
    if isinstance(found, list):
        return found
    message = found[0]
    return [f"ID: {message.apimsgid} Status: {message.status_at(now, state.lifecycle):03d}"]


def _delmsg(state: GatewayState, call: Call, now: float) -> list[str]:
    found = _lookup_common(state, call, now)
    if isinstance(found, list):
        return found
    message = found[0]
    status = state.cancel(message, now)
    if call.params.get("climsgid") and not call.params.get("apimsgid") and message.group:
        for other in message.group:  # a client id names the whole request
            if other is not message:
                state.cancel(other, now)
    return [f"ID: {message.apimsgid} Status: {status:03d}"]


def _getmsgcharge(state: GatewayState, call: Call, now: float) -> list[str]:
    found = _lookup_common(state, call, now)
    if isinstance(found, list):
        return found
    message = found[0]
    status = message.status_at(now, state.lifecycle)
    charge = _credits_text(state.charge_of(message, status))
    if state.profile.charge_line == "apiMsgId":
        return [f"apiMsgId: {message.apimsgid} charge: {charge} status: {status:03d}"]
    return [f"ID: {message.apimsgid} Charge: {charge} Status: {status:03d}"]


# -- sending -------------------------------------------------------------------------------


def _limit(state: GatewayState, channel: Channel) -> int:
    profile = state.profile
    if channel == "get":
        return profile.max_recipients_get
    if channel == "post":
        return profile.max_recipients_post
    return profile.max_recipients_soap


def _sendmsg(state: GatewayState, call: Call, now: float) -> list[str]:
    found = _authenticate(state, call, now)
    if isinstance(found, ErrorCode):
        return _request_error(state, found, call)
    if len(call.to) > _limit(state, call.channel):
        return [ERR_LINES[E.INVALID_OR_MISSING_PARAMETERS]]
    params = call.params
    code = param_error(call.op, params, bool(call.to), state.profile)
    if code is not None:
        return _request_error(state, code, call)
    content = content_of(params)
    if isinstance(content, ErrorCode):
        return _request_error(state, content, call)
    return _deliver(state, call, found, params, content, now)


def _push(state: GatewayState, call: Call, now: float) -> list[str]:
    """si_push / ind_push: one-part WAP messages; the text is what the handset shows."""
    found = _authenticate(state, call, now)
    if isinstance(found, ErrorCode):
        return _request_error(state, found, call)
    if len(call.to) > _limit(state, call.channel):
        return [ERR_LINES[E.INVALID_OR_MISSING_PARAMETERS]]
    params = call.params
    code = param_error(call.op, params, bool(call.to), state.profile)
    if code is not None:
        return _request_error(state, code, call)
    shown = params.get("si_text") or params.get("mms_subject") or ""
    return _deliver(state, call, found, params, Content(shown, 1), now)


def _deliver(
    state: GatewayState,
    call: Call,
    account: Account,
    params: Mapping[str, str],
    content: Content,
    now: float,
) -> list[str]:
    """Checks shared by every sending command, then one result line per recipient."""
    concat = params.get("concat")
    if content.parts > (int(concat) if concat else 1):
        return _request_error(state, E.MAXIMUM_MESSAGE_PARTS_EXCEEDED, call)
    sender = params.get("from", "")
    if sender and not sender.isdigit() and account.senders is not None:
        if sender not in account.senders:
            return _request_error(state, E.INVALID_SENDER_ID, call)
    due, code = check_schedule(params, now)
    if code is not None:
        return _request_error(state, code, call)
    refusal = state.throttle(call.op.name, len(call.to), now)
    if refusal is not None:
        return _request_error(state, refusal, call)
    return commit(state, call, account, params, content, due, now)


def _batch_for(
    state: GatewayState, call: Call, now: float
) -> tuple[Account, BatchRecord] | list[str]:
    found = _authenticate(state, call, now)
    if isinstance(found, ErrorCode):
        return _request_error(state, found, call)
    if len(call.to) > _limit(state, call.channel):
        return [ERR_LINES[E.INVALID_OR_MISSING_PARAMETERS]]
    code = param_error(call.op, call.params, bool(call.to), state.profile)
    if code is not None:
        return _request_error(state, code, call)
    batch = state.find_batch(found.api_id, call.params["batch_id"], now)
    if batch is None:
        return _request_error(state, E.INVALID_BATCH_ID, call)
    return found, batch


def _startbatch(state: GatewayState, call: Call, now: float) -> list[str]:
    found = _authenticate(state, call, now)
    if isinstance(found, ErrorCode):
        return [ERR_LINES[found]]
    params = call.params
    code = param_error(call.op, params, False, state.profile)
    if code is not None:
        return [ERR_LINES[code]]
    template = params["template"]
    if params.get("unicode") == "1":
        checked = content_of({"text": template, "unicode": "1"})
        if isinstance(checked, ErrorCode):
            return [ERR_LINES[checked]]
    sender = params.get("from", "")
    if sender and not sender.isdigit() and found.senders is not None:
        if sender not in found.senders:
            return [ERR_LINES[E.INVALID_SENDER_ID]]
    _, code = check_schedule(params, now)
    if code is not None:
        return [ERR_LINES[code]]
    return [f"ID: {state.open_batch(found, params, now)}"]


def _senditem(state: GatewayState, call: Call, now: float) -> list[str]:
    found = _batch_for(state, call, now)
    if isinstance(found, list):
        return found
    account, batch = found
    options = dict(batch.params)
    template = options.pop("template")
    if options.get("unicode") != "1":  # unicode batches cannot use field substitution
        fields = call.params
        template = _FIELD.sub(lambda m: fields.get(f"field{m.group(1)}", ""), template)
    options["text"] = template
    content = content_of(options)
    if isinstance(content, ErrorCode):
        return _request_error(state, content, call)
    return _deliver(state, call, account, options, content, now)


def _quicksend(state: GatewayState, call: Call, now: float) -> list[str]:
    found = _batch_for(state, call, now)
    if isinstance(found, list):
        return found
    account, batch = found
    options = dict(batch.params)
    options["text"] = options.pop("template")
    content = content_of(options)
    if isinstance(content, ErrorCode):
        return _request_error(state, content, call)
    return _deliver(state, call, account, options, content, now)


def _endbatch(state: GatewayState, call: Call, now: float) -> list[str]:
    found = _batch_for(state, call, now)
    if isinstance(found, list):
        return found
    state.batches.pop(call.params["batch_id"].lower(), None)
    return ["OK"]


_HANDLERS: Mapping[str, Callable[[GatewayState, Call, float], list[str]]] = {
    "auth": _auth,
    "ping": _ping,
    "sendmsg": _sendmsg,
    "querymsg": _querymsg,
    "delmsg": _delmsg,
    "getbalance": _getbalance,
    "routeCoverage": _route_coverage,
    "si_push": _push,
    "ind_push": _push,
    "token_pay": _token_pay,
    "startbatch": _startbatch,
    "senditem": _senditem,
    "quicksend": _quicksend,
    "endbatch": _endbatch,
    "getmsgcharge": _getmsgcharge,
}

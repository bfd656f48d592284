"""The emulator's Platform endpoints: Platform SMS (``/messages``, ``/messages/http/send``,
``/public-client/...``) and the One API (``/v1/message``, ``/v1/balance``), on the same
gateway state as the legacy API.

A Platform send is a legacy send underneath: the same per-recipient checks, charges, stored
messages, lifecycle, recorder and faults (:func:`~._delivery.commit`), answered in JSON. Its
messages carry the command ``platform:send``, ``platform:http_send`` or ``one-api:send``.
Status callbacks of Platform messages go to the sending key's integration (not to the
account's legacy callback URL), in the Platform's forms; they are scheduled on a heap of
their own, next to the gateway's.

The hot path (``POST /messages``) is one ``json.loads``, one loop over the recipients inside
``commit`` and one over its reply lines, and one ``json.dumps``.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import json
import random
import time as _time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, NamedTuple
from urllib.parse import parse_qsl

from .._codes import ErrorCode, MessageStatus
from .._encoding import count_parts
from .._models import MAX_SCHEDULE_AHEAD
from .._optable import OPERATIONS
from .._platform_codes import OneApiErrorCode
from ._app import HTTPReply
from ._call import Call
from ._content import Content, content_of
from ._delivery import commit
from ._events import MOEvent
from ._platform_callbacks import mo_request, one_api_status_of, status_request
from ._platform_config import Integration, PlatformProfile
from ._platform_replies import (
    ONE_API_FOR_LEGACY,
    Result,
    json_body,
    one_api_body,
    one_api_error_body,
    platform_body,
    platform_error_body,
    platform_texts,
)
from ._recorder import CommittedMessage

if TYPE_CHECKING:
    from ._config import Account
    from ._state import GatewayState

__all__ = [
    "ONE_API_SEND",
    "PLATFORM_COMMANDS",
    "PLATFORM_HTTP_SEND",
    "PLATFORM_SEND",
    "PlatformGateway",
]

E = ErrorCode
O = OneApiErrorCode  # noqa: E741 - the One API's codes, as E is the legacy ones

PLATFORM_SEND: Final = "platform:send"
PLATFORM_HTTP_SEND: Final = "platform:http_send"
ONE_API_SEND: Final = "one-api:send"
_PATHS: Final[dict[str, tuple[str, str]]] = {
    # path -> (command as the recorder counts it, HTTP method)
    "/messages": (PLATFORM_SEND, "POST"),
    "/messages/http/send": (PLATFORM_HTTP_SEND, "GET"),
    "/public-client/balance": ("platform:balance", "GET"),
    "/public-client/message/status": ("platform:status", "GET"),
    "/v1/message": (ONE_API_SEND, "POST"),
    "/v1/balance": ("one-api:balance", "GET"),
}
_ONE_API_STATUS: Final = "one-api:status"
_STATUS_PREFIX: Final = "/v1/message/"
#: Every command name the Platform endpoints record.
PLATFORM_COMMANDS: Final = frozenset(
    {*(command for command, _ in _PATHS.values()), _ONE_API_STATUS}
)
_SENDS: Final = frozenset({PLATFORM_SEND, PLATFORM_HTTP_SEND, ONE_API_SEND})
_JSON_TYPE: Final = (b"content-type", b"application/json")
PLATFORM_NOT_TWO_WAY: Final = 607  # the platform's "FROM number on a one-way integration"
_MT_LIMIT: Final = 130  # "Maximum MT limit exceeded", the body of a 429
# Platform SMS request-level codes -> HTTP status (errors_as_200 answers all of them 200).
_HTTP_OF: Final[dict[int, int]] = {108: 401, 7: 401, 301: 402, 106: 200, 607: 200}
# What the recorder counts a One API code as: its legacy equivalent, else the nearest one.
_RECORDED_AS: Final[dict[int, int]] = {19: 901, 21: 100, 22: 101, 39: 101, 43: 130, 45: 607}


def _recorded(code: int) -> int:
    legacy = OneApiErrorCode(code).legacy
    return int(legacy) if legacy is not None else _RECORDED_AS.get(code, code)


def _reply(status: int, body: bytes) -> HTTPReply:
    return HTTPReply(status, _JSON_TYPE, body)


class _Tracked:
    """A Platform message whose status changes go to its integration's callback URL."""

    __slots__ = ("form", "integration", "last", "message", "request_id")

    def __init__(
        self, message: CommittedMessage, integration: Integration, form: str, request_id: str
    ) -> None:
        self.message = message
        self.integration = integration
        self.form = form
        self.request_id = request_id
        self.last: MessageStatus | None = None


class _Valid(NamedTuple):
    """A One API message that passed the per-message checks."""

    to: str
    text: str
    sender: str
    climsgid: str


class _SendRequest:
    """A Platform send, parsed: what commit needs, or the request-level error code."""

    __slots__ = ("climsgid", "content", "due", "from_", "to", "validity")

    def __init__(self) -> None:
        self.to: list[str] = []
        self.content: Content | None = None
        self.from_ = ""
        self.climsgid = ""
        self.validity: int | None = None
        self.due: float | None = None


class PlatformGateway:
    """The Platform endpoints of one emulator: its integrations, its response profile, its
    status-callback schedule. Called under the gateway state's lock (by the app, or by the
    emulator's methods)."""

    def __init__(self, state: GatewayState, profile: PlatformProfile, seed: int) -> None:
        self._state = state
        self.profile: PlatformProfile = profile
        self.integrations: dict[str, Integration] = {}
        self._rng = random.Random(f"platform:{seed}")
        self._pending: list[tuple[float, int, _Tracked]] = []
        self._seq = itertools.count()
        # Commit stores the command under its operation's name: the same checks as sendmsg,
        # under the Platform command's name.
        sendmsg = OPERATIONS["sendmsg"]
        self._ops = {name: dataclasses.replace(sendmsg, name=name) for name in _SENDS}

    # -- configuration ----------------------------------------------------------------------

    def add_integration(self, integration: Integration) -> None:
        """Add (or replace) an integration, by its key."""
        self.integrations[integration.key] = integration

    def account_of(self, integration: Integration) -> Account | None:
        """The account an integration belongs to (None when it is gone)."""
        accounts = self._state.accounts
        if integration.api_id is None:
            return next(iter(accounts.values()), None)
        return accounts.get(integration.api_id)

    # -- routing ----------------------------------------------------------------------------

    def route(self, path: str) -> str | None:
        """The command a path serves, or None when it is not a Platform path."""
        found = _PATHS.get(path)
        if found is not None:
            return found[0]
        if path.startswith(_STATUS_PREFIX) and len(path) > len(_STATUS_PREFIX):
            return _ONE_API_STATUS if "/" not in path[len(_STATUS_PREFIX) :] else None
        if path.endswith("/") and len(path) > 1:
            return self.route(path.rstrip("/"))
        return None

    def handle(
        self,
        command: str,
        method: str,
        path: str,
        query: bytes,
        body: bytes,
        headers: list[tuple[bytes, bytes]] | None,
        client_ip: str | None,
    ) -> HTTPReply:
        """Answer one Platform request (under the state's lock)."""
        expected = "GET" if command == _ONE_API_STATUS else _PATHS[path.rstrip("/")][1]
        if method != expected:
            if command.startswith("one-api:"):  # the One API has a code for it
                return _reply(400, one_api_error_body(O.METHOD_NOT_SUPPORTED))
            return _reply(405, json_body({"error": "Method Not Allowed"}))
        state = self._state
        now = state.time()
        if state.pending and state.pending[0][0] <= now:
            state.process_due(now)
        self.process_due(now)
        if command in _SENDS:
            return self._send(command, query, body, headers, client_ip, now)
        state.recorder.record_request(command)
        key = _authorization(headers)
        if command == "platform:balance":
            reply, code = self._balance(False, key, client_ip)
        elif command == "one-api:balance":
            reply, code = self._balance(True, key, client_ip)
        elif command == "platform:status":
            message_id = dict(parse_qsl(query.decode("latin-1"))).get("messageId", "")
            reply, code = self._status(False, key, message_id, client_ip, now)
        else:
            message_id = path[len(_STATUS_PREFIX) :]
            reply, code = self._status(True, key, message_id, client_ip, now)
        state.recorder.record_arrival_code(now, command, code)
        return reply

    # -- authentication ---------------------------------------------------------------------

    def _authenticate(self, key: str, client_ip: str | None) -> tuple[Integration, Account] | int:
        """The key's integration and account, or the legacy-numbered refusal code."""
        integration = self.integrations.get(key) if key else None
        account = self.account_of(integration) if integration is not None else None
        if integration is None or account is None:
            return E.INVALID_OR_MISSING_API_ID
        if account.allowed_ips is not None and client_ip not in account.allowed_ips:
            return E.IP_LOCKDOWN_VIOLATION
        if account.frozen:
            return E.ACCOUNT_FROZEN
        return integration, account

    def _platform_error(self, code: int, status: int | None = None) -> HTTPReply:
        """A Platform SMS request-level failure, at the HTTP status the profile gives it."""
        profile = self.profile
        if status is None:
            status = 200 if profile.errors_as_200 else _HTTP_OF.get(code, 400)
        return _reply(status, platform_error_body(code, profile.variant))

    def _lookup_error(self, one_api: bool, code: int, status: int) -> HTTPReply:
        """A refusal of a balance or status request (no ``messages`` list)."""
        if one_api:
            if code == E.UNKNOWN_API_MESSAGE_ID:
                return _reply(404, one_api_error_body(O.RESOURCE_DOES_NOT_EXIST))
            one = ONE_API_FOR_LEGACY.get(code, O.INVALID_OR_MISSING_PARAMETER)
            return _reply(one.http_status, one_api_error_body(one))
        error, description = platform_texts(code)
        if self.profile.variant == "2017":
            body = json_body({"error": error})
        else:
            body = json_body({"errorCode": code, "error": error, "errorDescription": description})
        return _reply(200 if self.profile.errors_as_200 else status, body)

    # -- balance and status -----------------------------------------------------------------

    def _balance(
        self, one_api: bool, key: str, client_ip: str | None
    ) -> tuple[HTTPReply, int | None]:
        found = self._authenticate(key, client_ip)
        if isinstance(found, int):
            self._state.recorder.record_error(found)
            return self._lookup_error(one_api, found, _HTTP_OF.get(found, 400)), found
        balance = round(self._state.balances[found[1].api_id], 6)
        currency = self.profile.currency
        if one_api:
            return _reply(200, json_body({"currency": currency, "balance": balance})), None
        return _reply(200, json_body({"balance": balance, "currency": currency})), None

    def _status(
        self, one_api: bool, key: str, message_id: str, client_ip: str | None, now: float
    ) -> tuple[HTTPReply, int | None]:
        state = self._state
        found = self._authenticate(key, client_ip)
        code: int | None = None
        message = None
        if isinstance(found, int):
            code = found
        elif not message_id:
            code = E.INVALID_OR_MISSING_PARAMETERS
        else:
            message = state.lookup(found[1].api_id, message_id, None, now)
            if message is None:
                code = E.UNKNOWN_API_MESSAGE_ID
        if message is None:
            assert code is not None
            state.recorder.record_error(code)
            status = 404 if code == E.UNKNOWN_API_MESSAGE_ID else _HTTP_OF.get(code, 400)
            return self._lookup_error(one_api, code, status), code
        lifecycle = state.lifecycle
        current = message.status_at(now, lifecycle)
        since = max((t for t in message.change_times(lifecycle) if t <= now), default=now)
        stamp = int(since * 1000)
        if one_api:
            one = one_api_status_of(current)
            sms = {"status": one.name, "statusCode": int(one), "timestamp": stamp}
            return _reply(200, json_body({"sms": sms})), None
        body: dict[str, object] = {
            "messageId": message.apimsgid,
            "status": current.name,
            "statusCode": int(current),
            "statusDescription": current.description,
            "timestamp": stamp,
        }
        return _reply(200, json_body(body)), None

    # -- sending ----------------------------------------------------------------------------

    def _send(
        self,
        command: str,
        query: bytes,
        body: bytes,
        headers: list[tuple[bytes, bytes]] | None,
        client_ip: str | None,
        now: float,
    ) -> HTTPReply:
        """A send with the configured faults around it (docs: :class:`Faults`)."""
        state = self._state
        recorder = state.recorder
        recorder.record_request(command)
        faults = state.faults
        one_api = command == ONE_API_SEND
        kind: str | None = None
        delay = 0.0
        # A Platform send is the sendmsg of its wire: faulted when either name is listed.
        fault_name = "sendmsg" if "sendmsg" in faults.commands else command
        if state.faults_active and fault_name in faults.commands:
            kind, delay = state.injector.draw()
            if delay:
                recorder.record_fault("latency")
            if kind in ("err901_before_commit", "drop_before_commit", "connect_error"):
                recorder.record_fault(kind)
                if kind == "err901_before_commit":
                    recorder.record_error(E.INTERNAL_ERROR)
                    recorder.record_arrival_code(now, command, E.INTERNAL_ERROR)
                    reply = self._internal_error(one_api, before_commit=True)
                    reply.delay = delay
                    return reply
                # Either way the request never reached the platform: the one drop a client
                # of the platform can tell apart (nothing was sent, so it may resend).
                recorder.record_arrival_code(now, command, None)
                reply = _reply(200, b"")
                reply.action, reply.delay = "connect", delay
                return reply
        key = _authorization(headers)
        if one_api:
            reply, code = self._one_api_send(key, body, client_ip, fault_name, now)
        elif command == PLATFORM_SEND:
            reply, code = self._platform_send(command, key, body, None, client_ip, fault_name, now)
        else:
            fields = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
            params = dict(fields)
            reply, code = self._platform_send(
                command, params.get("apiKey", ""), b"", fields, client_ip, fault_name, now
            )
        action: str | None = None
        if kind is not None:
            recorder.record_fault(kind)
            if kind == "err901_after_commit":
                recorder.record_error(E.INTERNAL_ERROR)
                code = E.INTERNAL_ERROR
                reply = self._internal_error(one_api, before_commit=False)
            elif kind == "slow_reply":
                delay += faults.slow_reply_seconds
            elif kind == "drop_after_commit":
                action = "drop"
            elif kind == "truncated_reply":
                action = "truncate"
        recorder.record_arrival_code(now, command, code)
        reply.action, reply.delay = action, delay
        return reply

    def _internal_error(self, one_api: bool, *, before_commit: bool) -> HTTPReply:
        # 503 says "not handled, retry"; 500 after the commit says nothing either way.
        status = 503 if before_commit else 500
        if one_api:
            code = O.INTERNAL_ERROR_RETRY if before_commit else O.INTERNAL_ERROR
            return _reply(status, one_api_error_body(code))
        return _reply(status, platform_error_body(E.INTERNAL_ERROR, self.profile.variant))

    def _throttled(self, fault_name: str, messages: int, now: float) -> int | None:
        """The legacy code of an MT-limit or rate-cap refusal (recorded), if one applies."""
        refusal = self._state.throttle(fault_name, messages, now)
        if refusal is None:
            return None
        code = int(refusal[5:8])
        self._state.recorder.record_error(code)
        return code

    # -- Platform SMS -----------------------------------------------------------------------

    def _platform_send(
        self,
        command: str,
        key: str,
        body: bytes,
        query: list[tuple[str, str]] | None,
        client_ip: str | None,
        fault_name: str,
        now: float,
    ) -> tuple[HTTPReply, int | None]:
        state = self._state
        found = self._authenticate(key, client_ip)
        if isinstance(found, int):
            state.recorder.record_error(found)
            return self._platform_error(found), found
        integration, account = found
        if query is None:
            try:
                data = json.loads(body)
            except ValueError:
                data = None
            if not isinstance(data, dict):
                state.recorder.record_error(E.DATA_MALFORMED)
                return self._platform_error(E.DATA_MALFORMED), E.DATA_MALFORMED
        else:
            data = _query_fields(query)
        parsed = self._parse_platform(data, integration, now)
        if isinstance(parsed, int):
            state.recorder.record_error(parsed)
            return self._platform_error(parsed), parsed
        throttled = self._throttled(fault_name, len(parsed.to), now)
        if throttled is not None:
            # 130 whatever the refusal's legacy code: the status (429) says "not taken".
            return self._platform_error(_MT_LIMIT, 429), throttled
        assert parsed.content is not None
        numbers = parsed.to
        if any(n[:1] == "+" for n in numbers):
            numbers = [n[1:] if n[:1] == "+" else n for n in numbers]
        results = self._commit(
            command, integration, account, numbers, parsed.to, parsed, parsed.content, now
        )
        first_error: int | None = None
        accepted = 0
        for _, apimsgid, code, _ in results:
            if apimsgid is not None:
                accepted += 1
            elif first_error is None:
                first_error = code
        if not accepted and all(code == E.NO_CREDIT_LEFT for _, _, code, _ in results):
            return self._platform_error(E.NO_CREDIT_LEFT), E.NO_CREDIT_LEFT
        if self.profile.shuffle:
            self._rng.shuffle(results)
        return _reply(202, platform_body(results, self.profile.variant)), first_error

    def _parse_platform(
        self, data: dict[str, Any], integration: Integration, now: float
    ) -> _SendRequest | int:
        """The send's fields, checked as the platform checks them; else the error code."""
        request = _SendRequest()
        to = data.get("to")
        if isinstance(to, str | int) and not isinstance(to, bool):
            to = [to]
        if not isinstance(to, list) or not to:
            return E.INVALID_OR_MISSING_PARAMETERS
        numbers: list[str] = to
        if not all(type(number) is str for number in to):  # the usual case costs one pass
            numbers = []
            for number in to:
                if isinstance(number, str):
                    numbers.append(number)
                elif isinstance(number, int) and not isinstance(number, bool):
                    numbers.append(str(number))
                else:
                    return E.INVALID_OR_MISSING_PARAMETERS
        if len(numbers) > self.profile.max_recipients:
            return E.INVALID_OR_MISSING_PARAMETERS
        request.to = numbers
        sender = _sender(data.get("from"), integration)
        if isinstance(sender, int):
            return sender
        request.from_ = sender
        climsgid = data.get("clientMessageId")
        if climsgid is not None and not isinstance(climsgid, str):
            return E.INVALID_OR_MISSING_PARAMETERS
        request.climsgid = climsgid or ""
        validity = data.get("validityPeriod")
        if validity is not None:
            if isinstance(validity, str) and validity.isdigit():
                validity = int(validity)
            if isinstance(validity, bool) or not isinstance(validity, int) or validity < 1:
                return E.INVALID_OR_MISSING_PARAMETERS
            request.validity = validity
        schedule = data.get("scheduledDeliveryTime")
        if schedule is not None:
            due = _scheduled(schedule, now)
            if due is None:
                return E.INVALID_DELIVERY_TIME
            request.due = due
        content = data.get("content")
        if not isinstance(content, str):
            return E.EMPTY_MESSAGE if content is None else E.INVALID_OR_MISSING_PARAMETERS
        udh = data.get("userDataHeader")
        binary = data.get("binary") in (True, "true", "1")
        if udh is not None and not isinstance(udh, str):
            return E.INVALID_OR_MISSING_PARAMETERS
        if binary or udh:
            params = {"text": content, "binary": "1"}
            if udh:
                params["udh"] = udh
            decoded = content_of(params)
            if isinstance(decoded, ErrorCode):
                return decoded
            request.content = decoded
        elif not content:
            return E.EMPTY_MESSAGE
        else:
            request.content = Content(content, count_parts(content).parts)
        if request.content.parts > self._state.profile.max_concat:
            return E.MAXIMUM_MESSAGE_PARTS_EXCEEDED
        return request

    # -- One API ----------------------------------------------------------------------------

    def _one_api_send(
        self, key: str, body: bytes, client_ip: str | None, fault_name: str, now: float
    ) -> tuple[HTTPReply, int | None]:
        state = self._state
        recorder = state.recorder
        found = self._authenticate(key, client_ip)
        if isinstance(found, int):
            recorder.record_error(found)
            one = ONE_API_FOR_LEGACY[found]
            return _reply(one.http_status, one_api_error_body(one)), found
        integration, account = found
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return self._one_api_error(O.PAYLOAD_MALFORMED)
        messages = data.get("messages")
        if not isinstance(messages, list) or not messages:
            return self._one_api_error(O.INVALID_OR_MISSING_PARAMETER, "messages")
        if len(messages) > self.profile.max_recipients:
            return self._one_api_error(O.MAX_MESSAGES_PER_REQUEST)
        results: list[Result] = [("", None, 0, "")] * len(messages)
        # Messages alike (text, sender, client id) are committed together, as one legacy
        # request: the recorder counts one commit per client id per request, as for sendmsg.
        groups: dict[tuple[str, str, str], list[int]] = {}
        contents: dict[str, Content] = {}
        numbers: list[str] = []
        valid = 0
        for index, item in enumerate(messages):
            checked = self._check_one_api(item, integration, contents)
            if not isinstance(checked, _Valid):
                to, code, detail = checked
                recorder.record_error(_recorded(code))
                results[index] = (to, None, code, detail)
                numbers.append("")
                continue
            numbers.append(checked.to)
            groups.setdefault((checked.text, checked.sender, checked.climsgid), []).append(index)
            valid += 1
        if valid:
            throttled = self._throttled(fault_name, valid, now)
            if throttled is not None:
                body = one_api_error_body(O.RATE_LIMIT)
                return _reply(O.RATE_LIMIT.http_status, body), throttled
        for (text, sender, climsgid), indexes in groups.items():
            request = _SendRequest()
            request.from_, request.climsgid = sender, climsgid
            given = [numbers[i] for i in indexes]
            plain = [n[1:] if n[:1] == "+" else n for n in given]
            outcomes = self._commit(
                ONE_API_SEND, integration, account, plain, given, request, contents[text], now
            )
            for index, (to, apimsgid, code, _) in zip(indexes, outcomes, strict=True):
                one_code = 0 if apimsgid is not None else int(ONE_API_FOR_LEGACY[code])
                results[index] = (to, apimsgid, one_code, "")
        accepted = sum(1 for _, apimsgid, _, _ in results if apimsgid is not None)
        first_error = next(
            (_recorded(code) for _, apimsgid, code, _ in results if apimsgid is None), None
        )
        if not accepted and all(code == O.INSUFFICIENT_BALANCE for _, _, code, _ in results):
            return _reply(402, one_api_error_body(O.INSUFFICIENT_BALANCE)), E.NO_CREDIT_LEFT
        if self.profile.shuffle:
            self._rng.shuffle(results)
        status = 202 if accepted == len(results) else 207 if accepted else 400
        return _reply(status, one_api_body(results)), first_error

    def _one_api_error(self, code: OneApiErrorCode, detail: str = "") -> tuple[HTTPReply, int]:
        recorded = _recorded(code)
        self._state.recorder.record_error(recorded)
        return _reply(code.http_status, one_api_error_body(code, detail)), recorded

    def _check_one_api(
        self, item: Any, integration: Integration, contents: dict[str, Content]
    ) -> _Valid | tuple[str, int, str]:
        """A valid message's fields, else (to, One API code, detail)."""
        if not isinstance(item, dict):
            return "", O.INVALID_OR_MISSING_PARAMETER, "message"
        to = item.get("to")
        if isinstance(to, int) and not isinstance(to, bool):
            to = str(to)
        if not isinstance(to, str) or not to.strip():
            return "", O.INVALID_OR_MISSING_PARAMETER, "to"
        to = to.strip()
        channel = item.get("channel", "sms")
        if channel != "sms":
            return to, O.CHANNEL_NOT_AVAILABLE, ""
        sender = _sender(item.get("from"), integration)
        if isinstance(sender, int):
            if sender == PLATFORM_NOT_TWO_WAY:
                return to, O.FROM_NUMBER_NOT_RELATED, ""
            return to, O.INVALID_OR_MISSING_PARAMETER, "from"
        climsgid = item.get("clientMessageId")
        if climsgid is not None and not isinstance(climsgid, str):
            return to, O.INVALID_OR_MISSING_PARAMETER, "clientMessageId"
        text = item.get("content")
        if not isinstance(text, str) or not text:
            return to, O.INVALID_OR_MISSING_PARAMETER, "content"
        content = contents.get(text)
        if content is None:
            content = contents[text] = Content(text, count_parts(text).parts)
        if content.parts > self._state.profile.max_concat:
            return to, O.MAX_MESSAGE_PARTS_EXCEEDED, ""
        return _Valid(to, text, sender, climsgid or "")

    # -- committing -------------------------------------------------------------------------

    def _commit(
        self,
        command: str,
        integration: Integration,
        account: Account,
        numbers: list[str],
        given: list[str],
        request: _SendRequest,
        content: Content,
        now: float,
    ) -> list[Result]:
        """Commit through the legacy path; one result per recipient, in request order."""
        state = self._state
        params: dict[str, str] = {}
        if request.climsgid:
            params["climsgid"] = request.climsgid
        if request.from_:
            params["from"] = request.from_
        if request.validity is not None:
            params["validity"] = str(request.validity)
        due = now if request.due is None else request.due
        call = Call(self._ops[command], params, numbers, {}, "post")
        lines = commit(state, call, account, params, content, due, now)
        results: list[Result] = []
        append = results.append
        record_error = state.recorder.record_error
        track = bool(integration.callback_url) and _queue_of(state.sink) is not None
        committed: list[CommittedMessage] = []
        for to, line in zip(given, lines, strict=True):
            if line[:4] == "ID: ":
                apimsgid = line[4:36]
                append((to, apimsgid, 0, ""))
                # A retention smaller than the request forgets its first messages at once;
                # those get no callbacks (there is nothing left to report on).
                if track and (message := state.messages.get(apimsgid)) is not None:
                    committed.append(message)
            else:
                code = int(line[5:8])
                record_error(code)
                append((to, None, code, ""))
        if committed:
            self._track(committed, integration, command)
        return results

    # -- status callbacks -------------------------------------------------------------------

    def _track(
        self, committed: list[CommittedMessage], integration: Integration, command: str
    ) -> None:
        form = integration.callback_format
        if form == "auto":
            form = "one-api" if command == ONE_API_SEND else "current"
        # One id per request, as the platform's requestId: derived from its first message.
        request_id = committed[0].apimsgid[::-1]
        lifecycle = self._state.lifecycle
        pending = self._pending
        for message in committed:
            tracked = _Tracked(message, integration, form, request_id)
            for when in message.change_times(lifecycle):
                heapq.heappush(pending, (when, next(self._seq), tracked))

    def process_due(self, now: float) -> None:
        """Send the status callbacks of Platform messages that are due by ``now``."""
        pending = self._pending
        if not pending or pending[0][0] > now:
            return
        state = self._state
        lifecycle = state.lifecycle
        queue = _queue_of(state.sink)
        while pending and pending[0][0] <= now:
            when, _, tracked = heapq.heappop(pending)
            status = tracked.message.status_at(when, lifecycle)
            if status == tracked.last:
                continue  # a change time that changed nothing (a deferred message's due…)
            tracked.last = status
            if queue is not None:
                self._emit(queue, tracked, status, when)

    def _emit(
        self, queue: Callable[..., None], tracked: _Tracked, status: MessageStatus, when: float
    ) -> None:
        message = tracked.message
        integration = tracked.integration
        request = status_request(
            tracked.form,
            integration.callback_method,
            integration,
            apimsgid=message.apimsgid,
            request_id=tracked.request_id,
            climsgid=message.climsgid,
            to=message.to,
            from_=message.from_,
            status=status,
            timestamp_ms=int(when * 1000),
        )
        queue("status", message.apimsgid, status, integration.callback_url, request)

    # -- inbound messages -------------------------------------------------------------------

    def inject_mo(
        self,
        to: str,
        from_: str,
        text: str,
        *,
        api_key: str,
        charset: str | None,
        udh: str | None,
        network: str | None,
        related_message_id: str | None,
        keyword: str | None,
    ) -> list[MOEvent]:
        """A reply to an integration's number, sent whole to its MO callback URL."""
        integration = self.integrations.get(api_key)
        account = self.account_of(integration) if integration is not None else None
        if integration is None or account is None:
            raise ValueError("unknown api_key")
        state = self._state
        now = state.time()
        charset = charset or "UTF-8"
        event = MOEvent(
            api_id=account.api_id,
            momsgid=state.new_id(),
            from_=from_,
            to=to,
            timestamp_gmt2=_time.strftime("%Y-%m-%d %H:%M:%S", _time.gmtime(now + 7200)),
            text=text,
            charset=charset,
            udh=udh or "",
            network=network,
        )
        state.mo_messages.append(event)
        state.recorder.record_mo(1)
        related = state.messages.get(related_message_id.lower()) if related_message_id else None
        form = integration.callback_format
        if form == "auto":
            one_api = related is not None and related.command == ONE_API_SEND
            form = "one-api" if one_api else "current"
        queue = _queue_of(state.sink)
        if queue is not None and integration.mo_callback_url:
            request = mo_request(
                form,
                integration,
                momsgid=event.momsgid,
                related_id=related_message_id,
                related_climsgid=(related.climsgid or None) if related is not None else None,
                from_=from_,
                to=to,
                timestamp_ms=int(now * 1000),
                text=text,
                charset=charset,
                udh=event.udh,
                network=network,
                keyword=keyword,
            )
            queue("mo", event.momsgid, None, integration.mo_callback_url, request)
        return [event]


def _queue_of(sink: object) -> Callable[..., None] | None:
    """The sink's way to queue a ready-made callback request, if it has one (the emulator's
    dispatcher has; a test's fake sink may not, and then gets no Platform callbacks)."""
    queue: Callable[..., None] | None = getattr(sink, "queue_request", None)
    return queue


def _authorization(headers: list[tuple[bytes, bytes]] | None) -> str:
    """The raw ``Authorization`` header (the integration key, no scheme)."""
    for name, value in headers or ():
        if name.lower() == b"authorization":
            return value.decode("latin-1").strip()
    return ""


def _sender(value: Any, integration: Integration) -> str | int:
    """The ``from`` number, "" when none; 607 on a one-way integration, 106 if not a number."""
    if value is None or value == "":
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return E.INVALID_SOURCE_ADDRESS
    if not integration.two_way:
        return PLATFORM_NOT_TWO_WAY
    number = value.strip().removeprefix("+")
    if not number.isdigit():
        return E.INVALID_SOURCE_ADDRESS
    return number


def _query_fields(fields: list[tuple[str, str]]) -> dict[str, Any]:
    """``/messages/http/send`` query parameters as the JSON fields of ``/messages``."""
    data: dict[str, Any] = {}
    to: list[str] = []
    for name, value in fields:
        if name == "to":
            to.extend(n for v in value.split(",") if (n := v.strip()))
        elif name != "apiKey":
            data[name] = value
    data["to"] = to
    if "binary" in data:
        data["binary"] = data["binary"].lower() in ("true", "1")
    return data


def _scheduled(value: Any, now: float) -> float | None:
    """When a ``scheduledDeliveryTime`` (``2026-12-05T10:00:00+0000``) falls due; None when
    it is not such a time or more than seven days ahead. A past time is now."""
    if not isinstance(value, str):
        return None
    try:
        when = datetime.strptime(value.strip(), "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except ValueError:
        return None
    if when > now + MAX_SCHEDULE_AHEAD:
        return None
    return max(now, when)

"""The admin API under ``/_emulator/`` (JSON), for tests and tools in other processes.

Only served when the emulator was created with ``admin=True`` (``asms emulator`` does; it
listens on loopback by default); otherwise every ``/_emulator/`` path answers 404.

Conventions
-----------
* Request bodies, where a route takes one, are a JSON object (an empty body is ``{}``).
  Query parameters go in the URL. A success answers 200 with a JSON object.
* A bad request -- a body that is not a JSON object, a missing or unknown field, a value of
  the wrong type -- answers 400 ``{"error": "<what is wrong>"}``. An unknown path answers
  404 and a known path with the wrong method 405, both ``{"error": "no such endpoint"}``.
* Each request runs under the emulator's lock: it sees (and changes) a consistent state
  between two gateway requests.

Routes
------
``GET statistics``
    The recorder's counters (:class:`~asms.testing.RecorderStatistics` as an object):
    ``requests``, ``requests_by_command`` ``{command: n}``, ``commits`` (accepted
    requests), ``messages`` (accepted recipients), ``parts``, ``errors`` ``{"code": n}``,
    ``faults`` ``{kind: n}``, ``duplicate_climsgids``, ``mo_messages``,
    ``duplicate_messages`` (messages committed more than once) and ``extra_messages``
    (the copies beyond the first of each: the SMS sent too many).

``GET duplicates``
    ``{"recipients": [...], "climsgids": {...}}``.

    ``recipients`` is what proves nothing was sent twice: one entry per *message*
    committed more than once, whatever ids it went under, as
    ``{"api_id": n, "to": "…", "from": "…", "text": "…", "count": n}`` (``count`` is the
    total commits, 2 or more). A message is its account, recipient, sender and text (the
    exact rule is in :mod:`asms.testing._recorder`); ``[]`` means no handset got the same
    SMS twice. Works in every recorder mode.

    ``climsgids`` is the weaker per-id view ``{climsgid: commits}`` for climsgids committed
    more than once: a message resent under a new climsgid does not show there. Always
    ``{}`` with ``--recorder totals``.

``POST recorder/reset``
    Forget everything recorded so far (counters, duplicates, recorded messages; not the
    messages kept for ``querymsg``). ``{"ok": true}``.

``GET messages?climsgid=…&limit=…``
    The messages the emulator still keeps for ``querymsg`` (the newest ``--retention``),
    oldest first, optionally only those with that ``climsgid``; at most ``limit`` (default
    1000). ``{"messages": [{"apimsgid", "climsgid", "to", "from", "text", "parts",
    "charge", "time", "command", "status"}…]}`` with ``status`` the current numeric status
    (4 for "received by recipient").

``GET requests?command=…&since=…&limit=…``
    The requests as they arrived, oldest first (the recorder's arrivals; none with
    ``--recorder totals``), optionally only those of one ``command`` and those that arrived
    at or after ``since`` (emulator clock, unix seconds); at most ``limit`` (default 100000).
    ``{"requests": [{"time", "command", "error"}…]}`` with ``error`` the first ``ERR`` code of
    the reply, or null.

``POST accounts``
    Add or replace an account: ``{"api_id", "user", "password"}`` plus any other
    :class:`~asms.testing.Account` field (``credits``, ``allowed_ips``, ``callback_url``,
    ``callback_method``, ``mo_callback_url``, ``mo_callback_method``, ``callback_auth``
    ``[user, password]``, ``senders``, ``frozen``). Its balance starts at ``credits``.
    ``{"api_id": n}``.

``POST credits``
    ``{"credits": n, "api_id"?: n}``: set an account's balance (the first account without
    ``api_id``). ``{"credits": n}``, the new balance.

``GET balance?api_id=…``
    ``{"credits": n}``: an account's live balance (the first account without ``api_id``).

``POST vouchers``
    ``{"vouchers": {"<16 digits>": credits}}``: tokens ``token_pay`` redeems once each.
    ``{"ok": true}``.

``GET faults`` / ``POST faults`` / ``DELETE faults``
    Read, replace or clear the injected faults. ``POST`` takes the
    :class:`~asms.testing.Faults` fields (``seed``, ``latency``, ``drop_after_commit``,
    ``err901_before_commit``, ``script``, ``commands``…; ``{}`` clears them) and answers the
    settings now active, like ``GET``; ``DELETE`` answers ``{"ok": true}``.

``POST numbers``
    ``{"blocked"|"opted_out"|"delisted"|"undeliverable": ["<number>", …]}``: replace the
    lists given (the others stay). Answers all four lists.

``POST routes``
    ``{"routes": {"<prefix>": charge per part, or null for "not routed"}}``: replace the
    routing table. ``{"routes": {…}}``.

``POST mo``
    Inject an inbound message: ``{"to", "from", "text"}`` plus optional ``api_id``,
    ``charset``, ``udh``, ``network``. ``{"events": [...]}``: the inbound-message events
    it produced (one per part), as the MO callback carries them. With ``api_key`` (plus
    optional ``related_message_id``, ``keyword``) it is a reply to that Platform
    integration, sent whole to its MO callback URL in the Platform's form.

``POST integrations``
    Add or replace a Platform API key: ``{"key"}`` plus any other
    :class:`~asms.testing.Integration` field (``api_id``, ``name``, ``callback_url``,
    ``callback_method``, ``callback_format``, ``mo_callback_url``, ``two_way``).
    ``{"integration_id": "…"}``.

``GET platform`` / ``POST platform``
    Read or replace how the Platform endpoints answer: the
    :class:`~asms.testing.PlatformProfile` fields (``variant``, ``shuffle``,
    ``errors_as_200``, ``max_recipients``, ``currency``; the ones left out take their
    defaults). Both answer the settings now active.

``GET clock``
    ``{"time": t, "fake": bool}``: the emulator's clock, and whether it is a fake one.

``POST clock/advance``
    ``{"seconds": s}``: move a fake clock (``--fake-clock``) forward, sending every status
    change and callback that falls due on the way. ``{"time": t}``; 400 on a real clock.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, fields
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from ._clock import FakeClock
from ._config import Account, Faults
from ._platform_config import Integration, PlatformProfile

if TYPE_CHECKING:
    from ._emulator import GatewayEmulator
    from ._state import GatewayState

__all__ = ["handle_admin"]

# Handlers use the emulator's public methods; the gateway state only where they have none.
Handler = Callable[["GatewayEmulator", "GatewayState", dict[str, Any], dict[str, list[str]]], Any]
_ACCOUNT_FIELDS = frozenset(f.name for f in fields(Account))
_INTEGRATION_FIELDS = frozenset(f.name for f in fields(Integration))
_PLATFORM_FIELDS = frozenset(f.name for f in fields(PlatformProfile))
_NUMBER_SETS = ("blocked", "opted_out", "delisted", "undeliverable")


def _json(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json(v) for v in value]
    return value


def _statistics(
    emu: GatewayEmulator, state: GatewayState, data: dict[str, Any], query: dict[str, list[str]]
) -> Any:
    stats = emu.statistics()
    return _json({f.name: getattr(stats, f.name) for f in fields(stats)})


def _duplicates(
    emu: GatewayEmulator, state: GatewayState, data: dict[str, Any], query: dict[str, list[str]]
) -> Any:
    recorder = emu.recorder
    messages = [
        {"api_id": key.api_id, "to": key.to, "from": key.from_, "text": key.text, "count": n}
        for key, n in recorder.duplicates().items()
    ]
    return {"recipients": messages, "climsgids": recorder.climsgid_repeats()}


def _reset(
    emu: GatewayEmulator, state: GatewayState, data: dict[str, Any], query: dict[str, list[str]]
) -> Any:
    emu.recorder.reset()
    return {"ok": True}


def _messages(
    emu: GatewayEmulator, state: GatewayState, data: dict[str, Any], query: dict[str, list[str]]
) -> Any:
    climsgid = query.get("climsgid", [""])[0]
    limit = int(query.get("limit", ["1000"])[0])
    now = state.time()
    found = []
    for message in state.messages.values():
        if climsgid and message.climsgid != climsgid:
            continue
        found.append(
            {
                "apimsgid": message.apimsgid,
                "climsgid": message.climsgid,
                "to": message.to,
                "from": message.from_,
                "text": message.text,
                "parts": message.parts,
                "charge": message.charge,
                "time": message.time,
                "command": message.command,
                "status": int(message.status_at(now, emu.lifecycle)),
            }
        )
        if len(found) >= limit:
            break
    return {"messages": found}


def _requests(
    emu: GatewayEmulator, state: GatewayState, data: dict[str, Any], query: dict[str, list[str]]
) -> Any:
    command = query.get("command", [""])[0]
    since = float(query.get("since", ["-inf"])[0])
    limit = int(query.get("limit", ["100000"])[0])
    found = []
    for time, name, error in emu.recorder.arrivals:
        if time < since or (command and name != command):
            continue
        found.append({"time": time, "command": name, "error": error})
        if len(found) >= limit:
            break
    return {"requests": found}


def _accounts(
    emu: GatewayEmulator, state: GatewayState, data: dict[str, Any], query: dict[str, list[str]]
) -> Any:
    unknown = set(data) - _ACCOUNT_FIELDS
    if unknown:
        raise ValueError(f"unknown account fields: {', '.join(sorted(unknown))}")
    values = dict(data)
    if values.get("callback_auth") is not None:
        values["callback_auth"] = tuple(values["callback_auth"])
    account = Account(**values)
    emu.add_account(account)
    return {"api_id": account.api_id}


def _credits(
    emu: GatewayEmulator, state: GatewayState, data: dict[str, Any], query: dict[str, list[str]]
) -> Any:
    emu.set_credits(float(data["credits"]), data.get("api_id"))
    return {"credits": emu.balance(data.get("api_id"))}


def _balance(
    emu: GatewayEmulator, state: GatewayState, data: dict[str, Any], query: dict[str, list[str]]
) -> Any:
    api_id = query.get("api_id")
    return {"credits": emu.balance(int(api_id[0]) if api_id else None)}


def _vouchers(
    emu: GatewayEmulator, state: GatewayState, data: dict[str, Any], query: dict[str, list[str]]
) -> Any:
    emu.add_vouchers(data["vouchers"])
    return {"ok": True}


def _get_faults(
    emu: GatewayEmulator, state: GatewayState, data: dict[str, Any], query: dict[str, list[str]]
) -> Any:
    return _json(emu.faults.to_mapping())


def _set_faults(
    emu: GatewayEmulator, state: GatewayState, data: dict[str, Any], query: dict[str, list[str]]
) -> Any:
    emu.faults = Faults.from_mapping(data)
    return _json(emu.faults.to_mapping())


def _clear_faults(
    emu: GatewayEmulator, state: GatewayState, data: dict[str, Any], query: dict[str, list[str]]
) -> Any:
    emu.faults = Faults()
    return {"ok": True}


def _numbers(
    emu: GatewayEmulator, state: GatewayState, data: dict[str, Any], query: dict[str, list[str]]
) -> Any:
    unknown = set(data) - set(_NUMBER_SETS)
    if unknown:
        raise ValueError(f"unknown number lists: {', '.join(sorted(unknown))}")
    for name, numbers in data.items():
        target: set[str] = getattr(emu, name)
        target.clear()
        target.update(str(n) for n in numbers)
    return {name: sorted(getattr(emu, name)) for name in _NUMBER_SETS}


def _routes(
    emu: GatewayEmulator, state: GatewayState, data: dict[str, Any], query: dict[str, list[str]]
) -> Any:
    emu.set_routes({str(k): None if v is None else float(v) for k, v in data["routes"].items()})
    return {"routes": dict(emu.routes)}


def _mo(
    emu: GatewayEmulator, state: GatewayState, data: dict[str, Any], query: dict[str, list[str]]
) -> Any:
    events = emu.inject_mo(
        str(data["to"]),
        str(data["from"]),
        str(data["text"]),
        api_id=data.get("api_id"),
        charset=data.get("charset"),
        udh=data.get("udh"),
        network=data.get("network"),
        api_key=data.get("api_key"),
        related_message_id=data.get("related_message_id"),
        keyword=data.get("keyword"),
    )
    return {"events": [asdict(e) for e in events]}


def _integrations(
    emu: GatewayEmulator, state: GatewayState, data: dict[str, Any], query: dict[str, list[str]]
) -> Any:
    unknown = set(data) - _INTEGRATION_FIELDS
    if unknown:
        raise ValueError(f"unknown integration fields: {', '.join(sorted(unknown))}")
    integration = Integration(**data)
    emu.add_integration(integration)
    return {"integration_id": integration.integration_id}


def _get_platform(
    emu: GatewayEmulator, state: GatewayState, data: dict[str, Any], query: dict[str, list[str]]
) -> Any:
    profile = emu.platform
    return {f.name: getattr(profile, f.name) for f in fields(profile)}


def _set_platform(
    emu: GatewayEmulator, state: GatewayState, data: dict[str, Any], query: dict[str, list[str]]
) -> Any:
    unknown = set(data) - _PLATFORM_FIELDS
    if unknown:
        raise ValueError(f"unknown platform settings: {', '.join(sorted(unknown))}")
    emu.platform = PlatformProfile(**data)
    return _get_platform(emu, state, {}, query)


def _clock(
    emu: GatewayEmulator, state: GatewayState, data: dict[str, Any], query: dict[str, list[str]]
) -> Any:
    return {"time": state.time(), "fake": isinstance(emu.clock, FakeClock)}


def _advance(
    emu: GatewayEmulator, state: GatewayState, data: dict[str, Any], query: dict[str, list[str]]
) -> Any:
    if not isinstance(emu.clock, FakeClock):
        raise ValueError("the emulator runs on real time; start it with a fake clock")
    return {"time": emu.advance(float(data["seconds"]))}


_HANDLERS: Mapping[tuple[str, str], Handler] = {
    ("GET", "statistics"): _statistics,
    ("GET", "duplicates"): _duplicates,
    ("POST", "recorder/reset"): _reset,
    ("GET", "messages"): _messages,
    ("GET", "requests"): _requests,
    ("POST", "accounts"): _accounts,
    ("POST", "credits"): _credits,
    ("GET", "balance"): _balance,
    ("POST", "vouchers"): _vouchers,
    ("GET", "faults"): _get_faults,
    ("POST", "faults"): _set_faults,
    ("DELETE", "faults"): _clear_faults,
    ("POST", "numbers"): _numbers,
    ("POST", "routes"): _routes,
    ("POST", "mo"): _mo,
    ("POST", "integrations"): _integrations,
    ("GET", "platform"): _get_platform,
    ("POST", "platform"): _set_platform,
    ("GET", "clock"): _clock,
    ("POST", "clock/advance"): _advance,
}


def handle_admin(
    emu: GatewayEmulator, state: GatewayState, method: str, path: str, query: bytes, body: bytes
) -> tuple[int, bytes]:
    """Answer one admin request: (HTTP status, JSON body)."""
    name = path.removeprefix("/_emulator/").strip("/")
    handler = _HANDLERS.get((method, name))
    if handler is None:
        known = any(route == name for _, route in _HANDLERS)
        return (405 if known else 404), json.dumps({"error": "no such endpoint"}).encode()
    try:
        data = json.loads(body) if body.strip() else {}
        if not isinstance(data, dict):
            raise ValueError("the request body must be a JSON object")
        result = handler(emu, state, data, parse_qs(query.decode("latin-1")))
    except (ValueError, KeyError, TypeError) as exc:
        message = str(exc) if not isinstance(exc, KeyError) else f"missing field {exc}"
        return 400, json.dumps({"error": message}).encode()
    return 200, json.dumps(result).encode()

"""One test per error code the emulator can produce, each reached from real bad input.

Codes the tables define that the emulator never produces: 100 (Data malformed: the XML/JSON
REST APIs only), 110 (Error with email message: email-to-SMS only), 111 (Invalid protocol)
and 115 (Message expired: the emulator reports expiry as message status 010 instead).
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from helpers.emulator import CREDS

from asms._codes import ErrorCode
from asms._optable import OPERATIONS
from asms.testing import Account, FakeClock, Faults, GatewayEmulator

SEND = {**CREDS, "to": "27821234567", "text": "Hello"}
UNREACHABLE = {100, 110, 111, 115}


def make(**kwargs: object) -> GatewayEmulator:
    return GatewayEmulator(clock=FakeClock(), **kwargs)  # type: ignore[arg-type]


def call(
    emu: GatewayEmulator, command: str, params: dict[str, str], *, ip: str = "127.0.0.1"
) -> str:
    form = urlencode(params).encode()
    reply = emu.app.handle("POST", OPERATIONS[command].http_path, b"", form, ip)
    assert reply.status == 200
    return reply.body.decode("latin-1")


def session_of(emu: GatewayEmulator) -> str:
    return call(emu, "auth", CREDS).removeprefix("OK: ")


def expect(code: int, line: str) -> None:
    description = ErrorCode(code).description
    assert line.startswith(f"ERR: {code:03d}, {description}"), line
    assert ErrorCode(code).wire == line[5:8]


# Each case: the request that must fail with the code (and nothing else wrong with it).
Case = Callable[[], str]


def e001() -> str:
    return call(make(), "sendmsg", {**SEND, "password": "wrong"})


def e002() -> str:
    return call(make(), "auth", {**CREDS, "user": "nobody"})


def e003() -> str:
    emu = make()
    session = session_of(emu)
    emu.advance(15 * 60 + 1)
    return call(emu, "ping", {"session_id": session})


def e004() -> str:
    emu = make(accounts=[Account(api_id=1234, user="demo", password="demo", frozen=True)])
    return call(emu, "getbalance", CREDS)


def e005() -> str:
    return call(make(), "ping", {})


def e007() -> str:
    emu = make(
        accounts=[Account(api_id=1234, user="demo", password="demo", allowed_ips={"10.0.0.9"})]
    )
    return call(emu, "auth", CREDS, ip="127.0.0.1")


def e101() -> str:
    return call(make(), "sendmsg", {**SEND, "queue": "9"})


def e102() -> str:
    return call(make(), "sendmsg", {**SEND, "udh": "0705040B8423F0", "data": "00ff"})


def e103() -> str:
    return call(make(), "querymsg", {**CREDS, "apimsgid": "ab" * 16})


def e104() -> str:
    return call(make(), "querymsg", {**CREDS, "climsgid": "never"})


def e105() -> str:
    return call(make(), "sendmsg", {**SEND, "to": "+27 82 123"})


def e106() -> str:
    return call(make(), "sendmsg", {**SEND, "from": "far too long sender"})


def e107() -> str:
    return call(make(), "sendmsg", {**SEND, "text": ""})


def e108() -> str:
    return call(make(), "auth", {**CREDS, "api_id": "99"})


def e109() -> str:
    return call(make(), "delmsg", CREDS)


def e112() -> str:
    return call(make(), "sendmsg", {**SEND, "msg_type": "SMS_HOLOGRAM"})


def e113() -> str:
    return call(make(), "sendmsg", {**SEND, "text": "x" * 161})


def e114() -> str:
    return call(make(routes={"27": 1.0}), "sendmsg", {**SEND, "to": "4477009001"})


def e116() -> str:
    return call(make(), "sendmsg", {**SEND, "unicode": "1", "text": "00zz"})


def e120() -> str:
    return call(make(), "sendmsg", {**SEND, "deliv_time": "20000"})


def numbers_case(attribute: str) -> Case:
    def case() -> str:
        emu = make()
        getattr(emu, attribute).add("27821234567")
        return call(emu, "sendmsg", SEND)

    return case


def e123() -> str:
    emu = make(accounts=[Account(api_id=1234, user="demo", password="demo", senders={"Acme"})])
    return call(emu, "sendmsg", {**SEND, "from": "Other"})


def e130() -> str:
    emu = make()
    emu.faults = Faults(err130_until=int(emu.clock.wall_time()) + 3600)
    line = call(emu, "sendmsg", SEND)
    assert line.endswith(f" {int(emu.clock.wall_time()) + 3600}")
    return line


def e201() -> str:
    return call(make(), "senditem", {**CREDS, "batch_id": "cd" * 16, "to": "27821234567"})


def e202() -> str:
    return call(make(), "startbatch", {**CREDS, "template": ""})


def e301() -> str:
    emu = make(accounts=[Account(api_id=1234, user="demo", password="demo", credits=0.5)])
    return call(emu, "sendmsg", SEND)


def e302() -> str:
    return call(make(profile="v2.3.8"), "sendmsg", {**SEND, "max_credits": "0.7"})


def e901() -> str:
    emu = make(faults=Faults(err901_before_commit=1.0))
    return call(emu, "sendmsg", SEND)


CASES: dict[int, Case] = {
    1: e001,
    2: e002,
    3: e003,
    4: e004,
    5: e005,
    7: e007,
    101: e101,
    102: e102,
    103: e103,
    104: e104,
    105: e105,
    106: e106,
    107: e107,
    108: e108,
    109: e109,
    112: e112,
    113: e113,
    114: e114,
    116: e116,
    120: e120,
    121: numbers_case("blocked"),
    122: numbers_case("opted_out"),
    123: e123,
    128: numbers_case("delisted"),
    130: e130,
    201: e201,
    202: e202,
    301: e301,
    302: e302,
    901: e901,
}


def test_every_code_is_covered_or_declared_unreachable() -> None:
    assert set(CASES) | UNREACHABLE == {int(code) for code in ErrorCode}


@pytest.mark.parametrize("code", sorted(CASES))
def test_error_code(code: int) -> None:
    expect(code, CASES[code]())


# -- variants of the same codes that clients meet ------------------------------------------


def test_unknown_session_id_is_expired() -> None:
    expect(3, call(make(), "getbalance", {"session_id": "0" * 32}))


def test_session_only_command_with_credentials_still_needs_a_session() -> None:
    expect(5, call(make(), "ping", CREDS))


def test_missing_api_id_and_non_numeric_api_id() -> None:
    expect(108, call(make(), "sendmsg", {**SEND, "api_id": ""}))
    expect(108, call(make(), "sendmsg", {**SEND, "api_id": "abc"}))


def test_missing_recipient_is_101() -> None:
    expect(101, call(make(), "sendmsg", {**CREDS, "text": "Hi"}))


def test_concat_above_profile_maximum_is_101_and_callback_above_profile_is_101() -> None:
    expect(101, call(make(), "sendmsg", {**SEND, "concat": "4"}))
    expect(101, call(make(profile="v2.3.8"), "sendmsg", {**SEND, "callback": "5"}))
    assert call(make(), "sendmsg", {**SEND, "callback": "7"}).startswith("ID: ")


def test_gsm_extension_characters_count_twice_for_113() -> None:
    text = "{" * 80 + "x"  # 161 septets
    expect(113, call(make(), "sendmsg", {**SEND, "text": text}))
    assert call(make(), "sendmsg", {**SEND, "text": text, "concat": "2"}).startswith("ID:")


def test_scheduled_time_more_than_seven_days_ahead_is_120() -> None:
    emu = make()
    later = int(emu.clock.wall_time()) + 8 * 86400
    expect(120, call(emu, "sendmsg", {**SEND, "scheduled_time": str(later)}))


def test_malformed_climsgid_on_lookup_is_104_and_missing_batch_template_on_send() -> None:
    expect(104, call(make(), "querymsg", {**CREDS, "climsgid": "not valid!"}))
    expect(101, call(make(), "sendmsg", {**SEND, "climsgid": "not valid!"}))


def test_invalid_batch_id_format_is_201() -> None:
    expect(201, call(make(), "endbatch", {**CREDS, "batch_id": "xyz"}))


def test_ip_lockdown_applies_to_sessions_too() -> None:
    emu = make(
        accounts=[Account(api_id=1234, user="demo", password="demo", allowed_ips={"10.0.0.9"})]
    )
    session = call(emu, "auth", CREDS, ip="10.0.0.9").removeprefix("OK: ")
    assert call(emu, "ping", {"session_id": session}, ip="10.0.0.9") == "OK:"
    expect(7, call(emu, "ping", {"session_id": session}, ip="10.0.0.10"))


def test_multi_recipient_request_errors_are_per_recipient() -> None:
    line = call(make(), "sendmsg", {**SEND, "to": "27821234567,27821234568", "text": ""})
    assert line.split("\n") == [
        "ERR: 107, Empty message To: 27821234567",
        "ERR: 107, Empty message To: 27821234568",
    ]


def test_errors_are_counted_by_code() -> None:
    emu = make()
    call(emu, "sendmsg", {**SEND, "to": "1,2,27821234567"})
    call(emu, "auth", {**CREDS, "password": "x"})
    assert dict(emu.statistics().errors) == {1: 1, 105: 2}

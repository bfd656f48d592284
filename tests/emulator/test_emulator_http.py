"""The emulator's HTTP API: every command at its paths, GET and POST, the documented replies."""

from __future__ import annotations

import re
from urllib.parse import quote, urlencode

import httpx
import pytest
from helpers.emulator import CREDS

from asms._optable import OPERATIONS
from asms.testing import Account, EmulatorTransport, FakeClock, GatewayEmulator, Profile

HEX32 = "[0-9a-f]{32}"


def make(**kwargs: object) -> GatewayEmulator:
    return GatewayEmulator(clock=FakeClock(), **kwargs)  # type: ignore[arg-type]


def call(emu: GatewayEmulator, command: str, *, method: str = "POST", **params: str) -> str:
    """One request through the emulator's HTTP handling, from raw form bytes."""
    path = OPERATIONS[command].http_path
    form = urlencode({**CREDS, **params}).encode()
    if method == "GET":
        reply = emu.app.handle("GET", path, form, b"", "127.0.0.1")
    else:
        reply = emu.app.handle("POST", path, b"", form, "127.0.0.1")
    assert reply.status == 200
    return reply.body.decode("latin-1")


def send(emu: GatewayEmulator, to: str = "27821234567", text: str = "Hello", **params: str) -> str:
    line = call(emu, "sendmsg", to=to, text=text, **params)
    match = re.fullmatch(f"ID: ({HEX32})", line)
    assert match, line
    return match.group(1)


# -- every command, both methods, with and without .php, through both transports ------------


def prepare(emu: GatewayEmulator, command: str) -> tuple[dict[str, str], str]:
    """Parameters for one successful call of ``command`` and the reply it must match."""
    if command == "auth":
        return {}, f"OK: {HEX32}"
    if command == "ping":
        session = call(emu, "auth").removeprefix("OK: ")
        return {"session_id": session, "api_id": "", "user": "", "password": ""}, "OK:"
    if command == "sendmsg":
        return {"to": "27821234567,27821234568", "text": "Hi"}, (
            f"ID: {HEX32} To: 27821234567\nID: {HEX32} To: 27821234568"
        )
    if command in ("querymsg", "delmsg"):
        apimsgid = send(emu, deliv_time="60")
        status = "011" if command == "querymsg" else "006"
        return {"apimsgid": apimsgid}, f"ID: {apimsgid} Status: {status}"
    if command == "getmsgcharge":
        apimsgid = send(emu, text="x" * 200, concat="2")
        return {"apimsgid": apimsgid}, f"ID: {apimsgid} Charge: 2 Status: 002"
    if command == "getbalance":
        return {}, "Credit: 1000000"
    if command == "routeCoverage":
        return {"msisdn": "27821234567"}, (
            "OK: This prefix is currently supported. Messages sent to this prefix will be "
            "routed. Charge: 1"
        )
    if command == "si_push":
        return {
            "to": "27821234567",
            "si_id": "id1",
            "si_url": "http://example.com/x",
            "si_text": "Look",
        }, f"ID: {HEX32}"
    if command == "ind_push":
        return {
            "to": "27821234567",
            "mms_subject": "Pic",
            "mms_class": "80",
            "mms_expire": "3600",
            "mms_from": "Me",
            "mms_url": "http://example.com/pic.mms",
        }, f"ID: {HEX32}"
    if command == "token_pay":
        emu.add_vouchers({"1234567890123456": 605})
        return {"token": "1234567890123456"}, "OK: 605"
    if command == "startbatch":
        return {"template": "Hello #field1#"}, f"ID: {HEX32}"
    batch = call(emu, "startbatch", template="Hello #field1#").removeprefix("ID: ")
    if command == "senditem":
        return {"batch_id": batch, "to": "27821234567", "field1": "Ann"}, f"ID: {HEX32}"
    if command == "quicksend":
        return {"batch_id": batch, "to": "27821234567,27821234568"}, (
            f"ID: {HEX32} To: 27821234567\nID: {HEX32} To: 27821234568"
        )
    assert command == "endbatch"
    return {"batch_id": batch}, "OK"


@pytest.mark.anyio
@pytest.mark.parametrize("command", list(OPERATIONS))
@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("php", [False, True])
async def test_every_command_answers_its_documented_form(
    command: str, method: str, php: bool
) -> None:
    emu = make()
    params, expected = prepare(emu, command)
    form = {k: v for k, v in {**CREDS, **params}.items() if v}
    path = OPERATIONS[command].http_path + (".php" if php else "")
    async with httpx.AsyncClient(
        transport=EmulatorTransport(emu), base_url="http://gateway"
    ) as client:
        if method == "GET":
            response = await client.get(path, params=form)
        else:
            response = await client.post(path, data=form)
    assert response.status_code == 200
    assert re.fullmatch(expected, response.text), response.text


@pytest.mark.anyio
async def test_asgi_transport_serves_the_same_replies() -> None:
    emu = make()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=emu.app), base_url="http://gateway"
    ) as client:
        auth = await client.post("/http/auth", data=CREDS)
        session = auth.text.removeprefix("OK: ")
        sent = await client.post(
            "/http/sendmsg", data={"session_id": session, "to": "27821234567", "text": "Hi"}
        )
        query = await client.get(
            "/http/querymsg.php",
            params={"session_id": session, "apimsgid": sent.text.removeprefix("ID: ")},
        )
    assert re.fullmatch(f"OK: {HEX32}", auth.text)
    assert re.fullmatch(f"ID: {HEX32}", sent.text)
    assert re.fullmatch(f"ID: {HEX32} Status: 002", query.text)
    assert auth.headers["content-type"].startswith("text/html")


# -- parsing ---------------------------------------------------------------------------------


def test_post_text_is_read_as_iso_8859_1() -> None:
    emu = make()
    form = (
        urlencode({**CREDS, "to": "27821234567"}) + "&text=" + quote("Ça été", encoding="latin-1")
    )
    reply = emu.app.handle("POST", "/http/sendmsg", b"", form.encode(), "127.0.0.1")
    assert reply.body.startswith(b"ID: ")
    assert emu.recorder.messages[0].text == "Ça été"


def test_get_query_text_is_read_as_iso_8859_1() -> None:
    emu = make()
    query = urlencode({**CREDS, "to": "27821234567"}) + "&text=%E9t%E9"
    emu.app.handle("GET", "/http/sendmsg", query.encode(), b"", "127.0.0.1")
    assert emu.recorder.messages[0].text == "été"


def test_unicode_text_is_ucs2_hex() -> None:
    emu = make()
    send(emu, text="03A903A80398", unicode="1")
    message = emu.recorder.messages[0]
    assert (message.text, message.parts) == ("ΩΨΘ", 1)


def test_repeated_to_parameters_and_comma_lists_combine() -> None:
    emu = make()
    form = urlencode([*CREDS.items(), ("to", "27821234567,27821234568"), ("to", "27821234569")])
    reply = emu.app.handle("POST", "/http/sendmsg", b"", (form + "&text=Hi").encode(), "1.2.3.4")
    assert [line.split(" To: ")[1] for line in reply.body.decode().split("\n")] == [
        "27821234567",
        "27821234568",
        "27821234569",
    ]


def test_aliases_climsgid_and_apimsgid_are_accepted() -> None:
    emu = make()
    apimsgid = send(emu, cliMsgId="abc123")
    assert call(emu, "querymsg", climsgid="abc123") == f"ID: {apimsgid} Status: 002"
    assert call(emu, "querymsg", apiMsgId=apimsgid) == f"ID: {apimsgid} Status: 002"
    assert emu.recorder.messages[0].climsgid == "abc123"


def test_unknown_path_is_404_and_wrong_method_405() -> None:
    emu = make()
    assert emu.app.handle("GET", "/http/nosuch", b"", b"", None).status == 404
    assert emu.app.handle("PUT", "/http/sendmsg", b"", b"", None).status == 405


# -- limits ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "method", "limit"),
    [
        ("default", "GET", 300),
        ("default", "POST", 600),
        ("v2.3.8", "GET", 100),
        ("v2.3.8", "POST", 300),
    ],
)
def test_recipient_limits(profile: str, method: str, limit: int) -> None:
    emu = make(profile=profile)
    numbers = [str(27820000000 + i) for i in range(limit + 1)]
    over = call(emu, "sendmsg", method=method, to=",".join(numbers), text="Hi")
    assert over == "ERR: 101, Invalid or missing parameters"
    at_limit = call(emu, "sendmsg", method=method, to=",".join(numbers[:limit]), text="Hi")
    assert at_limit.count("\n") == limit - 1
    assert emu.recorder.statistics().messages == limit


def test_mixed_multi_recipient_reply_default_and_v238() -> None:
    emu = make()
    lines = call(emu, "sendmsg", to="27821234567,12,27821234568", text="Hi").split("\n")
    assert re.fullmatch(f"ID: {HEX32} To: 27821234567", lines[0])
    assert lines[1] == "ERR: 105, Invalid destination address To: 12"
    assert re.fullmatch(f"ID: {HEX32} To: 27821234568", lines[2])
    old = make(profile="v2.3.8")
    lines = call(old, "sendmsg", to="27821234567,12", text="Hi").split("\n")
    assert lines[1] == "ERR: 105, Invalid destination address"


def test_v238_getmsgcharge_form() -> None:
    emu = make(profile=Profile.named("v2.3.8"))
    apimsgid = send(emu)
    assert call(emu, "getmsgcharge", apimsgid=apimsgid) == (
        f"apiMsgId: {apimsgid} charge: 1 status: 002"
    )


# -- credits, charging, routes ---------------------------------------------------------------


def test_charging_is_per_part_and_by_route() -> None:
    emu = make(
        accounts=[Account(api_id=1234, user="demo", password="demo", credits=10)],
        routes={"": 1.0, "44": 0.5},
    )
    send(emu, to="447700900123", text="x" * 300, concat="3")  # 2 parts x 0.5
    assert call(emu, "getbalance") == "Credit: 9"
    assert emu.recorder.messages[0].parts == 2
    assert call(emu, "routeCoverage", msisdn="4477009").endswith("Charge: 0.5")


def test_max_credits_below_charge_gives_an_id_then_status_009() -> None:
    emu = make()
    apimsgid = send(emu, text="x" * 200, concat="2", max_credits="1")
    assert call(emu, "querymsg", apimsgid=apimsgid) == f"ID: {apimsgid} Status: 009"
    assert call(emu, "getmsgcharge", apimsgid=apimsgid) == f"ID: {apimsgid} Charge: 0 Status: 009"
    assert call(emu, "getbalance") == "Credit: 1000000"


def test_token_pay_adds_credits_once() -> None:
    emu = make(accounts=[Account(api_id=1234, user="demo", password="demo", credits=0)])
    emu.add_vouchers({"1111222233334444": 50})
    assert call(emu, "token_pay", token="1111222233334444") == "OK: 50"
    assert call(emu, "getbalance") == "Credit: 50"
    assert call(emu, "token_pay", token="1111222233334444").startswith("ERR: 101")


def test_route_coverage_unsupported_prefix_has_no_code() -> None:
    emu = make(routes={"27": 1.0})
    assert call(emu, "routeCoverage", msisdn="4412345678") == (
        "ERR: This prefix is not currently supported. Messages sent to this prefix will fail. "
        "Please contact support for assistance."
    )


# -- batches -----------------------------------------------------------------------------------


def test_senditem_substitutes_fields_and_keeps_batch_options() -> None:
    emu = make()
    batch = call(
        emu, "startbatch", template="Dear #field1#, you owe #field2#", climsgid="b1", concat="2"
    ).removeprefix("ID: ")
    call(emu, "senditem", batch_id=batch, to="27821234567", field1="Ann", field2="R5")
    call(emu, "quicksend", batch_id=batch, to="27821234568")
    first, second = emu.recorder.messages
    assert first.text == "Dear Ann, you owe R5"
    assert second.text == "Dear #field1#, you owe #field2#"
    assert (first.command, first.climsgid) == ("senditem", "b1")
    assert call(emu, "endbatch", batch_id=batch) == "OK"
    assert call(emu, "senditem", batch_id=batch, to="27821234567") == "ERR: 201, Invalid batch ID"


def test_unicode_batch_does_not_substitute() -> None:
    emu = make()
    template = "#field1#".encode("utf-16-be").hex()
    batch = call(emu, "startbatch", template=template, unicode="1").removeprefix("ID: ")
    call(emu, "senditem", batch_id=batch, to="27821234567", field1="Ann")
    assert emu.recorder.messages[0].text == "#field1#"


def test_batch_of_another_account_is_invalid() -> None:
    emu = make(
        accounts=[
            Account(api_id=1234, user="demo", password="demo"),
            Account(api_id=99, user="other", password="pw"),
        ]
    )
    batch = call(emu, "startbatch", template="Hi").removeprefix("ID: ")
    other = {"api_id": "99", "user": "other", "password": "pw"}
    assert call(emu, "quicksend", batch_id=batch, to="27821234567", **other) == (
        "ERR: 201, Invalid batch ID"
    )


# -- lookups ---------------------------------------------------------------------------------


def test_querymsg_by_climsgid_of_multi_recipient_send_answers_first_recipient() -> None:
    emu = make()
    lines = call(emu, "sendmsg", to="27821234567,27821234568", text="Hi", climsgid="m1")
    first = lines.split("\n")[0].split()[1]
    assert call(emu, "querymsg", climsgid="m1") == f"ID: {first} Status: 002"
    assert call(emu, "getmsgcharge", climsgid="m1") == f"ID: {first} Charge: 1 Status: 002"


def test_delmsg_by_climsgid_cancels_the_whole_request() -> None:
    emu = make()
    call(emu, "sendmsg", to="27821234567,27821234568", text="Hi", climsgid="m2")
    first, second = emu.recorder.messages
    assert call(emu, "delmsg", climsgid="m2") == f"ID: {first.apimsgid} Status: 006"
    assert emu.status(second.apimsgid) == 6
    assert call(emu, "getbalance") == "Credit: 1000000"  # refunded


def test_messages_of_another_account_are_unknown() -> None:
    emu = make(
        accounts=[
            Account(api_id=1234, user="demo", password="demo"),
            Account(api_id=99, user="other", password="pw"),
        ]
    )
    apimsgid = send(emu, climsgid="mine")
    other = {"api_id": "99", "user": "other", "password": "pw"}
    assert call(emu, "querymsg", apimsgid=apimsgid, **other).startswith("ERR: 103")
    assert call(emu, "querymsg", climsgid="mine", **other).startswith("ERR: 104")


def test_ids_are_deterministic_for_a_seed() -> None:
    first = [send(make(seed=7)) for _ in range(2)]
    again = [send(make(seed=7)) for _ in range(2)]
    other = send(make(seed=8))
    assert first == again
    assert other != first[0]

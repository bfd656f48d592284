"""The emulator's SOAP servers: both styles, every operation, the gateway's own examples."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from lxml import etree

from asms._optable import OPERATIONS
from asms._soap import DL_ENDPOINT, RPC_ENDPOINTS, build_request, parse_response
from asms.testing import Account, EmulatorTransport, FakeClock, GatewayEmulator

# The gateway's own SOAP examples, as the wire tests keep them (documents 000 and 002 of
# its SOAP documentation, one envelope a file).
EXAMPLES = Path(__file__).parents[1] / "wire" / "fixtures" / "soap"
AUTH = {"api_id": "1234", "user": "demo", "password": "demo"}
HEX32 = "[0-9a-f]{32}"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"


def make(**kwargs: object) -> GatewayEmulator:
    return GatewayEmulator(clock=FakeClock(), **kwargs)  # type: ignore[arg-type]


def post(emu: GatewayEmulator, path: str, body: bytes) -> tuple[int, bytes]:
    reply = emu.app.handle("POST", path, b"", body, "127.0.0.1")
    return reply.status, reply.body


def soap(emu: GatewayEmulator, style: str, command: str, auth: dict[str, str] = AUTH, **params):
    op = OPERATIONS[command]
    body, _ = build_request(style, op, params, auth)  # type: ignore[arg-type]
    path = DL_ENDPOINT if style == "dl" else RPC_ENDPOINTS[0]
    status, answer = post(emu, path, body)
    assert status == 200, answer
    return parse_response(answer)


def http_send(emu: GatewayEmulator, **params: str) -> str:
    from urllib.parse import urlencode

    form = urlencode({**AUTH, "to": "27821234567", "text": "Hi", **params}).encode()
    return emu.app.handle("POST", "/http/sendmsg", b"", form, "127.0.0.1").body.decode()[4:]


def prepare(emu: GatewayEmulator, command: str) -> tuple[dict[str, object], list[str]]:
    if command == "auth":
        return {}, [f"OK: {HEX32}"]
    if command == "ping":
        return {}, ["OK:"]
    if command == "sendmsg":
        return {"to": ["27821234567", "27821234568"], "text": "Hi"}, [
            f"ID: {HEX32} To: 27821234567",
            f"ID: {HEX32} To: 27821234568",
        ]
    if command in ("querymsg", "delmsg", "getmsgcharge"):
        apimsgid = http_send(emu, deliv_time="10")
        expected = {
            "querymsg": f"ID: {apimsgid} Status: 011",
            "delmsg": f"ID: {apimsgid} Status: 006",
            "getmsgcharge": f"ID: {apimsgid} Charge: 1 Status: 011",
        }[command]
        return {"apimsgid": apimsgid}, [expected]
    if command == "getbalance":
        return {}, ["Credit: 1000000"]
    if command == "routeCoverage":
        return {"msisdn": "27821234567"}, [
            "OK: This prefix is currently supported. Messages sent to this prefix will be "
            "routed. Charge: 1"
        ]
    if command == "si_push":
        return {
            "to": ["27821234567"],
            "si_id": "1",
            "si_url": "http://example.com",
            "si_text": "Go",
        }, [f"ID: {HEX32}"]
    if command == "ind_push":
        return {
            "to": ["27821234567"],
            "mms_subject": "S",
            "mms_class": "81",
            "mms_expire": "60",
            "mms_from": "Me",
            "mms_url": "http://example.com/m",
        }, [f"ID: {HEX32}"]
    if command == "token_pay":
        emu.add_vouchers({"9999888877776666": 10})
        return {"token": "9999888877776666"}, ["OK: 10"]
    if command == "startbatch":
        return {"template": "Hi #field1#"}, [f"ID: {HEX32}"]
    batch = soap(emu, "dl", "startbatch", template="Hi #field1#")[0].removeprefix("ID: ")
    if command == "senditem":
        return {"batch_id": batch, "to": ["27821234567"], "field1": "Bo"}, [f"ID: {HEX32}"]
    if command == "quicksend":
        return {"batch_id": batch, "to": ["27821234567", "27821234568"]}, [
            f"ID: {HEX32} To: 27821234567",
            f"ID: {HEX32} To: 27821234568",
        ]
    return {"batch_id": batch}, ["OK"]


@pytest.mark.anyio
@pytest.mark.parametrize("command", list(OPERATIONS))
@pytest.mark.parametrize("path", [DL_ENDPOINT, *RPC_ENDPOINTS])
async def test_every_operation_on_every_soap_endpoint(command: str, path: str) -> None:
    emu = make()
    style = "dl" if path == DL_ENDPOINT else "rpc"
    params, expected = prepare(emu, command)
    auth = dict(AUTH)
    if command == "ping":
        auth = {"session_id": soap(emu, style, "auth")[0].removeprefix("OK: ")}
    body, headers = build_request(style, OPERATIONS[command], params, auth)  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=EmulatorTransport(emu), base_url="http://gateway"
    ) as client:
        response = await client.post(path, content=body, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    lines = parse_response(response.content)
    assert len(lines) == len(expected), lines
    for line, pattern in zip(lines, expected, strict=True):
        assert re.fullmatch(pattern, line), line
    root = etree.fromstring(response.content)
    wrapper = root[0][0]
    op = OPERATIONS[command]
    assert etree.QName(wrapper).localname == (op.dl if style == "dl" else op.rpc) + "Response"
    if style == "rpc":
        value = wrapper[0]
        assert (len(value) > 0) == op.rpc_array  # ArrayOfString of <item> vs plain string


# -- the gateway's own examples ----------------------------------------------------------------


# Document 002's envelopes, in the order it shows them.
DOC2_EXAMPLES = (
    "dl_sendmsg_two_numbers.xml",
    "dl_sendmsg_unicode.xml",
    "dl_sendmsg_flash.xml",
    "dl_sendmsg_binary.xml",
    "dl_sendmsg_callback_sender.xml",
    "dl_sendmsg_response_ok.xml",
    "dl_sendmsg_response_err.xml",
)


def doc2_envelopes() -> list[str]:
    return [(EXAMPLES / name).read_text().strip() for name in DOC2_EXAMPLES]


def doc_account() -> Account:
    return Account(api_id=123456, user="MyUserName", password="MyPassword")


@pytest.mark.parametrize("index", range(5))
def test_docs_002_request_examples(index: int) -> None:
    emu = make(accounts=[doc_account()])
    status, answer = post(emu, DL_ENDPOINT, doc2_envelopes()[index].encode())
    assert status == 200
    lines = parse_response(answer)
    message = emu.recorder.messages[0]
    if index == 0:  # two numbers
        assert [m.to for m in emu.recorder.messages] == ["2799900001", "2799900002"]
        assert re.fullmatch(f"ID: {HEX32} To: 2799900001", lines[0])
    elif index == 1:  # unicode
        assert message.text == "This is a sample message sent as Unicode data."
    elif index == 2:  # flash
        assert message.text == "This is my flash message here!"
    elif index == 3:  # binary: udh + hex payload in text
        assert (
            message.text == "040601AE02056A0045C60C037368008503656B732E636F6D0008010374657374000101"
        )
    else:  # callback (spelled "callback" on doc/literal too) and sender id
        assert (message.callback, message.from_) == (3, "123456789")
    if index:
        assert re.fullmatch(f"ID: {HEX32}", lines[0])


def test_docs_002_response_examples_have_the_same_shape() -> None:
    emu = make(accounts=[doc_account()])
    _, answer = post(emu, DL_ENDPOINT, doc2_envelopes()[0].encode())
    documented = etree.fromstring(doc2_envelopes()[5].encode())
    ours = etree.fromstring(answer)
    assert [el.tag for el in ours.iter()] == [el.tag for el in documented.iter()]


def test_docs_002_error_example_auth_failure_per_recipient() -> None:
    emu = make(accounts=[Account(api_id=123456, user="MyUserName", password="other")])
    _, answer = post(emu, DL_ENDPOINT, doc2_envelopes()[0].encode())
    documented = parse_response(doc2_envelopes()[6].encode())
    assert (
        parse_response(answer)
        == documented
        == [
            "ERR: 001, Authentication failed To: 2799900001",
            "ERR: 001, Authentication failed To: 2799900002",
        ]
    )


def test_docs_000_rpc_example_with_nil_parts_and_arrays() -> None:
    envelope = (EXAMPLES / "rpc_sendmsg_webservice_php.xml").read_bytes().strip()
    emu = make()
    status, answer = post(emu, "/soap/webservice.php", envelope)
    assert status == 200
    lines = parse_response(answer)
    assert [line.split(" To: ")[1] for line in lines] == ["2799912345", "27999123134"]
    assert emu.recorder.messages[0].text == "Initial test message"


# -- RPC spellings, prefixes, nil --------------------------------------------------------------

RPC_TEMPLATE = """<?xml version="1.0"?>
<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"
 xmlns:enc="http://schemas.xmlsoap.org/soap/encoding/"
 xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns:x="http://www.w3.org/2001/XMLSchema">
<e:Body><w:sendmsg xmlns:w="http://api.clickatell.com/soap/webservice">
<api_id i:type="x:int">1234</api_id><user>demo</user><password>demo</password>
<to i:type="enc:Array" enc:arrayType="x:string[1]"><item>27821234567</item></to>
<text>Hi</text>{extra}</w:sendmsg></e:Body></e:Envelope>"""


@pytest.mark.parametrize(
    ("extra", "attribute", "value"),
    [
        ("<callback>2</callback>", "callback", 2),
        ("<msg_callback>3</msg_callback>", "callback", 3),
        ("<cliMsgId>abc</cliMsgId>", "climsgid", "abc"),
        ("<climsgid>def</climsgid>", "climsgid", "def"),
        ('<cliMsgId i:nil="true"/><from i:nil="true"/>', "climsgid", ""),
    ],
)
def test_rpc_accepts_both_spellings_any_prefix_and_nil(
    extra: str, attribute: str, value: object
) -> None:
    emu = make()
    for path in RPC_ENDPOINTS:
        status, answer = post(emu, path, RPC_TEMPLATE.format(extra=extra).encode())
        assert status == 200
        assert re.fullmatch(f"ID: {HEX32}", parse_response(answer)[0])
    assert all(getattr(m, attribute) == value for m in emu.recorder.messages)


def test_errors_are_in_band() -> None:
    emu = make()
    lines = soap(
        emu, "dl", "sendmsg", auth={**AUTH, "password": "x"}, to=["27821234567"], text="Hi"
    )
    assert lines == ["ERR: 001, Authentication failed"]
    lines = soap(emu, "rpc", "querymsg", apimsgid="0" * 32)
    assert lines == ["ERR: 103, Unknown API message ID"]


def test_scalar_parameter_twice_is_invalid() -> None:
    emu = make()
    body = RPC_TEMPLATE.format(extra="<concat>1</concat><concat>2</concat>").encode()
    _, answer = post(emu, RPC_ENDPOINTS[0], body)
    assert parse_response(answer) == ["ERR: 101, Invalid or missing parameters"]


def test_soap_recipient_limit_is_300() -> None:
    emu = make()
    numbers = [str(27820000000 + i) for i in range(301)]
    assert soap(emu, "dl", "sendmsg", to=numbers, text="Hi") == [
        "ERR: 101, Invalid or missing parameters"
    ]
    assert len(soap(emu, "rpc", "sendmsg", to=numbers[:300], text="Hi")) == 300


# -- faults: only for envelopes that cannot be understood ------------------------------------


def fault_of(answer: bytes) -> tuple[str, str]:
    root = etree.fromstring(answer)
    fault = root.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert fault is not None
    return fault.findtext("faultcode") or "", fault.findtext("faultstring") or ""


@pytest.mark.parametrize(
    "body",
    [
        b"not xml at all",
        b"<a>unclosed",
        b'<?xml version="1.0"?><x:Envelope xmlns:x="urn:other"/>',
        # an entity expansion attack never reaches the parser
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
        b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body>'
        b"<sendmsg><text>&b;</text></sendmsg></e:Body></e:Envelope>",
        # external entity (XXE)
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body>'
        b"<ping><session_id>&x;</session_id></ping></e:Body></e:Envelope>",
    ],
)
def test_unparseable_envelopes_are_soap_faults(body: bytes) -> None:
    emu = make()
    status, answer = post(emu, DL_ENDPOINT, body)
    assert status == 500
    code, _ = fault_of(answer)
    assert code.endswith("Client")
    assert b"root:" not in answer


def test_unknown_operation_is_a_soap_fault() -> None:
    emu = make()
    body = (
        b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body>'
        b"<launch_rocket/></e:Body></e:Envelope>"
    )
    status, answer = post(emu, RPC_ENDPOINTS[1], body)
    assert status == 500
    assert "launch_rocket" in fault_of(answer)[1]


def test_oversized_envelope_is_refused() -> None:
    emu = make(max_soap_bytes=10_000)
    body = RPC_TEMPLATE.format(extra="<udh>" + "00" * 10_000 + "</udh>").encode()
    status, _ = post(emu, RPC_ENDPOINTS[0], body)
    assert status == 500


# -- WSDL ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [DL_ENDPOINT, *RPC_ENDPOINTS])
def test_wsdl_is_served_from_the_operation_table(path: str) -> None:
    emu = make()
    reply = emu.app.handle("GET", path, b"wsdl", b"", "127.0.0.1", [(b"host", b"gw.test:8765")])
    assert reply.status == 200
    root = etree.fromstring(reply.body)
    assert etree.QName(root).localname == "definitions"
    assert f'location="http://gw.test:8765{path}"'.encode() in reply.body
    operations = {
        el.get("name")
        for el in root.iter("{http://schemas.xmlsoap.org/wsdl/}operation")
        if el.get("name")
    }
    expected = {op.dl if path == DL_ENDPOINT else op.rpc for op in OPERATIONS.values()}
    assert operations == expected

"""AsyncClient: construction, lifecycle, every command, and the same results on all three wires."""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from asms._client import AsyncClient
from asms._codes import ErrorCode, MessageStatus
from asms._config import Credentials, RetryPolicy
from asms._exceptions import (
    AuthenticationError,
    ClientClosedError,
    MessageLookupError,
    ValidationError,
)
from asms._models import Balance, Charge, Coverage, Message, SendResult, StatusInfo
from asms._results import SendResults
from asms.testing import EmulatorTransport, FakeClock, GatewayEmulator

pytestmark = pytest.mark.anyio

WIRES = ("http", "soap", "soap-rpc")
HEX32 = 32


def emulator(**kwargs: Any) -> GatewayEmulator:
    return GatewayEmulator(clock=FakeClock(), **kwargs)


def client(emu: GatewayEmulator, **kwargs: Any) -> AsyncClient:
    kwargs.setdefault("retry", RetryPolicy.testing())
    return AsyncClient(
        1234, "demo", "demo", base_url="http://gateway", transport=EmulatorTransport(emu), **kwargs
    )


# -- construction and lifecycle --------------------------------------------------------------


async def test_construction_accepts_httpx_config_objects() -> None:
    emu = emulator()
    async with AsyncClient(
        credentials=Credentials("1234", "demo", "demo"),
        base_url="http://gateway",
        transport=httpx.ASGITransport(app=emu),
        timeout=httpx.Timeout(5.0),
        limits=httpx.Limits(max_connections=5),
        retry=RetryPolicy.testing(),
    ) as c:
        [result] = await c.send("Hi", to="+27 82 123 4567")
        assert result.ok and result.to == "27821234567"
        assert len(result.apimsgid or "") == HEX32


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"wire": "smtp"}, "wire"),
        ({"method": "PUT"}, "method"),
        ({"method": "GET", "session": False}, "method"),
        ({"method": "GET", "wire": "soap"}, "method"),
        ({"base_url": "ftp://gateway"}, "base_url"),
        ({"base_url": "https://user:pw@gateway"}, "base_url"),
        ({"base_url": "https://gateway/?session_id=1"}, "base_url"),
        ({"profile": "v9"}, "profile"),
        ({"max_parts": 0}, "max_parts"),
        ({"timeout": "fast"}, "timeout"),
        ({"country_code": "0"}, "country_code"),
        ({"transport": object()}, "transport"),
    ],
)
async def test_bad_construction_is_refused(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        AsyncClient(1234, "demo", "demo", **kwargs)
    assert info.value.field == field


async def test_missing_credentials_are_refused() -> None:
    with pytest.raises(ValidationError):
        AsyncClient(1234, "demo")
    with pytest.raises(ValidationError) as info:
        AsyncClient("not-a-number", "demo", "demo")
    assert info.value.field == "api_id"


async def test_default_base_url_is_https() -> None:
    c = AsyncClient(1234, "demo", "demo", transport=httpx.MockTransport(lambda r: None))  # type: ignore[arg-type,return-value]
    assert "base_url='https://api.clickatell.com'" in repr(c)
    await c.aclose()


async def test_closed_client_refuses_work() -> None:
    emu = emulator()
    c = client(emu)
    async with c:
        assert not c.closed
    assert c.closed
    with pytest.raises(ClientClosedError):
        await c.send("Hi", to="27821234567")
    with pytest.raises(ClientClosedError):
        await c.balance()
    with pytest.raises(ClientClosedError):
        async with c:
            pass
    await c.aclose()  # idempotent


async def test_with_options_shares_pool_session_and_counters() -> None:
    emu = emulator()
    async with client(emu) as c:
        await c.send("Hi", to="27821234567")
        soap = c.with_options(wire="soap")
        assert soap.wire == "soap"
        await soap.send("Hi", to="27821234567")
        await soap.aclose()  # a copy does not close the pool
        assert not c.closed
        await c.send("Hi", to="27821234567")
        stats = c.statistics()
        assert stats.auth_calls == 1  # one session for both wires
        assert stats.attempts == 3
        assert emu.statistics().requests_by_command["auth"] == 1
        with pytest.raises(ValidationError):
            c.with_options(base_url="http://elsewhere")
        with pytest.raises(ValidationError):
            c.with_options(wire="fax")
    with pytest.raises(ClientClosedError):
        await soap.balance()


async def test_with_options_other_credentials_get_their_own_session() -> None:
    emu = emulator()
    async with client(emu) as c:
        await c.balance()
        other = c.with_options(credentials=Credentials("1234", "demo", "demo"), session=False)
        await other.balance()
        assert c.statistics().auth_calls == 1


# -- sending -------------------------------------------------------------------------------


async def test_send_many_recipients_one_result_each_in_order() -> None:
    emu = emulator()
    emu.blocked.add("27821230002")
    async with client(emu) as c:
        numbers = ["27821230001", "27821230002", "27821230003", "27821230001"]
        results = await c.send("Hello", to=numbers)
    assert [r.to for r in results] == numbers
    assert [r.ok for r in results] == [True, False, True, True]
    assert results[1].error_code == ErrorCode.DESTINATION_MOBILE_NUMBER_BLOCKED
    assert results[0].apimsgid != results[3].apimsgid  # the same number twice: two messages
    assert len({r.climsgid for r in results}) == 1


async def test_send_comma_list_and_country_code() -> None:
    emu = emulator()
    async with client(emu, country_code=27) as c:
        results = await c.send("Hello", to="0821230001, +27 82 123 0002")
    assert [r.to for r in results] == ["27821230001", "27821230002"]
    with pytest.raises(ValidationError) as info:
        async with client(emu) as c:
            await c.send("Hello", to="0821230001")
    assert info.value.field == "to"


async def test_v238_error_lines_without_to_are_matched_in_order() -> None:
    emu = emulator(profile="v2.3.8")
    emu.blocked.add("27821230002")
    async with client(emu, profile="v2.3.8") as c:
        results = await c.send("Hello", to=["27821230001", "27821230002", "27821230003"])
    assert [r.ok for r in results] == [True, False, True]


@pytest.mark.parametrize("wire", WIRES)
async def test_more_recipients_than_one_request_carries_are_split(wire: str) -> None:
    emu = emulator()
    numbers = [f"2782{i:07d}" for i in range(650)]
    async with client(emu, wire=wire) as c:
        results = await c.send("Hello", to=numbers, climsgid="Order42")
        limit = c.max_recipients
    assert [r.to for r in results] == numbers
    assert all(r.ok for r in results)
    requests = -(-len(numbers) // limit)
    assert emu.statistics().commits == requests
    ids = [r.climsgid for r in results]
    assert ids[0] == "Order42c0" and ids[-1] == f"Order42c{requests - 1}"


async def test_single_request_keeps_the_callers_climsgid() -> None:
    emu = emulator()
    async with client(emu) as c:
        [result] = await c.send("Hello", to="27821234567", climsgid="Order42")
        status = await c.query(climsgid="Order42")
    assert result.climsgid == "Order42"
    assert status.apimsgid == result.apimsgid
    with pytest.raises(ValidationError):
        async with client(emu) as c:
            await c.send("Hello", to="27821234567", climsgid="not valid!")


@pytest.mark.parametrize(
    ("wire", "text", "parts", "unicode"),
    [
        ("http", "x" * 160, 1, False),
        ("http", "x" * 161, 2, False),
        ("http", "é" * 300, 2, False),
        ("http", "Ω" * 10, 1, True),  # GSM, but not ISO-8859-1: UCS-2 on HTTP
        ("soap", "Ω" * 10, 1, False),  # SOAP carries it as GSM characters
        ("http", "€" * 80, 2, True),
        ("soap", "€" * 80, 1, False),  # two septets each: 160 septets, one part
        ("soap", "€" * 81, 2, False),
        ("http", "日本" * 40, 2, True),
        ("soap-rpc", "日本" * 40, 2, True),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 10 else None,
)
async def test_text_encoding_and_parts(wire: str, text: str, parts: int, unicode: bool) -> None:
    emu = emulator()
    async with client(emu, wire=wire) as c:
        [result] = await c.send(text, to="27821234567")
    assert result.ok and result.parts == parts
    [message] = emu.recorder.messages
    assert message.text == text  # the gateway read back exactly what was meant
    assert message.parts == parts


async def test_text_too_long_is_refused_before_sending() -> None:
    emu = emulator()
    async with client(emu) as c:
        with pytest.raises(ValidationError, match=r"needs 4 parts.*113"):
            await c.send("x" * 500, to="27821234567")
        with pytest.raises(ValidationError, match="concat=1"):
            await c.send("x" * 200, to="27821234567", concat=1)
        with pytest.raises(ValidationError):
            await c.send("Ω", to="27821234567", unicode=False)
        with pytest.raises(ValidationError):
            await c.send("", to="27821234567")
        with pytest.raises(ValidationError):
            await c.send("Hi", to="27821234567", colour="red")
    assert emu.statistics().requests_by_command.get("sendmsg", 0) == 0


async def test_forced_unicode_flash_and_binary() -> None:
    emu = emulator()
    async with client(emu) as c:
        [forced] = await c.send("Hello", to="27821234567", unicode=True)
        [flash] = await c.send("Alert", to="27821234567", msg_type="SMS_FLASH")
        [binary] = await c.send("", to="27821234567", udh="0605040B8423F0", data="AB" * 300)
    assert forced.ok and flash.ok and binary.ok
    assert binary.parts == 3  # 128 data bytes per part next to a 7-byte UDH
    messages = emu.recorder.messages
    assert messages[0].text == "Hello"
    assert [m.parts for m in messages] == [1, 1, 3]


async def test_http_only_options_are_refused_on_soap() -> None:
    emu = emulator()
    async with client(emu, wire="soap") as c:
        with pytest.raises(ValidationError) as info:
            await c.send("Hi", to="27821234567", binary=True)
    assert info.value.field == "binary"


async def test_whole_request_error_is_every_recipients_data() -> None:
    emu = emulator()
    emu.set_credits(0)
    async with client(emu) as c:
        results = await c.send("Hi", to=["27821234567", "27821234568"])
    assert [r.error_code for r in results] == [ErrorCode.NO_CREDIT_LEFT] * 2


async def test_authentication_failure_is_raised() -> None:
    emu = emulator()
    async with AsyncClient(
        1234, "demo", "wrong", base_url="http://gateway", transport=EmulatorTransport(emu)
    ) as c:
        with pytest.raises(AuthenticationError):
            await c.send("Hi", to="27821234567")
    async with AsyncClient(
        1234,
        "demo",
        "wrong",
        base_url="http://gateway",
        transport=EmulatorTransport(emu),
        session=False,
    ) as c:
        with pytest.raises(AuthenticationError):
            await c.send("Hi", to="27821234567")


async def test_send_message_and_send_request_carry_refs_and_ids() -> None:
    emu = emulator()
    async with client(emu) as c:
        single = await c.send_message(Message.create("27821234567", "Hi", ref="row-1"))
        grouped = await c.send_request(
            [
                Message("27821230001", "Same", climsgid="Grp1", ref=1),
                Message("27821230002", "Same", ref=2),
            ]
        )
        with pytest.raises(ValidationError):
            await c.send_request([Message("27821230001", "A"), Message("27821230002", "B")])
        with pytest.raises(ValidationError):
            await c.send_request(
                [
                    Message("27821230001", "A", climsgid="X1"),
                    Message("27821230002", "A", climsgid="X2"),
                ]
            )
        assert await c.send_request([]) == []
    assert single.ref == "row-1" and single.ok and single.climsgid
    assert [r.ref for r in grouped] == [1, 2]
    assert {r.climsgid for r in grouped} == {"Grp1"}
    assert emu.recorder.committed("Grp1") == 1


async def test_send_batch_is_the_deprecated_old_name_of_send_request() -> None:
    emu = emulator()
    messages = [Message("27821230001", "Same", ref=1), Message("27821230002", "Same", ref=2)]
    async with client(emu) as c:
        new = await c.send_request(messages)
        with pytest.warns(DeprecationWarning, match="use send_request"):
            old = await c.send_batch(messages, wait_throttled=False)
    assert [(r.to, r.ref, r.ok) for r in old] == [(r.to, r.ref, r.ok) for r in new]
    assert all(r.ok for r in old) and len(emu.recorder.messages) == 4


async def test_session_false_sends_credentials_every_time() -> None:
    emu = emulator()
    async with client(emu, session=False) as c:
        await c.send("Hi", to="27821234567")
        await c.balance()
        with pytest.raises(ValidationError):
            await c.ping()
    assert emu.statistics().requests_by_command.get("auth", 0) == 0
    assert c.statistics().auth_calls == 0


async def test_get_method_works_with_a_session() -> None:
    emu = emulator()
    seen: list[httpx.Request] = []
    inner = EmulatorTransport(emu)

    class Recording(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return await inner.handle_async_request(request)

    async with AsyncClient(
        1234, "demo", "demo", base_url="http://gateway", method="GET", transport=Recording()
    ) as c:
        [result] = await c.send("Hi there", to="27821234567")
    assert result.ok
    methods = [(r.method, r.url.path) for r in seen]
    assert methods == [("POST", "/http/auth"), ("GET", "/http/sendmsg")]
    query = seen[1].url.query.decode("ascii")
    assert "session_id=" in query and "password" not in query and "api_id" not in query


# -- the other commands -----------------------------------------------------------------------


async def test_query_charge_delete_by_either_id() -> None:
    emu = emulator()
    async with client(emu) as c:
        [sent] = await c.send("Later", to="27821234567", deliv_time=60, climsgid="Q1")
        assert sent.apimsgid is not None
        by_id = await c.query(sent.apimsgid)
        by_cli = await c.query(climsgid="Q1")
        charge = await c.charge(climsgid="Q1")
        deleted = await c.delete(sent.apimsgid)
        with pytest.raises(ValidationError):
            await c.query()
        with pytest.raises(ValidationError):
            await c.query("a" * 32, climsgid="Q1")
        with pytest.raises(ValidationError):
            await c.query("not-hex")
        with pytest.raises(MessageLookupError):
            await c.query(climsgid="Nope")
    assert by_id == by_cli == StatusInfo(sent.apimsgid, MessageStatus.QUEUED_FOR_LATER_DELIVERY)
    assert charge == Charge(sent.apimsgid, 1.0, MessageStatus.QUEUED_FOR_LATER_DELIVERY)
    assert deleted == StatusInfo(sent.apimsgid, MessageStatus.USER_CANCELLED)


async def test_balance_coverage_token_ping() -> None:
    emu = emulator()
    emu.set_route("4477", None)
    emu.add_vouchers({"1234567890123456": 50.0})
    async with client(emu) as c:
        before = await c.balance()
        routed = await c.route_coverage("+27 82 123 4567")
        unrouted = await c.route_coverage("447700900123")
        added = await c.token_pay("1234567890123456")
        after = await c.balance()
        await c.ping()
        with pytest.raises(ValidationError):
            await c.token_pay("12")
    assert added == 50.0 and after == Balance(before.credits + 50.0)
    assert routed.supported and routed.charge == 1.0 and routed.msisdn == "27821234567"
    assert not unrouted.supported and unrouted.charge is None
    assert c.statistics().pings == 1


async def test_batch_api() -> None:
    emu = emulator()
    async with client(emu) as c:
        async with c.batch("Hi #field1#, your code is #field2#", from_="Shop") as b:
            assert "Batch" in repr(b)
            one = await b.send_item("27821234567", ["Ann", "1234"])
            two = await b.send_item("27821234568", {1: "Bob", "field2": "99"})
            many = await b.quick_send(to=[f"2782{i:07d}" for i in range(700)])
            with pytest.raises(ValidationError):
                await b.send_item("27821234567", {"field11": "x"})
        with pytest.raises(ValidationError):
            await b.send_item("27821234567")
    assert one.ok and two.ok and len(many) == 700 and all(r.ok for r in many)
    texts = sorted(m.text for m in emu.recorder.messages[:2])
    assert texts == ["Hi Ann, your code is 1234", "Hi Bob, your code is 99"]
    assert emu.statistics().requests_by_command["endbatch"] == 1


async def test_unicode_batch_refuses_fields() -> None:
    emu = emulator()
    async with client(emu) as c, c.batch("日本 #field1#") as b:
        with pytest.raises(ValidationError):
            await b.send_item("27821234567", ["x"])
        [result] = await b.quick_send("27821234567")
    assert result.ok


async def test_push_commands() -> None:
    emu = emulator()
    async with client(emu) as c:
        si = await c.si_push(
            ["27821234567", "27821234568"],
            si_id="1",
            si_url="http://example.com/x",
            si_text="Look",
            si_action="signal-high",
        )
        ind = await c.ind_push(
            "27821234567",
            mms_subject="Pic",
            mms_class=80,
            mms_expire=3600,
            mms_from="Shop",
            mms_url="http://example.com/m",
        )
        with pytest.raises(ValidationError):
            await c.si_push("27821234567", si_id="1", si_url="u", si_text="t", si_action="loud")
        with pytest.raises(ValidationError):
            await c.si_push("27821234567", si_id="1", si_url="u", si_text="t", colour="red")
    assert [r.ok for r in si] == [True, True] and ind[0].ok


# -- the same results on every wire -----------------------------------------------------------


async def scenario(wire: str) -> list[Any]:
    """Every command once, against a fresh emulator in the same state."""
    emu = emulator(seed=5)
    emu.blocked.add("27821239999")
    emu.set_route("4477", None)
    emu.add_vouchers({"1234567890123456": 25.0})
    out: list[Any] = []
    async with client(emu, wire=wire) as c:
        out.append(await c.send("Hello", to="27821234567", climsgid="A1"))
        multi = await c.send("Hi all", to=["27821234567", "27821239999"], climsgid="A2")
        out.append(multi)
        out.append(await c.send("x" * 200, to="27821234567", climsgid="A3"))
        out.append(await c.send("日本語", to="27821234567", climsgid="A4"))
        out.append(await c.send("Flash", to="27821234567", msg_type="SMS_FLASH", climsgid="A5"))
        out.append(await c.send("", to="27821234567", udh="050003", data="C0FFEE", climsgid="A6"))
        later = await c.send("Later", to="27821234567", deliv_time=30, climsgid="A7")
        out.append(later)
        apimsgid = later[0].apimsgid
        assert apimsgid is not None
        out.append(await c.query(apimsgid))
        out.append(await c.query(climsgid="A1"))
        out.append(await c.charge(apimsgid))
        out.append(await c.delete(apimsgid))
        out.append(await c.balance())
        out.append(await c.route_coverage("27821234567"))
        out.append(await c.route_coverage("447700900123"))
        out.append(await c.token_pay("1234567890123456"))
        out.append(
            await c.si_push(
                "27821234567", si_id="7", si_url="http://e.com", si_text="t", climsgid="A8"
            )
        )
        out.append(
            await c.ind_push(
                "27821234567",
                mms_subject="s",
                mms_class="81",
                mms_expire="60",
                mms_from="f",
                mms_url="http://e.com/m",
                climsgid="A9",
            )
        )
        async with c.batch("Dear #field1#") as b:
            out.append(await b.send_item("27821234567", ["Ann"]))
            out.append(await b.quick_send(["27821234567", "27821234568"]))
        await c.ping()
        out.append(await c.balance())
        out.append(c.statistics())
    return out


async def test_every_command_gives_the_same_result_on_every_wire() -> None:
    results = {wire: await scenario(wire) for wire in WIRES}
    http = results["http"]
    assert results["soap"] == http
    assert results["soap-rpc"] == http
    kinds = {type(x) for x in http}
    assert {SendResults, StatusInfo, Charge, Balance, Coverage, float, SendResult} <= kinds
    assert http[1][1].error_code == ErrorCode.DESTINATION_MOBILE_NUMBER_BLOCKED


async def test_aclose_inside_the_block_does_not_cancel_the_block() -> None:
    emu = emulator()
    async with client(emu, ping_interval=0.01) as c:
        await c.balance()
        await c.aclose()
        await anyio.sleep(0.02)  # still running: only the keep-alive task was cancelled
        with pytest.raises(ClientClosedError):
            await c.balance()
    assert c.closed


async def test_batch_with_its_own_climsgid() -> None:
    emu = emulator()
    async with client(emu) as c, c.batch("Hello", climsgid="Batch7") as b:
        result = await b.send_item("27821234567")
    assert result.ok and result.climsgid == "Batch7"
    with pytest.raises(ValidationError):
        client(emu).batch("Hello", climsgid="bad id!")

"""Reply lines are matched to recipients honestly, on every wire.

A recipient is accepted or rejected only by a line that answers it: a line naming it, or a
line naming nobody when such lines are unambiguous (exactly as many as the recipients left
without a named line). A line naming a number that is not in the request answers nobody; a
recipient left without a line has an unknown outcome (never ok, never resent).
"""

from __future__ import annotations

import re
from collections import Counter

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from asms import DeliveryState
from asms._client import AsyncClient
from asms._codes import ErrorCode
from asms._config import RetryPolicy, WireName
from asms._exceptions import GatewayError
from asms._fast import IdLines, StridedLines
from asms._models import OUTCOME_UNKNOWN
from asms._optable import OPERATIONS
from asms._replies import ErrorReply, IdReply
from asms._sending import match_replies, normalize_recipients, parse_send
from asms._soap import build_response, parse_response
from asms.testing import GatewayEmulator

A, B, C = "27820000001", "27820000002", "27820000003"
STRANGER = "27829999999"
WIRES: list[WireName] = ["http", "soap", "soap-rpc"]


# -- the matching rule, unit by unit ------------------------------------------------------------


def test_a_reply_cut_at_a_line_boundary_leaves_the_rest_unknown() -> None:
    body = f"ID: aaa1 To: {A}"
    results = match_replies([A, B, C], parse_send(body), "cid", 1)
    assert [r.state for r in results] == [
        DeliveryState.ACCEPTED,
        DeliveryState.UNKNOWN,
        DeliveryState.UNKNOWN,
    ]
    assert results.apimsgids == ["aaa1", None, None]
    assert not results.ok and results.accepted == 1
    assert results[1].error_code == OUTCOME_UNKNOWN
    assert "no line for this recipient" in (results[1].error_description or "")


def test_a_line_naming_a_stranger_answers_nobody() -> None:
    results = match_replies([A, B, C], parse_send(f"ID: aaa1 To: {STRANGER}"), "cid", 1)
    assert [r.state for r in results] == [DeliveryState.UNKNOWN] * 3
    assert results.apimsgids == [None, None, None] and results.accepted == 0
    # One recipient, one line naming someone else: not that recipient's line either.
    [single] = match_replies([A], parse_send(f"ID: aaa1 To: {STRANGER}"), "cid", 1)
    assert single.state is DeliveryState.UNKNOWN and single.apimsgid is None
    # A stranger among the right lines is dropped; the right lines still count.
    body = f"ID: aaa1 To: {A}\nID: zzz9 To: {STRANGER}\nID: bbb2 To: {B}"
    results = match_replies([A, B], parse_send(body), "cid", 1)
    assert results.apimsgids == ["aaa1", "bbb2"] and results.ok


def test_one_recipient_named_once_too_often_gets_its_first_line() -> None:
    body = f"ID: aaa1 To: {A}\nID: aaa2 To: {A}"
    results = match_replies([A, B], parse_send(body), "cid", 1)
    assert results.apimsgids == ["aaa1", None]
    assert [r.state for r in results] == [DeliveryState.ACCEPTED, DeliveryState.UNKNOWN]
    twice = match_replies([A, A], parse_send(body), "cid", 1)
    assert twice.apimsgids == ["aaa1", "aaa2"] and twice.ok


def _bodies_in_reverse(short: bool) -> dict[str, str]:
    """[B, A] lines for recipients [A, B], in the shape each parser route takes."""
    first, second = ("b2", "a1") if short else ("bbbbbbbbbb22", "a1")
    lines = [f"ID: {first} To: {B}", f"ID: {second} To: {A}"]
    return {"lf": "\n".join(lines), "crlf": "\r\n".join(lines) + "\r\n"}


@pytest.mark.parametrize("equal_widths", [True, False])
@pytest.mark.parametrize("ending", ["lf", "crlf"])
@pytest.mark.parametrize("as_numbers", [True, False])
def test_lines_in_another_order_go_to_the_recipient_they_name(
    equal_widths: bool, ending: str, as_numbers: bool
) -> None:
    body = _bodies_in_reverse(equal_widths)[ending]
    parsed = parse_send(body)
    if ending == "lf":  # the fast parsers saw it (one strided, one split)
        assert isinstance(parsed, StridedLines if equal_widths else IdLines)
    else:
        assert isinstance(parsed, list)  # the general parser
    recipients = normalize_recipients([A, B], None) if as_numbers else [A, B]
    results = match_replies(recipients, parsed, "cid", 1)
    a_id, b_id = ("a1", "b2") if equal_widths else ("a1", "bbbbbbbbbb22")
    assert [(r.to, r.apimsgid) for r in results] == [(A, a_id), (B, b_id)]
    assert results.ok and results.accepted == 2


def test_lines_without_a_number_fill_only_when_unambiguous() -> None:
    refused = "ERR: 105, Invalid Destination Address"
    # v2.3.8: errors name nobody; one per recipient left without a named line.
    results = match_replies([A, B], parse_send(f"{refused}\nID: bbb2 To: {B}"), "cid", 1)
    assert [r.error_code for r in results] == [ErrorCode.INVALID_DESTINATION_ADDRESS, None]
    assert results.apimsgids == [None, "bbb2"]
    # Two recipients without a line, one line naming nobody: it answers neither.
    results = match_replies([A, B, C], parse_send(f"{refused}\nID: bbb2 To: {B}"), "cid", 1)
    assert [r.error_code for r in results] == [OUTCOME_UNKNOWN, None, OUTCOME_UNKNOWN]
    # A single-recipient send answered without a number.
    [single] = match_replies([A], parse_send("ID: aaa1"), "cid", 1)
    assert single.apimsgid == "aaa1" and single.ok
    # Two lines naming nobody for one recipient: neither can be told to be its own.
    [single] = match_replies([A], [IdReply("x1"), IdReply("x2")], "cid", 1)
    assert single.state is DeliveryState.UNKNOWN


# -- every wire, through the client -------------------------------------------------------------


class _CutReplies(httpx.AsyncBaseTransport):
    """The emulator's transport with every send reply rewritten by ``edit`` (list of lines
    in, list of lines out), on the HTTP and both SOAP wires."""

    def __init__(self, emulator: GatewayEmulator, edit: object) -> None:
        self._inner = emulator.transport()
        self._edit = edit
        self.sends = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        body = await response.aread()
        path = request.url.path
        soap = not path.startswith("/http")
        if soap:
            head = request.content[:2000]
            op_name = next((n for n in ("sendmsg", "quicksend") if n.encode() in head), None)
        else:
            op_name = path.rsplit("/", 1)[1]
        if op_name not in ("sendmsg", "quicksend"):
            return httpx.Response(response.status_code, headers=response.headers, content=body)
        self.sends += 1
        edit = self._edit
        assert callable(edit)
        if not soap:
            new = "\n".join(edit(body.decode().split("\n"))).encode()
        else:
            style = "rpc" if b"encodingStyle" in body else "dl"
            lines = edit(parse_response(body))
            new = build_response(style, OPERATIONS[op_name], lines)
        headers = [(k, v) for k, v in response.headers.raw if k.lower() != b"content-length"]
        return httpx.Response(response.status_code, headers=headers, content=new)


def _client(transport: httpx.AsyncBaseTransport, wire: WireName) -> AsyncClient:
    return AsyncClient(
        1234,
        "demo",
        "demo",
        transport=transport,
        base_url="http://gateway.test",
        wire=wire,
        retry=RetryPolicy.testing(),
    )


@pytest.mark.anyio
@pytest.mark.parametrize("wire", WIRES)
async def test_a_cut_reply_is_unknown_for_the_recipients_it_lost(wire: WireName) -> None:
    emulator = GatewayEmulator()
    transport = _CutReplies(emulator, lambda lines: lines[:1])
    async with _client(transport, wire) as client:
        results = await client.send("Hi", to=[A, B, C])
        stats = client.statistics()
    assert [r.state for r in results] == [
        DeliveryState.ACCEPTED,
        DeliveryState.UNKNOWN,
        DeliveryState.UNKNOWN,
    ]
    committed = {m.to: m.apimsgid for m in emulator.recorder.messages}
    assert results.apimsgids == [committed[A], None, None]
    assert emulator.statistics().messages == 3  # the gateway took all three ...
    assert transport.sends == 1 and stats.resent == 0  # ... and none was sent again
    assert emulator.recorder.duplicates() == {}


@pytest.mark.anyio
@pytest.mark.parametrize("wire", WIRES)
async def test_a_reply_naming_a_stranger_answers_nobody(wire: WireName) -> None:
    emulator = GatewayEmulator()

    def stranger(lines: list[str]) -> list[str]:
        return [re.sub(r"To: \d+", f"To: {STRANGER}", lines[0])]

    transport = _CutReplies(emulator, stranger)
    async with _client(transport, wire) as client:
        results = await client.send("Hi", to=[A, B, C])
    assert [r.state for r in results] == [DeliveryState.UNKNOWN] * 3
    assert results.accepted == 0 and results.apimsgids == [None] * 3
    assert transport.sends == 1 and emulator.statistics().messages == 3


@pytest.mark.anyio
@pytest.mark.parametrize("wire", WIRES)
async def test_reversed_lines_give_each_recipient_its_own_id(wire: WireName) -> None:
    emulator = GatewayEmulator()
    transport = _CutReplies(emulator, lambda lines: lines[::-1])
    async with _client(transport, wire) as client:
        results = await client.send("Hi", to=[A, B, C])
    committed = {m.to: m.apimsgid for m in emulator.recorder.messages}
    assert results.ok and results.apimsgids == [committed[A], committed[B], committed[C]]
    assert len(set(committed.values())) == 3


@pytest.mark.anyio
async def test_a_cut_quicksend_reply_is_unknown_for_the_recipients_it_lost() -> None:
    emulator = GatewayEmulator()
    transport = _CutReplies(emulator, lambda lines: lines[1:2])
    async with _client(transport, "http") as client:
        async with client.batch("Hi") as batch:
            results = await batch.quick_send([A, B, C])
    assert [r.state for r in results] == [
        DeliveryState.UNKNOWN,
        DeliveryState.ACCEPTED,
        DeliveryState.UNKNOWN,
    ]
    committed = {m.to: m.apimsgid for m in emulator.recorder.messages}
    assert results.apimsgids == [None, committed[B], None]
    assert transport.sends == 1 and emulator.statistics().messages == 3


# -- the property ---------------------------------------------------------------------------------

_POOL = [f"2782000{i:04d}" for i in range(5)]
_STRANGERS = [f"2783000{i:04d}" for i in range(3)]


@st.composite
def _sends(draw: st.DrawFn) -> tuple[list[str], list[IdReply | ErrorReply]]:
    recipients = draw(st.lists(st.sampled_from(_POOL), min_size=1, max_size=6))
    named = draw(st.permutations(recipients))
    keep = draw(st.lists(st.booleans(), min_size=len(named), max_size=len(named)))
    targets: list[str | None] = [n for n, k in zip(named, keep, strict=True) if k]
    targets += draw(st.lists(st.sampled_from(_STRANGERS), max_size=2))
    targets += [None] * draw(st.integers(0, 3))
    targets = draw(st.permutations(targets))
    lines: list[IdReply | ErrorReply] = []
    for i, to in enumerate(targets):
        if draw(st.booleans()):
            lines.append(IdReply(f"id{i}", to))
        else:
            lines.append(ErrorReply(ErrorCode.INVALID_DESTINATION_ADDRESS, f"bad {i}", to))
    return recipients, lines


def _render(lines: list[IdReply | ErrorReply]) -> str:
    return "\n".join(line.to_line() for line in lines)


@given(_sends())
def test_no_recipient_is_answered_without_a_line_of_its_own(
    send: tuple[list[str], list[IdReply | ErrorReply]],
) -> None:
    recipients, lines = send
    results = match_replies(recipients, lines, "cid", 1)
    assert [r.to for r in results] == recipients
    unnamed = [line for line in lines if line.to is None]
    named = Counter(line.to for line in lines if line.to is not None)
    unanswered = sum(max(0, k - named[n]) for n, k in Counter(recipients).items())
    fill = len(unnamed) == unanswered
    for number, wanted in Counter(recipients).items():
        answered = [r for r in results if r.to == number and r.state is not DeliveryState.UNKNOWN]
        own = min(named[number], wanted)
        assert len(answered) == own + (wanted - own if fill else 0)
    for index, result in enumerate(results):
        if result.state is DeliveryState.UNKNOWN:
            assert result.apimsgid is None and result.error_code == OUTCOME_UNKNOWN
            continue
        # The line it got names it, or names nobody (and those were unambiguous).
        line = next(
            ln
            for ln in lines
            if (isinstance(ln, IdReply) and ln.apimsgid == result.apimsgid)
            or (isinstance(ln, ErrorReply) and ln.description == result.error_description)
        )
        assert line.to == recipients[index] or (line.to is None and fill)
    # Lines in order, one per recipient, each naming its own: all answered as they say.
    in_order = [IdReply(f"x{i}", n) for i, n in enumerate(recipients)]
    assert match_replies(recipients, in_order, "c", 1).apimsgids == [r.apimsgid for r in in_order]
    # The fast parsers agree with the line objects.
    if not lines:
        return
    try:
        parsed = parse_send(_render(lines))
    except GatewayError:
        return  # one line naming nobody refuses the whole request
    assert match_replies(recipients, parsed, "cid", 1) == results

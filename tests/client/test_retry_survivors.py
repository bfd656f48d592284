"""Retry paths that mutation testing showed unguarded: lookup verdicts, the last lookup, the
batch API's ambiguous failures, final refusals on a resend, waits after the first retry, and
the recipient and climsgid on the rarer result paths.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import anyio
import httpx
import pytest

import asms._retry as retry_module
from asms._client import AsyncClient
from asms._config import RetryPolicy
from asms._exceptions import HTTPStatusError
from asms._models import Message
from asms._retry import NOT_SENT, OUTCOME_UNKNOWN
from asms._sending import attempt_climsgid
from asms.testing import EmulatorTransport, FakeClock, Faults, GatewayEmulator

pytestmark = pytest.mark.anyio

SESSION = "0123456789abcdef0123456789abcdef"
APIMSGID = "fedcba9876543210fedcba9876543210"
N1, N2 = "27820000001", "27820000002"
UNKNOWN_ID = "ERR: 104, Unknown client message ID"


def transport(
    sends: list[Any], lookup: Callable[[str], str], seen: list[str]
) -> httpx.MockTransport:
    """``sendmsg`` answers from ``sends`` in order (the last repeats); ``querymsg`` by id."""

    def handle(request: httpx.Request) -> httpx.Response:
        command = request.url.path.rsplit("/", 1)[-1]
        seen.append(command)
        if command == "auth":
            return httpx.Response(200, text=f"OK: {SESSION}")
        if command == "querymsg":
            params = parse_qs(request.content.decode() or request.url.query.decode())
            return httpx.Response(200, text=lookup(params["climsgid"][0]))
        answer = sends.pop(0) if len(sends) > 1 else sends[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, int):
            return httpx.Response(answer, text="nope")
        return httpx.Response(200, text=answer)

    return httpx.MockTransport(handle)


def mock(sends: list[Any], lookup: Callable[[str], str], seen: list[str], **kw: Any) -> AsyncClient:
    kw.setdefault("retry", RetryPolicy.testing())
    return AsyncClient(
        1234,
        "demo",
        "demo",
        base_url="http://gateway",
        transport=transport(sends, lookup, seen),
        **kw,
    )


async def test_a_lookup_refused_with_another_error_is_not_read_as_missing() -> None:
    seen: list[str] = []
    sends = [httpx.ReadTimeout("slow"), f"ID: {APIMSGID}"]
    async with mock(sends, lambda cid: "ERR: 901, Internal error", seen) as c:
        [result] = await c.send("Hi", to=N1, climsgid="abc")
    assert result.error_code == OUTCOME_UNKNOWN and result.climsgid == "abc"
    assert seen.count("sendmsg") == 1  # never resent: the gateway may have it


async def test_the_last_lookup_after_the_budget_finds_the_message() -> None:
    seen: list[str] = []
    resend = attempt_climsgid("abc", 1)
    sends = [httpx.ReadTimeout("slow")]
    answers = {resend: f"ID: {APIMSGID} Status: 004"}
    policy = RetryPolicy.testing(attempts=2)
    async with mock(sends, lambda cid: answers.get(cid, UNKNOWN_ID), seen, retry=policy) as c:
        [result] = await c.send("Hi", to=N1, climsgid="abc")
        stats = c.statistics()
    assert seen.count("sendmsg") == 2
    assert (result.ok, result.apimsgid, result.climsgid, result.to) == (True, APIMSGID, resend, N1)
    assert not result.duplicate and stats.duplicates_detected == 0 and stats.given_up == 0


async def test_missing_at_the_end_of_the_budget_is_not_sent() -> None:
    seen: list[str] = []
    policy = RetryPolicy.testing(attempts=2)
    async with mock([httpx.ReadTimeout("slow")], lambda cid: UNKNOWN_ID, seen, retry=policy) as c:
        results = await c.send("Hi", to=[N1, N2], climsgid="abc")
        stats = c.statistics()
    assert [r.error_code for r in results] == [NOT_SENT, NOT_SENT]
    assert [r.to for r in results] == [N1, N2]
    assert {r.climsgid for r in results} == {attempt_climsgid("abc", 1)}  # the last attempt's
    assert seen.count("sendmsg") == 2 and stats.given_up == 1


async def test_an_earlier_attempt_found_late_is_the_outcome_of_a_given_up_request() -> None:
    """Attempt 1 is looked up as missing, attempt 2 never leaves; the recheck finds
    attempt 1 after all: accepted, not "not sent"."""
    seen: list[str] = []
    looked: list[str] = []

    def lookup(cid: str) -> str:
        looked.append(cid)
        late = cid == "abc" and looked.count("abc") > 2  # shown after the schedule
        return f"ID: {APIMSGID} Status: 004" if late else UNKNOWN_ID

    sends = [httpx.ReadTimeout("slow"), httpx.ConnectError("refused")]
    policy = RetryPolicy.testing(attempts=2)
    async with mock(sends, lookup, seen, retry=policy) as c:
        [result] = await c.send("Hi", to=N1, climsgid="abc")
    assert (result.ok, result.apimsgid, result.climsgid) == (True, APIMSGID, "abc")
    assert seen.count("sendmsg") == 2


async def test_a_final_refusal_on_a_resend_is_not_retried() -> None:
    seen: list[str] = []
    sends = [httpx.ConnectError("refused"), 403, f"ID: {APIMSGID}"]
    async with mock(sends, lambda cid: UNKNOWN_ID, seen) as c:
        with pytest.raises(HTTPStatusError):
            await c.send("Hi", to=N1)
    assert seen.count("sendmsg") == 2


async def test_backoff_grows_after_the_first_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    real_sleep = anyio.sleep

    async def sleep(seconds: float) -> None:
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller == "asms._retry" or caller.startswith("tenacity"):  # the retry's waits
            waits.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(retry_module.anyio, "sleep", sleep)
    seen: list[str] = []
    sends: list[Any] = [httpx.ConnectError("refused")] * 3 + [f"ID: {APIMSGID}"]
    policy = RetryPolicy(attempts=4, backoff_initial=1.0, backoff_max=100.0, jitter=0.0)
    async with mock(sends, lambda cid: UNKNOWN_ID, seen, retry=policy) as c:
        [result] = await c.send("Hi", to=N1)
    assert result.ok and seen.count("sendmsg") == 4
    assert waits == [1.0, 2.0, 4.0]


async def test_err130_is_waited_out_again_after_the_first_retry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[float] = []
    real_sleep = anyio.sleep

    async def sleep(seconds: float) -> None:
        caller = sys._getframe(1).f_globals.get("__name__", "")
        if caller == "asms._retry" or caller.startswith("tenacity"):  # the retry's waits
            waits.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(retry_module.anyio, "sleep", sleep)
    now = 1_800_000_000.0
    refusal = f"ERR: 130, Maximum MT limit exceeded until {int(now) + 30}"
    seen: list[str] = []
    policy = RetryPolicy(throttle_max_wait=60.0, backoff_initial=0.0, jitter=0.0)
    sends = [refusal, refusal, f"ID: {APIMSGID}"]
    async with mock(sends, lambda cid: UNKNOWN_ID, seen, retry=policy, clock=lambda: now) as c:
        [result] = await c.send("Hi", to=N1)
    assert result.ok and seen.count("sendmsg") == 3
    assert len(waits) == 2 and all(w >= 20.0 for w in waits)  # both refusals waited out


@pytest.mark.parametrize("fault", ["err901_after_commit", "drop_after_commit"])
async def test_an_ambiguous_batch_send_is_unknown_not_a_refusal(fault: str) -> None:
    faults = Faults(script=(fault, fault), commands=frozenset({"senditem", "quicksend"}))
    emu = GatewayEmulator(clock=FakeClock(), faults=faults)
    async with AsyncClient(
        1234,
        "demo",
        "demo",
        base_url="http://gateway",
        transport=EmulatorTransport(emu),
        retry=RetryPolicy.testing(),
    ) as c:
        async with c.batch("Hi #field1#", climsgid="batch1") as b:
            item = await b.send_item(N1, ["Ann"])
            quick = await b.quick_send([N1, N2])
    assert (item.error_code, item.to, item.climsgid) == (OUTCOME_UNKNOWN, N1, "batch1")
    assert [(r.error_code, r.to, r.climsgid) for r in quick] == [
        (OUTCOME_UNKNOWN, N1, "batch1"),
        (OUTCOME_UNKNOWN, N2, "batch1"),
    ]
    assert len(emu.recorder.messages) == 3  # each was committed once, and never resent


async def test_found_results_keep_every_recipient_and_the_request_id() -> None:
    seen: list[str] = []
    found = f"ID: {APIMSGID} Status: 004"
    async with mock([httpx.ReadError("reset")], lambda cid: found, seen) as c:
        results = await c.send("Hi", to=[N1, N2], climsgid="req9")
    assert [(r.to, r.climsgid) for r in results] == [(N1, "req9"), (N2, "req9")]
    # The lookup names a message, not its recipient: neither is called accepted.
    assert [(r.error_code, r.apimsgid) for r in results] == [(OUTCOME_UNKNOWN, None)] * 2
    async with mock([httpx.ReadError("reset")], lambda cid: found, seen) as c:
        (alone,) = await c.send("Hi", to=[N1], climsgid="req7")
    assert alone.ok and alone.apimsgid == APIMSGID and alone.climsgid == "req7"


async def test_unknown_and_refused_results_keep_every_recipient_and_the_request_id() -> None:
    seen: list[str] = []
    policy = RetryPolicy.testing(attempts=2)
    async with mock(
        [httpx.ReadTimeout("slow")], lambda cid: "ERR: 901, x", seen, retry=policy
    ) as c:
        unknown = await c.send("Hi", to=[N1, N2], climsgid="req9")
    assert [(r.to, r.climsgid, r.error_code) for r in unknown] == [
        (N1, "req9", OUTCOME_UNKNOWN),
        (N2, "req9", OUTCOME_UNKNOWN),
    ]
    refusal = "ERR: 130, Maximum MT limit exceeded until 1900000000"
    async with mock([refusal], lambda cid: UNKNOWN_ID, seen) as c:
        refused = await c.send_request(
            [Message(N1, "Hi", climsgid="req8"), Message(N2, "Hi")], wait_throttled=False
        )
    assert [(r.to, r.climsgid, r.error_code) for r in refused] == [
        (N1, "req8", 130),
        (N2, "req8", 130),
    ]


async def test_bulk_unknown_and_unsent_results_keep_every_recipient() -> None:
    from asms._exceptions import ConnectError, ReadTimeout

    calls: list[str] = []

    class Failing:
        max_recipients = 2

        async def send_request(self, messages: Any, /) -> Any:
            calls.append(messages[0].climsgid)
            if messages[0].text == "unknown":
                raise ReadTimeout("slow", sent=None)
            raise ConnectError("refused", sent=False)

    from asms._bulk.run import send_bulk

    messages = [Message(N1, "unknown"), Message(N2, "unknown"), Message(N1, "never")]
    async with send_bulk(Failing(), messages, rate=None, concurrency=1) as run:
        results = sorted([r async for r in run], key=lambda r: r.index)
    assert [(r.to, r.error_code) for r in results] == [
        (N1, OUTCOME_UNKNOWN),
        (N2, OUTCOME_UNKNOWN),
        (N1, NOT_SENT),
    ]
    assert results[0].climsgid == results[1].climsgid == calls[0]  # to look them up by
    assert results[2].climsgid is None  # never left: no request to look up

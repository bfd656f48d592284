"""The retry machinery (``asms._retry``) driven directly, where mutation testing found it
unguarded: counters across requests, the attempts' ids, duplicates found in one lookup round
and in the recheck, what a spent budget says (sent or not, the last error), ``ERR 130`` at
the limit, the jitter's direction, and the lookup's debug line.

The attempts and lookups are scripted and every wait is recorded instead of slept: no
gateway, no clock, no real time.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator

import anyio
import pytest

import asms._retry as retry_module
from asms._codes import ErrorCode
from asms._config import RetryPolicy
from asms._exceptions import (
    ASMSError,
    ConnectError,
    GatewayError,
    HTTPStatusError,
    InternalGatewayError,
    ReadTimeout,
    SessionError,
    ThrottledError,
)
from asms._logging import LOGGER_NAME
from asms._replies import StatusReply
from asms._retry import (
    AttemptIds,
    ClientStatistics,
    Counters,
    Found,
    GaveUp,
    Mode,
    recover,
    run,
)
from asms._sending import attempt_climsgid

pytestmark = pytest.mark.anyio

NOW = 1_800_000_000.0
R1, R2 = attempt_climsgid("abc", 1), attempt_climsgid("abc", 2)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # nothing here differs by backend


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every pause the retry takes (its own and tenacity's), recorded instead of slept."""
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    monkeypatch.setattr(anyio, "sleep", sleep)
    return pauses


class Attempts:
    """Answers in order (the last repeats): an exception is raised, anything else returned.
    ``sent`` records the ``climsgid`` each attempt carried (with ``ids``)."""

    def __init__(self, *answers: object, ids: AttemptIds | None = None) -> None:
        self.answers = list(answers)
        self.ids = ids
        self.sent: list[str] = []
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.ids is not None:
            self.sent.append(self.ids.current)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        assert isinstance(answer, str)
        return answer


class Gateway:
    """``querymsg``: each id is known from its ``n``-th lookup on (``shows``), else unknown."""

    def __init__(self, shows: dict[str, int] | None = None) -> None:
        self.shows = shows or {}
        self.looked: list[str] = []

    async def lookup(self, climsgid: str) -> StatusReply:
        self.looked.append(climsgid)
        shown = self.shows.get(climsgid)
        if shown is not None and self.looked.count(climsgid) >= shown:
            return StatusReply(f"api-{climsgid}", 4)
        raise GatewayError(ErrorCode.UNKNOWN_CLIENT_MESSAGE_ID, "Unknown client message ID")


def policy(attempts: int = 5, *, throttle_max_wait: float = 0.0) -> RetryPolicy:
    return RetryPolicy(
        attempts=attempts,
        backoff_initial=0.0,
        backoff_max=0.0,
        jitter=0.0,
        reconcile_schedule=(0.0, 0.0),
        throttle_max_wait=throttle_max_wait,
    )


async def send(
    attempts: Attempts,
    gateway: Gateway,
    ids: AttemptIds,
    counters: Counters | None = None,
    retry: RetryPolicy | None = None,
) -> str | Found:
    attempts.ids = ids
    return await run(
        attempts,
        mode="send",
        policy=retry or policy(),
        counters=counters or Counters(),
        lookup=gateway.lookup,
        ids=ids,
        clock=lambda: NOW,
    )


async def read(
    attempts: Attempts, counters: Counters, retry: RetryPolicy, mode: Mode = "read"
) -> str | Found:
    return await run(attempts, mode=mode, policy=retry, counters=counters, clock=lambda: NOW)


def throttled(seconds: float) -> ThrottledError:
    until = int(NOW + seconds)
    return ThrottledError(130, f"Maximum MT limit exceeded until {until}")


def test_snapshots_copy_every_counter() -> None:
    assert Counters().snapshot(0) == ClientStatistics()
    counters = Counters()
    for value, name in enumerate(Counters.__slots__, start=1):
        setattr(counters, name, value)
    stats = counters.snapshot(auth_calls=99)
    assert {name: getattr(stats, name) for name in Counters.__slots__} == {
        name: value for value, name in enumerate(Counters.__slots__, start=1)
    }
    assert stats.auth_calls == 99


def test_each_resend_gets_an_id_of_its_own() -> None:
    ids = AttemptIds("abc")
    assert (ids.first, ids.current, ids.resends, ids.suspects, ids.duplicates) == (
        "abc",
        "abc",
        0,
        [],
        0,
    )
    ids.renew()
    ids.renew()
    assert (ids.current, ids.resends, ids.suspects) == (R2, 2, ["abc", R1])
    assert len({"abc", R1, R2}) == 3


def test_gave_up_reads_as_its_last_error() -> None:
    last = ReadTimeout("no answer in 10 s", sent=None)
    gave_up = GaveUp(last, None)
    assert (str(gave_up), gave_up.last, gave_up.sent) == ("no answer in 10 s", last, None)


async def test_attempts_and_resends_add_up_over_requests(waits: list[float]) -> None:
    counters = Counters()
    assert await read(Attempts("one"), counters, policy()) == "one"
    assert await read(Attempts(ConnectError("refused"), "two"), counters, policy()) == "two"
    assert (counters.attempts, counters.resent, counters.given_up) == (3, 1, 0)


async def test_run_in_send_mode_looks_the_attempt_up(waits: list[float]) -> None:
    gateway = Gateway({"abc": 1})
    attempts = Attempts(ReadTimeout("slow", sent=None), "resent!")
    outcome = await send(attempts, gateway, AttemptIds("abc"))
    assert outcome == Found(StatusReply("api-abc", 4), "abc")
    assert attempts.calls == 1 and gateway.looked == ["abc"]


async def test_duplicates_found_in_one_round_and_in_the_recheck_are_each_counted_once(
    waits: list[float],
) -> None:
    """Attempts "abc" and R1 are concluded missing and resent; R2's lookup round finds R2 and "abc"
    (one duplicate), the recheck after it finds R1 too (a second one)."""
    gateway = Gateway({R2: 1, "abc": 5, R1: 4})
    ids = AttemptIds("abc")
    counters = Counters()
    attempts = Attempts(ReadTimeout("slow", sent=None))
    outcome = await send(attempts, gateway, ids, counters)
    assert outcome == Found(StatusReply(f"api-{R2}", 4), R2)
    assert attempts.sent == ["abc", R1, R2]
    assert (ids.duplicates, ids.suspects) == (2, [])
    assert gateway.looked.count("abc") == 5 and gateway.looked.count(R1) == 4
    assert (counters.reconciled_missing, counters.reconciled_found, counters.resent) == (2, 1, 2)


async def test_two_attempts_found_after_the_budget_make_one_duplicate(waits: list[float]) -> None:
    gateway = Gateway({"abc": 5, R1: 3})
    ids = AttemptIds("abc")
    counters = Counters()
    attempts = Attempts(
        ReadTimeout("slow", sent=None), ReadTimeout("slow", sent=None), ConnectError("refused")
    )
    outcome = await send(attempts, gateway, ids, counters, policy(attempts=3))
    assert outcome == Found(StatusReply("api-abc", 4), "abc")
    assert attempts.sent == ["abc", R1, R2]
    assert (ids.duplicates, ids.suspects) == (1, [])
    assert counters.given_up == 0  # the request was not given up after all


async def test_an_earlier_attempt_found_after_the_budget_is_not_given_up(
    waits: list[float],
) -> None:
    gateway = Gateway({"abc": 3})
    ids = AttemptIds("abc")
    counters = Counters()
    counters.given_up = 4  # earlier requests
    attempts = Attempts(ReadTimeout("slow", sent=None), ConnectError("refused"))
    outcome = await send(attempts, gateway, ids, counters, policy(attempts=2))
    assert outcome == Found(StatusReply("api-abc", 4), "abc")
    assert (counters.given_up, ids.duplicates, ids.suspects) == (4, 0, [])


async def test_attempts_never_found_stay_suspects_of_a_given_up_request(
    waits: list[float],
) -> None:
    ids = AttemptIds("abc")
    attempts = Attempts(ReadTimeout("slow", sent=None), ConnectError("refused"))
    with pytest.raises(GaveUp) as info:
        await send(attempts, Gateway(), ids, retry=policy(attempts=2))
    assert info.value.sent is False  # the last attempt never left, the first is missing
    assert ids.suspects == ["abc"] and ids.current == R1


async def test_a_lookup_that_cannot_tell_is_the_reason_given(waits: list[float]) -> None:
    async def lookup(climsgid: str) -> StatusReply:
        raise InternalGatewayError(901, "Internal error")

    attempts = Attempts(ReadTimeout("slow", sent=None))
    counters = Counters()
    with pytest.raises(GaveUp) as info:
        await run(
            attempts,
            mode="send",
            policy=policy(attempts=3),
            counters=counters,
            lookup=lookup,
            ids=AttemptIds("abc"),
            clock=lambda: NOW,
        )
    assert str(info.value.last) == "the gateway could not say whether it has the message"
    assert isinstance(info.value.last, ASMSError) and info.value.sent is None
    assert attempts.calls == 1 and counters.given_up == 1  # never resent


async def test_every_give_up_is_counted(waits: list[float]) -> None:
    counters = Counters()
    for _ in range(2):
        with pytest.raises(GaveUp) as info:
            await read(Attempts(ConnectError("refused")), counters, policy(attempts=2))
        assert info.value.sent is False
    assert counters.given_up == 2


async def test_a_read_given_up_after_timeouts_may_have_been_processed(
    waits: list[float],
) -> None:
    with pytest.raises(GaveUp) as info:
        await read(Attempts(ReadTimeout("slow", sent=None)), Counters(), policy(attempts=2))
    assert info.value.sent is None


async def test_a_request_refused_to_the_end_was_not_sent(waits: list[float]) -> None:
    expired = SessionError(ErrorCode.SESSION_ID_EXPIRED, "Session ID expired")
    gateway = Gateway()
    with pytest.raises(GaveUp) as info:
        await send(Attempts(expired), gateway, AttemptIds("abc"), retry=policy(attempts=2))
    assert info.value.sent is False and gateway.looked == []


@pytest.mark.parametrize("ends", ["ok", "given up"])
async def test_a_lookup_given_without_ids_is_never_used(waits: list[float], ends: str) -> None:
    gateway = Gateway()
    answers: list[object] = [ConnectError("refused"), "ok"]
    if ends == "given up":
        answers = [ConnectError("refused")]
    attempts = Attempts(*answers)
    run_ = run(
        attempts,
        mode="read",
        policy=policy(attempts=2),
        counters=Counters(),
        lookup=gateway.lookup,
        clock=lambda: NOW,
    )
    if ends == "ok":
        assert await run_ == "ok"
    else:
        with pytest.raises(GaveUp):
            await run_
    assert attempts.calls == 2 and gateway.looked == []


async def test_err130_is_waited_out_by_the_clock_given(waits: list[float]) -> None:
    attempts = Attempts(throttled(20), "ok")
    assert await read(attempts, Counters(), policy(throttle_max_wait=60.0)) == "ok"
    assert waits == [20.0]


async def test_err130_exactly_at_the_limit_is_waited_out(waits: list[float]) -> None:
    attempts = Attempts(throttled(30), "ok")
    assert await read(attempts, Counters(), policy(throttle_max_wait=30.0)) == "ok"
    assert waits == [30.0] and attempts.calls == 2


@pytest.mark.parametrize(
    ("limit", "says"),
    [
        (0.5, "not waited out: 30 s by the gateway's clock is beyond throttle_max_wait=0.5 s; "),
        (0.0, ""),  # 0: the caller waits itself, and says nothing
    ],
)
async def test_err130_beyond_the_limit_is_final_and_says_why(
    waits: list[float], limit: float, says: str
) -> None:
    attempts = Attempts(throttled(30), "ok")
    with pytest.raises(ThrottledError) as info:
        await read(attempts, Counters(), policy(throttle_max_wait=limit))
    until = int(NOW + 30)
    assert info.value.description == f"{says}Maximum MT limit exceeded until {until}"
    assert attempts.calls == 1 and waits == []


async def test_jitter_is_added_to_the_backoff(
    waits: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        drawn.append((low, high))
        return high

    monkeypatch.setattr(random, "uniform", uniform)
    retry = RetryPolicy(attempts=3, backoff_initial=1.0, backoff_max=10.0, jitter=0.5)
    attempts = Attempts(ConnectError("refused"), ConnectError("refused"), "ok")
    assert await read(attempts, Counters(), retry) == "ok"
    assert waits == [1.5, 2.5] and drawn == [(0.0, 0.5), (0.0, 0.5)]


@pytest.fixture
def debug_records() -> Iterator[list[logging.LogRecord]]:
    """The asms logger's records at DEBUG (without pytest's logging plugin)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    log = logging.getLogger(LOGGER_NAME)
    handler, level = Keep(logging.DEBUG), log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


async def test_a_failed_lookup_is_logged_by_its_type(
    debug_records: list[logging.LogRecord],
) -> None:
    async def lookup(climsgid: str) -> StatusReply:
        raise ConnectError("refused")

    assert await retry_module._look(lookup, "abc") is retry_module._Missing.UNKNOWN
    assert [r.getMessage() for r in debug_records] == ["lookup failed: ConnectError"]


async def test_recover_after_an_inline_first_attempt(waits: list[float]) -> None:
    counters = Counters()
    ids = AttemptIds("abc")
    attempts = Attempts("accepted", ids=ids)
    gateway = Gateway()
    outcome = await recover(
        ReadTimeout("slow", sent=None),
        attempts,
        mode="send",
        policy=policy(),
        counters=counters,
        lookup=gateway.lookup,
        ids=ids,
        clock=lambda: NOW,
    )
    assert outcome == "accepted" and attempts.sent == [R1]
    assert gateway.looked == ["abc"] * 4 and ids.suspects == ["abc"]  # rechecked once settled
    assert (counters.attempts, counters.resent, counters.reconciled_missing) == (1, 1, 1)


async def test_send_mode_with_a_lookup_needs_the_attempts_ids(waits: list[float]) -> None:
    attempts = Attempts("ok")
    gateway = Gateway()
    with pytest.raises(ValueError) as info:
        await recover(
            ReadTimeout("slow", sent=None),
            attempts,
            mode="send",
            policy=policy(),
            counters=Counters(),
            lookup=gateway.lookup,
            clock=lambda: NOW,
        )
    assert str(info.value) == "mode='send' needs the attempts' ids"
    assert attempts.calls == 0 and gateway.looked == []


async def test_a_recovery_is_logged_with_the_failure_type(
    waits: list[float], debug_records: list[logging.LogRecord]
) -> None:
    assert await read(Attempts(ConnectError("refused"), "ok"), Counters(), policy()) == "ok"
    assert [r.getMessage() for r in debug_records] == ["attempt failed (ConnectError), recovering"]


async def test_one_attempt_means_no_resend(waits: list[float]) -> None:
    attempts = Attempts(ConnectError("refused"), "ok")
    counters = Counters()
    with pytest.raises(GaveUp) as info:
        await read(attempts, counters, policy(attempts=1))
    assert info.value.sent is False and attempts.calls == 1 and waits == []
    assert (counters.attempts, counters.resent, counters.given_up) == (1, 0, 1)


async def test_a_spent_time_budget_stops_before_the_attempts_do(waits: list[float]) -> None:
    retry = RetryPolicy(attempts=5, timeout=0.0, backoff_initial=0.0, backoff_max=0.0, jitter=0.0)
    attempts = Attempts(ConnectError("refused"))
    with pytest.raises(GaveUp):
        await read(attempts, Counters(), retry)
    assert attempts.calls == 2  # the first resend is always made


async def test_a_write_of_unknown_outcome_is_given_up_at_once(waits: list[float]) -> None:
    counters = Counters()
    counters.given_up = 3
    slow = ReadTimeout("slow", sent=None)
    attempts = Attempts(slow, "ok")
    with pytest.raises(GaveUp) as info:
        await read(attempts, counters, policy(), mode="write")
    assert (info.value.last, info.value.sent) == (slow, None)
    assert attempts.calls == 1 and counters.given_up == 4


async def test_a_write_resend_of_unknown_outcome_is_given_up(waits: list[float]) -> None:
    counters = Counters()
    counters.given_up = 3
    slow = ReadTimeout("slow", sent=None)
    attempts = Attempts(ConnectError("refused"), slow, "ok")
    with pytest.raises(GaveUp) as info:
        await read(attempts, counters, policy(), mode="write")
    assert (info.value.last, info.value.sent) == (slow, None)
    assert attempts.calls == 2 and counters.given_up == 4


@pytest.mark.parametrize("resent", [False, True])
async def test_a_write_refused_for_good_raises_the_refusal(
    waits: list[float], resent: bool
) -> None:
    counters = Counters()
    forbidden = HTTPStatusError(403)
    answers: list[object] = [ConnectError("refused"), forbidden] if resent else [forbidden]
    attempts = Attempts(*answers, "ok")
    with pytest.raises(HTTPStatusError) as info:
        await read(attempts, counters, policy(), mode="write")
    assert info.value is forbidden and attempts.calls == len(answers)
    assert counters.given_up == 0

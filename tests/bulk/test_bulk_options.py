"""The keywords of a bulk run (declared once, their defaults in ``asms._config``), the
sender's method ``send_request``, and the old names kept for one release."""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Sequence

import anyio
import pytest
from helpers.bulk_fakes import FakeGateway, FakeSender, personalised, same_text

import asms
from asms import _config
from asms._bulk.options import BULK_KEYWORDS, RUN_KEYWORDS
from asms._bulk.report import DeliveryState
from asms._bulk.requests import default_concurrency, request_function, request_limit
from asms._bulk.run import BulkRun, RequestSender, send_bulk
from asms._client import AsyncClient
from asms._models import Message, SendResult
from asms.testing import GatewayEmulator

pytestmark = pytest.mark.anyio


def client() -> AsyncClient:
    return AsyncClient(
        1234, "demo", "demo", transport=GatewayEmulator().transport(), base_url="http://gw.test"
    )


# -- one declaration of the keywords -------------------------------------------------------


def test_the_client_and_a_run_take_the_same_keywords_but_reconcile_schedule() -> None:
    assert RUN_KEYWORDS - BULK_KEYWORDS == {"reconcile_schedule"}
    assert BULK_KEYWORDS == {
        "rate",
        "burst",
        "concurrency",
        "journal",
        "group_size",
        "progress",
        "clock",
        "limiter",
        "drain_timeout",
        "linger",
        "reconcile_grace",
    }
    for function in (AsyncClient.send_bulk, send_bulk, BulkRun.__init__):
        kinds = [p.kind for p in inspect.signature(function).parameters.values()]
        assert kinds[-1] is inspect.Parameter.VAR_KEYWORD


async def test_an_unknown_keyword_is_a_type_error_as_before() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'rat'"):
        send_bulk(FakeSender(), personalised(1), rat=5.0)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"AsyncClient\.send_bulk\(\) got an unexpected.*'rat'"):
        client().send_bulk(personalised(1), rat=5.0)  # type: ignore[call-arg]
    # A run's own keyword is not the client's: it takes its client's RetryPolicy instead.
    with pytest.raises(TypeError, match="'reconcile_schedule'"):
        client().send_bulk(personalised(1), reconcile_schedule=[0.0])  # type: ignore[call-arg]


async def test_what_a_caller_leaves_out_comes_from_the_config() -> None:
    run = send_bulk(FakeSender(), personalised(1))
    limiter = run.limiter.statistics()
    assert limiter.rate == _config.DEFAULT_BULK_RATE
    assert limiter.burst == _config.DEFAULT_BULK_BURST
    assert run._drain_timeout == _config.DEFAULT_DRAIN_TIMEOUT
    assert run._linger == _config.DEFAULT_LINGER
    assert run._grace == _config.DEFAULT_RECONCILE_GRACE
    assert run._concurrency == default_concurrency(_config.DEFAULT_BULK_RATE)
    assert run._schedule == asms.RetryPolicy().reconcile_schedule


async def test_a_run_takes_a_ready_limiter_instead_of_rate_and_burst() -> None:
    shared = asms.RateLimiter(7.0, burst=2)
    run = send_bulk(FakeSender(), personalised(1), limiter=shared)
    assert run.limiter is shared
    assert run._concurrency == default_concurrency(7.0)
    assert client().send_bulk(personalised(1), limiter=shared).limiter is shared
    for both in ({"rate": 5.0}, {"burst": 2}, {"rate": None}):
        with pytest.raises(ValueError, match="either limiter= or rate=/burst="):
            send_bulk(FakeSender(), personalised(1), limiter=shared, **both)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="limiter must be a Limiter"):
        send_bulk(FakeSender(), personalised(1), limiter=object())  # type: ignore[arg-type]


async def test_two_runs_sharing_one_limiter_keep_one_rate() -> None:
    clock = asms.VirtualClock()
    shared = asms.RateLimiter(10.0, clock=clock)
    gateway = FakeGateway()
    first = send_bulk(FakeSender(gateway), personalised(20), limiter=shared, clock=clock)
    second = send_bulk(FakeSender(gateway), personalised(20), limiter=shared, clock=clock)
    start = clock.current_time()

    async def finish(run: BulkRun) -> None:
        async with run:
            await run.finish()

    async with anyio.create_task_group() as tg:
        tg.start_soon(finish, first)
        tg.start_soon(finish, second)
    # 40 recipients at 10/s, the first at once: 3.9 s, as one run of 40 would take.
    assert clock.current_time() - start == pytest.approx(3.9)
    assert shared.statistics().tokens_granted == 40


def test_the_default_concurrency_and_request_limit_are_the_configs() -> None:
    assert default_concurrency(None) == _config.MAX_BULK_CONCURRENCY
    assert default_concurrency(math.inf) == _config.MAX_BULK_CONCURRENCY
    assert default_concurrency(1.0) == _config.MIN_BULK_CONCURRENCY
    assert default_concurrency(40 / _config.BULK_ROUND_TRIP) == 40

    class Bare:
        async def send_request(self, messages: Sequence[Message], /) -> Sequence[SendResult]:
            raise AssertionError  # pragma: no cover

    # One fact: the POST limit of the default profile.
    assert request_limit(Bare()) == _config.MAX_RECIPIENTS["default"]["POST"] == 600


async def test_the_client_passes_every_keyword_on() -> None:
    seen: list[object] = []
    clock = asms.VirtualClock()
    async with client() as c:
        run = c.send_bulk(
            personalised(3),
            rate=None,
            burst=2,
            concurrency=3,
            group_size=1,
            progress=seen.append,
            clock=clock,
            drain_timeout=1.5,
            linger=0.0,
            reconcile_grace=0.5,
        )
        assert run.limiter.rate == math.inf and run.limiter.clock is clock
        assert run.limiter.statistics().burst == 2
        assert (run._concurrency, run._grouper.limit) == (3, 1)
        assert (run._drain_timeout, run._linger, run._grace) == (1.5, 0.0, 0.5)
        async with run:
            results = [result async for result in run]
    assert [r.state for r in results] == [DeliveryState.ACCEPTED] * 3
    assert seen  # progress was called


# -- send_request, and the old name send_batch -----------------------------------------------


class OldStyleSender:
    """A sender written for the previous release: its method is called ``send_batch``."""

    max_recipients = 600

    def __init__(self) -> None:
        self.gateway = FakeGateway()

    async def send_batch(self, messages: Sequence[Message]) -> Sequence[SendResult]:
        return self.gateway.commit(messages)


async def test_a_sender_with_only_send_batch_still_works_with_a_deprecation_warning() -> None:
    sender = OldStyleSender()
    with pytest.warns(DeprecationWarning, match=r"OldStyleSender\.send_batch\(\).*send_request"):
        run = send_bulk(sender, same_text(20), rate=None)
    async with run:  # adapted once, at start: no warning per request
        results = [result async for result in run]
    assert sorted(r.index for r in results) == list(range(20))
    assert all(r.state is DeliveryState.ACCEPTED for r in results)
    assert sum(sender.gateway.requests.values()) == 1  # one text: one request


async def test_the_deprecation_warning_names_the_callers_line() -> None:
    with pytest.warns(DeprecationWarning) as caught:
        send_bulk(OldStyleSender(), personalised(1))
    assert caught[0].filename == __file__


async def test_a_sender_with_send_request_gets_no_warning() -> None:
    send_bulk(FakeSender(), personalised(1))  # filterwarnings = error: a warning would fail
    assert isinstance(FakeSender(), RequestSender)
    assert not isinstance(OldStyleSender(), RequestSender)


async def test_a_sender_with_neither_method_is_refused_as_before() -> None:
    with pytest.raises(AttributeError, match="send_request"):
        send_bulk(object(), personalised(1))  # type: ignore[arg-type]


def test_asms_batchsender_is_the_deprecated_name_of_requestsender() -> None:
    assert "RequestSender" in asms.__all__ and "BatchSender" not in asms.__all__
    assert asms.RequestSender is RequestSender
    with pytest.warns(DeprecationWarning, match=r"asms\.BatchSender.*asms\.RequestSender"):
        old = asms.BatchSender
    assert old is asms.RequestSender
    with pytest.raises(AttributeError):
        asms.NoSuchName  # type: ignore[attr-defined]  # noqa: B018


def test_a_client_is_sent_to_through_send_request_told_not_to_wait_out_err_130() -> None:
    send = request_function(client())
    assert isinstance(send, functools.partial)
    assert send.func.__name__ == "send_request"
    assert send.keywords == {"wait_throttled": False}

"""An in-process stand-in for the client in bulk-send tests: records every request it gets."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import anyio

from asms._clock import Clock, SystemClock
from asms._codes import MessageStatus
from asms._exceptions import MessageLookupError
from asms._models import Message, SendResult, StatusInfo


@dataclass
class Call:
    time: float
    climsgid: str
    numbers: list[str]
    text: str


@dataclass
class FakeGateway:
    """What was committed, shared by the senders of several runs (a resumed run sees it)."""

    commits: Counter[tuple[str, str]] = field(default_factory=Counter)  # (climsgid, to)
    requests: Counter[str] = field(default_factory=Counter)  # climsgid -> accepted requests
    apimsgids: dict[str, str] = field(default_factory=dict)  # climsgid -> first id
    next_id: int = 0

    def commit(self, messages: Sequence[Message]) -> list[SendResult]:
        climsgid = messages[0].climsgid
        assert climsgid is not None
        self.requests[climsgid] += 1
        out = []
        for m in messages:
            self.next_id += 1
            apimsgid = f"api{self.next_id}"
            self.apimsgids.setdefault(climsgid, apimsgid)
            self.commits[climsgid, m.to] += 1
            out.append(SendResult(m.to, apimsgid, climsgid, None, None, 1, m.ref))
        return out

    def delivered(self) -> Counter[str]:
        """Number -> times committed (under any climsgid)."""
        out: Counter[str] = Counter()
        for (_, to), n in self.commits.items():
            out[to] += n
        return out


Hook = Callable[["FakeSender", Sequence[Message]], Awaitable[Sequence[SendResult] | None]]


class FakeSender:
    """Answers instantly (or after ``latency`` on its clock); ``hook`` may script answers.

    The hook runs before the commit: it may raise, return results (no commit), or return
    None to let the request be committed normally.
    """

    def __init__(
        self,
        gateway: FakeGateway | None = None,
        *,
        clock: Clock | None = None,
        latency: float = 0.0,
        hook: Hook | None = None,
        max_recipients: int = 600,
    ) -> None:
        self.gateway = gateway if gateway is not None else FakeGateway()
        self.clock = clock if clock is not None else SystemClock()
        self.latency = latency
        self.hook = hook
        self.max_recipients = max_recipients
        self.calls: list[Call] = []
        self.queries: list[str] = []
        self.query_error: Exception | None = None

    async def send_request(self, messages: Sequence[Message]) -> Sequence[SendResult]:
        assert 1 <= len(messages) <= self.max_recipients
        climsgid = messages[0].climsgid
        assert climsgid is not None
        assert all(m.climsgid == climsgid for m in messages), "one climsgid per request"
        assert len({(m.text, m.options) for m in messages}) == 1, "one text per request"
        assert len({m.to for m in messages}) == len(messages), "a number once per request"
        now = self.clock.current_time()
        self.calls.append(Call(now, climsgid, [m.to for m in messages], messages[0].text))
        if self.hook is not None:
            answer = await self.hook(self, messages)
            if answer is not None:
                return answer
        if self.latency:
            await self.clock.sleep_until(now + self.latency)
        else:
            await anyio.lowlevel.checkpoint()
        return self.gateway.commit(messages)

    async def query(
        self, apimsgid: str | None = None, *, climsgid: str | None = None
    ) -> StatusInfo:
        assert apimsgid is None and climsgid is not None
        self.queries.append(climsgid)
        await anyio.lowlevel.checkpoint()
        if self.query_error is not None:
            raise self.query_error
        if self.gateway.requests[climsgid]:
            return StatusInfo(self.gateway.apimsgids[climsgid], MessageStatus.MESSAGE_QUEUED)
        raise MessageLookupError(104, "Unknown client message ID")

    @property
    def recipients(self) -> int:
        return sum(len(c.numbers) for c in self.calls)


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"2782{i:07d}" for i in range(start, start + count)]


def personalised(count: int) -> list[Message]:
    return [Message(to, f"Hello customer {i}", ref=i) for i, to in enumerate(numbers(count))]


def same_text(count: int, text: str = "Same text for everyone") -> list[Message]:
    return [Message(to, text, ref=i) for i, to in enumerate(numbers(count))]

"""A journal belongs to the account and gateway its requests went through.

A run killed with requests in flight leaves them to be looked up by ``climsgid``; another
account (or another gateway) does not know them, answers 104 and the resumed run would send
them again. So the journal records its owner (a digest of api_id and user, and the base URL)
and a resume through another is refused before anything is asked or sent.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
from helpers.bulk_fakes import FakeSender, personalised
from helpers.bulk_runs import unresolved

from asms._bulk.run import send_bulk
from asms._client import AsyncClient
from asms._config import RetryPolicy
from asms._exceptions import AuthenticationError, JournalMismatchError
from asms._models import Message, SendResult
from asms.testing import Account, GatewayEmulator

pytestmark = pytest.mark.anyio

COUNT = 60
LIVE = 20  # requests answered before the "kill"
CONCURRENCY = 4  # requests left in flight by the kill


def accounts() -> list[Account]:
    return [
        Account(api_id=1234, user="demo", password="demo", credits=1_000_000.0),
        Account(api_id=5678, user="other", password="pw2", credits=1_000_000.0),
    ]


def client(
    emulator: GatewayEmulator, api_id: int, user: str, password: str, url: str
) -> AsyncClient:
    return AsyncClient(
        api_id,
        user,
        password,
        transport=emulator.transport(),
        base_url=url,
        retry=RetryPolicy.testing(attempts=3, reconcile_queries=2),
    )


class Dying:
    """Passes requests on to ``client``; after ``live`` of them, each one is committed by
    the gateway and then never answered (the process died with it in flight)."""

    def __init__(self, client: AsyncClient, live: int) -> None:
        self.client = client
        self.live = live
        self.calls = 0
        self.hung = 0
        self.all_hung = anyio.Event()
        self.max_recipients = 1

    @property
    def journal_owner(self) -> Any:
        return getattr(self.client, "journal_owner", None)

    async def query(self, *args: Any, **kwargs: Any) -> Any:
        return await self.client.query(*args, **kwargs)

    async def send_request(self, messages: Sequence[Message]) -> Sequence[SendResult]:
        self.calls += 1
        results = await self.client.send_request(messages)
        if self.calls <= self.live:
            return results
        self.hung += 1
        if self.hung == CONCURRENCY:
            self.all_hung.set()
        await anyio.sleep_forever()
        raise AssertionError  # pragma: no cover


async def killed_run(emulator: GatewayEmulator, journal: Path, url: str) -> int:
    """Run as account 1234 until every worker hangs in flight, then cancel (the kill).
    Returns how many messages the gateway committed."""
    async with client(emulator, 1234, "demo", "demo", url) as first:
        dying = Dying(first, LIVE)
        run = send_bulk(
            dying,
            personalised(COUNT),
            rate=None,
            concurrency=CONCURRENCY,
            journal=journal,
            drain_timeout=0.0,  # the kill: no waiting for the requests in flight
        )
        with anyio.CancelScope() as scope:

            async def kill() -> None:
                await dying.all_hung.wait()
                scope.cancel()

            async with anyio.create_task_group() as tg:
                tg.start_soon(kill)
                async with run:
                    async for _ in run:
                        pass
    return emulator.statistics().messages


def per_handset(emulator: GatewayEmulator) -> Counter[tuple[str, str]]:
    # Across accounts: the recorder's own duplicates() counts per account.
    return Counter((m.to, m.text) for m in emulator.recorder.messages)


async def test_a_killed_run_resumed_under_another_account_is_refused_and_sends_nothing(
    tmp_path: Path,
) -> None:
    emulator = GatewayEmulator(accounts=accounts())
    journal = tmp_path / "acct.db"
    committed = await killed_run(emulator, journal, "http://gateway.test")
    assert committed == LIVE + CONCURRENCY
    assert unresolved(journal) == CONCURRENCY
    requests = emulator.recorder.statistics()

    async with client(emulator, 5678, "other", "pw2", "http://gateway.test") as other:
        run = send_bulk(
            other,
            personalised(COUNT),
            rate=None,
            journal=journal,
            reconcile_grace=0.0,
            reconcile_schedule=(0.0,),
        )
        with pytest.raises(JournalMismatchError) as info:
            async with run:
                async for _ in run:
                    pass
    text = str(info.value)
    assert "another account" in text and str(journal) in text
    owner_first = client(emulator, 1234, "demo", "demo", "http://gateway.test").journal_owner
    owner_other = other.journal_owner
    assert owner_first["account"] in text and owner_other["account"] in text
    assert owner_first["account"] != owner_other["account"]
    for secret in ("demo", "pw2", "5678", "1234"):
        assert secret not in text  # the account is named by a digest, never its credentials
    # Nothing asked, nothing sent: 0 duplicates counted per handset across accounts.
    assert emulator.recorder.statistics() == requests
    assert emulator.statistics().messages == committed
    assert max(per_handset(emulator).values()) == 1
    assert unresolved(journal) == CONCURRENCY  # left for the right account to settle

    # The account that started it resumes it: the in-flight requests are found, not resent.
    async with client(emulator, 1234, "demo", "demo", "http://gateway.test") as same:
        run = send_bulk(
            same,
            personalised(COUNT),
            rate=None,
            journal=journal,
            reconcile_grace=0.0,
            reconcile_schedule=(0.0,),
        )
        async with run:
            results = [r async for r in run]
    assert sorted(r.index for r in results) == list(range(COUNT))
    assert sum(r.ok for r in results) == COUNT
    assert emulator.statistics().messages == COUNT
    assert per_handset(emulator) == Counter({(m.to, m.text): 1 for m in personalised(COUNT)})


async def test_a_killed_run_resumed_through_another_gateway_is_refused(tmp_path: Path) -> None:
    emulator = GatewayEmulator(accounts=accounts())
    second = GatewayEmulator(accounts=accounts())  # another gateway, same account
    journal = tmp_path / "gw.db"
    committed = await killed_run(emulator, journal, "http://gateway.test")
    async with client(second, 1234, "demo", "demo", "http://gateway2.test:8080/api") as other:
        run = send_bulk(
            other,
            personalised(COUNT),
            rate=None,
            journal=journal,
            reconcile_grace=0.0,
            reconcile_schedule=(0.0,),
        )
        with pytest.raises(JournalMismatchError) as info:
            async with run:
                async for _ in run:
                    pass
    text = str(info.value)
    assert "another gateway" in text
    assert "http://gateway.test:80" in text and "http://gateway2.test:8080/api" in text
    assert second.statistics().messages == 0
    assert second.recorder.statistics().messages == 0
    assert emulator.statistics().messages == committed
    assert unresolved(journal) == CONCURRENCY


async def test_the_password_is_not_part_of_the_owner_and_old_journals_adopt_one(
    tmp_path: Path,
) -> None:
    emulator = GatewayEmulator(accounts=accounts())
    one = client(emulator, 1234, "demo", "demo", "http://gateway.test")
    same = client(emulator, 1234, "demo", "x", "http://gateway.test:80/")
    assert one.journal_owner == same.journal_owner
    assert (
        one.journal_owner != client(emulator, 1234, "dem0", "demo", "http://a.test").journal_owner
    )
    assert "password" not in repr(one.journal_owner)
    # A journal written by a sender that tells no owner (or by an older asms) takes the
    # first owner a run brings, and holds to it.
    journal = tmp_path / "old.db"
    run = send_bulk(FakeSender(), personalised(3), rate=None, journal=journal)
    async with run:
        assert len([r async for r in run]) == 3
    with sqlite3.connect(journal) as db:
        db.execute("DELETE FROM asms_meta WHERE key = 'finished'")
        assert not db.execute("SELECT * FROM asms_meta WHERE key LIKE 'owner%'").fetchall()
    async with client(emulator, 1234, "demo", "demo", "http://gateway.test") as first:
        run = send_bulk(first, personalised(3), rate=None, journal=journal)
        async with run:
            assert sum(r.ok for r in [r async for r in run]) == 3
    assert emulator.statistics().messages == 0  # all came back from the journal
    with sqlite3.connect(journal) as db:
        db.execute("DELETE FROM asms_meta WHERE key = 'finished'")
        owner = dict(db.execute("SELECT key, value FROM asms_meta WHERE key LIKE 'owner%'"))
    assert owner == {
        "owner_account": one.journal_owner["account"],
        "owner_gateway": "http://gateway.test:80",
    }
    async with client(emulator, 5678, "other", "pw2", "http://gateway.test") as other:
        run = send_bulk(other, personalised(3), rate=None, journal=journal)
        with pytest.raises(JournalMismatchError):
            async with run:
                pass
    assert emulator.statistics().messages == 0


def test_a_journal_says_which_fields_of_a_message_differ() -> None:
    from asms._bulk.journal import differing_fields, fingerprint, same_message, stored_fingerprint
    from asms._models import SendOptions

    message = Message("27820000001", "Hello", SendOptions(callback=3))
    stored = stored_fingerprint(message)
    assert stored[:8] == fingerprint(message) and len(stored) == 16
    assert same_message(stored, message) and same_message(fingerprint(message), message)
    assert differing_fields(stored, message) == ()
    other_text = Message("27820000001", "Hello!", SendOptions(callback=3))
    assert not same_message(stored, other_text)
    assert differing_fields(stored, other_text) == ("text",)
    moved = Message("27820000002", "Hello", SendOptions(callback=3, from_="Shop"))
    assert differing_fields(stored, moved) == ("number", "options")
    assert differing_fields(stored, Message(message.to, message.text, climsgid="c1")) == (
        "options",
        "climsgid",
    )
    # A journal from before stored the bare fingerprint: which fields is not known.
    assert differing_fields(fingerprint(message), other_text) == ()


async def test_a_journal_that_sent_nothing_takes_the_owner_of_the_next_run(
    tmp_path: Path,
) -> None:
    # A first run with a mistyped user is refused before anything is sent: the journal must
    # not then refuse the right account.
    emulator = GatewayEmulator(accounts=accounts())
    journal = tmp_path / "typo.db"
    async with client(emulator, 1234, "dmeo", "demo", "http://gateway.test") as typo:
        run = send_bulk(typo, personalised(10), rate=None, concurrency=1, journal=journal)
        with pytest.raises(AuthenticationError):
            async with run:
                async for _ in run:
                    pass
    assert emulator.statistics().messages == 0
    async with client(emulator, 1234, "demo", "demo", "http://gateway.test") as right:
        run = send_bulk(right, personalised(10), rate=None, journal=journal)
        async with run:
            assert sum(r.ok for r in [r async for r in run]) == 10
        owner = right.journal_owner
    assert emulator.statistics().messages == 10
    assert max(per_handset(emulator).values()) == 1
    with sqlite3.connect(journal) as db:
        recorded = dict(db.execute("SELECT key, value FROM asms_meta WHERE key LIKE 'owner%'"))
    assert recorded == {"owner_account": owner["account"], "owner_gateway": owner["gateway"]}

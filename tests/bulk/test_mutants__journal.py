"""What the journal promises, pinned exactly enough that mutmut's survivors in
``asms/_bulk/journal.py`` fail (issue 13; the ones left alive are explained in
docs/mutants/_journal.md).

The journal's code does not differ by backend, so these run on asyncio only.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

from asms._bulk.grouping import Item
from asms._bulk.journal import (
    FOUND_OTHERS,
    HEARTBEAT_INTERVAL,
    InputDifference,
    Journal,
    JournalCampaign,
    JournalMismatchError,
    JournalRow,
    JournalState,
    RowTuple,
    check_journal,
    compare_input,
    differing_fields,
    fingerprint,
    journal_owner,
    journal_rows,
    reconcile,
    same_message,
    stored_fingerprint,
    stored_result,
)
from asms._bulk.report import BulkResult, DeliveryState
from asms._clock import VirtualClock
from asms._codes import ErrorCode, MessageStatus
from asms._exceptions import JournalError, JournalFinishedError, ValidationError
from asms._models import Message, SendOptions, StatusInfo
from asms._retry import OUTCOME_UNKNOWN

pytestmark = pytest.mark.anyio

WALL = 1_800_000_000.0
ID = "0123456789abcdef0123456789abcdef"
TEN_AM = datetime(2026, 12, 5, 10, 0, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def item(index: int) -> Item:
    message = Message(f"2782{index:07d}", "hi")
    return Item(index, message, fingerprint(message))


def row(index: int, state: str, climsgid: str | None = "req") -> RowTuple:
    it = item(index)
    return (index, it.fingerprint, state, climsgid, None, None, None, 1, WALL)


def meta(path: Path) -> dict[str, str]:
    db = sqlite3.connect(path)
    try:
        return dict(db.execute("SELECT key, value FROM asms_meta"))
    finally:
        db.close()


def edit(path: Path, *statements: str) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for statement in statements:
            db.execute(statement)
    finally:
        db.close()


# -- fingerprint --------------------------------------------------------------------------


def test_a_message_holding_a_lone_surrogate_has_a_fingerprint() -> None:
    # Message accepts any str; the digest must not raise on what UTF-8 cannot encode.
    lone = Message("27820000001", "a\ud800b")
    assert fingerprint(lone) == fingerprint(Message("27820000001", "a\ud800b"))
    assert len(fingerprint(lone)) == 8
    assert fingerprint(lone) != fingerprint(Message("27820000001", "a\ud801b"))


# -- describe -----------------------------------------------------------------------------


@pytest.fixture
def tokyo(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_describe_a_named_unfinished_empty_campaign() -> None:
    campaign = JournalCampaign(ID, "spring", 1.0, None, {})
    assert campaign.describe() == "campaign 'spring' (id 0123456789ab): no messages"


def test_describe_a_nameless_finished_campaign_in_utc_whatever_the_local_zone(
    tokyo: None,
) -> None:
    campaign = JournalCampaign(ID, None, 1.0, TEN_AM, {"pending": 1200, "accepted": 3})
    assert campaign.describe() == (
        "campaign 0123456789ab, finished 2026-12-05 10:00:00 UTC: 3 accepted, 1,200 pending"
    )


# -- constructor --------------------------------------------------------------------------


def test_an_unknown_durability_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as caught:
        Journal(tmp_path / "j.db", durability="disk")  # type: ignore[arg-type]
    assert str(caught.value) == "durability must be 'process' or 'power'"


def test_a_campaign_name_of_up_to_200_characters_is_taken(tmp_path: Path) -> None:
    Journal(tmp_path / "j.db", campaign="x" * 200)
    with pytest.raises(ValidationError) as caught:
        Journal(tmp_path / "j.db", campaign="x" * 201)
    assert caught.value.field == "campaign"
    assert caught.value.rule == "must be 1-200 characters"
    assert caught.value.value == "x" * 201
    assert str(caught.value).startswith("campaign: must be 1-200 characters (got 'xxx")


def test_the_heartbeat_interval_defaults_to_the_documented_one(tmp_path: Path) -> None:
    assert Journal(tmp_path / "j.db").heartbeat_interval == HEARTBEAT_INTERVAL == 1.0


# -- opening ------------------------------------------------------------------------------


async def test_a_file_that_is_no_database_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"these are not the droids\n" * 100)
    for _ in range(2):  # the lock was released: the second try fails the same way
        with pytest.raises(JournalError) as caught:
            await Journal(path).open()
        assert type(caught.value) is JournalError
        assert caught.value.path == str(path)
        assert str(caught.value).startswith(f"cannot use {path} as a journal: ")


async def test_a_journal_that_cannot_be_put_in_wal_mode_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # its lock file is ":memory:.lock" here
    with pytest.raises(JournalError) as caught:
        await Journal(":memory:").open()
    assert caught.value.path == ":memory:"
    assert str(caught.value) == "cannot put the journal :memory: in WAL mode"


async def test_a_journal_of_another_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with Journal(path):
        pass
    edit(path, "UPDATE asms_meta SET value = '2' WHERE key = 'schema'")
    with pytest.raises(JournalMismatchError) as caught:
        await Journal(path).open()
    assert caught.value.path == str(path)
    assert str(caught.value) == "journal schema '2' is not supported"


async def test_the_campaign_identity_is_made_once(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    before = time.time()
    async with Journal(path) as journal:
        first = await journal.campaign()
    after = time.time()
    assert before <= first.created <= after
    assert len(first.id) == 32
    async with Journal(path) as journal:
        again = await journal.campaign()
    assert (again.id, again.created) == (first.id, first.created)
    assert check_journal(path) == again


async def test_an_unreadable_creation_time_reads_as_zero(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with Journal(path):
        pass
    for text in ("nan", "inf", "soon"):
        edit(path, f"UPDATE asms_meta SET value = '{text}' WHERE key = 'created'")
        assert check_journal(path).created == 0.0


async def test_another_campaign_name_is_refused_naming_both(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with Journal(path, campaign="spring"):
        pass
    with pytest.raises(JournalMismatchError) as caught:
        await Journal(path, campaign="autumn").open()
    assert caught.value.path == str(path)
    assert str(caught.value) == f"the journal {path} holds campaign 'spring', not 'autumn'"
    with pytest.raises(JournalMismatchError) as checked:
        check_journal(path, campaign="autumn")
    assert checked.value.path == str(path)
    # A journal without a name takes the one a check gives it.
    unnamed = tmp_path / "unnamed.db"
    assert check_journal(unnamed, campaign="summer").name == "summer"
    assert check_journal(unnamed).name == "summer"


# -- closing and use when closed ------------------------------------------------------------


async def test_closing_is_idempotent_and_frees_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    await Journal(path).aclose()  # never opened
    journal = Journal(path)
    await journal.open()
    await journal.aclose()
    await journal.aclose()
    assert not journal.is_open
    async with Journal(path) as again:
        assert await again.counts() == {}


async def test_a_closed_journal_says_so(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    with pytest.raises(RuntimeError) as read:
        await journal.counts()
    assert str(read.value) == "the journal is not open"
    with pytest.raises(RuntimeError) as written:
        await journal.write([row(0, "pending", None)])
    assert str(written.value) == "the journal is not open"


async def test_a_write_waiting_while_the_journal_is_closed_says_so(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db")
    await journal.open()
    caught: list[BaseException] = []

    async def write() -> None:
        try:
            await journal.write([row(0, "pending", None)])
        except RuntimeError as exc:
            caught.append(exc)

    async with anyio.create_task_group() as tg:
        async with journal._lock:
            tg.start_soon(write)
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(journal.aclose)  # closes while the writer waits for the lock
            await anyio.wait_all_tasks_blocked()
    assert [str(exc) for exc in caught] == ["the journal is not open"]


# -- writing ------------------------------------------------------------------------------


async def test_concurrent_writes_are_committed_once_together(tmp_path: Path) -> None:
    async with Journal(tmp_path / "j.db") as journal:
        assert journal._db is not None
        statements: list[str] = []
        journal._db.set_trace_callback(statements.append)
        async with anyio.create_task_group() as tg:
            async with journal._lock:
                for index in range(3):
                    tg.start_soon(journal.write, [row(index, "pending", None)])
                await anyio.wait_all_tasks_blocked()
        journal._db.set_trace_callback(None)
        assert [s.upper() for s in statements].count("COMMIT") == 1
        assert sorted(await journal.rows(0, 10)) == [0, 1, 2]


async def test_a_write_that_fails_leaves_nothing_and_the_journal_usable(tmp_path: Path) -> None:
    bad = (1, None, "pending", None, None, None, None, 1, WALL)  # no fingerprint
    async with Journal(tmp_path / "j.db") as journal:
        with pytest.raises(sqlite3.IntegrityError):
            await journal.write([row(0, "pending", None), bad])  # type: ignore[list-item]
        assert await journal.rows(0, 10) == {}
        await journal.write([row(0, "pending", None)])
        assert list(await journal.rows(0, 10)) == [0]


def test_journal_rows_put_each_item_in_the_state_as_one_part() -> None:
    clock = VirtualClock(wall_start=WALL)
    a, b = item(0), item(1)
    assert journal_rows([a, b], "inflight", "req1", clock) == [
        (0, a.fingerprint, "inflight", "req1", None, None, None, 1, WALL),
        (1, b.fingerprint, "inflight", "req1", None, None, None, 1, WALL),
    ]


async def test_a_found_one_message_request_is_accepted_with_its_apimsgid(tmp_path: Path) -> None:
    async with Journal(tmp_path / "j.db") as journal:
        await journal.write([row(0, "inflight", "req")])
        await journal.resolve("req", accepted=True, apimsgid="api-1")
        settled = (await journal.rows(0, 1))[0]
    assert (settled.state, settled.apimsgid, settled.request_climsgid) == (
        "accepted",
        "api-1",
        "req",
    )
    assert (settled.error_code, settled.error_description) == (None, None)


async def test_a_settlement_that_fails_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with Journal(path) as journal:
        await journal.write([row(0, "inflight", "req")])
    edit(
        path,
        "CREATE TRIGGER refuse BEFORE UPDATE ON messages BEGIN SELECT RAISE(ABORT, 'refused'); END",
    )
    async with Journal(path) as journal:
        for accepted in (False, True):
            with pytest.raises(sqlite3.IntegrityError, match="refused"):
                await journal.resolve("req", accepted=accepted, apimsgid="api-1")
        assert (await journal.rows(0, 1))[0].state == "inflight"
        assert await journal.start_run(WALL) is None  # no transaction was left open


# -- runs ---------------------------------------------------------------------------------


async def test_each_run_learns_when_the_one_before_it_stopped(tmp_path: Path) -> None:
    async with Journal(tmp_path / "j.db") as journal:
        assert await journal.start_run(WALL) is None  # never run before
        assert await journal.end_run(WALL + 10, complete=False) is False
        assert await journal.start_run(WALL + 100) == WALL + 10  # its own record
        # This one dies without a record: its start plus the heartbeat interval.
        assert await journal.start_run(WALL + 200) == WALL + 100 + 1.0
        journal.heartbeat_interval = 5.0
        assert await journal.start_run(WALL + 300) == WALL + 200 + 1.0
        await journal.beat(WALL + 350)
        # It beat last at +350, every 5 s: it stopped at most 5 s later.
        assert await journal.start_run(WALL + 400) == WALL + 350 + 5.0


async def test_a_run_s_end_is_stored_as_its_last_sign_of_life(tmp_path: Path) -> None:
    # The journal file is what a user or a later tool opens: its record of the run's end
    # is both "stopped" and "alive" at that moment, and nothing else changes.
    path = tmp_path / "j.db"
    async with Journal(path) as journal:
        await journal.start_run(WALL)
        await journal.beat(WALL + 5)
        before = meta(path)
        await journal.end_run(WALL + 10, complete=False)
        after = meta(path)
    assert before["alive"] == repr(WALL + 5)
    assert after == {**before, "alive": repr(WALL + 10), "stopped": repr(WALL + 10)}


async def test_a_start_that_fails_leaves_the_earlier_record(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with Journal(path) as journal:
        await journal.start_run(WALL)
        await journal.end_run(WALL + 10, complete=False)
    edit(
        path,
        "CREATE TRIGGER refuse BEFORE INSERT ON asms_meta WHEN NEW.key = 'alive_interval' "
        "BEGIN SELECT RAISE(ABORT, 'refused'); END",
    )
    before = meta(path)
    async with Journal(path) as journal:
        with pytest.raises(sqlite3.IntegrityError, match="refused"):
            await journal.start_run(WALL + 100)
        await journal.write([row(0, "pending", None)])  # no transaction was left open
    assert meta(path) == before
    assert before["stopped"] == repr(WALL + 10)


async def test_a_campaign_finishes_only_with_nothing_left(tmp_path: Path) -> None:
    for state in ("pending", "inflight", "unknown"):
        async with Journal(tmp_path / f"{state}.db") as journal:
            await journal.start_run(WALL)
            await journal.write([row(0, "accepted"), row(1, state)])
            assert await journal.end_run(WALL + 1, complete=True) is False
            assert (await journal.campaign()).finished is None
    async with Journal(tmp_path / "done.db") as journal:
        await journal.start_run(WALL)
        # A rejection without a code is final (not one a resumed run sends again).
        await journal.write([row(0, "accepted"), row(1, "rejected")])
        assert await journal.end_run(WALL + 1, complete=True) is True
        assert (await journal.campaign()).finished == WALL + 1


async def test_a_finished_campaign_is_refused_naming_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with Journal(path, campaign="spring") as journal:
        await journal.start_run(TEN_AM)
        await journal.write([row(0, "accepted")])
        assert await journal.end_run(TEN_AM, complete=True) is True
        campaign = await journal.campaign()
    expected = (
        f"the journal {path} holds a finished {campaign.describe()}; nothing was sent. "
        "Use a new journal for a new campaign, or replay this one (Journal(..., replay=True))"
        " to emit its stored results again without sending"
    )
    assert campaign.describe().endswith("finished 2026-12-05 10:00:00 UTC: 1 accepted")
    async with Journal(path) as journal:
        with pytest.raises(JournalFinishedError) as started:
            await journal.start_run(TEN_AM + 60)
    with pytest.raises(JournalFinishedError) as checked:
        check_journal(path)
    for caught in (started.value, checked.value):
        assert caught.path == str(path)
        assert str(caught) == expected
        assert caught.campaign == campaign
    assert check_journal(path, replay=True) == campaign


# -- stored results -----------------------------------------------------------------------


def stored(
    state: JournalState, code: int | None = None, description: str | None = None
) -> BulkResult | None:
    message = Message("27820000007", "hi", ref="r7")
    journal_row = JournalRow(
        7,
        fingerprint(message),
        state,
        "req7",
        "api7",
        code,
        description,
        3,
        WALL,
    )
    return stored_result(journal_row, message)


def test_stored_results_carry_what_the_journal_knows() -> None:
    accepted = stored("accepted")
    assert accepted is not None
    assert (accepted.state, accepted.apimsgid, accepted.climsgid, accepted.error_code) == (
        DeliveryState.ACCEPTED,
        "api7",
        "req7",
        None,
    )
    assert (accepted.index, accepted.parts, accepted.ref, accepted.resumed) == (7, 3, "r7", True)

    rejected = stored("rejected", int(ErrorCode.INVALID_DESTINATION_ADDRESS), "bad number")
    assert rejected is not None
    assert (rejected.state, rejected.apimsgid, rejected.climsgid) == (
        DeliveryState.REJECTED,
        None,
        "req7",
    )
    assert (rejected.error_code, rejected.error_description, rejected.parts) == (
        ErrorCode.INVALID_DESTINATION_ADDRESS,
        "bad number",
        3,
    )
    assert rejected.resumed is True


def test_a_stored_rejection_without_a_code_is_final() -> None:
    rejected = stored("rejected", None, "refused")
    assert rejected is not None
    assert (rejected.state, rejected.error_code, rejected.error_description) == (
        DeliveryState.REJECTED,
        0,
        "refused",
    )
    assert stored("rejected", int(ErrorCode.AUTHENTICATION_FAILED), "auth") is None


@pytest.mark.parametrize("state", ["inflight", "unknown"])
def test_a_stored_unresolved_message_is_unknown_with_its_reason(state: JournalState) -> None:
    unknown = stored(state)
    assert unknown is not None
    assert (unknown.state, unknown.apimsgid, unknown.climsgid, unknown.parts) == (
        DeliveryState.UNKNOWN,
        None,
        "req7",
        3,
    )
    assert (unknown.error_code, unknown.resumed) == (OUTCOME_UNKNOWN, True)
    assert unknown.error_description == (
        "outcome unknown: the gateway could not be asked about its request"
    )
    found = stored(state, OUTCOME_UNKNOWN, FOUND_OTHERS)
    assert found is not None
    assert found.error_description == FOUND_OTHERS


def test_a_pending_message_has_no_stored_result() -> None:
    assert stored("pending") is None


# -- reconcile ----------------------------------------------------------------------------


async def test_reconcile_counts_the_requests_it_settled(tmp_path: Path) -> None:
    clock = VirtualClock(wall_start=WALL)

    async def query(climsgid: str) -> StatusInfo | None:
        return (
            StatusInfo(f"api-{climsgid}", MessageStatus.MESSAGE_QUEUED)
            if climsgid.startswith("found")
            else None
        )

    async with Journal(tmp_path / "j.db") as journal:
        assert (
            await reconcile(journal, query, clock=clock, grace=0, schedule=(1.0,), concurrency=2)
            == 0
        )
        names = ["found0", "found1", "missing2", "missing3"]
        await journal.write([row(i, "inflight", name) for i, name in enumerate(names)])
        settled = await reconcile(
            journal, query, clock=clock, grace=0, schedule=(1.0,), concurrency=2
        )
        assert settled == 4
        states = {i: r.state for i, r in (await journal.rows(0, 10)).items()}
    assert states == {0: "accepted", 1: "accepted", 2: "pending", 3: "pending"}


async def test_reconcile_without_a_schedule_settles_nothing(tmp_path: Path) -> None:
    asked: list[str] = []

    async def query(climsgid: str) -> StatusInfo | None:
        asked.append(climsgid)
        return None

    async with Journal(tmp_path / "j.db") as journal:
        await journal.write([row(0, "inflight", "req0")])
        clock = VirtualClock(wall_start=WALL)
        settled = await reconcile(journal, query, clock=clock, grace=0, schedule=(), concurrency=1)
        assert settled == 0
        assert asked == []
        assert (await journal.rows(0, 1))[0].state == "inflight"  # never resent blindly


# -- owner (code added after the run above; its mutants were run separately) --------------


def test_the_owner_is_an_account_digest_and_a_normalised_gateway() -> None:
    assert journal_owner("1234", "demo", "https://API.Example.com/") == {
        "account": "9e59c3c40e51",
        "gateway": "https://api.example.com:443",
    }
    assert journal_owner("1234", "demo", "http://h")["gateway"] == "http://h:80"
    assert journal_owner("1234", "demo", "http://[::1]:9000/x/")["gateway"] == (
        "http://[::1]:9000/x"
    )
    assert journal_owner("1234", "demo", "ftp://h/p")["gateway"] == "ftp://h/p"
    assert journal_owner("1234", "other", "http://h")["account"] == "8a0ad53c9f08"
    assert journal_owner("12345", "demo", "http://h")["account"] == "a42d348683d2"


OWNER = {"account": "aaaaaaaaaaaa", "gateway": "https://gw:443"}


async def test_a_journal_sent_through_another_owner_is_refused_naming_both(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.db"
    async with Journal(path) as journal:
        await journal.start_run(WALL, OWNER)
        await journal.write([row(0, "inflight"), row(1, "pending", None)])
    kept = meta(path)
    assert (kept["owner_account"], kept["owner_gateway"]) == ("aaaaaaaaaaaa", "https://gw:443")
    other = {"account": "bbbbbbbbbbbb", "gateway": "https://gw:443"}
    elsewhere = {"account": "bbbbbbbbbbbb", "gateway": "http://other:80"}
    tail = (
        "; its requests in flight can only be looked up there. Resume it with the account "
        "and base URL that started it, or use a new journal"
    )
    for owner, what in ((other, "account"), (elsewhere, "account and gateway")):
        async with Journal(path) as journal:
            with pytest.raises(JournalMismatchError) as caught:
                await journal.start_run(WALL + 100, owner)
        assert caught.value.path == str(path)
        assert str(caught.value) == (
            f"the journal {path} was written by a run through account aaaaaaaaaaaa at "
            f"https://gw:443, not account bbbbbbbbbbbb at {owner['gateway']} (another "
            f"{what})" + tail
        )
        with pytest.raises(JournalMismatchError):
            check_journal(path, owner=owner)
    async with Journal(path) as journal:
        assert await journal.start_run(WALL + 200, OWNER) == WALL + 1.0
        assert await journal.start_run(WALL + 300) == WALL + 200 + 1.0  # None: not checked
    # A recorded owner missing a part is described with "?".
    edit(path, "DELETE FROM asms_meta WHERE key = 'owner_gateway'")
    with pytest.raises(JournalMismatchError) as partial:
        check_journal(path, owner=other)
    assert "through account aaaaaaaaaaaa at ?, not account bbbbbbbbbbbb" in str(partial.value)


async def test_a_journal_that_reached_no_gateway_takes_the_next_owner(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with Journal(path) as journal:
        await journal.start_run(WALL, OWNER)
        # Refused for the account (a resumed run sends it again) and never sent.
        refused = (0, item(0).fingerprint, "rejected", "r", None, 1, "auth", 1, WALL)
        await journal.write([refused, row(1, "pending", None)])
    other = {"account": "bbbbbbbbbbbb", "gateway": "https://gw:443"}
    async with Journal(path) as journal:
        await journal.start_run(WALL + 100, other)
    assert meta(path)["owner_account"] == "bbbbbbbbbbbb"
    # A final rejection did reach it.
    final = (0, item(0).fingerprint, "rejected", "r", None, 105, "bad number", 1, WALL)
    async with Journal(path) as journal:
        await journal.write([final])
        with pytest.raises(JournalMismatchError):
            await journal.start_run(WALL + 200, OWNER)


# -- stored fingerprints and input comparison -----------------------------------------------


def test_a_stored_fingerprint_names_the_fields_that_differ() -> None:
    base = Message("27820000001", "hello", climsgid="c1")
    stored_fp = stored_fingerprint(base)
    assert len(stored_fp) == 16
    assert stored_fp[:8] == fingerprint(base)
    assert same_message(stored_fp, base)
    assert same_message(fingerprint(base), base)
    assert not same_message(stored_fp, Message("27820000001", "hello!", climsgid="c1"))
    assert differing_fields(stored_fp, base) == ()
    assert differing_fields(stored_fp, Message("27820000002", "hello", climsgid="c1")) == (
        "number",
    )
    assert differing_fields(stored_fp, Message("27820000002", "bye", climsgid="c2")) == (
        "number",
        "text",
        "climsgid",
    )
    options = Message("27820000001", "hello", SendOptions(callback=3), climsgid="c1")
    assert differing_fields(stored_fp, options) == ("options",)
    assert differing_fields(fingerprint(base), options) == ()  # a bare one knows no fields


async def test_compare_input_reports_the_first_difference_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    recorded = [Message(f"2782000000{i}", f"text {i}") for i in range(5)]
    async with Journal(path) as journal:
        await journal.write(
            [
                (i, stored_fingerprint(recorded[i]), "pending", None, None, None, None, 1, WALL)
                for i in (0, 1, 3)  # nothing recorded at 2 or 4
            ]
        )
    same = [(m, f"row {i}") for i, m in enumerate(recorded)]
    assert compare_input(path, same) is None
    changed = list(same)
    changed[1] = (Message("27820000001", "other"), "row 1")
    changed[2] = (Message("27829999999", "x"), "row 2")  # not recorded: not compared
    changed[3] = (Message("27829999999", "text 3"), "row 3")
    found = compare_input(path, changed)
    assert found == InputDifference("row 1", ("text",), frozenset({"text", "number"}), 2, 3)
    # An input shorter than the journal is compared as far as it goes.
    assert compare_input(path, changed[:2]) == InputDifference(
        "row 1", ("text",), frozenset({"text"}), 1, 2
    )
    async with Journal(path):  # compare_input let go of the journal
        pass


def test_the_owner_of_odd_base_urls() -> None:
    assert journal_owner("1", "u", "http:///p")["gateway"] == "http://:80/p"  # no host
    assert journal_owner("1", "u", "https://h/apiX/")["gateway"] == "https://h:443/apiX"


async def test_owner_checks_by_replay_and_partial_owners(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with Journal(path) as journal:
        await journal.start_run(WALL, OWNER)
        await journal.write([row(0, "inflight")])
    other = {"account": "bbbbbbbbbbbb", "gateway": "https://gw:443"}
    with pytest.raises(JournalMismatchError) as checked:
        check_journal(path, owner=other)
    assert checked.value.path == str(path)
    assert str(checked.value).startswith(f"the journal {path} was written by a run through ")
    # A replay sends and asks nothing: any owner may read it.
    assert check_journal(path, replay=True, owner=other).finished is None
    # A recorded owner without its account is described with "?".
    edit(path, "DELETE FROM asms_meta WHERE key = 'owner_account'")
    with pytest.raises(JournalMismatchError) as partial:
        check_journal(path, owner={"account": "b", "gateway": "http://x:80"})
    assert "through account ? at https://gw:443, not account b at http://x:80" in str(partial.value)
    # An owner naming only some of its parts records those.
    fresh = tmp_path / "fresh.db"
    async with Journal(fresh) as journal:
        await journal.start_run(WALL, {"account": "cccccccccccc"})
    assert meta(fresh)["owner_account"] == "cccccccccccc"
    assert "owner_gateway" not in meta(fresh)

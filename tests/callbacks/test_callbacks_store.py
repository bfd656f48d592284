"""Callback side effects happen once across restarts, workers and floods; memory stays bounded."""

from __future__ import annotations

import logging
import random
import sqlite3
import stat
import threading
import tracemalloc
from collections import Counter
from pathlib import Path

import anyio
import anyio.lowlevel
import httpx
import pytest

from asms._exceptions import ValidationError
from asms.callbacks import (
    CallbackReceiver,
    CallbackStore,
    InboundMessage,
    StatusReport,
    default_store_path,
)

REAL = "996f364775e24b8432f45d77da8eca47"


async def call(
    app: CallbackReceiver, query: bytes, path: str = "/", body: bytes = b""
) -> tuple[int, bytes]:
    """One request straight into the ASGI app: no socket, no HTTP client."""
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    headers = [(b"content-type", b"application/x-www-form-urlencoded")] if body else []
    scope = {
        "type": "http",
        "method": "POST" if body else "GET",
        "path": path,
        "query_string": query,
        "headers": headers,
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    status = sent[0]["status"]
    assert isinstance(status, int)
    return status, sent[1]["body"]  # type: ignore[return-value]


def status_query(apimsgid: str, status: int) -> bytes:
    return f"apiMsgId={apimsgid}&status={status:03d}&timestamp=1218007814&to=27".encode()


def mo_query(momsgid: str, text: str = "hi", udh: str = "") -> bytes:
    return (
        f"moMsgId={momsgid}&from=2799&to=2712&text={text}&timestamp=2008-08-06+09:43:50&udh={udh}"
    ).encode()


class Effects:
    """Handler side effects, counted per event; safe to share between threads."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    async def on_status(self, report: StatusReport) -> None:
        await anyio.lowlevel.checkpoint()  # let other deliveries interleave
        with self._lock:
            self.counts[f"s:{report.apimsgid}:{int(report.status)}"] += 1

    async def on_inbound(self, message: InboundMessage) -> None:
        await anyio.lowlevel.checkpoint()
        with self._lock:
            self.counts[f"m:{message.momsgid}"] += 1

    def receiver(self, **options: object) -> CallbackReceiver:
        return CallbackReceiver(
            on_status=self.on_status,
            on_inbound=self.on_inbound,
            **options,  # type: ignore[arg-type]
        )


# -- floods cannot push out a real record -----------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the volume, not the backend, matters
async def test_forged_flood_does_not_evict_a_real_final_status(anyio_backend: str) -> None:
    effects = Effects()
    receiver = effects.receiver(store=False)  # the same rules as a file, faster
    assert await call(receiver, status_query(REAL, 4)) == (200, b"OK\n")
    numbers = iter(range(100_000))

    async def forger() -> None:
        for n in numbers:  # shared: the workers take turns, each number once
            assert (await call(receiver, status_query(f"forged{n:07d}", 4)))[0] == 200

    async with anyio.create_task_group() as tg:
        for _ in range(64):
            tg.start_soon(forger)
    # The gateway retries the real final status (its 200 was lost): not handled again.
    assert await call(receiver, status_query(REAL, 4)) == (200, b"OK\n")
    assert effects.counts[f"s:{REAL}:4"] == 1
    assert sum(effects.counts.values()) == 100_001
    assert receiver.statistics().duplicates == 1


@pytest.mark.anyio
async def test_full_store_refuses_new_events_instead_of_evicting(tmp_path: Path) -> None:
    now = [1_000_000.0]
    store = CallbackStore(tmp_path / "cb.sqlite3", max_records=3, clock=lambda: now[0])
    effects = Effects()
    receiver = effects.receiver(store=store)
    for n in range(3):
        assert (await call(receiver, mo_query(f"m{n}")))[0] == 200
    status, body = await call(receiver, mo_query("m3"))
    assert (status, body) == (503, b"callback store full\n")
    for n in range(3):  # the three records are still there
        assert (await call(receiver, mo_query(f"m{n}")))[0] == 200
    assert effects.counts == Counter({"m:m0": 1, "m:m1": 1, "m:m2": 1})
    # After the retention time the old records are pruned and the retried event gets in.
    now[0] += 7 * 86400 + 1
    assert (await call(receiver, mo_query("m3")))[0] == 200
    assert effects.counts["m:m3"] == 1
    assert await store.records() == 1
    stats = receiver.statistics()
    assert (stats.store_full, stats.duplicates) == (1, 3)
    await receiver.aclose()


# -- restarts ----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_restart_on_the_same_store_file_does_not_handle_again(tmp_path: Path) -> None:
    path = tmp_path / "callbacks.sqlite3"
    effects = Effects()
    events = [
        status_query(REAL, 3),
        status_query(REAL, 4),
        mo_query("mo-1"),
        mo_query("p1", "one", "0500030A0201"),
        mo_query("p2", "two", "0500030A0202"),
    ]
    first = effects.receiver(store=path)
    for query in events:
        assert (await call(first, query))[0] == 200
    await first.aclose()
    assert effects.counts == Counter({f"s:{REAL}:3": 1, f"s:{REAL}:4": 1, "m:mo-1": 1, "m:p1": 1})
    # A new process on the same file: every replay is acknowledged and not handled.
    second = effects.receiver(store=str(path))
    for query in [*events, status_query(REAL, 3)]:
        assert (await call(second, query))[0] == 200
    assert sum(effects.counts.values()) == 4
    stats = second.statistics()
    assert (stats.duplicates, stats.status_reports, stats.inbound_messages) == (6, 0, 0)
    await second.aclose()


@pytest.mark.anyio
async def test_by_default_handled_events_survive_a_restart_in_the_users_file(
    tmp_path: Path,
) -> None:
    # No store given: the user's SQLite file (XDG_STATE_HOME is this test's, see conftest).
    state = tmp_path / "state"
    effects = Effects()
    first = effects.receiver()
    assert first.store.path == str(state / "asms" / "callbacks.sqlite3") == default_store_path()
    assert (await call(first, status_query(REAL, 4)))[0] == 200
    await first.aclose()
    assert stat.S_IMODE((state / "asms").stat().st_mode) == 0o700
    restarted = effects.receiver()  # a restart, or another worker of the same user
    assert (await call(restarted, status_query(REAL, 4))) == (200, b"OK\n")
    assert (await call(restarted, mo_query("mo-9")))[0] == 200
    await restarted.aclose()
    assert effects.counts == Counter({f"s:{REAL}:4": 1, "m:mo-9": 1})
    assert restarted.statistics().duplicates == 1


@pytest.mark.anyio
@pytest.mark.parametrize("memory", [False, ":memory:"])
async def test_the_memory_store_is_an_explicit_opt_out(tmp_path: Path, memory: object) -> None:
    effects = Effects()
    for _ in range(2):  # each receiver forgets: the restarted one handles the repeat again
        receiver = effects.receiver(store=memory)
        assert receiver.store.path == ":memory:"
        assert (await call(receiver, status_query(REAL, 4)))[0] == 200
        await receiver.aclose()
    assert effects.counts == Counter({f"s:{REAL}:4": 2})
    assert not (tmp_path / "state").exists()  # no file anywhere


@pytest.mark.anyio
async def test_asms_callback_store_names_the_default_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "deep" / "er" / "cb.sqlite3"
    monkeypatch.setenv("ASMS_CALLBACK_STORE", str(path))
    async with CallbackStore() as store:
        assert store.path == str(path)
        assert await store.record("k", "g") == "new"
    assert path.is_file() and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    monkeypatch.delenv("ASMS_CALLBACK_STORE")
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = tmp_path / "home" / ".local" / "state" / "asms" / "callbacks.sqlite3"
    assert default_store_path() == str(expected)
    monkeypatch.setenv("XDG_STATE_HOME", "relative/state")  # invalid per XDG: ignored
    assert default_store_path() == str(expected)


def test_a_store_of_another_kind_is_refused() -> None:
    with pytest.raises(ValidationError, match="store"):
        CallbackReceiver(store=42)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_late_intermediate_after_a_restart_is_stale(tmp_path: Path) -> None:
    path = tmp_path / "callbacks.sqlite3"
    effects = Effects()
    async with CallbackStore(path) as store:
        assert (await call(effects.receiver(store=store), status_query(REAL, 4)))[0] == 200
    second = effects.receiver(store=path)
    assert (await call(second, status_query(REAL, 3)))[0] == 200
    assert effects.counts == Counter({f"s:{REAL}:4": 1})
    assert second.statistics().stale == 1
    await second.aclose()


@pytest.mark.anyio
async def test_failed_handler_releases_its_claim_for_the_retry(tmp_path: Path) -> None:
    path = tmp_path / "callbacks.sqlite3"
    calls: list[str] = []

    async def flaky(report: StatusReport) -> None:
        calls.append(report.apimsgid)
        if len(calls) == 1:
            raise RuntimeError("database down")

    receiver = CallbackReceiver(on_status=flaky, store=path)
    assert (await call(receiver, status_query(REAL, 4)))[0] == 500
    await receiver.aclose()
    restarted = CallbackReceiver(on_status=flaky, store=path)
    assert (await call(restarted, status_query(REAL, 4)))[0] == 200
    assert (await call(restarted, status_query(REAL, 4)))[0] == 200
    assert calls == [REAL, REAL]
    await restarted.aclose()


@pytest.mark.anyio
async def test_crashed_claim_is_taken_over_after_the_claim_timeout(tmp_path: Path) -> None:
    """A process that died inside a handler leaves a claim; a retry takes it over later."""
    path = tmp_path / "callbacks.sqlite3"
    now = [5_000.0]
    crashed = CallbackStore(path, claim_timeout=600, clock=lambda: now[0])
    assert await crashed.claim("s\x1fX\x1f4", "s\x1fX") == "new"  # ... and then it died
    await crashed.aclose()
    effects = Effects()
    other = effects.receiver(store=CallbackStore(path, claim_timeout=600, clock=lambda: now[0]))
    status, _ = await call(other, status_query("X", 4))
    assert status == 503  # the claim may still be in progress elsewhere: retry later
    assert effects.counts == Counter()
    now[0] += 601
    assert (await call(other, status_query("X", 4)))[0] == 200
    assert (await call(other, status_query("X", 4)))[0] == 200
    assert effects.counts == Counter({"s:X:4": 1})
    assert other.statistics().busy == 1
    await other.aclose()


# -- several workers on one store --------------------------------------------------------------


def _worker(
    path: Path, backend: str, queries: list[bytes], effects: Effects, answers: Counter[int]
) -> None:
    async def main() -> None:
        receiver = effects.receiver(store=path)
        limiter = anyio.CapacityLimiter(16)

        async def deliver(query: bytes) -> None:
            async with limiter:
                while True:  # like the gateway: retry until a 2xx
                    status, _ = await call(receiver, query)
                    answers[status] += 1
                    if status == 200:
                        return
                    assert status == 503
                    await anyio.sleep(0.001)

        async with anyio.create_task_group() as tg:
            for query in queries:
                tg.start_soon(deliver, query)
        await receiver.aclose()

    anyio.run(main, backend=backend)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_two_workers_on_one_store_handle_each_event_once(tmp_path: Path, backend: str) -> None:
    path = tmp_path / "shared.sqlite3"
    queries: list[bytes] = []
    expected: set[str] = set()
    for n in range(150):
        apimsgid = f"{n:032x}"
        for status in (3, 4):
            queries.append(status_query(apimsgid, status))
        expected.add(f"s:{apimsgid}:4")
        queries.append(mo_query(f"mo{n}"))
        expected.add(f"m:mo{n}")
    effects = Effects()
    answers: Counter[int] = Counter()
    threads = []
    for seed in (1, 2):
        mine = list(queries)
        random.Random(seed).shuffle(mine)
        threads.append(
            threading.Thread(target=_worker, args=(path, backend, mine, effects, answers))
        )
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads)
    assert set(effects.counts.values()) == {1}  # every side effect exactly once
    assert expected <= set(effects.counts)  # every final status and message handled
    assert answers[200] == 2 * len(queries)


@pytest.mark.anyio
async def test_store_shares_a_bulk_journal_file(tmp_path: Path) -> None:
    from asms._bulk.journal import Journal

    path = tmp_path / "campaign.db"
    async with Journal(path):
        pass
    effects = Effects()
    receiver = effects.receiver(store=path)
    assert (await call(receiver, status_query(REAL, 4)))[0] == 200
    await receiver.aclose()
    again = effects.receiver(store=path)
    assert (await call(again, status_query(REAL, 4)))[0] == 200
    await again.aclose()
    assert effects.counts == Counter({f"s:{REAL}:4": 1})
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    assert {"messages", "asms_meta", "asms_callback_events"} <= tables
    assert mode == "wal"


# -- reassembly memory is bounded in bytes -----------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])  # the volume, not the backend, matters
async def test_forged_first_parts_stay_under_the_byte_cap(anyio_backend: str) -> None:
    cap = 16_000_000  # the default max_pending_bytes
    effects = Effects()
    receiver = effects.receiver()
    text = "x" * 60_000
    tracemalloc.start()
    try:
        for n in range(2_000):
            # 16-bit references, each its own two-part message that never completes.
            udh = f"060804{n:04X}0201"
            assert (await call(receiver, b"", body=mo_query(f"f{n}", text, udh)))[0] == 200
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < cap + 4_000_000  # the parts held, plus one request being parsed
    stats = receiver.statistics()
    assert stats.pending_bytes <= cap
    assert stats.pending_messages + stats.dropped_messages == 2_000
    assert stats.inbound_parts == 2_000 and effects.counts == Counter()
    # A real multi-part message still gets through.
    for n in (1, 2):
        query = mo_query(f"real{n}", f"part{n}", f"060804FFFF020{n}")
        assert (await call(receiver, query))[0] == 200
    assert effects.counts == Counter({"m:real1": 1})  # named after its first part


@pytest.mark.anyio
async def test_one_oversized_message_is_dropped_and_counted() -> None:
    effects = Effects()
    receiver = effects.receiver(max_message_bytes=5_000)
    for n in (1, 2):
        query = mo_query(f"big{n}", "y" * 3_000, f"0500034403{n:02X}")
        assert (await call(receiver, query))[0] == 200
    stats = receiver.statistics()
    assert (stats.dropped_messages, stats.pending_messages, stats.pending_bytes) == (1, 0, 0)


# -- charsets and logging ----------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("charset", ["base64", "hex", "rot13", "zlib", "uu", "bz2"])
async def test_non_text_charsets_answer_400(charset: str) -> None:
    effects = Effects()
    receiver = effects.receiver()
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url="http://r") as client:
        query = mo_query("m1", "aGk=").decode() + f"&charset={charset}"
        response = await client.get("/?" + query)
        xml = (
            f"<clickmo><moMsgId>m2</moMsgId><from>1</from><to>2</to><text>hi</text>"
            f"<charset>{charset}</charset><timestamp>1</timestamp></clickmo>"
        )
        as_xml = await client.get("/", params={"data": xml})
    assert (response.status_code, as_xml.status_code) == (400, 400)
    assert "unknown charset" in response.text and "unknown charset" in as_xml.text
    assert receiver.statistics().malformed == 2
    assert effects.counts == Counter()


@pytest.mark.anyio
async def test_refused_paths_are_logged_without_the_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver = Effects().receiver(secret_path="s3cr3t-hook")
    with caplog.at_level(logging.WARNING, logger="asms.callbacks"):
        assert (await call(receiver, status_query(REAL, 4), "/s3cr3t-hook/nowhere"))[0] == 404
        assert (await call(receiver, b"apiMsgId=a", "/s3cr3t-hook/status"))[0] == 400
        assert (await call(receiver, status_query(REAL, 4), "/wrong/status"))[0] == 401
    text = caplog.text
    assert "404" in text and "/nowhere" in text
    assert "400" in text and "missing status" in text
    assert "401" in text
    assert "s3cr3t" not in text


@pytest.mark.anyio
async def test_an_operation_cancelled_before_it_ran_changes_nothing() -> None:
    # A part recorded as handled after its request was cancelled would be lost: the
    # gateway's retry would be answered "duplicate" and the part never buffered.
    async with CallbackStore(":memory:") as store:
        release = anyio.Event()

        async def another_commit() -> None:
            async with store._lock:
                await release.wait()

        async with anyio.create_task_group() as tg:
            tg.start_soon(another_commit)
            await anyio.wait_all_tasks_blocked()
            with anyio.move_on_after(0.05):
                await store.record("m\x1fcancelled", "g")  # queued, waiting for the lock
            release.set()
        assert await store.record("m\x1fother", "g") == "new"  # runs the queued commit
        assert await store.record("m\x1fcancelled", "g") == "new"
        assert await store.records() == 2

"""S9's client process: the bulk pipeline (``send_bulk``) against the client beneath it.

``python -m benchmarks._s9 CONTENDER --url URL --messages N --concurrency C
[--workload personalised|same-text] [--journal-dir DIR] [--asms-tree TREE]`` sends N messages
and prints one JSON line: messages, requests, seconds, cpu_seconds, errors, asms (the file of
the ``asms`` it ran).

The input comes from a generator consumed inside the timed part, as a campaign's would
(constant memory): the bulk contenders pay for building each ``asms.Message``, the others for
building their (number, text) pairs or their 600-number chunks.

* ``asms-bulk``: ``send_bulk(messages, rate=None, concurrency=C)``, every result ``ok``.
* ``asms-bulk-journal``: the same with ``journal=`` a fresh SQLite file (deleted afterwards,
  outside the clock).
* ``asms-send-loop``: what a user would write without ``send_bulk``: C tasks doing
  ``client.send(text, to=number)`` per message, or per 600 numbers for ``same-text``.
* ``aiohttp``: the same requests as raw form POSTs to ``/http/sendmsg``, each reply checked
  to start with ``ID:``.

``personalised``: message i is ``Message(number_i, f"Hello {i}, your code is {i:06d}")`` (a
text of its own, so one request per message); ``same-text``: one text for every number (600
numbers per request).

``--asms-tree TREE`` imports ``asms`` from another source tree (a worktree of an earlier commit
that may not have this file): the harness runs this module from its own tree and names the
other one here, so only the client under test changes.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

from benchmarks._clients import API, TEXT, cheap_body, numbers

#: ``numbers(count, offset)``'s first number: message i goes to ``_FIRST + i``.
_FIRST = int(numbers(1)[0])
#: Recipients per request on the legacy HTTP wire (send_bulk groups this many).
GROUP = 600
WORKLOADS = ("personalised", "same-text")


def personal_text(i: int) -> str:
    return f"Hello {i}, your code is {i:06d}"


def pairs(count: int) -> Iterator[tuple[str, str]]:
    """The personalised workload as (number, text): what a hand-written loop starts from."""
    for i in range(count):
        yield str(_FIRST + i), personal_text(i)


def chunks(count: int) -> Iterator[list[str]]:
    """The same-text workload's numbers, 600 at a time."""
    for start in range(0, count, GROUP):
        yield numbers(min(GROUP, count - start), start)


def _client(url: str, conc: int) -> Any:
    import httpx

    import asms

    limits = httpx.Limits(max_connections=conc, max_keepalive_connections=conc)
    return asms.AsyncClient(
        API["api_id"], API["user"], API["password"], base_url=url, limits=limits
    )


async def _pool(items: Iterator[Any], conc: int, one: Callable[[Any], Awaitable[bool]]) -> int:
    """``one(item)`` for every item, on ``conc`` workers sharing the iterator; the errors."""
    errors = 0

    async def worker() -> None:
        nonlocal errors
        for item in items:
            if not await one(item):
                errors += 1

    await asyncio.gather(*(worker() for _ in range(conc)))
    return errors


# -- contenders: each returns (errors, requests) ------------------------------------------


async def run_bulk(
    url: str, total: int, conc: int, workload: str, journal: str | None
) -> tuple[int, int]:
    from asms import Message

    def messages() -> Iterator[Message]:
        if workload == "personalised":
            for i in range(total):
                yield Message(str(_FIRST + i), personal_text(i))
        else:
            for i in range(total):
                yield Message(str(_FIRST + i), TEXT)

    errors = seen = 0
    async with _client(url, conc) as client:
        bulk = client.send_bulk(messages(), rate=None, concurrency=conc, journal=journal)
        async with bulk as run:
            async for result in run:
                seen += 1
                if not result.ok:
                    errors += 1
            requests = int(run.statistics().requests)
    # A run that yields fewer results than messages has lost some: each counts as an error.
    return errors + (total - seen), requests


async def run_send_loop(url: str, total: int, conc: int, workload: str) -> tuple[int, int]:
    async with _client(url, conc) as client:
        if workload == "personalised":

            async def one(pair: tuple[str, str]) -> bool:
                results = await client.send(pair[1], to=pair[0])
                return bool(results.ok)

            return await _pool(pairs(total), conc, one), total

        async def many(to: list[str]) -> bool:
            results = await client.send(TEXT, to=to)
            return bool(results.ok) and len(results) == len(to)

        return await _pool(chunks(total), conc, many), -(-total // GROUP)


async def run_aiohttp(url: str, total: int, conc: int, workload: str) -> tuple[int, int]:
    import aiohttp

    connector = aiohttp.TCPConnector(limit=conc)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    async with aiohttp.ClientSession(url, connector=connector) as session:
        async with session.post("/http/auth", data=API) as r:
            sid = (await r.text()).split()[1]

        async def post(body: bytes) -> bool:
            async with session.post("/http/sendmsg", data=body, headers=headers) as resp:
                return (await resp.read()).startswith(b"ID:")

        if workload == "personalised":
            head = "session_id=" + sid + "&to="

            async def one(pair: tuple[str, str]) -> bool:
                # Digits, spaces and commas: the only characters the texts have to escape.
                text = pair[1].replace(" ", "+").replace(",", "%2C")
                return await post((head + pair[0] + "&text=" + text).encode())

            return await _pool(pairs(total), conc, one), total

        async def many(to: list[str]) -> bool:
            return await post(cheap_body(to, sid))

        return await _pool(chunks(total), conc, many), -(-total // GROUP)


CONTENDERS = ("asms-bulk", "asms-bulk-journal", "asms-send-loop", "aiohttp")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._s9")
    parser.add_argument("contender", choices=CONTENDERS)
    parser.add_argument("--url", required=True)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--workload", choices=WORKLOADS, default="personalised")
    parser.add_argument("--journal-dir", help="where the journal's temporary file goes")
    parser.add_argument("--asms-tree", help="the source tree to import asms from")
    parser.add_argument("--cpu", type=int, default=None)
    args = parser.parse_args(argv)
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    if args.asms_tree:
        # Before anything imports asms: its submodules then come from the same tree.
        sys.path.insert(0, os.path.abspath(args.asms_tree))
    # Import the contender's libraries before the clock starts: throughput, not import time.
    for module in ("aiohttp",) if args.contender == "aiohttp" else ("httpx", "asms"):
        importlib.import_module(module)
    asms_file = getattr(sys.modules.get("asms"), "__file__", None)
    journal_dir = None
    journal = None
    if args.contender == "asms-bulk-journal":
        journal_dir = tempfile.mkdtemp(prefix="s9-journal-", dir=args.journal_dir)
        journal = os.path.join(journal_dir, "campaign.db")
    run: Callable[[], Coroutine[Any, Any, tuple[int, int]]]
    if args.contender.startswith("asms-bulk"):

        def run() -> Coroutine[Any, Any, tuple[int, int]]:
            return run_bulk(args.url, args.messages, args.concurrency, args.workload, journal)
    elif args.contender == "asms-send-loop":

        def run() -> Coroutine[Any, Any, tuple[int, int]]:
            return run_send_loop(args.url, args.messages, args.concurrency, args.workload)
    else:

        def run() -> Coroutine[Any, Any, tuple[int, int]]:
            return run_aiohttp(args.url, args.messages, args.concurrency, args.workload)

    try:
        cpu0, t0 = time.process_time(), time.perf_counter()
        errors, requests = asyncio.run(run())
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        if journal_dir is not None:
            shutil.rmtree(journal_dir, ignore_errors=True)
    json.dump(
        {
            "contender": args.contender,
            "workload": args.workload,
            "messages": args.messages,
            "requests": requests,
            "seconds": seconds,
            "cpu_seconds": cpu,
            "errors": errors,
            "ok": errors == 0,
            "asms": asms_file,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

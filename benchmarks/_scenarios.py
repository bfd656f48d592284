"""The scenarios S1-S9, S1E (S1 against uvicorn serving the emulator), and S1P, S2P, S6P: S1, S2
and S6 on the Platform SMS REST wire. Each returns the series it measured and the ratios it
derived.

Every ratio is computed from medians measured in this same run, and is refused (None) when any
run of either side failed.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._harness import ROOT, Series, cpu_ratio, ratio, run_json, server


@dataclass(frozen=True)
class Profile:
    """How much work a run does: ``quick`` for ``make bench-quick``, ``full`` for ``make bench``."""

    name: str
    reps: int
    s1_requests: int
    s1_connections: tuple[int, ...]
    s2_requests: int
    s4_seconds: float
    s5_messages: int
    s6_recipients: int
    s7_requests: int
    # S9's messages per run: personalised (one request each), same text (600 per request).
    s9_personalised: int = 100_000
    s9_same_text: int = 1_000_000
    # S1E's requests per run: uvicorn serving the emulator answers ~10,000 req/s at best.
    s1e_requests: int = 5_000


QUICK = Profile(
    "quick",
    3,
    3_000,
    (1, 10, 50, 100),
    600,
    8.0,
    200_000,
    3_000,
    5_000,
    s9_personalised=4_000,
    s9_same_text=60_000,
    s1e_requests=2_000,
)
FULL = Profile("full", 3, 20_000, (1, 10, 50, 100), 4_000, 60.0, 1_000_000, 10_000, 20_000)

# Stock httpx does ~350-1,500 req/s here: give it fewer requests so a run stays bounded.
_SCALE = {"httpx": 0.15, "asms": 1.0, "asms-read-all": 1.0, "aiohttp": 1.0, "handwritten": 1.0}

Result = tuple[list[Series], dict[str, float | None]]

#: Ends the name of an entry of the ratios that is a CPU cost, not a ratio (printed bare).
S9_CPU_SUFFIX = "CPU µs/msg"

#: Contenders named ``<contender>@baseline`` run the same client code from this source tree (a
#: worktree of an earlier commit), set by ``--baseline``: before/after in one run, in turns.
BASELINE_SUFFIX = "@baseline"
baseline_tree: Path | None = None


def _with_baseline(contenders: tuple[str, ...], *mine: str) -> tuple[str, ...]:
    if baseline_tree is None:
        return contenders
    return contenders + tuple(c + BASELINE_SUFFIX for c in mine)


def _source(contender: str) -> tuple[str, Path]:
    """The client module's contender name and the tree it runs from."""
    if contender.endswith(BASELINE_SUFFIX):
        assert baseline_tree is not None
        return contender.removesuffix(BASELINE_SUFFIX), baseline_tree
    return contender, ROOT


def _client_row(
    scenario: str,
    contenders: tuple[str, ...],
    url: str,
    requests: int,
    conc: int,
    recips: int,
    reps: int,
) -> dict[str, Series]:
    """One series per contender, their repetitions taken in turns (asms, aiohttp, …, asms,
    aiohttp, …) so that a slow spell of this shared machine falls on every contender alike
    instead of on whichever ran during it."""
    grid = _client_grid(scenario, contenders, url, requests, (conc,), recips, reps)
    return {contender: grid[contender, conc] for contender in contenders}


def _client_grid(
    scenario: str,
    contenders: tuple[str, ...],
    url: str,
    requests: int,
    concs: tuple[int, ...],
    recips: int,
    reps: int,
) -> dict[tuple[str, int], Series]:
    """As :func:`_client_row`, for several connection counts whose repetitions take turns
    too (every contender at every count, then again): a ratio between two counts then
    compares runs of the same spells."""
    unit = "req/s" if recips == 1 else "msg/s"
    grid: dict[tuple[str, int], Series] = {}
    commands: dict[tuple[str, int], tuple[list[str], Path]] = {}
    for conc in concs:
        for contender in contenders:
            grid[contender, conc] = Series(
                scenario, contender, {"connections": conc, "recipients": recips}, unit
            )
            module_name, tree = _source(contender)
            n = max(conc * 4, int(requests * _SCALE.get(module_name, 1.0)))
            args = [
                "benchmarks._clients",
                module_name,
                "--url",
                url,
                "--requests",
                str(n),
                "--connections",
                str(conc),
                "--recipients",
                str(recips),
            ]
            commands[contender, conc] = args, tree
            # warm-up, discarded
            run_json([*args[:4], "--requests", str(min(n, 200)), *args[6:]], cwd=tree)
    for _ in range(reps):
        for key, (args, tree) in commands.items():
            r = run_json(args, cwd=tree)
            s = grid[key]
            if not r.get("ok"):
                s.add(None, error=str(r.get("error")))
                continue
            per_second = (r["messages"] if recips > 1 else r["requests"]) / r["seconds"]
            s.add(per_second, cpu_us=r["cpu_seconds"] / r["requests"] * 1e6)
    return grid


def s1(p: Profile) -> Result:
    """Every connection count takes turns with the others, for the c=100 / c=10 ratios."""
    ratios: dict[str, float | None] = {}
    with server("sink") as url:
        by = _client_grid(
            "S1",
            _with_baseline(("asms", "aiohttp", "handwritten", "httpx"), "asms"),
            url,
            p.s1_requests,
            p.s1_connections,
            1,
            p.reps,
        )
    for conc in p.s1_connections:
        mine = by["asms", conc]
        ratios[f"S1 c={conc} asms/aiohttp"] = ratio(mine, by["aiohttp", conc])
        ratios[f"S1 c={conc} asms/handwritten"] = ratio(mine, by["handwritten", conc])
        ratios[f"S1 c={conc} asms/httpx"] = ratio(mine, by["httpx", conc])
        if baseline_tree is not None:
            base = by["asms" + BASELINE_SUFFIX, conc]
            ratios[f"S1 c={conc} asms/asms{BASELINE_SUFFIX}"] = ratio(mine, base)
    for contender in ("asms", "asms" + BASELINE_SUFFIX):
        if (contender, 100) in by and (contender, 10) in by:
            ratios[f"S1 {contender} c=100 / c=10"] = ratio(by[contender, 100], by[contender, 10])
            ratios[f"S1 {contender} c=100 / c=10 CPU"] = cpu_ratio(
                by[contender, 100], by[contender, 10]
            )
    return list(by.values()), ratios


def s1e(p: Profile) -> Result:
    """S1 against uvicorn serving the emulator (a real ASGI server, answering with its own
    framing and timing) instead of the sink; stock httpx is left out (too slow to matter).
    Every connection count takes turns with the others, for the c=100 / c=10 ratio."""
    contenders = _with_baseline(("asms", "aiohttp", "handwritten"), "asms")
    ratios: dict[str, float | None] = {}
    # Enough credit that no run meets ERR 301 (no credit left), as S7.
    with server("emulator", extra=["--credits", "1000000000000"]) as url:
        grid = _client_grid("S1E", contenders, url, p.s1e_requests, p.s1_connections, 1, p.reps)
    for conc in p.s1_connections:
        mine = grid["asms", conc]
        ratios[f"S1E c={conc} asms/aiohttp"] = ratio(mine, grid["aiohttp", conc])
        ratios[f"S1E c={conc} asms/handwritten"] = ratio(mine, grid["handwritten", conc])
        if baseline_tree is not None:
            base = grid["asms" + BASELINE_SUFFIX, conc]
            ratios[f"S1E c={conc} asms/asms{BASELINE_SUFFIX}"] = ratio(mine, base)
    for contender in ("asms", "asms" + BASELINE_SUFFIX):
        if (contender, 100) in grid and (contender, 10) in grid:
            ratios[f"S1E {contender} c=100 / c=10 CPU"] = cpu_ratio(
                grid[contender, 100], grid[contender, 10]
            )
    return list(grid.values()), ratios


def s2(p: Profile) -> Result:
    with server("sink") as url:
        row = _client_row(
            "S2",
            _with_baseline(
                ("asms", "asms-read-all", "aiohttp", "handwritten", "httpx"),
                "asms",
                "asms-read-all",
            ),
            url,
            p.s2_requests,
            50,
            600,
            p.reps,
        )
    ratios = {
        "S2 asms/aiohttp": ratio(row["asms"], row["aiohttp"]),
        "S2 asms-read-all/aiohttp": ratio(row["asms-read-all"], row["aiohttp"]),
        "S2 asms/handwritten": ratio(row["asms"], row["handwritten"]),
    }
    if baseline_tree is not None:
        for name in ("asms", "asms-read-all"):
            ratios[f"S2 {name}/{name}{BASELINE_SUFFIX}"] = ratio(
                row[name], row[name + BASELINE_SUFFIX]
            )
    return list(row.values()), ratios


def s3(p: Profile) -> Result:
    series: list[Series] = []
    ratios: dict[str, float | None] = {}
    for recips in (1, 10, 600):
        row: dict[str, Series] = {}
        for contender in ("asms", "zeep"):
            s = Series("S3", contender, {"recipients": recips}, "µs per build+parse")
            for _ in range(p.reps):
                r = run_json(["benchmarks._soapbench", contender, "--recipients", str(recips)])
                s.add(r.get("us"), error="" if r.get("ok") else str(r.get("error")))
            row[contender] = s
            series.append(s)
        # lower is better: zeep time / asms time = how many times faster asms is
        ratios[f"S3 {recips} zeep/asms"] = ratio(row["zeep"], row["asms"])
    return series, ratios


def s4(p: Profile) -> Result:
    series: dict[str, Series] = {
        k: Series("S4", "asms send_bulk", {"target": 100.0, "seconds": p.s4_seconds}, unit)
        for k, unit in (
            ("rate", "msg/s"),
            ("max1s", "max per 1 s window"),
            ("max100ms", "max per 100 ms window"),
        )
    }
    for _ in range(p.reps):
        with server("emulator", extra=["--admin"]) as url:
            r = run_json(
                ["benchmarks._ratebench", "--url", url, "--seconds", str(p.s4_seconds)],
                timeout=p.s4_seconds * 4 + 60,
            )
        err = "" if r.get("ok") else str(r.get("error"))
        series["rate"].add(r.get("rate"), error=err)
        series["max1s"].add(r.get("max_1s"), error=err)
        series["max100ms"].add(r.get("max_100ms"), error=err)
    return list(series.values()), {}


def s5(p: Profile) -> Result:
    out: list[Series] = []
    at = {k: Series("S5", "asms send_bulk", {"messages": k}, "peak RSS MB") for k in (100_000,)}
    total = Series("S5", "asms send_bulk", {"messages": p.s5_messages}, "peak RSS MB")
    for _ in range(p.reps):
        r = run_json(
            ["benchmarks.bulk_memory", "--messages", str(p.s5_messages), "--json"], timeout=900
        )
        err = "" if r.get("ok") else str(r.get("error"))
        at[100_000].add(r.get("rss_mb_at_100k"), error=err)
        total.add(r.get("rss_mb_peak"), error=err)
    out += [*at.values(), total]
    return out, {}


def s6(p: Profile) -> Result:
    row: dict[str, Series] = {}
    with server("sink") as url:
        for contender in ("clickatell", "asms"):
            s = Series("S6", contender, {"recipients": p.s6_recipients}, "msg/s")
            for _ in range(p.reps):
                r = run_json(
                    [
                        "benchmarks._s6",
                        contender,
                        "--url",
                        url,
                        "--recipients",
                        str(p.s6_recipients),
                    ]
                )
                if r.get("ok"):
                    s.add(r["messages"] / r["seconds"])
                else:
                    s.add(None, error=str(r.get("error")))
            row[contender] = s
    return list(row.values()), {"S6 asms/clickatell": ratio(row["asms"], row["clickatell"])}


def s7(p: Profile) -> Result:
    series: list[Series] = []
    # Enough credit that 600-recipient runs never meet ERR 301 (no credit left).
    with server("emulator", extra=["--credits", "1000000000000"]) as url:
        for recips, n in ((1, p.s7_requests), (600, max(200, p.s7_requests // 20))):
            s = Series("S7", "emulator (uvicorn, 1 core)", {"recipients": recips}, "req/s")
            run_json(
                [
                    "benchmarks._clients",
                    "handwritten",
                    "--url",
                    url,
                    "--requests",
                    "200",
                    "--connections",
                    "50",
                    "--recipients",
                    str(recips),
                ]
            )
            for _ in range(p.reps):
                r = run_json(
                    [
                        "benchmarks._clients",
                        "handwritten",
                        "--url",
                        url,
                        "--requests",
                        str(n),
                        "--connections",
                        "50",
                        "--recipients",
                        str(recips),
                    ]
                )
                if r.get("ok"):
                    s.add(r["requests"] / r["seconds"])
                else:
                    s.add(None, error=str(r.get("error")))
            series.append(s)
    return series, {}


def s8(p: Profile) -> Result:
    """One account limit across processes, through a private Redis: the limiter alone
    (:func:`benchmarks._s8_limiter.limiter_part`), then the campaign workers sharing it."""
    from ._s8 import workers_part
    from ._s8_limiter import limiter_part

    series, ratios = limiter_part(p.name, p.reps)
    # The workers' part: 4 processes, 100 msg/s shared, one SIGKILLed half-way.
    series += workers_part(p.name, p.reps)
    return series, ratios


# -- the Platform SMS REST wire (POST /messages, JSON) ------------------------------------

#: Recipients per request on the Platform wire: the platform's cap (asms splits above it).
PLATFORM_RECIPIENTS = 200


def s1p(p: Profile) -> Result:
    """S1 on the Platform wire: asms (``wire="platform"``) against aiohttp and the hand-written
    client posting the same JSON and decoding each reply."""
    series: list[Series] = []
    ratios: dict[str, float | None] = {}
    with server("sink") as url:
        for conc in p.s1_connections:
            row = _client_row(
                "S1P",
                ("asms-platform", "aiohttp-platform", "handwritten-platform"),
                url,
                p.s1_requests,
                conc,
                1,
                p.reps,
            )
            series += row.values()
            ratios[f"S1P c={conc} asms/aiohttp"] = ratio(
                row["asms-platform"], row["aiohttp-platform"]
            )
            ratios[f"S1P c={conc} asms/handwritten"] = ratio(
                row["asms-platform"], row["handwritten-platform"]
            )
    return series, ratios


def s2p(p: Profile) -> Result:
    """S2 on the Platform wire, 200 recipients per request (the platform's cap): as many
    messages per run as S2 sends."""
    requests = p.s2_requests * 600 // PLATFORM_RECIPIENTS
    with server("sink") as url:
        row = _client_row(
            "S2P",
            ("asms-platform", "asms-platform-read-all", "aiohttp-platform", "handwritten-platform"),
            url,
            requests,
            50,
            PLATFORM_RECIPIENTS,
            p.reps,
        )
    aiohttp = row["aiohttp-platform"]
    ratios = {
        "S2P asms/aiohttp": ratio(row["asms-platform"], aiohttp),
        "S2P asms-read-all/aiohttp": ratio(row["asms-platform-read-all"], aiohttp),
        "S2P asms/handwritten": ratio(row["asms-platform"], row["handwritten-platform"]),
    }
    return list(row.values()), ratios


def s6p(p: Profile) -> Result:
    """clickatell-platform 2.0.1 against asms on the same recipients, repetitions in turns."""
    from ._s6_platform import CONTENDERS

    row = {c: Series("S6P", c, {"recipients": p.s6_recipients}, "msg/s") for c in CONTENDERS}
    with server("sink") as url:
        for _ in range(p.reps):
            for contender, s in row.items():
                r = run_json(
                    [
                        "benchmarks._s6_platform",
                        contender,
                        "--url",
                        url,
                        "--recipients",
                        str(p.s6_recipients),
                    ]
                )
                if r.get("ok"):
                    s.add(
                        r["messages"] / r["seconds"],
                        cpu_us=r["cpu_seconds"] / r["requests"] * 1e6,
                    )
                else:
                    s.add(None, error=str(r.get("error")))
    ratios: dict[str, float | None] = {}
    for mine in ("asms-send", "asms-send-bulk"):
        for theirs in ("clickatell-platform-1", "clickatell-platform-200"):
            ratios[f"S6P {mine}/{theirs}"] = ratio(row[mine], row[theirs])
    return list(row.values()), ratios


# -- S9: the bulk pipeline against the client beneath it ----------------------------------

S9_CONCURRENCY = 50
#: Messages of each warm-up run (discarded): a few requests of each workload.
_S9_WARMUP = {"personalised": 300, "same-text": 6_000}


def _s9_row(url: str, workload: str, total: int, reps: int) -> dict[str, Series]:
    """One series per contender of ``benchmarks._s9``, repetitions in turns as in
    :func:`_client_row`. A baseline contender runs this tree's module with the baseline
    tree's ``asms`` (``--asms-tree``: the baseline commit may predate the module), and a run
    whose ``asms`` came from elsewhere fails."""
    contenders: tuple[str, ...] = ("asms-bulk", "asms-bulk-journal", "asms-send-loop", "aiohttp")
    contenders = _with_baseline(contenders, "asms-bulk", "asms-bulk-journal")
    params = {"workload": workload, "messages": total, "concurrency": S9_CONCURRENCY}
    row = {c: Series("S9", c, params, "msg/s") for c in contenders}
    commands: dict[str, tuple[list[str], Path]] = {}
    for contender in contenders:
        module_name, tree = _source(contender)
        args = [
            "benchmarks._s9",
            module_name,
            "--url",
            url,
            "--concurrency",
            str(S9_CONCURRENCY),
            "--workload",
            workload,
        ]
        if tree != ROOT:
            args += ["--asms-tree", str(tree)]
        commands[contender] = [*args, "--messages", str(total)], tree
        run_json([*args, "--messages", str(min(total, _S9_WARMUP[workload]))])
    for _ in range(reps):
        for contender in contenders:
            args, tree = commands[contender]
            r = run_json(args, timeout=900)
            s = row[contender]
            if not r.get("ok"):
                s.add(None, error=str(r.get("error")))
            elif tree != ROOT and not str(r.get("asms", "")).startswith(f"{tree}/"):
                s.add(None, error=f"asms imported from {r.get('asms')}, not {tree}")
            else:
                s.add(
                    r["messages"] / r["seconds"],
                    cpu_us=r["cpu_seconds"] / r["messages"] * 1e6,
                )
    return row


def s9(p: Profile) -> Result:
    series: list[Series] = []
    ratios: dict[str, float | None] = {}
    with server("sink") as url:
        for workload, total in (
            ("personalised", p.s9_personalised),
            ("same-text", p.s9_same_text),
        ):
            row = _s9_row(url, workload, total, p.reps)
            series += row.values()
            bulk, journal = row["asms-bulk"], row["asms-bulk-journal"]
            ratios[f"S9 {workload} bulk/send-loop"] = ratio(bulk, row["asms-send-loop"])
            ratios[f"S9 {workload} bulk-journal/bulk"] = ratio(journal, bulk)
            if workload == "personalised":
                ratios[f"S9 {workload} bulk/aiohttp"] = ratio(bulk, row["aiohttp"])
            else:
                # Not ratios: the CPU cost per message the pipeline is held to.
                for name, s in (("bulk", bulk), ("bulk-journal", journal)):
                    ratios[f"S9 {workload} {name} {S9_CPU_SUFFIX}"] = (
                        statistics.median(s.cpu_us) if s.ok and s.cpu_us else None
                    )
            if baseline_tree is not None:
                for name in ("asms-bulk", "asms-bulk-journal"):
                    short = name.removeprefix("asms-")
                    ratios[f"S9 {workload} {short}/{short}{BASELINE_SUFFIX}"] = ratio(
                        row[name], row[name + BASELINE_SUFFIX]
                    )
    return series, ratios


SCENARIOS: dict[str, Callable[[Profile], Result]] = {
    "S1": s1,
    "S1E": s1e,
    "S2": s2,
    "S3": s3,
    "S4": s4,
    "S5": s5,
    "S6": s6,
    "S7": s7,
    "S8": s8,
    "S1P": s1p,
    "S2P": s2p,
    "S6P": s6p,
    "S9": s9,
}

DESCRIPTIONS: dict[str, Any] = {
    "S1": "single-recipient sendmsg throughput vs connections",
    "S1E": (
        "S1 against uvicorn serving the emulator instead of the sink (uvicorn on one core); "
        "stock httpx left out. CPU µs per request, and its growth from 10 to 100 connections"
    ),
    "S2": (
        "600-recipient sendmsg, messages per second at 50 connections. asms checks "
        "`results.ok` (every reply line matched to its recipient while parsing); "
        "asms-read-all also reads all 600 `SendResult` objects; aiohttp, hand-written and "
        "httpx check that the reply starts with `ID:`"
    ),
    "S3": "SOAP sendmsg envelope build + reply parse (asms lxml vs zeep, offline)",
    "S4": "rate accuracy of send_bulk at 100 msg/s against the emulator",
    "S5": "peak RSS of send_bulk over a generator of messages",
    "S6": "clickatell 0.1.2 (sync) vs asms sending the same recipients",
    "S7": "emulator capacity (uvicorn on one core) under a load generator",
    "S8": "one account limit across processes (Redis)",
    "S1P": (
        "S1 on the Platform wire: single-recipient `POST /messages` (JSON) throughput vs "
        'connections. asms `AsyncClient(api_key=..., wire="platform")`; aiohttp and '
        "hand-written post the same JSON and json-decode each reply, checking `accepted`"
    ),
    "S2P": (
        "S2 on the Platform wire: **200-recipient** `POST /messages` (the platform's cap per "
        "request), messages per second at 50 connections. asms checks `results.ok`; "
        "asms-platform-read-all also reads all 200 `SendResult` objects; aiohttp and "
        "hand-written json-decode each reply and check every entry's `accepted`"
    ),
    "S6P": (
        "clickatell-platform 2.0.1 (Clickatell's own package, sync, httplib2) vs asms on the "
        "Platform wire, the same recipients: clickatell-platform-1 calls `sendMessage` once "
        "per recipient (its README's example), clickatell-platform-200 with 200 numbers per "
        "call; asms-send is one `send` (split into 200-recipient requests sent concurrently), "
        "asms-send-bulk is `send_bulk(rate=None)`. CPU µs per HTTP request"
    ),
    "S9": (
        "the bulk pipeline against the client beneath it, on the sink, 50 requests in flight: "
        "asms-bulk is `send_bulk(generator, rate=None, concurrency=50)` (every result `ok`), "
        "asms-bulk-journal the same with a SQLite `journal=`, asms-send-loop 50 tasks doing "
        "`client.send` per message (per 600 numbers for same-text), aiohttp the same form "
        "POSTs raw. personalised: a text of its own per message (one request each); "
        "same-text: one text, 600 numbers per request. The input is a generator consumed "
        "inside the clock. **CPU µs per message** (not per request)"
    ),
}

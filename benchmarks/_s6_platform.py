"""S6P: ``clickatell-platform`` 2.0.1 (Clickatell's own package, synchronous) against asms on the
Platform SMS REST wire, the same recipients.

``python -m benchmarks._s6_platform CONTENDER --url URL --recipients N`` prints one JSON line:
messages, requests, seconds, cpu_seconds, errors. Contenders:

* ``clickatell-platform-1``: its ``Rest(apiKey).sendMessage([number], text)`` once per recipient
  in a loop, as its README's example sends (one number per call);
* ``clickatell-platform-200``: the same ``sendMessage`` with 200 numbers per call (the
  platform's cap per request), in a loop;
* ``asms-send``: ``AsyncClient(api_key=..., wire="platform").send(text, to=all_numbers)``,
  split into 200-recipient requests sent concurrently;
* ``asms-send-bulk``: ``send_bulk`` over one ``Message`` per recipient with ``rate=None``.

Imports and client construction are outside the timed part for every contender; every reply
entry is checked (``accepted``), so a contender that fails messages cannot look fast.

``clickatell-platform`` installs a top-level package named ``clickatell``, as ``clickatell``
0.1.2 (S6) does: the two cannot share one site-packages, so ``make bench`` installs it into its
own directory (``.venv/clickatell-platform``, the ``bench-platform`` dependency group), put
first on ``sys.path`` here.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from ._clients import KEY, TEXT, numbers
from ._harness import PLATFORM_PACKAGE_DIR as PACKAGE_DIR

PER_REQUEST = 200

Outcome = tuple[float, float, int, int]  # seconds, CPU seconds, requests, errors


def _platform_rest(url: str) -> Any:
    """A ``clickatell.rest.Rest`` of clickatell-platform 2.0.1 that posts to the sink."""
    if not (PACKAGE_DIR / "clickatell" / "rest").is_dir():
        raise SystemExit(
            f"clickatell-platform is not installed in {PACKAGE_DIR}: run `make bench-deps`"
        )
    sys.path.insert(0, str(PACKAGE_DIR))
    import httplib2  # type: ignore[import-untyped]
    from clickatell.rest import Rest  # type: ignore[import-untyped]

    if not str(sys.modules["clickatell"].__file__).startswith(str(PACKAGE_DIR)):
        raise SystemExit("imported another package named clickatell (clickatell 0.1.2?)")
    # The package builds its URL as "https://" + Transport.endpoint + "/" + action, with
    # endpoint "platform.clickatell.com". The sink speaks plain HTTP on loopback, so the
    # endpoint becomes the sink's host:port and httplib2 is told to open its plain connection
    # class for the "https" scheme (its own table, SCHEME_TO_CONNECTION). The package's code
    # runs unchanged (a new httplib2.Http, so a new connection, per call), minus TLS, which
    # only flatters it.
    httplib2.SCHEME_TO_CONNECTION["https"] = httplib2.HTTPConnectionWithTimeout
    client = Rest(KEY)
    client.endpoint = urlsplit(url).netloc
    return client


def run_clickatell_platform(url: str, recipients: list[str], per_call: int) -> Outcome:
    client = _platform_rest(url)
    errors = requests = 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    for start in range(0, len(recipients), per_call):
        chunk = recipients[start : start + per_call]
        response = client.sendMessage(chunk, TEXT)
        requests += 1
        entries = response["messages"]
        errors += len(chunk) - sum(entry["accepted"] is True for entry in entries)
    return time.perf_counter() - t0, time.process_time() - cpu0, requests, errors


def run_asms(url: str, recipients: list[str], *, bulk: bool) -> Outcome:
    import anyio

    import asms

    async def go() -> Outcome:
        async with asms.AsyncClient(api_key=KEY, wire="platform", base_url=url) as client:
            cpu0, t0 = time.process_time(), time.perf_counter()
            if bulk:
                messages = (asms.Message(n, TEXT) for n in recipients)
                errors = 0
                async with client.send_bulk(messages, rate=None) as run:
                    async for result in run:
                        errors += not result.ok
            else:
                results = await client.send(TEXT, to=recipients)
                errors = sum(not r.ok for r in results)
            seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            return seconds, cpu, client.statistics().requests, errors

    return anyio.run(go)


CONTENDERS = ("clickatell-platform-1", "clickatell-platform-200", "asms-send", "asms-send-bulk")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("contender", choices=CONTENDERS)
    parser.add_argument("--url", required=True)
    parser.add_argument("--recipients", type=int, default=10_000)
    args = parser.parse_args()
    to = numbers(args.recipients)
    if args.contender == "clickatell-platform-1":
        seconds, cpu, requests, errors = run_clickatell_platform(args.url, to, 1)
    elif args.contender == "clickatell-platform-200":
        seconds, cpu, requests, errors = run_clickatell_platform(args.url, to, PER_REQUEST)
    else:
        seconds, cpu, requests, errors = run_asms(
            args.url, to, bulk=args.contender == "asms-send-bulk"
        )
    json.dump(
        {
            "contender": args.contender,
            "messages": len(to),
            "requests": requests,
            "seconds": seconds,
            "cpu_seconds": cpu,
            "errors": errors,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

"""S6: the ``clickatell`` PyPI package (0.1.2, synchronous) against asms, same recipients.

The package sends every call as a GET with credentials in the query; the gateway takes at most
300 recipients per GET, so it is driven the way its users must drive it: 300 per call, in a loop.
Imports and client construction are outside the timed part for both; asms's ``auth`` is inside.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from urllib.parse import urlsplit

from ._clients import API, TEXT, numbers


def run_clickatell(url: str, recipients: list[str]) -> tuple[float, int]:
    from clickatell.http import Http

    client = Http(API["user"], API["password"], API["api_id"])
    client.endpoint = urlsplit(url).netloc  # the package builds http://<endpoint>/<action>
    errors = 0
    t0 = time.perf_counter()
    for start in range(0, len(recipients), 300):
        chunk = recipients[start : start + 300]
        for row in client.sendMessage(chunk, TEXT):
            errors += 0 if row["id"] else 1
    return time.perf_counter() - t0, errors


def run_asms(url: str, recipients: list[str]) -> tuple[float, int]:
    import anyio

    import asms

    async def go() -> tuple[float, int]:
        async with asms.AsyncClient(
            API["api_id"], API["user"], API["password"], base_url=url
        ) as client:
            t0 = time.perf_counter()
            results = await client.send(TEXT, to=recipients)
            return time.perf_counter() - t0, sum(not r.ok for r in results)

    return anyio.run(go)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("contender", choices=["clickatell", "asms"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--recipients", type=int, default=10_000)
    args = parser.parse_args()
    to = numbers(args.recipients)
    run = run_clickatell if args.contender == "clickatell" else run_asms
    seconds, errors = run(args.url, to)
    json.dump({"messages": len(to), "seconds": seconds, "errors": errors}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

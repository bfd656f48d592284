"""S3: SOAP ``sendmsg`` envelope build + reply parse, asms (lxml) vs zeep, no network.

zeep loads a WSDL from a local file (the one asms generates from its operation table), so
both sides build the same document/literal request and parse the same reply.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import timeit
from pathlib import Path
from typing import Any

from ._clients import numbers

LOCATION = "http://127.0.0.1:9/soap/document_literal/webservice"


def _reply(recipients: list[str]) -> bytes:
    from asms._optable import OPERATIONS
    from asms._soap import build_response

    lines = [f"ID: {i:032x} To: {to}" for i, to in enumerate(recipients)]
    return build_response("dl", OPERATIONS["sendmsg"], lines)


def bench_asms(recipients: list[str]) -> float:
    from asms._optable import OPERATIONS
    from asms._soap import build_request, parse_response

    op = OPERATIONS["sendmsg"]
    reply = _reply(recipients)
    auth = {"session_id": "0" * 32}

    def once() -> None:
        build_request("dl", op, {"text": "Hello", "to": recipients, "climsgid": "abc"}, auth)
        lines = parse_response(reply)
        assert len(lines) == len(recipients)

    return _time(once)


class _Response:
    def __init__(self, content: bytes) -> None:
        self.status_code = 200
        self.content = content
        self.headers = {"Content-Type": "text/xml; charset=utf-8"}
        self.encoding = "utf-8"


def bench_zeep(recipients: list[str]) -> float:
    import zeep
    from lxml import etree

    from asms._soap.wsdl import document_literal_wsdl

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "webservice.wsdl"
        path.write_bytes(document_literal_wsdl(LOCATION))
        client = zeep.Client(str(path))
    binding: Any = client.service._binding
    operation = binding.get("sendmsg")
    reply = _Response(_reply(recipients))

    def once() -> None:
        envelope = client.create_message(
            client.service,
            "sendmsg",
            session_id="0" * 32,
            text="Hello",
            to=recipients,
            climsgid="abc",
        )
        etree.tostring(envelope)
        result = binding.process_reply(client, operation, reply)
        assert len(result) == len(recipients)

    return _time(once)


def _time(fn: Any) -> float:
    fn()
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    best = min(timer.repeat(repeat=3, number=number))
    return best / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("contender", choices=["asms", "zeep"])
    parser.add_argument("--recipients", type=int, default=1)
    args = parser.parse_args()
    to = numbers(args.recipients)
    us = bench_asms(to) if args.contender == "asms" else bench_zeep(to)
    json.dump({"us": us, "recipients": args.recipients}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()

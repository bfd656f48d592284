"""The SOAP wires: the same client and the same calls, over SOAP instead of the HTTP API.

``wire="soap"`` speaks the document/literal server, ``wire="soap-rpc"`` the RPC/encoded
one. Replies come back as the same typed results as on the HTTP wire; SOAP carries the
text as XML characters, so GSM text such as Greek capitals costs GSM parts here (on the
HTTP API it would go as UCS-2).

    pip install asms                     # nothing beyond asms itself
    asms emulator &                      # the gateway it talks to (pip install 'asms[cli]')
    python examples/soap_wire.py

It exits 1 unless every number was accepted on both wires.

ASMS_BASE_URL, ASMS_API_ID, ASMS_USER and ASMS_PASSWORD default to the emulator that
``asms emulator`` starts on port 8765.
"""

from __future__ import annotations

import os

import anyio

import asms

EMULATOR_URL = "http://127.0.0.1:8765"
TEXT = "Greek capitals ΔΦΓΛΩΠΨΣΘΞ and the euro sign € travel as GSM over SOAP: one part, not two."


async def main(base_url: str | None = None) -> dict[str, list[asms.SendResult]]:
    sent: dict[str, list[asms.SendResult]] = {}
    for wire in ("soap", "soap-rpc"):
        client = asms.AsyncClient(
            os.environ.get("ASMS_API_ID", "1234"),
            os.environ.get("ASMS_USER", "demo"),
            os.environ.get("ASMS_PASSWORD", "demo"),
            base_url=base_url or os.environ.get("ASMS_BASE_URL", EMULATOR_URL),
            wire=wire,
        )
        async with client:
            coverage = await client.route_coverage("27821234567")
            print(f"[{wire}] routed: {coverage.supported}, charge {coverage.charge}")
            results = await client.send(TEXT, to=["27821234567", "27821234568"], from_="SOAPDemo")
            for result in results:
                print(f"[{wire}] {result.to}: {result.apimsgid} ({result.parts} part(s))")
            first = results[0]
            if first.apimsgid is not None:
                info = await client.query(first.apimsgid)
                print(f"[{wire}] status of {first.apimsgid}: {int(info.status):03d}")
            balance = await client.balance()
            print(f"[{wire}] credits left: {balance.credits:g}")
        sent[wire] = results
    return sent


if __name__ == "__main__":
    sent = anyio.run(main)
    raise SystemExit(0 if all(r.ok for results in sent.values() for r in results) else 1)

"""The same code on trio: asms is written against anyio, so only the last line changes.

    pip install 'asms[examples]'         # trio
    asms emulator &                      # the gateway it talks to (pip install 'asms[cli]')
    python examples/trio_send.py

It exits 1 unless every number was accepted.

ASMS_BASE_URL, ASMS_API_ID, ASMS_USER and ASMS_PASSWORD default to the emulator that
``asms emulator`` starts on port 8765.
"""

from __future__ import annotations

import os

import anyio

import asms

EMULATOR_URL = "http://127.0.0.1:8765"


async def main(base_url: str | None = None) -> list[asms.SendResult]:
    client = asms.AsyncClient(
        os.environ.get("ASMS_API_ID", "1234"),
        os.environ.get("ASMS_USER", "demo"),
        os.environ.get("ASMS_PASSWORD", "demo"),
        base_url=base_url or os.environ.get("ASMS_BASE_URL", EMULATOR_URL),
    )
    async with client:
        balance = await client.balance()
        print(f"credits before: {balance.credits:g}")
        # Three numbers, one request: each gets its own result (an error is data, not a raise).
        results = await client.send(
            "Hello from trio", to=["27821234567", "27821234568", "27821234569"]
        )
        for result in results:
            print(result.to, result.apimsgid if result.ok else result.error_description)
        # Independent look-ups run side by side in a task group, like any other trio code.
        async with anyio.create_task_group() as tg:
            for result in results:
                if result.apimsgid is not None:
                    tg.start_soon(show_status, client, result.apimsgid)
    return results


async def show_status(client: asms.AsyncClient, apimsgid: str) -> None:
    info = await client.query(apimsgid)
    print(f"{apimsgid}: {int(info.status):03d}")


if __name__ == "__main__":
    sent = anyio.run(main, backend="trio")
    raise SystemExit(0 if all(r.ok for r in sent) else 1)

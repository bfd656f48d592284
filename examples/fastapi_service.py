"""A web service that sends SMS and receives the gateway's status callbacks.

Written with Starlette, which FastAPI is built on: in FastAPI the same handlers become
``@app.post("/send")`` functions and the receiver is mounted with ``app.mount``.

    POST /send                 {"to": ["27821234567"], "text": "Hello"}: one result per number
    GET  /status/{apimsgid}    the latest status the gateway reported for a message
    /callbacks/status          where the account's status callback URL must point

One ``AsyncClient`` lives as long as the app (its connection pool and gateway session are
shared by every request); ``CallbackReceiver`` is a plain ASGI app, mounted like any other.

    pip install 'asms[examples]'                 # starlette, uvicorn
    asms emulator --callback-url http://127.0.0.1:8000/callbacks/status &
    python examples/fastapi_service.py           # send one message through /send, wait for
                                                 # its callbacks, print them, stop
    python examples/fastapi_service.py --serve   # keep serving on port 8000

``--port N`` serves on another port, ``--wait S`` waits S seconds for the callbacks.

The gateway comes from ASMS_BASE_URL (default: the emulator that ``asms emulator`` starts
on port 8765) and the credentials from ASMS_API_ID, ASMS_USER and ASMS_PASSWORD (default:
the emulator's demo account). Callbacks only arrive if the account's callback URL points at
this service (``http://HOST:8000/callbacks/status``): hence ``--callback-url`` above. Without
them the script gives up after 15 seconds and exits 1.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

import asms
from asms.callbacks import CallbackReceiver, StatusReport

EMULATOR_URL = "http://127.0.0.1:8765"


def gateway_client(base_url: str | None = None) -> asms.AsyncClient:
    return asms.AsyncClient(
        os.environ.get("ASMS_API_ID", "1234"),
        os.environ.get("ASMS_USER", "demo"),
        os.environ.get("ASMS_PASSWORD", "demo"),
        base_url=base_url or os.environ.get("ASMS_BASE_URL", EMULATOR_URL),
    )


def create_app(base_url: str | None = None) -> Starlette:
    """The service: a client for the app's lifetime, two routes and the callback receiver."""
    latest: dict[str, StatusReport] = {}  # a real service would use its database

    async def on_status(report: StatusReport) -> None:
        # The receiver drops repeats and late non-final statuses, so this is safe to store.
        latest[report.apimsgid] = report

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with gateway_client(base_url) as client:
            app.state.client = client
            yield

    async def send(request: Request) -> JSONResponse:
        body = await request.json()
        client: asms.AsyncClient = request.app.state.client
        try:
            # callback=3: report "delivered to gateway" and every final status.
            results = await client.send(body["text"], to=body["to"], callback=3)
        except (KeyError, TypeError):
            return JSONResponse({"error": "give 'to' and 'text'"}, status_code=422)
        except asms.ValidationError as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        return JSONResponse(
            [
                {
                    "to": r.to,
                    "apimsgid": r.apimsgid,
                    "error": None
                    if r.ok
                    else f"{int(r.error_code or 0):03d} {r.error_description}",
                }
                for r in results
            ]
        )

    async def status(request: Request) -> JSONResponse:
        report = latest.get(request.path_params["apimsgid"])
        if report is None:
            return JSONResponse({"status": None})
        return JSONResponse(
            {"status": int(report.status), "final": report.is_final, "charge": report.charge}
        )

    receiver = CallbackReceiver(on_status=on_status)
    routes = [
        Route("/send", send, methods=["POST"]),
        Route("/status/{apimsgid}", status),
        Mount("/callbacks", app=receiver),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


@asynccontextmanager
async def serving(app: Starlette, port: int) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on 127.0.0.1 inside the current event loop; yield its URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve)
        while not server.started:  # noqa: ASYNC110 - uvicorn has no event to wait on
            await anyio.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True


async def main(
    base_url: str | None = None, *, port: int = 8000, to: str = "27821234567", wait: float = 15.0
) -> dict[str, Any]:
    """Serve the app, send one message through ``POST /send`` and wait for its final status."""
    async with (
        serving(create_app(base_url), port) as service,
        httpx.AsyncClient(base_url=service) as http,
    ):
        sent = await http.post("/send", json={"to": [to], "text": "Hello from Starlette"})
        sent.raise_for_status()
        (result,) = sent.json()
        print("sent:", result)
        final: dict[str, Any] = {"status": None}
        if result["apimsgid"]:
            with anyio.move_on_after(wait):
                while not final.get("final"):
                    await anyio.sleep(0.1)
                    final = (await http.get(f"/status/{result['apimsgid']}")).json()
        print("latest status from the callbacks:", final)
    return {"sent": result, "status": final}


def exit_status(outcome: dict[str, Any]) -> int:
    """0 when the message was accepted and its final status came back by callback."""
    if outcome["sent"]["apimsgid"] is None:
        print("the gateway did not accept the message", file=sys.stderr)
        return 1
    if not outcome["status"].get("final"):
        print(
            "no final status arrived by callback: is the account's callback URL this "
            "service's /callbacks/status (asms emulator --callback-url "
            "http://127.0.0.1:8000/callbacks/status)?",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Send SMS and receive status callbacks.")
    parser.add_argument("--serve", action="store_true", help="keep serving")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--wait", type=float, default=15.0, help="seconds to wait for callbacks")
    args = parser.parse_args()
    if args.serve:
        uvicorn.run(create_app(), host="127.0.0.1", port=args.port)
    else:
        outcome = anyio.run(lambda: main(port=args.port, wait=args.wait))
        raise SystemExit(exit_status(outcome))

"""Secrets stay secret; hostile answers are refused; TLS failures are final.

The canary test gives the account unique credentials, turns DEBUG logging on for asms, httpx
and httpcore, drives every kind of request and failure on every wire (in-process and over a
socket, with asms's transport and with stock httpx), then looks for the credentials and the
session ids in every log line, every repr and every exception chain, and checks that every
request the gateway saw was a POST without any of them in its URL.
"""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import httpx
import pytest

from asms._client import AsyncClient
from asms._config import Credentials, RetryPolicy
from asms._exceptions import (
    ASMSError,
    AuthenticationError,
    ClientClosedError,
    ReplyParseError,
    TLSError,
    ValidationError,
)
from asms._transport import make_transport
from asms._wire import SOAPWire
from asms.testing import (
    Account,
    EmulatorTransport,
    FakeClock,
    Faults,
    GatewayEmulator,
    running_emulator,
)

pytestmark = pytest.mark.anyio

API_ID = "918273645501"
USER = "canaryUserQx7"
PASSWORD = "canaryPwZk93"
CANARIES = (API_ID, USER, PASSWORD)
SESSION_RE = re.compile(r"OK: ([0-9a-f]{32})")


class Seen:
    """What the gateway saw: request lines, and the session ids it handed out."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []  # (method, path + query)
        self.sessions: set[str] = set()

    def answer(self, body: bytes) -> None:
        self.sessions.update(SESSION_RE.findall(body.decode("latin-1")))


class RecordingTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, seen: Seen) -> None:
        self.inner, self.seen = inner, seen

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.requests.append((request.method, str(request.url)))
        response = await self.inner.handle_async_request(request)
        self.seen.answer(await response.aread())
        return response


class RecordingApp:
    """ASGI middleware around the emulator (``running_emulator`` serves ``.app``)."""

    def __init__(self, emu: GatewayEmulator, seen: Seen) -> None:
        inner = emu.app

        # A plain function, so uvicorn recognises an ASGI 3 application.
        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                query = scope.get("query_string", b"").decode("latin-1")
                seen.requests.append((scope["method"], scope["path"] + "?" + query))

            async def sending(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.body":
                    seen.answer(message.get("body", b""))
                await send(message)

            await inner(scope, receive, sending)

        self.app = app


def canary_emulator(**kwargs: Any) -> GatewayEmulator:
    account = Account(api_id=int(API_ID), user=USER, password=PASSWORD)
    return GatewayEmulator(clock=FakeClock(), accounts=[account], **kwargs)


def texts_of(exc: BaseException) -> list[str]:
    """str/repr/args of an exception and of everything chained to it."""
    out: list[str] = []
    todo: list[BaseException] = [exc]
    seen: set[int] = set()
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        out += [str(current), repr(current), repr(current.args)]
        out += [repr(v) for v in vars(current).values()] if hasattr(current, "__dict__") else []
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
    return out


@contextmanager
def debug_logging(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    for name in ("asms", "httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    yield


async def exercise(c: AsyncClient, texts: list[str]) -> None:
    """Every kind of request, plus failures whose exceptions are collected."""
    texts += [repr(c), str(c)]
    results = await c.send("Hello", to=["27821234567", "27821234568"], climsgid="Can1")
    [single] = await c.send("Hi", to="27821234567")
    texts += [repr(results), repr(single)]
    assert all(r.ok for r in results) and single.ok
    assert single.apimsgid is not None
    texts.append(repr(await c.query(single.apimsgid)))
    texts.append(repr(await c.balance()))
    async with c.batch("Dear #field1#") as b:
        texts.append(repr(await b.send_item("27821234567", ["Ann"])))
    await c.ping()
    texts.append(repr(c.statistics()))
    with pytest.raises(ValidationError) as bad:
        await c.query("nothex")
    texts += texts_of(bad.value)


@pytest.mark.parametrize(
    "where", ["http", "soap", "soap-rpc", "socket-http", "socket-soap", "socket-stock-httpx"]
)
async def test_canaries_never_leak(caplog: pytest.LogCaptureFixture, where: str) -> None:
    # Every fifth send loses its reply, so reconciliation runs and logs too.
    emu = canary_emulator(faults=Faults(script=(None, "drop_after_commit")))
    seen = Seen()
    texts: list[str] = []
    wire = where.removeprefix("socket-") if where.startswith("socket") else where
    wire = "http" if wire == "stock-httpx" else wire
    with debug_logging(caplog), contextmanager(_gateway)(emu, seen, where) as kwargs:
        async with AsyncClient(
            API_ID, USER, PASSWORD, wire=wire, retry=RetryPolicy.testing(), **kwargs
        ) as c:
            await exercise(c, texts)
            texts += [repr(c._session), repr(c._options.credentials)]
        with pytest.raises(ClientClosedError) as closed:
            await c.balance()
        texts += texts_of(closed.value)
        kwargs.pop("transport", None)
        kwargs["transport"] = RecordingTransport(EmulatorTransport(emu), seen)
        async with AsyncClient(API_ID, USER, PASSWORD + "x", wire=wire, **kwargs) as wrong:
            with pytest.raises(AuthenticationError) as denied:
                await wrong.send("Hi", to="27821234567")
        texts += texts_of(denied.value)
    assert seen.sessions, "the test must see the session ids it looks for"
    secrets = (*CANARIES, *seen.sessions)
    logged = [r.getMessage() for r in caplog.records] + [caplog.text]
    assert any("asms" == r.name for r in caplog.records)  # logging really was on
    for text in texts + logged:
        for secret in secrets:
            assert secret not in text
    assert seen.requests
    for method, url in seen.requests:
        assert method == "POST"
        for secret in secrets:
            assert secret not in url


def _gateway(emu: GatewayEmulator, seen: Seen, where: str) -> Iterator[dict[str, Any]]:
    if not where.startswith("socket"):
        yield {
            "base_url": "http://gateway",
            "transport": RecordingTransport(EmulatorTransport(emu), seen),
        }
        return
    with running_emulator(RecordingApp(emu, seen)) as base_url:  # type: ignore[arg-type]
        kwargs: dict[str, Any] = {"base_url": base_url}
        if where == "socket-stock-httpx":
            kwargs["transport"] = make_transport(url=base_url, use_stock=True)
        yield kwargs


async def test_transport_failures_do_not_chain_httpx_exceptions(
    caplog: pytest.LogCaptureFixture,
) -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()
    with debug_logging(caplog):
        async with AsyncClient(
            API_ID,
            USER,
            PASSWORD,
            base_url=f"http://127.0.0.1:{port}",
            session=False,
            retry=RetryPolicy.testing(attempts=2),
        ) as c:
            [result] = await c.send("Hi", to="27821234567")
            with pytest.raises(Exception) as info:
                await c.balance()
    assert result.error_description and "not sent" in result.error_description
    error = info.value
    assert isinstance(error, ASMSError) and not isinstance(error, httpx.HTTPError)
    assert error.__cause__ is None and error.__context__ is None
    for text in [*texts_of(error), repr(result), caplog.text]:
        for secret in CANARIES:
            assert secret not in text


async def test_credentials_are_masked_everywhere() -> None:
    creds = Credentials(API_ID, USER, PASSWORD)
    for text in (repr(creds), str(creds), f"{creds}"):
        for secret in CANARIES:
            assert secret not in text
    with pytest.raises(ValidationError) as info:
        Credentials("notdigits" + PASSWORD, USER, PASSWORD)
    assert PASSWORD not in str(info.value) and info.value.value is None


def test_asms_log_switch_logs_without_secrets(tmp_path: Path) -> None:
    script = f"""
import anyio
from asms._client import AsyncClient
from asms.testing import Account, EmulatorTransport, FakeClock, GatewayEmulator

async def main():
    emu = GatewayEmulator(clock=FakeClock(), accounts=[Account(api_id={API_ID}, user="{USER}",
                          password="{PASSWORD}")])
    async with AsyncClient({API_ID}, "{USER}", "{PASSWORD}", base_url="http://gateway",
                           transport=EmulatorTransport(emu)) as c:
        await c.send("Hi", to="27821234567")

anyio.run(main)
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={"ASMS_LOG": "debug", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "authenticated" in done.stderr
    for secret in CANARIES:
        assert secret not in done.stderr


# -- hostile SOAP answers ----------------------------------------------------------------------

ENVELOPE = (
    '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:ns1="http://api.clickatell.com/soap/document_literal/webservice">'
    "<SOAP-ENV:Body><ns1:getbalanceResponse><return>{}</return></ns1:getbalanceResponse>"
    "</SOAP-ENV:Body></SOAP-ENV:Envelope>"
)


def hostile_bodies(secret_file: Path, port: int) -> dict[str, bytes]:
    lol = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i else "lol"}">' for i in range(10))
    return {
        "xxe": (
            f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret_file}">]>'
            + ENVELOPE.format("Credit: &x;")
        ).encode(),
        "billion-laughs": (
            f'<?xml version="1.0"?><!DOCTYPE r [{lol}]>' + ENVELOPE.format("&lol9;")
        ).encode(),
        "external-dtd": (
            f'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:{port}/evil.dtd">'
            + ENVELOPE.format("Credit: 1")
        ).encode(),
        "parameter-entity": (
            f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM '
            f'"http://127.0.0.1:{port}/p.dtd">%p;]>' + ENVELOPE.format("Credit: 1")
        ).encode(),
        "utf16-doctype": (
            f'<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY x SYSTEM '
            f'"file://{secret_file}">]>' + ENVELOPE.format("Credit: &x;")
        ).encode("utf-16"),
    }


async def test_hostile_soap_answers_are_refused(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("FILECANARY42")
    connections = 0

    async def count(stream: anyio.abc.SocketStream) -> None:
        nonlocal connections
        connections += 1
        await stream.aclose()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    bodies = hostile_bodies(secret_file, port)
    async with anyio.create_task_group() as group:
        group.start_soon(listener.serve, count)
        for style in ("soap", "soap-rpc"):
            for name, body in bodies.items():
                transport = httpx.MockTransport(lambda _r, b=body: httpx.Response(200, content=b))
                async with AsyncClient(
                    1234,
                    "demo",
                    "demo",
                    wire=style,  # type: ignore[arg-type]
                    session=False,
                    base_url="http://gateway",
                    transport=transport,
                    retry=RetryPolicy.testing(attempts=1),
                ) as c:
                    with pytest.raises(ReplyParseError) as info:
                        await c.balance()
                assert "FILECANARY42" not in str(info.value), name
        await anyio.sleep(0.05)
        group.cancel_scope.cancel()
    assert connections == 0  # no DTD or entity was fetched


async def test_a_50_mb_soap_answer_is_refused_without_reading_it() -> None:
    huge = b'<?xml version="1.0"?><r>' + b"x" * 50_000_000 + b"</r>"
    transport = httpx.MockTransport(lambda _r: httpx.Response(200, content=huge))
    async with AsyncClient(
        1234,
        "demo",
        "demo",
        wire="soap",
        session=False,
        base_url="http://gateway",
        transport=transport,
        retry=RetryPolicy.testing(attempts=1),
    ) as c:
        tracemalloc.start()
        try:
            baseline = tracemalloc.get_traced_memory()[0]
            with pytest.raises(ReplyParseError):
                await c.balance()
            wire = SOAPWire(httpx.URL("http://gateway"), style="dl", timeout=httpx.Timeout(1))
            with pytest.raises(ReplyParseError):
                wire.unwrap(200, huge)  # the parser itself refuses it by size, unread
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak - baseline < 50_000_000


# -- TLS -----------------------------------------------------------------------------------------


async def test_tls_verification_failure_is_final() -> None:
    trustme = pytest.importorskip("trustme")
    import ssl

    from anyio.streams.tls import TLSListener

    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    accepted = 0

    async def handle(stream: anyio.abc.ByteStream) -> None:
        nonlocal accepted
        accepted += 1
        await stream.aclose()

    tcp = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = tcp.extra(anyio.abc.SocketAttribute.local_port)
    listener = TLSListener(tcp, server_context, standard_compatible=False)
    logging.getLogger("anyio.streams.tls").disabled = True  # the refused handshake
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(listener.serve, handle)
            async with AsyncClient(
                API_ID,
                USER,
                PASSWORD,
                base_url=f"https://127.0.0.1:{port}",
                retry=RetryPolicy.testing(),
            ) as c:
                with pytest.raises(TLSError) as info:
                    await c.send("Hi", to="27821234567")
                stats = c.statistics()
            group.cancel_scope.cancel()
    finally:
        logging.getLogger("anyio.streams.tls").disabled = False
    assert stats.requests == 1  # not retried
    assert info.value.__cause__ is None and info.value.__context__ is None
    for text in texts_of(info.value):
        for secret in CANARIES:
            assert secret not in text

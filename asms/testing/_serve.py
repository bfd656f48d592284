"""Run the emulator over a real socket with uvicorn: in the foreground or in a thread."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .._config import DEFAULT_EMULATOR_PORT, DEFAULT_LISTEN_HOST
from ._app import InjectedDisconnect
from ._emulator import GatewayEmulator

__all__ = ["bind", "quiet_injected_faults", "running_emulator", "serve"]


class _DropInjectedFaults(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, InjectedDisconnect)


_INJECTED_FAULTS = _DropInjectedFaults()


def quiet_injected_faults() -> None:
    """Keep uvicorn from logging a traceback for every connection the emulator drops on purpose."""
    logger = logging.getLogger("uvicorn.error")
    if _INJECTED_FAULTS not in logger.filters:
        logger.addFilter(_INJECTED_FAULTS)


def _config(emulator: GatewayEmulator, log_level: str, **options: Any) -> Any:
    import uvicorn

    quiet_injected_faults()
    return uvicorn.Config(
        emulator.app,
        log_level=log_level,
        access_log=False,
        http="httptools",
        lifespan="on",
        server_header=False,
        date_header=False,  # the app sends its own, from the emulator's clock
        proxy_headers=False,  # one middleware less per request; IP lockdown sees the peer
        timeout_graceful_shutdown=1,
        **options,
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on ``host:port``; ``OSError`` when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose protocol says
    # TCP, and without it every reply waits for the peer's delayed-ACK timer (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        # SO_REUSEADDR lets a restart reuse a port in TIME_WAIT; on Linux it does not let
        # two servers listen on the same port, so a busy port still fails here.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def serve(
    emulator: GatewayEmulator | None = None,
    *,
    host: str = DEFAULT_LISTEN_HOST,
    port: int = DEFAULT_EMULATOR_PORT,
    log_level: str = "warning",
    sock: socket.socket | None = None,
) -> None:
    """Serve ``emulator`` (a default one if None) until interrupted. Needs uvicorn.

    ``sock`` is a socket already bound with :func:`bind` (``host`` and ``port`` are then
    ignored): binding first lets a caller report a busy port before anything else.
    """
    import uvicorn

    emulator = emulator or GatewayEmulator(admin=True)
    if sock is None:
        uvicorn.Server(_config(emulator, log_level, host=host, port=port)).run()
        return
    with sock:
        uvicorn.Server(_config(emulator, log_level)).run(sockets=[sock])


@contextmanager
def running_emulator(
    emulator: GatewayEmulator | None = None,
    *,
    host: str = DEFAULT_LISTEN_HOST,
    port: int = 0,
    log_level: str = "warning",
    startup_timeout: float = 10.0,
) -> Iterator[str]:
    """Serve ``emulator`` with uvicorn in a background thread; yield its base URL.

    ``port=0`` picks a free port. The server stops when the block ends. The emulator's
    Python methods stay usable from the test thread (its state is guarded by a lock); but
    the callback sender runs on the server's event loop, so while callbacks are being
    delivered move a :class:`FakeClock` through the admin API (``POST
    /_emulator/clock/advance``, needs ``admin=True``), which runs on that loop.
    """
    import uvicorn

    emulator = emulator or GatewayEmulator()
    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(_config(emulator, log_level))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="asms-emulator", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + startup_timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the emulator server did not start")
            time.sleep(0.01)
        yield f"http://{host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(startup_timeout)
        sock.close()

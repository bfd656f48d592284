"""A real ``redis-server`` for the tests, started on a free loopback port.

Debian's ``redis-server`` package provides it (``make test`` installs it where it is
missing). A missing server fails the tests that need it, with the command that installs it:
the Redis tests never skip silently.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

INSTALL_HINT = (
    "redis-server is not installed, and the Redis tests need it: install Debian's package "
    "(as root: apt-get update && apt-get install -y redis-server), or run `make test`, "
    "which installs it"
)
_START_TIMEOUT = 10.0


@dataclass
class RedisServer:
    """A running ``redis-server``: its port, URL and process."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        """The server's ``redis://`` URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        """Stop the server (and wait until it has gone)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def free_port() -> int:
    """A loopback port nobody listens on (at the time of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(directory: Path) -> RedisServer:
    """Start ``redis-server`` (no persistence) on a free port in ``directory``; fails the
    test with how to install it when it is missing."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    directory.mkdir(parents=True, exist_ok=True)
    for _ in range(5):  # another process may take the free port before the server binds it
        port = free_port()
        log = directory / f"redis-{port}.log"
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(directory), "--logfile", str(log),
             "--daemonize", "no"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + _START_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            if _answers(port):
                return RedisServer(port, directory, process)
            time.sleep(0.02)
        server = RedisServer(port, directory, process)
        server.stop()
    text = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
    pytest.fail(f"redis-server did not start; its log:\n{text}", pytrace=False)

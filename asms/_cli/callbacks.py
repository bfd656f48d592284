"""``asms callbacks``: serve a :class:`CallbackReceiver` and print each event as it arrives.

Handled events are recorded in a SQLite store, so a receiver restarted on the same file, or
several receivers sharing it, handle each event once: ``--store FILE``, ``--journal FILE``,
or by default the user's file (``$ASMS_CALLBACK_STORE``, else
``$XDG_STATE_HOME/asms/callbacks.sqlite3``, else ``~/.local/state/asms/callbacks.sqlite3``;
its directory created 0700). ``--no-store`` keeps it in memory (with a warning). The store in
use is printed at start-up. Without authentication the command warns,
and refuses a non-loopback address unless ``--insecure-no-auth`` is given. uvicorn's
access log is off unless ``--access-log``; every uvicorn log line has the secret path
segment replaced by ``***``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import socket
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import click
from rich.markup import escape

from .._codes import MessageStatus
from .._config import DEFAULT_CALLBACKS_PORT, DEFAULT_LISTEN_HOST, is_loopback
from ..callbacks import (
    CallbackReceiver,
    InboundMessage,
    RetryLater,
    StatusReport,
    default_store_path,
)
from ..callbacks._store import MEMORY, make_store_file
from ._common import ConfigError, out_console, status_text
from ._stop import serve_until_stopped, stoppable_server

__all__ = ["callbacks"]


def _when(stamp: datetime) -> str:
    return stamp.isoformat(timespec="seconds")


def status_record(report: StatusReport) -> dict[str, Any]:
    """A status report as JSON-ready data (no ``api_id``: it is a credential)."""
    return {
        "event": "status",
        "apimsgid": report.apimsgid,
        "climsgid": report.climsgid,
        "to": report.to,
        "from": report.from_,
        "status": int(report.status),
        "description": (
            report.status.description if isinstance(report.status, MessageStatus) else ""
        ),
        "final": report.is_final,
        "charge": report.charge,
        "timestamp": _when(report.timestamp),
    }


def inbound_record(message: InboundMessage) -> dict[str, Any]:
    """An inbound message as JSON-ready data (no ``api_id``)."""
    return {
        "event": "inbound",
        "momsgid": message.momsgid,
        "from": message.from_,
        "to": message.to,
        "text": message.text,
        "charset": message.charset,
        "parts": message.parts,
        "missing_parts": list(message.missing_parts),
        "network": message.network,
        "timestamp": _when(message.timestamp),
    }


@click.command()
@click.option(
    "--host", default=DEFAULT_LISTEN_HOST, show_default=True, help="Address to listen on."
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=DEFAULT_CALLBACKS_PORT, show_default=True
)
@click.option(
    "--basic-auth-user",
    metavar="USER",
    help="Require HTTP Basic auth with this user; the password comes from ASMS_CALLBACK_PASSWORD.",
)
@click.option(
    "--secret-path",
    envvar="ASMS_CALLBACK_SECRET_PATH",
    metavar="SEGMENT",
    help="Serve only below /SEGMENT/ [env ASMS_CALLBACK_SECRET_PATH].",
)
@click.option(
    "--store",
    "store_path",
    envvar="ASMS_CALLBACK_STORE",
    metavar="FILE",
    help="SQLite file recording handled events; share it between workers and restarts "
    "[env ASMS_CALLBACK_STORE]. Default: $XDG_STATE_HOME/asms/callbacks.sqlite3 "
    "(~/.local/state/asms/callbacks.sqlite3 without XDG_STATE_HOME).",
)
@click.option(
    "--no-store",
    is_flag=True,
    help="Remember handled events in memory only: after a restart, or in another worker, a "
    "repeated callback is handled again.",
)
@click.option(
    "--journal",
    "journal_path",
    metavar="FILE",
    help="Record handled events in this bulk journal file (own tables beside the journal's).",
)
@click.option(
    "--insecure-no-auth",
    is_flag=True,
    help="Allow listening on a non-loopback address without --basic-auth-user/--secret-path.",
)
@click.option("--access-log", is_flag=True, help="Log each request (the secret path shown as ***).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per event.")
@click.option(
    "--count",
    type=click.IntRange(min=1),
    help="Stop after this many events (default: run until interrupted).",
)
def callbacks(
    host: str,
    port: int,
    basic_auth_user: str | None,
    secret_path: str | None,
    store_path: str | None,
    no_store: bool,
    journal_path: str | None,
    insecure_no_auth: bool,
    access_log: bool,
    as_json: bool,
    count: int | None,
) -> None:
    """Receive the gateway's status and inbound callbacks and print them.

    Point the account's callback URL at http://HOST:PORT/status (status reports) and
    http://HOST:PORT/inbound (inbound messages); / takes either.
    """
    try:
        import uvicorn
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise ConfigError("asms callbacks needs uvicorn: pip install 'asms[emulator]'") from None

    basic_auth: tuple[str, str] | None = None
    if basic_auth_user is not None:
        password = os.environ.get("ASMS_CALLBACK_PASSWORD")
        if not password:
            raise ConfigError(
                "--basic-auth-user needs the password in environment variable "
                "ASMS_CALLBACK_PASSWORD"
            )
        if ":" in basic_auth_user:
            raise ConfigError("--basic-auth-user must not contain ':'")
        basic_auth = (basic_auth_user, password)
    if secret_path is not None:
        secret_path = secret_path.strip("/")
        if not secret_path or any(c in secret_path for c in "?#/"):
            raise ConfigError("--secret-path must be one non-empty path segment")

    store_given = bool(store_path) and (
        click.get_current_context().get_parameter_source("store_path")
        is not click.core.ParameterSource.ENVIRONMENT
    )
    if no_store and (store_given or journal_path):
        raise ConfigError("give --no-store or --store/--journal, not both")
    if store_path and journal_path:
        raise ConfigError("give --store or --journal, not both")
    if basic_auth is None and secret_path is None and not insecure_no_auth:
        if not is_loopback(host):
            raise ConfigError(
                f"refusing to listen on {host} without authentication: give "
                "--basic-auth-user or --secret-path (or --insecure-no-auth to accept anyone)"
            )
    # After every refusal above, so that a refused start creates no file. --no-store
    # overrides ASMS_CALLBACK_STORE (an explicit flag beats the environment).
    if journal_path and not Path(journal_path).parent.is_dir():
        # A bulk journal lives where its run writes it: a missing folder is a typo, and a
        # store made there would never meet the journal it was meant to settle.
        raise ConfigError(
            f"--journal {journal_path}: no such folder {str(Path(journal_path).parent)!r}"
        )
    store = (
        None
        if no_store
        else _open_store(
            journal_path or store_path or default_store_path(),
            given=bool(journal_path) or store_given,
        )
    )

    console = out_console()
    seen = 0
    server: Any = None

    def emit(record: dict[str, Any], line: str) -> None:
        nonlocal seen
        # An event not printed must not be recorded as handled: RetryLater answers 503, and
        # the gateway sends it again (to this receiver once it runs again, or another).
        if count is not None and seen >= count:
            raise RetryLater(f"--count {count} reached: stopping")
        try:
            if as_json:
                click.echo(json.dumps(record, ensure_ascii=False))  # flushed at once
            else:
                console.print(line)
                console.file.flush()
            # The console goes quiet on a closed pipe (asms._cli._common) instead of raising.
            printed = not console.quiet
        except OSError:
            printed = False
        if not printed:  # the reader went away: nobody sees the events any more
            if server is not None:
                server.should_exit = True
            raise RetryLater("cannot print events: the output was closed; stopping")
        seen += 1
        if count is not None and seen >= count and server is not None:
            server.should_exit = True

    async def on_status(report: StatusReport) -> None:
        final = "final" if report.is_final else "interim"
        charge = "" if report.charge is None else f" charge {report.charge:g}"
        emit(
            status_record(report),
            f"[cyan]{_when(report.timestamp)}[/] [bold]status[/] {_safe_field(report.apimsgid)}"
            f" to {_safe_field(report.to)}: {_safe_field(status_text(report.status))} ({final})"
            f"{_safe_field(charge)}"
            + (f" climsgid {_safe_field(report.climsgid)}" if report.climsgid else ""),
        )

    async def on_inbound(message: InboundMessage) -> None:
        missing = f" (missing parts {list(message.missing_parts)})" if message.missing_parts else ""
        emit(
            inbound_record(message),
            f"[cyan]{_when(message.timestamp)}[/] [bold]inbound[/] {_safe_field(message.momsgid)}"
            f" from {_safe_field(message.from_)} to {_safe_field(message.to)}:"
            f" {escape(message.text)!r}"
            f"{missing}",
        )

    receiver = CallbackReceiver(
        on_status=on_status,
        on_inbound=on_inbound,
        basic_auth=basic_auth,
        secret_path=secret_path,
        store=store if store is not None else False,
    )
    config = uvicorn.Config(
        receiver,
        host=host,
        port=port,
        log_level="info" if access_log else "warning",
        access_log=access_log,
        lifespan="on",
        log_config=_log_config(uvicorn),
    )
    # After Config: it (re)configures uvicorn's loggers.
    _redact_uvicorn_logs(secret_path)
    server = stoppable_server(uvicorn, config)
    # Bind here rather than in uvicorn, so that --port 0 can report the port it got.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    # Listening before the line below is printed: a callback sent as soon as it appears
    # waits in the backlog instead of being refused while uvicorn starts.
    sock.listen(128)
    bound = sock.getsockname()[1]
    shown_host = f"[{host}]" if family == socket.AF_INET6 else host
    prefix = "/***" if secret_path else ""  # the secret segment is a credential: not shown
    auth = " (HTTP Basic auth required)" if basic_auth else ""

    def announce() -> None:
        click.echo(
            f"Listening on http://{shown_host}:{bound}{prefix}/status and {prefix}/inbound{auth}; "
            "Ctrl+C stops.",
            err=True,
        )
        if basic_auth is None and secret_path is None:
            click.echo(
                "Warning: no authentication: anyone who can reach this port can post callbacks "
                "(give --basic-auth-user or --secret-path).",
                err=True,
            )
        if store is None:
            click.echo(
                "Warning: handled events are remembered in memory only: after a restart, or in "
                "another worker, a repeated callback is handled again.",
                err=True,
            )
        else:
            click.echo(f"Handled events are recorded in {store}", err=True)

    with sock:
        serve_until_stopped(server, [sock], announce)


def _safe_field(value: str) -> str:
    """A field of a sender's callback as printed: rich markup escaped, and a control
    character written as its escape, so that no callback can forge a line of output or
    send the terminal an escape sequence."""
    if not value.isprintable():
        value = "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)
    return escape(value)


def _log_config(uvicorn: Any) -> dict[str, Any]:
    """uvicorn's logging, with the access log on stderr: stdout carries the events only."""
    config: dict[str, Any] = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    return config


def _open_store(path: str, *, given: bool) -> str | None:
    """Check the store file can be opened (creating it, 0600, and for the default one its
    directory, 0700); None for memory. A ``given`` path in a folder that does not exist is a
    typo, refused: a store made there would start empty, every event handled again."""
    if path == MEMORY:
        return None
    folder = Path(path).parent
    if given and not folder.is_dir():
        raise ConfigError(f"callback store {path}: no such folder {str(folder)!r}")
    try:
        make_store_file(path)
        connection = sqlite3.connect(path)
        try:
            # connect() opens any file; reading the schema is what finds one that is not
            # SQLite, before "Listening" rather than in uvicorn's startup.
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            connection.close()
    except (OSError, sqlite3.Error) as exc:
        raise ConfigError(f"cannot open the callback store {path!r}: {exc}") from None
    return path


class _Cleaner(logging.Filter):
    """A log filter that passes a record's message and arguments through :meth:`_clean`; the
    record's ``args`` keep their shape (uvicorn's access formatter unpacks five of them)."""

    def _clean(self, value: Any) -> Any:
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._clean(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._clean(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: self._clean(arg) for key, arg in record.args.items()}
        return True


class _Redact(_Cleaner):
    """Replaces every path segment holding the secret with ``***`` in a log record.

    The whole segment goes, not just the secret: a refused ``/<secret>x/`` shown as
    ``/***x/`` would tell a reader that the secret is a prefix of what was tried. A segment
    is compared percent-decoded too (``/%73ecret/`` reaches the same route), and each is
    scanned once: the time grows with the line, not with its square.
    """

    _SEGMENT = re.compile(r"[^/\s?#\"']+")

    def __init__(self, secret: str) -> None:
        super().__init__()
        self._secret = secret

    def _hide(self, segment: re.Match[str]) -> str:
        text = segment.group()
        if self._secret in text or ("%" in text and self._secret in unquote(text)):
            return "***"
        return text

    def _mask(self, value: str) -> str:
        if self._secret in value or "%" in value:
            return self._SEGMENT.sub(self._hide, value)
        return value

    def _clean(self, value: Any) -> Any:
        return self._mask(value) if isinstance(value, str) else value

    def filter(self, record: logging.LogRecord) -> bool:
        super().filter(record)
        message = record.getMessage()
        masked = self._mask(message)
        if masked != message:  # a secret split across the arguments
            record.msg = masked
            record.args = None
        return True


class _RedactApiKey(_Cleaner):
    """Replaces the value of an ``apiKey`` query parameter with ``***`` in a log record: the
    Platform's 2017 status callbacks (GET) carry the integration's API key in their query,
    which uvicorn's access log would print."""

    _PARAMETER = re.compile(r"(?i)(apikey=)[^&\s\"']*")

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str) and "=" in value:
            return self._PARAMETER.sub(r"\1***", value)
        return value


def _redact_uvicorn_logs(secret_path: str | None) -> None:
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "asms.callbacks"):
        logger = logging.getLogger(name)
        logger.addFilter(_RedactApiKey())
        if secret_path:
            logger.addFilter(_Redact(secret_path))

"""Every user-visible default has one home, ``asms._config``, and whatever offers it reads it there.

The callback store and receiver, the emulator (its account, address, fault commands) and the
command line's options (those that restate a library default, and its own) are checked
against the constants; the values themselves are not restated here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import click

from asms import _config
from asms._cli._common import status_text
from asms._cli.bulk import bulk
from asms._cli.callbacks import callbacks
from asms._cli.commands import send
from asms._cli.demo import run_demo, run_demo_async
from asms._cli.emulator import build_emulator, emulator
from asms._cli.worker import worker
from asms._codes import MessageStatus
from asms.callbacks import CallbackReceiver, CallbackStore
from asms.testing import DEFAULT_ACCOUNT, Faults, running_emulator, serve


def _option(command: click.Command, name: str) -> click.Option:
    for param in command.params:
        if isinstance(param, click.Option) and param.name == name:
            return param
    raise LookupError(name)


def _defaults(func: Callable[..., Any]) -> dict[str, Any]:
    return {
        name: param.default
        for name, param in inspect.signature(func).parameters.items()
        if param.default is not inspect.Parameter.empty
    }


def test_the_callback_store_and_receiver_defaults_come_from_asms_config() -> None:
    store = _defaults(CallbackStore)
    assert store["retention"] == _config.DEFAULT_CALLBACK_RETENTION
    assert store["max_records"] == _config.DEFAULT_MAX_CALLBACK_RECORDS
    assert store["claim_timeout"] == _config.DEFAULT_CLAIM_TIMEOUT
    receiver = _defaults(CallbackReceiver)
    assert receiver["dedup_size"] == _config.DEFAULT_MAX_CALLBACK_RECORDS
    assert receiver["max_body"] == _config.DEFAULT_MAX_CALLBACK_BODY
    assert receiver["reassembly_timeout"] == _config.DEFAULT_REASSEMBLY_TIMEOUT
    assert receiver["max_pending_messages"] == _config.DEFAULT_MAX_PENDING_MESSAGES
    assert receiver["max_pending_bytes"] == _config.DEFAULT_MAX_PENDING_BYTES
    assert receiver["max_message_bytes"] == _config.DEFAULT_MAX_MESSAGE_BYTES


def test_the_emulator_defaults_come_from_asms_config() -> None:
    assert (
        DEFAULT_ACCOUNT.api_id,
        DEFAULT_ACCOUNT.user,
        DEFAULT_ACCOUNT.password,
        DEFAULT_ACCOUNT.credits,
    ) == (_config.DEMO_API_ID, _config.DEMO_USER, _config.DEMO_PASSWORD, _config.DEMO_CREDITS)
    assert Faults().commands == _config.DEFAULT_FAULT_COMMANDS
    assert _defaults(serve)["host"] == _config.DEFAULT_LISTEN_HOST
    assert _defaults(serve)["port"] == _config.DEFAULT_EMULATOR_PORT
    assert _defaults(running_emulator)["host"] == _config.DEFAULT_LISTEN_HOST


def test_the_command_line_defaults_come_from_asms_config() -> None:
    assert _option(send, "timeout").default == _config.DEFAULT_REQUEST_TIMEOUT
    assert _config.DEFAULT_TIMEOUT.read == _config.DEFAULT_REQUEST_TIMEOUT
    assert _config.DEFAULT_TIMEOUT.connect == _config.DEFAULT_CONNECT_TIMEOUT
    assert _option(bulk, "timeout").default == _config.DEFAULT_REQUEST_TIMEOUT
    assert _option(bulk, "progress_interval").default == _config.DEFAULT_PROGRESS_INTERVAL
    assert _option(bulk, "credit_per_part").default == _config.DEFAULT_CREDIT_PER_PART
    assert _option(emulator, "host").default == _config.DEFAULT_LISTEN_HOST
    assert _option(emulator, "port").default == _config.DEFAULT_EMULATOR_PORT
    assert _option(emulator, "retention").default == _config.DEFAULT_EMULATOR_RETENTION
    assert _option(emulator, "credits").default == _config.DEMO_CREDITS
    assert _defaults(build_emulator)["retention"] == _config.DEFAULT_EMULATOR_RETENTION
    assert _defaults(build_emulator)["credits"] == _config.DEMO_CREDITS
    assert _option(callbacks, "host").default == _config.DEFAULT_LISTEN_HOST
    assert _option(callbacks, "port").default == _config.DEFAULT_CALLBACKS_PORT
    assert _option(worker, "concurrency").default == _config.DEFAULT_WORKER_CONCURRENCY
    assert _option(worker, "metrics_host").default == _config.DEFAULT_LISTEN_HOST
    assert _option(worker, "timeout").default == _config.DEFAULT_REQUEST_TIMEOUT
    for demo in (run_demo, run_demo_async):
        assert _defaults(demo)["count"] == _config.DEFAULT_DEMO_COUNT
        assert _defaults(demo)["rate"] == _config.DEFAULT_DEMO_RATE


def test_a_status_reads_the_same_in_every_command() -> None:
    known = MessageStatus(4)
    assert status_text(known) == f"004 {known.description}"
    assert status_text(known, unknown="(unknown status)") == f"004 {known.description}"
    assert status_text(999) == "999"
    assert status_text(999, unknown="(unknown status)") == "999 (unknown status)"

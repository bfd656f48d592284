"""The gateway's limits have one home each, and every layer that states one reads it there.

``MAX_CONCAT`` and ``MAX_CALLBACK`` (asms._optable) bound ``concat`` and ``callback`` in the
operation table, in ``SendOptions``, in ``ClientOptions.max_parts``, in the emulator's
profiles and in the command line's options; ``DEFAULT_MAX_PARTS`` and ``DEFAULT_BULK_RATE``
(asms._config) are the defaults of the client, the emulator and ``asms bulk``.
"""

from __future__ import annotations

import inspect

import click
import pytest

import asms
from asms._cli.bulk import bulk
from asms._cli.commands import send
from asms._cli.emulator import emulator
from asms._config import DEFAULT_BULK_RATE, DEFAULT_MAX_PARTS
from asms._optable import MAX_CALLBACK, MAX_CONCAT, OPERATIONS
from asms.testing import Profile


def _option(command: click.Command, name: str) -> click.Option:
    for param in command.params:
        if isinstance(param, click.Option) and param.name == name:
            return param
    raise LookupError(name)


def _bounds(command: click.Command, name: str) -> tuple[int | float | None, int | float | None]:
    kind = _option(command, name).type
    assert isinstance(kind, click.IntRange)
    return kind.min, kind.max


def test_the_operation_table_bounds_concat_and_callback_by_the_constants() -> None:
    for op in ("sendmsg", "startbatch"):
        concat = OPERATIONS[op].param("concat")
        callback = OPERATIONS[op].param("callback")
        assert concat is not None and (concat.minimum, concat.maximum) == (1, MAX_CONCAT)
        assert callback is not None and (callback.minimum, callback.maximum) == (0, MAX_CALLBACK)


def test_the_command_line_bounds_are_the_constants() -> None:
    assert _bounds(send, "concat") == (1, MAX_CONCAT)
    assert _bounds(send, "max_parts") == (1, MAX_CONCAT)
    assert _bounds(send, "callback") == (0, MAX_CALLBACK)
    assert _bounds(bulk, "max_parts") == (1, MAX_CONCAT)
    assert _bounds(bulk, "callback") == (0, MAX_CALLBACK)
    assert _bounds(emulator, "max_parts") == (1, MAX_CONCAT)


def test_the_defaults_come_from_asms_config() -> None:
    assert inspect.signature(asms.AsyncClient).parameters["max_parts"].default == DEFAULT_MAX_PARTS
    assert Profile().max_concat == Profile.named("v2.3.8").max_concat == DEFAULT_MAX_PARTS
    assert _option(bulk, "max_parts").default == DEFAULT_MAX_PARTS
    assert _option(bulk, "rate").default == DEFAULT_BULK_RATE
    assert f"[default: {DEFAULT_MAX_PARTS}]" in (_option(send, "max_parts").help or "")


def test_the_bounds_messages_read_as_before() -> None:
    with pytest.raises(asms.ValidationError, match="must be an integer from 1 to 35"):
        asms.SendOptions(concat=MAX_CONCAT + 1)
    with pytest.raises(asms.ValidationError, match="must be an integer from 0 to 7"):
        asms.SendOptions(callback=MAX_CALLBACK + 1)
    with pytest.raises(ValueError, match="max_concat must be from 1 to 35"):
        Profile(max_concat=MAX_CONCAT + 1)
    assert asms.SendOptions(concat=MAX_CONCAT, callback=MAX_CALLBACK).concat == MAX_CONCAT

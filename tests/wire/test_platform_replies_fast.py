"""The Platform send parser's one-pass reading of the common answer gives what its full rules
give, on every shape of accepted entry (and steps aside for anything else)."""

from __future__ import annotations

import json
from typing import Any

import pytest

import asms._wire.platform_replies as replies
from asms._exceptions import ReplyParseError
from asms._fast import IdLines


def entry(i: int, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "apiMessageId": f"{i:032x}",
        "accepted": True,
        "to": f"2782{i:07d}",
        "errorCode": None,
        "error": None,
        "errorDescription": None,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


SHAPES: list[list[dict[str, Any]]] = [
    [entry(i) for i in range(200)],  # the common answer
    [entry(1, errorCode=..., errorDescription=...)],  # 2017: no codes
    [entry(1, accepted=...)],  # no "accepted": an id and no error is enough
    [entry(1, to="+27820000001")],  # a "+": the full rules strip it
    [entry(1, to=" 27820000001 ")],
    [entry(1, to=...)],  # no number: only the full rules may allow it
    [entry(1), entry(2, to=None)],
    [entry(1, accepted=False)],  # contradictions
    [entry(1, error="Invalid destination address.")],
    [entry(1, errorCode=0)],
    [entry(1, apiMessageId="")],
    [entry(1, apiMessageId=None, accepted=False, errorCode=105, error="Invalid")],
    [entry(1), entry(2, apiMessageId=None, accepted=False, error="Invalid")],
    [entry(1, apiMessageId=7)],
    [entry(1, to=2782)],
    [entry(1, accepted="yes")],
    [[1, 2]],
]


def parse(entries: list[Any], *, fast: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    body = json.dumps({"messages": entries, "error": None}).encode()
    with monkeypatch.context() as patch:
        if not fast:
            patch.setattr(replies, "_all_accepted", lambda entries: None)
        try:
            return replies.parse_platform_send(body)
        except ReplyParseError as exc:
            return ("ReplyParseError", exc.reason)


@pytest.mark.parametrize("entries", SHAPES, ids=range(len(SHAPES)))
def test_the_one_pass_reading_equals_the_full_rules(
    entries: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert parse(entries, fast=True, monkeypatch=monkeypatch) == parse(
        entries, fast=False, monkeypatch=monkeypatch
    )


def test_the_one_pass_reading_takes_the_common_answer_and_steps_aside_otherwise() -> None:
    assert isinstance(replies._all_accepted(SHAPES[0]), IdLines)
    assert replies._all_accepted(SHAPES[1]) is not None
    for shape in SHAPES[3:]:
        assert replies._all_accepted(shape) is None

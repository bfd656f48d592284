"""The recorder counts a message committed twice whatever its ids, in every recorder mode.

A message is its account, recipient, sender and text: a run that resends under a new
climsgid (a second run on one journal, a resume that resends) must show up as a duplicate.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from helpers.emulator import CREDS

from asms.testing import Account, FakeClock, GatewayEmulator, Recorder, RecorderMode

MODES: tuple[RecorderMode, ...] = ("messages", "counters", "totals")
TO = "27821234567"


def make(mode: RecorderMode, **kwargs: object) -> GatewayEmulator:
    return GatewayEmulator(clock=FakeClock(), recorder=Recorder(mode), **kwargs)  # type: ignore[arg-type]


def send(emu: GatewayEmulator, **params: str) -> str:
    form = urlencode({**CREDS, "to": TO, "text": "Hi", **params})
    reply = emu.app.handle("POST", "/http/sendmsg", b"", form.encode(), "127.0.0.1")
    body = reply.body.decode()
    assert body.startswith("ID: "), body
    return body


def key(
    text: str = "Hi", to: str = TO, from_: str = "", api_id: int = 1234
) -> tuple[int, str, str, str]:
    """A message as ``duplicates()`` names it (a MessageKey compares equal to the tuple)."""
    return (api_id, to, from_, text)


@pytest.mark.parametrize("mode", MODES)
def test_the_same_text_to_the_same_number_under_two_climsgids_is_a_duplicate(
    mode: RecorderMode,
) -> None:
    emu = make(mode)
    send(emu, climsgid="run1a0")
    send(emu, climsgid="run2a0")  # a second run on the same journal resends under a new id
    recorder = emu.recorder
    assert recorder.duplicates() == {key(): 2}
    [message] = recorder.duplicates()
    assert (message.api_id, message.to, message.from_, message.text) == key()
    assert recorder.climsgid_repeats() == {}  # the old view is blind to it
    stats = recorder.statistics()
    assert (stats.duplicate_messages, stats.extra_messages, stats.duplicate_climsgids) == (1, 1, 0)


@pytest.mark.parametrize("mode", MODES)
def test_a_different_text_number_sender_or_account_is_another_message(
    mode: RecorderMode,
) -> None:
    emu = make(mode)
    emu.add_account(Account(api_id=5678, user="other", password="secret"))
    send(emu, climsgid="a")
    send(emu, climsgid="b", text="Hi!")  # same number, different text
    send(emu, climsgid="c", to="27821234568")  # same text, different number
    send(emu, climsgid="d", **{"from": "ShopCo"})  # same text and number, another sender
    send(emu, climsgid="e", api_id="5678", user="other", password="secret")  # another account
    # Field boundaries are part of the key: sender "ab" + text "c" is not "a" + "bc".
    send(emu, climsgid="f", text="c", **{"from": "ab"})
    send(emu, climsgid="g", text="bc", **{"from": "a"})
    assert emu.recorder.duplicates() == {}
    stats = emu.statistics()
    assert (stats.messages, stats.duplicate_messages, stats.extra_messages) == (7, 0, 0)


@pytest.mark.parametrize("mode", MODES)
def test_every_way_of_sending_the_same_sms_again_counts(mode: RecorderMode) -> None:
    emu = make(mode)
    send(emu)  # no climsgid at all
    send(emu)
    send(emu, climsgid="x", to=f"{TO},{TO}")  # listed twice in one request
    send(emu, climsgid="y", deliv_time="60", callback="3")  # options do not make it new
    send(emu, climsgid="z", unicode="1", text="00480069")  # "Hi" in UCS-2: the same text
    send(emu, climsgid="w", text="Bye", to=f"{TO},27821234568")
    send(emu, climsgid="v", text="Bye", to="27821234568")
    assert emu.recorder.duplicates() == {key(): 6, key("Bye", "27821234568"): 2}
    stats = emu.statistics()
    assert (stats.messages, stats.duplicate_messages, stats.extra_messages) == (9, 2, 6)


@pytest.mark.parametrize("mode", MODES)
def test_counts_keep_up_with_later_commits_and_reset(mode: RecorderMode) -> None:
    emu = make(mode)
    send(emu, climsgid="a")
    assert emu.recorder.duplicates() == {}
    send(emu, climsgid="b")
    assert emu.recorder.duplicates() == {key(): 2}
    send(emu, climsgid="c")
    assert emu.recorder.duplicates() == {key(): 3}
    emu.recorder.reset()
    assert emu.recorder.duplicates() == {}
    send(emu, climsgid="d")
    assert emu.recorder.duplicates() == {}
    assert emu.statistics().duplicate_messages == 0


def test_a_message_list_cut_from_outside_is_counted_again() -> None:
    emu = make("messages")
    send(emu, climsgid="a")
    send(emu, climsgid="b")
    assert emu.recorder.duplicates() == {key(): 2}
    del emu.recorder.messages[1:]
    assert emu.recorder.duplicates() == {}


def test_the_old_climsgid_views_keep_their_meaning() -> None:
    emu = make("counters")
    send(emu, climsgid="m1", to=f"{TO},27821234568")
    send(emu, climsgid="m1")
    recorder = emu.recorder
    assert recorder.climsgid_repeats() == {"m1": 2}
    assert recorder.climsgid_recipient_repeats() == {("m1", TO): 2}
    assert recorder.duplicate_recipients() == {("m1", TO): 2}
    assert recorder.duplicates() == {key(): 2}


@pytest.mark.parametrize("mode", MODES)
def test_the_admin_api_reports_both_views(mode: RecorderMode) -> None:
    emu = make(mode, admin=True)
    send(emu, climsgid="r1", **{"from": "ShopCo"})
    send(emu, climsgid="r2", **{"from": "ShopCo"})
    send(emu, climsgid="r2", to="27821234568")
    reply = emu.app.handle("GET", "/_emulator/duplicates", b"", b"", "127.0.0.1")
    assert reply.status == 200
    body = json.loads(reply.body)
    assert body["recipients"] == [
        {"api_id": 1234, "to": TO, "from": "ShopCo", "text": "Hi", "count": 2}
    ]
    assert body["climsgids"] == ({} if mode == "totals" else {"r2": 2})
    reply = emu.app.handle("GET", "/_emulator/statistics", b"", b"", "127.0.0.1")
    stats = json.loads(reply.body)
    assert (stats["duplicate_messages"], stats["extra_messages"]) == (1, 1)

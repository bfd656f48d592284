"""Message and option validation: every bad value names its field and its rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from asms._codes import MessageStatus
from asms._exceptions import ValidationError
from asms._models import (
    Message,
    SendOptions,
    SendResult,
    StatusInfo,
    new_climsgid,
)


@pytest.mark.parametrize(
    ("kwargs", "field", "rule"),
    [
        ({"callback": 8}, "callback", "0 to 7"),
        ({"callback": -1}, "callback", "0 to 7"),
        ({"callback": "3"}, "callback", "integer"),
        ({"concat": 0}, "concat", "1 to 35"),
        ({"concat": 36}, "concat", "1 to 35"),
        ({"deliv_time": 0}, "deliv_time", "1 to 10080"),
        ({"deliv_time": 10081}, "deliv_time", "1 to 10080"),
        ({"validity": 1441}, "validity", "1 to 1440"),
        ({"queue": 4}, "queue", "1, 2 or 3"),
        ({"queue": True}, "queue", "integer"),
        ({"req_feat": 70000}, "req_feat", "bitmask"),
        ({"from_": "+27821234567"}, "from", "1-16 digits"),
        ({"from_": "ABCDEFGHIJKL"}, "from", "11 alphanumeric"),
        ({"from_": "12345678901234567"}, "from", "1-16 digits"),
        ({"mo": 2}, "mo", "boolean"),
        ({"escalate": "yes"}, "escalate", "boolean"),
        ({"max_credits": -1}, "max_credits", "negative"),
        ({"max_credits": "1"}, "max_credits", "number"),
        ({"msg_type": "sms_flash"}, "msg_type", "SMS_FLASH"),
        ({"udh": "0G"}, "udh", "hex"),
        ({"data": "ABC"}, "data", "hex"),
        ({"udh": "0605040B8423F0", "msg_type": "SMS_FLASH"}, "udh", "msg_type"),
        ({"deliv_time": 10, "scheduled_time": 2_000_000_000}, "deliv_time", "scheduled_time"),
        ({"scheduled_time": datetime(2030, 1, 1)}, "scheduled_time", "timezone-aware"),
        ({"scheduled_time": -5}, "scheduled_time", "unix time"),
    ],
)
def test_bad_options_name_field_and_rule(kwargs: dict[str, object], field: str, rule: str) -> None:
    with pytest.raises(ValidationError) as info:
        SendOptions(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field
    assert rule in str(info.value)


def test_good_options_render_wire_params() -> None:
    opts = SendOptions(
        from_="27820000000",
        mo=1,  # type: ignore[arg-type]
        callback=3,
        deliv_ack=True,
        concat=3,
        queue=1,
        max_credits=1.5,
        msg_type="SMS_FLASH",
        validity=60,
        unicode=True,
    )
    assert opts.mo is True
    assert opts.params() == {
        "from": "27820000000",
        "mo": "1",
        "callback": "3",
        "deliv_ack": "1",
        "concat": "3",
        "max_credits": "1.5",
        "queue": "1",
        "validity": "60",
        "msg_type": "SMS_FLASH",
    }


def test_options_are_hashable_grouping_keys() -> None:
    a = SendOptions(callback=3)
    b = SendOptions.from_kwargs({"callback": 3})
    assert a == b and hash(a) == hash(b)
    assert a.replace(callback=1) != a
    with pytest.raises(ValidationError, match="callback"):
        a.replace(callback=9)


def test_from_kwargs_accepts_from_keyword_and_rejects_unknown() -> None:
    assert SendOptions.from_kwargs({"from": "ACME"}).from_ == "ACME"
    with pytest.raises(ValidationError) as info:
        SendOptions.from_kwargs({"colour": "red"})
    assert info.value.field == "colour"


def test_scheduled_time_accepts_aware_datetime_and_checks_horizon() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    opts = SendOptions(scheduled_time=now + timedelta(days=1))  # type: ignore[arg-type]
    assert opts.scheduled_time == int((now + timedelta(days=1)).timestamp())
    opts.check_schedule(now.timestamp())
    far = SendOptions(scheduled_time=int((now + timedelta(days=8)).timestamp()))
    with pytest.raises(ValidationError, match="7 days"):
        far.check_schedule(now.timestamp())
    SendOptions().check_schedule()


def test_message_validation() -> None:
    m = Message.create("27821234567", "hi", callback=3, climsgid="abc123", ref={"row": 1})
    assert m.options.callback == 3 and m.climsgid == "abc123" and m.ref == {"row": 1}
    assert m.with_climsgid("x1").climsgid == "x1"
    with pytest.raises(ValidationError, match="text"):
        Message("27821234567", "")
    with pytest.raises(ValidationError, match="to"):
        Message("", "hi")
    with pytest.raises(ValidationError, match="climsgid"):
        Message("27821234567", "hi", climsgid="has space")
    with pytest.raises(ValidationError, match="climsgid"):
        Message("27821234567", "hi", climsgid="x" * 33)
    # binary messages carry data instead of text
    Message("27821234567", "", SendOptions(udh="0605040B8423F0", data="C0FFEE"))


def test_climsgid_generation_is_valid_and_unique() -> None:
    ids = {new_climsgid() for _ in range(1000)}
    assert len(ids) == 1000
    for value in ids:
        Message("27821234567", "hi", climsgid=value)


def test_results() -> None:
    ok = SendResult("27821234567", "f" * 32)
    bad = SendResult("27821234567", None, error_code=105, error_description="Invalid")
    assert ok.ok and ok.accepted and not bad.ok
    assert StatusInfo("a" * 32, MessageStatus.RECEIVED_BY_RECIPIENT).is_final
    assert not StatusInfo("a" * 32, MessageStatus.MESSAGE_QUEUED).is_final


def test_result_state_covers_every_outcome() -> None:
    from asms._models import NOT_SENT, OUTCOME_UNKNOWN, DeliveryState

    assert SendResult("1", "a" * 32).state is DeliveryState.ACCEPTED
    assert SendResult("1", None, error_code=105).state is DeliveryState.REJECTED
    unknown = SendResult("1", None, error_code=OUTCOME_UNKNOWN)
    assert unknown.state is DeliveryState.UNKNOWN and not unknown.ok
    assert SendResult("1", None, error_code=NOT_SENT).state is DeliveryState.NOT_SENT


def test_climsgids_made_ahead_are_distinct_and_not_shared_with_a_forked_child() -> None:
    import os

    ids = [new_climsgid() for _ in range(1000)]  # several blocks made ahead
    assert len(set(ids)) == 1000
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    if not hasattr(os, "fork"):
        return
    new_climsgid()  # leaves ids made ahead in the parent
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.write(write, new_climsgid().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert child != new_climsgid()

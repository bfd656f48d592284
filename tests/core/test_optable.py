"""The operation table: the single description of every command."""

from __future__ import annotations

import pytest

from asms._optable import (
    OPERATIONS,
    ReplyForm,
    operation_by_http_path,
    operation_by_soap_name,
)

ALL = (
    "auth ping sendmsg querymsg delmsg getbalance routeCoverage si_push ind_push token_pay "
    "startbatch senditem quicksend endbatch getmsgcharge"
).split()


def test_fifteen_operations() -> None:
    assert sorted(OPERATIONS) == sorted(ALL)


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/http/sendmsg", "sendmsg"),
        ("/http/sendmsg.php", "sendmsg"),
        ("/http_batch/startbatch", "startbatch"),
        ("/utils/routeCoverage.php", "routeCoverage"),
        ("/utils/routecoverage", "routeCoverage"),
        ("/mms/si_push", "si_push"),
        ("/mms/ind_push.php", "ind_push"),
    ],
)
def test_http_paths(path: str, name: str) -> None:
    op = operation_by_http_path(path)
    assert op is not None and op.name == name


def test_unknown_paths() -> None:
    assert operation_by_http_path("/http/nothing") is None
    assert operation_by_soap_name("nothing") is None


def test_soap_names() -> None:
    assert operation_by_soap_name("routecoverage") is OPERATIONS["routeCoverage"]
    assert OPERATIONS["routeCoverage"].dl == "routecoverage"
    assert OPERATIONS["routeCoverage"].rpc == "routeCoverage"


def test_spellings_resolve_to_one_param() -> None:
    send = OPERATIONS["sendmsg"]
    assert send.param("msg_callback") is send.param("callback")
    assert send.param("cliMsgId") is send.param("climsgid")
    assert send.param("nothing") is None
    assert OPERATIONS["querymsg"].param("apiMsgId") is OPERATIONS["querymsg"].param("apimsgid")


def test_wire_differences_follow_the_wsdls() -> None:
    send = OPERATIONS["sendmsg"]
    dl = [p.dl for p in send.dl_params()]
    assert dl[:2] == ["text", "to"] and "msg_callback" in dl
    assert "scheduled_time" not in dl and "binary" not in dl
    assert [p.rpc for p in send.rpc_params()][:3] == ["to", "from", "text"]
    assert "cliMsgId" in [p.rpc for p in send.rpc_params()]
    assert "scheduled_time" in [p.name for p in send.http_params()]
    assert [p.rpc for p in OPERATIONS["querymsg"].rpc_params()] == ["apimsgid", "climsgid"]
    assert [p.dl for p in OPERATIONS["getmsgcharge"].dl_params()] == ["apimsgid"]
    senditem = OPERATIONS["senditem"]
    assert len([p for p in senditem.dl_params() if p.name.startswith("field")]) == 10
    assert len([p for p in senditem.rpc_params() if p.name.startswith("field")]) == 4
    assert "data" not in [p.dl for p in OPERATIONS["startbatch"].dl_params()]
    assert "data" in [p.rpc for p in OPERATIONS["startbatch"].rpc_params()]
    assert [p.name for p in OPERATIONS["auth"].auth_params("dl")] == ["api_id", "user", "password"]
    assert [p.name for p in OPERATIONS["ping"].auth_params("rpc")] == ["session_id"]
    assert len(send.auth_params("dl")) == 4


def test_max_credits_types_differ_by_wire() -> None:
    p = OPERATIONS["sendmsg"].param("max_credits")
    assert p is not None
    assert p.xsd_type("dl") == "int" and p.xsd_type("rpc") == "float"
    assert OPERATIONS["sendmsg"].param("text").xsd_type("dl") == "string"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "value", "broken"),
    [
        ("callback", "8", "0 to 7"),
        ("callback", "x", "0 to 7"),
        ("climsgid", "a b", "[A-Za-z0-9]"),
        ("climsgid", "a" * 33, "[A-Za-z0-9]"),
        ("msg_type", "SMS_BOGUS", "SMS_TEXT"),
        ("udh", "ABC", "hex"),
        ("max_credits", "-1", "non-negative"),
        ("max_credits", "abc", "non-negative"),
    ],
)
def test_param_rules(name: str, value: str, broken: str) -> None:
    p = OPERATIONS["sendmsg"].param(name)
    assert p is not None
    rule = p.check(value)
    assert rule is not None and broken in rule


def test_param_rules_accept_good_values() -> None:
    send = OPERATIONS["sendmsg"]
    for name, value in [
        ("callback", "7"),
        ("climsgid", "Abc123"),
        ("udh", "0605040B8423F0"),
        ("max_credits", "1.5"),
        ("msg_type", "SMS_FLASH"),
        ("text", "hi"),
    ]:
        p = send.param(name)
        assert p is not None and p.check(value) is None, name


def test_default_rules_without_words() -> None:
    from asms._optable import Param

    assert Param("n", "int", minimum=1).check("0") == "must be at least 1"
    assert Param("n", "int", maximum=1).check("2") == "must be at most 1"
    assert Param("n", "float").check("x") == "must be a number"
    assert Param("n", "int").check("x") == "must be an integer"
    assert Param("s", max_length=1).check("ab") == "must be at most 1 characters"
    assert Param("s", pattern="a").check("b") == "must match a"
    assert Param("s", choices=("a",)).check("b") == "must be one of a"


def test_reply_forms() -> None:
    assert OPERATIONS["auth"].reply is ReplyForm.SESSION
    assert OPERATIONS["getmsgcharge"].reply is ReplyForm.CHARGE
    assert OPERATIONS["sendmsg"].multi and not OPERATIONS["querymsg"].multi

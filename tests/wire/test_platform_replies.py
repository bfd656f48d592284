"""The Platform wires' reply parsers: every response variant seen in the wild (docs/protocol.md,
"The Platform wires"), read to the right outcome per recipient or the right exception."""

from __future__ import annotations

import json
from typing import Any

import pytest

from asms._codes import ErrorCode, MessageStatus
from asms._config import PLATFORM_THROTTLE_PAUSE
from asms._exceptions import (
    AuthenticationError,
    CreditError,
    DestinationError,
    GatewayError,
    InternalGatewayError,
    MessageLookupError,
    ParameterError,
    ReplyParseError,
    ThrottledError,
)
from asms._fast import IdLines
from asms._models import OUTCOME_UNKNOWN
from asms._platform_codes import OneApiErrorCode, OneApiStatus, PlatformErrorCode
from asms._replies import CreditReply, ErrorReply, IdReply, StatusReply
from asms._sending import match_replies
from asms._wire.platform_replies import (
    PARSERS,
    parse_balance,
    parse_one_api_send,
    parse_one_api_status,
    parse_platform_send,
    parse_platform_status,
)

ID1 = "af750c2dc53e4e4c88c39b3b48756d3a"
ID2 = "d737eadad6f9476ca91924a8cf31a661"
A, B, C = "27820000001", "27820000002", "27820000003"


def body(document: Any) -> bytes:
    return json.dumps(document).encode()


def outcomes(reply: Any, recipients: list[str]) -> list[tuple[str, Any]]:
    """What each recipient became, as the client matches replies: by number."""
    results = match_replies(recipients, reply, "c" * 32, 1)
    out: list[tuple[str, Any]] = []
    for r in results:
        if r.ok:
            out.append(("accepted", r.apimsgid))
        elif r.error_code == OUTCOME_UNKNOWN:
            out.append(("unknown", None))
        else:
            out.append(("rejected", r.error_code))
    return out


def accepted_2019(number: str, apimsgid: str) -> dict[str, Any]:
    return {
        "apiMessageId": apimsgid,
        "accepted": True,
        "to": number,
        "errorCode": None,
        "error": None,
        "errorDescription": None,
    }


def rejected_2019(number: str, code: int = 105) -> dict[str, Any]:
    return {
        "apiMessageId": None,
        "accepted": False,
        "to": number,
        "errorCode": code,
        "error": "Invalid destination address.",
        "errorDescription": "The destination address is not a valid number.",
    }


# -- Platform SMS: success ---------------------------------------------------------------------


def test_platform_2019_success_is_every_recipient_accepted() -> None:
    document = {
        "messages": [accepted_2019(A, ID1), accepted_2019(B, ID2)],
        "errorCode": None,
        "error": None,
        "errorDescription": None,
    }
    reply = parse_platform_send(body(document))
    assert reply == IdLines([ID1, ID2], [A, B])
    assert outcomes(reply, [A, B]) == [("accepted", ID1), ("accepted", ID2)]


def test_platform_2020_success_without_top_level_error_keys() -> None:
    reply = parse_platform_send(body({"messages": [accepted_2019(A, ID1)]}))
    assert outcomes(reply, [A]) == [("accepted", ID1)]


def test_platform_2017_success_with_text_only_errors() -> None:
    document = {
        "messages": [{"apiMessageId": ID1, "accepted": True, "to": A, "error": None}],
        "error": None,
    }
    assert outcomes(parse_platform_send(body(document)), [A]) == [("accepted", ID1)]


def test_shuffled_entries_are_matched_by_number() -> None:
    document = {"messages": [accepted_2019(C, "c" * 32), accepted_2019(A, ID1), rejected_2019(B)]}
    reply = parse_platform_send(body(document))
    assert outcomes(reply, [A, B, C]) == [
        ("accepted", ID1),
        ("rejected", ErrorCode.INVALID_DESTINATION_ADDRESS),
        ("accepted", "c" * 32),
    ]


def test_a_number_with_a_plus_is_the_same_recipient() -> None:
    reply = parse_platform_send(body({"messages": [accepted_2019("+" + A, ID1)]}))
    assert outcomes(reply, [A]) == [("accepted", ID1)]


def test_a_recipient_missing_from_the_answer_is_unknown() -> None:
    reply = parse_platform_send(body({"messages": [accepted_2019(A, ID1)]}))
    assert outcomes(reply, [A, B]) == [("accepted", ID1), ("unknown", None)]


def test_a_single_entry_without_a_number_answers_a_single_recipient() -> None:
    reply = parse_platform_send(body({"messages": [{"apiMessageId": ID1, "accepted": True}]}))
    assert reply == [IdReply(ID1, None)]
    assert outcomes(reply, [A]) == [("accepted", ID1)]


# -- Platform SMS: per-message rejections ----------------------------------------------------


def test_platform_2019_rejection_carries_code_and_texts() -> None:
    document = {"messages": [accepted_2019(A, ID1), rejected_2019(B)], "error": None}
    reply = parse_platform_send(body(document))
    assert isinstance(reply, list)
    rejection = reply[1]
    assert isinstance(rejection, ErrorReply)
    assert rejection.code is ErrorCode.INVALID_DESTINATION_ADDRESS
    assert rejection.to == B
    assert "Invalid destination address." in rejection.description
    assert "not a valid number" in rejection.description
    [accepted, rejected] = match_replies([A, B], reply, "c" * 32, 1)
    assert accepted.ok and accepted.apimsgid == ID1
    assert rejected.error_code is ErrorCode.INVALID_DESTINATION_ADDRESS


def test_platform_2017_rejection_is_text_only() -> None:
    document = {
        "messages": [
            {
                "apiMessageId": None,
                "accepted": False,
                "to": "27111111111",
                "error": "Invalid destination address.",
            }
        ],
        "error": None,
    }
    [rejection] = parse_platform_send(body(document))  # type: ignore[misc]
    assert rejection == ErrorReply(
        ErrorCode.INVALID_DESTINATION_ADDRESS, "Invalid destination address.", "27111111111"
    )


def test_an_unknown_rejection_text_is_code_0_and_still_rejected() -> None:
    document = {"messages": [{"accepted": False, "to": A, "error": "Something new."}]}
    [rejection] = parse_platform_send(body(document))  # type: ignore[misc]
    assert rejection == ErrorReply(0, "Something new.", A)
    assert outcomes([rejection], [A]) == [("rejected", 0)]


def test_an_undocumented_platform_code_stays_a_plain_int() -> None:
    [rejection] = parse_platform_send(body({"messages": [rejected_2019(A, 777)]}))  # type: ignore[misc]
    assert isinstance(rejection, ErrorReply)
    assert rejection.code == 777
    assert type(rejection.code) is int


def test_a_code_given_as_digits_is_read() -> None:
    entry = rejected_2019(A)
    entry["errorCode"] = "105"
    [rejection] = parse_platform_send(body({"messages": [entry]}))  # type: ignore[misc]
    assert isinstance(rejection, ErrorReply)
    assert rejection.code is ErrorCode.INVALID_DESTINATION_ADDRESS


# -- Platform SMS: request-level failures --------------------------------------------------


@pytest.mark.parametrize(
    ("document", "cls", "code"),
    [
        (
            {
                "messages": [],
                "errorCode": 108,
                "error": "Invalid or missing integration API Key.",
                "errorDescription": "The integration API key is either incorrect or has not "
                "been included in the API call.",
            },
            AuthenticationError,
            ErrorCode.INVALID_OR_MISSING_API_ID,
        ),
        (
            {
                "messages": [],
                "errorCode": 607,
                "error": "Invalid FROM number.",
                "errorDescription": "User specified FROM number, but integration isn't two-way.",
            },
            ParameterError,
            PlatformErrorCode.FROM_NUMBER_NOT_TWO_WAY,
        ),
        (
            {
                "messages": [],
                "errorCode": 607,
                "error": "Invalid FROM number.",
                "errorDescription": "",
            },
            ParameterError,
            PlatformErrorCode.FROM_NUMBER_NOT_TWO_WAY,
        ),
        (
            {
                "messages": [],
                "errorCode": 106,
                "error": "Invalid FROM number.",
                "errorDescription": "You should specify correct FROM number.",
            },
            ParameterError,
            ErrorCode.INVALID_SOURCE_ADDRESS,
        ),
        (
            {"messages": [], "errorCode": 301, "error": "No Credit Left."},
            CreditError,
            ErrorCode.NO_CREDIT_LEFT,
        ),
        (
            {"messages": [], "errorCode": 901, "error": "Internal error."},
            InternalGatewayError,
            ErrorCode.INTERNAL_ERROR,
        ),
        (
            {
                "messages": [],
                "error": "Two-Way integration error - From number is not related to integration",
            },
            ParameterError,
            PlatformErrorCode.FROM_NUMBER_NOT_TWO_WAY,
        ),
        ({"messages": [], "errorCode": 999, "error": "New."}, GatewayError, 999),
    ],
)
def test_platform_request_level_failure_raises_its_category(
    document: dict[str, Any], cls: type[GatewayError], code: int
) -> None:
    # The captured ones came with HTTP 200: only the body says the request was refused.
    with pytest.raises(GatewayError) as info:
        parse_platform_send(body(document))
    assert type(info.value) is cls
    assert info.value.code == code
    assert type(info.value.code) is type(code)


def test_a_request_level_error_without_a_known_code_is_of_unknown_outcome() -> None:
    # No code and a text asms does not know: it may be an internal error after the commit.
    for document in (
        {"messages": [], "error": "Something else."},
        {"messages": [], "errorDescription": "Internal trouble"},
    ):
        with pytest.raises(ReplyParseError, match="without a code"):
            parse_platform_send(body(document))
    with pytest.raises(ReplyParseError):
        parse_one_api_send(body({"error": {"code": None, "description": "Odd"}}))


def test_a_2017_request_level_failure_with_messages_absent_raises_too() -> None:
    with pytest.raises(AuthenticationError):
        parse_platform_send(body({"error": "Invalid or missing integration API Key."}))


# -- One API -----------------------------------------------------------------------------------


def one_api_accepted(number: str, apimsgid: str) -> dict[str, Any]:
    return {"apiMessageId": apimsgid, "accepted": True, "to": number, "error": None}


def one_api_rejected(number: str, code: int, text: str) -> dict[str, Any]:
    return {"error": {"code": code, "description": text}, "accepted": False, "to": number}


def test_one_api_202_all_accepted() -> None:
    document = {"messages": [one_api_accepted(A, ID1), one_api_accepted(B, ID2)], "error": None}
    reply = parse_one_api_send(body(document))
    assert outcomes(reply, [B, A]) == [("accepted", ID2), ("accepted", ID1)]


def test_one_api_207_mixed_maps_25_to_the_legacy_105() -> None:
    document = {
        "messages": [
            one_api_rejected(B, 25, "Invalid recipient address"),
            one_api_accepted(A, ID1),
            one_api_rejected(C, 23, "Invalid or missing parameter: to ."),
        ],
        "error": None,
    }
    reply = parse_one_api_send(body(document))
    assert isinstance(reply, list)
    by_to = {r.to: r for r in reply}
    rejected = by_to[B]
    assert isinstance(rejected, ErrorReply)
    assert rejected.code is ErrorCode.INVALID_DESTINATION_ADDRESS
    assert "Invalid recipient address" in rejected.description
    assert "One API error 25" in rejected.description
    assert by_to[C].code is ErrorCode.INVALID_OR_MISSING_PARAMETERS  # type: ignore[union-attr]
    results = match_replies([A, B, C], reply, "c" * 32, 1)
    assert [r.state.value for r in results] == ["accepted", "rejected", "rejected"]
    assert isinstance(rejected.exception(), DestinationError)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (25, ErrorCode.INVALID_DESTINATION_ADDRESS),
        (26, ErrorCode.DESTINATION_MOBILE_OPTED_OUT),
        (20, ErrorCode.NO_CREDIT_LEFT),
        (100, ErrorCode.MAXIMUM_MESSAGE_PARTS_EXCEEDED),
        (28, OneApiErrorCode.RECIPIENT_NOT_ON_SANDBOX),
        (45, OneApiErrorCode.FROM_NUMBER_NOT_RELATED),
        (4242, 4242),
    ],
)
def test_one_api_message_codes_map_to_legacy_else_own_enum_else_int(
    code: int, expected: Any
) -> None:
    document = {"messages": [one_api_rejected(A, code, "text")], "error": None}
    [rejection] = parse_one_api_send(body(document))  # type: ignore[misc]
    assert isinstance(rejection, ErrorReply)
    assert rejection.code == expected
    assert type(rejection.code) is type(expected)


def test_one_api_400_every_message_rejected_top_level_error_null() -> None:
    document = {
        "messages": [
            one_api_rejected(A, 25, "Invalid recipient address"),
            one_api_rejected(B, 26, "Recipient opted out"),
        ],
        "error": None,
    }
    reply = parse_one_api_send(body(document))
    assert outcomes(reply, [A, B]) == [
        ("rejected", ErrorCode.INVALID_DESTINATION_ADDRESS),
        ("rejected", ErrorCode.DESTINATION_MOBILE_OPTED_OUT),
    ]


@pytest.mark.parametrize(
    ("code", "cls", "expected"),
    [
        (1, AuthenticationError, ErrorCode.INVALID_OR_MISSING_API_ID),
        (2, AuthenticationError, ErrorCode.ACCOUNT_FROZEN),
        (3, AuthenticationError, OneApiErrorCode.INTEGRATION_NOT_ACTIVE),
        (20, CreditError, ErrorCode.NO_CREDIT_LEFT),
        (21, ParameterError, ErrorCode.DATA_MALFORMED),
        (22, ParameterError, OneApiErrorCode.MAX_MESSAGES_PER_REQUEST),
        (41, ParameterError, OneApiErrorCode.RESOURCE_DOES_NOT_EXIST),
        (18, InternalGatewayError, ErrorCode.INTERNAL_ERROR),
        (19, InternalGatewayError, OneApiErrorCode.INTERNAL_ERROR_RETRY),
        (4242, GatewayError, 4242),
    ],
)
def test_one_api_global_error_object_raises_its_category(
    code: int, cls: type[GatewayError], expected: Any
) -> None:
    # 401 / 402 / 404 / 500 / 503 bodies: a global error object and no messages.
    with pytest.raises(GatewayError) as info:
        parse_one_api_send(body({"error": {"code": code, "description": "words"}}))
    assert type(info.value) is cls
    assert info.value.code == expected
    assert type(info.value.code) is type(expected)


def test_one_api_43_is_a_throttle_with_retry_after() -> None:
    document = {"error": {"code": 43, "description": "Rate limit exceeded"}}
    with pytest.raises(ThrottledError) as info:
        parse_one_api_send(body(document))
    assert info.value.code is OneApiErrorCode.RATE_LIMIT
    assert info.value.retry_after == PLATFORM_THROTTLE_PAUSE
    assert info.value.pause(0.0) == PLATFORM_THROTTLE_PAUSE
    assert info.value.retryable


def test_one_api_401_message_names_the_code() -> None:
    document = {"error": {"code": 1, "description": "Invalid or missing integration API Key"}}
    with pytest.raises(AuthenticationError, match="Invalid or missing integration API Key"):
        parse_one_api_send(body(document))


# -- contradictions and junk ------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        {"messages": [{"accepted": True, "to": A}]},  # accepted without an id
        {"messages": [{"apiMessageId": ID1, "accepted": False, "to": A}]},  # id, not accepted
        {"messages": [{"apiMessageId": ID1, "accepted": True, "to": A, "error": "bad"}]},
        {"messages": [{"apiMessageId": ID1, "to": A, "errorCode": 105}]},  # id and a code
        {"messages": [{"accepted": False, "to": A}]},  # rejected without a reason
        {"messages": [{"to": A}]},  # neither
        {"messages": [{"accepted": True, "error": "x", "to": A}]},
        {"messages": [{"apiMessageId": ID1}, {"apiMessageId": ID2}]},  # no numbers, two entries
        {"messages": [accepted_2019(A, ID1), {"apiMessageId": ID2}]},
        {"messages": []},  # no entries and no error
        {"messages": [], "error": None, "errorCode": None},
        {},
        {"messages": "none"},
        {"messages": [1]},
        {"messages": [None]},
        {"messages": [{"apiMessageId": 5, "accepted": True, "to": A}]},
        {"messages": [{"apiMessageId": ID1, "accepted": "yes", "to": A}]},
        {"messages": [{"apiMessageId": ID1, "accepted": True, "to": 27820000001}]},
        {"messages": [{"apiMessageId": ID1, "accepted": True, "to": " "}]},
        {"messages": [rejected_2019(A) | {"errorCode": True}]},
        {"messages": [rejected_2019(A) | {"errorCode": "x1"}]},
        {"messages": [rejected_2019(A) | {"error": 5}]},
        [],
        "text",
    ],
)
@pytest.mark.parametrize("parse", [parse_platform_send, parse_one_api_send])
def test_contradictions_and_junk_are_reply_parse_errors(document: Any, parse: Any) -> None:
    with pytest.raises(ReplyParseError):
        parse(body(document))


@pytest.mark.parametrize("raw", [b"", b"ID: 1234", b"{", b"\xff\xfe", b"<html>502</html>"])
def test_non_json_is_a_reply_parse_error(raw: bytes) -> None:
    with pytest.raises(ReplyParseError):
        parse_platform_send(raw)
    with pytest.raises(ReplyParseError):
        parse_one_api_send(raw)


# -- balance ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "credits"),
    [
        ({"balance": 123.45, "currency": "ZAR"}, 123.45),
        ({"currency": "ZAR", "balance": 7}, 7.0),
        ({"balance": "12.50", "currency": "USD"}, 12.5),
    ],
)
def test_balance_on_both_wires(document: dict[str, Any], credits: float) -> None:
    expected = CreditReply(credits, document["currency"])
    assert parse_balance(body(document)) == expected
    assert PARSERS["one-api"]["getbalance"](body(document)) == expected


@pytest.mark.parametrize(
    "document",
    [
        {"currency": "ZAR"},
        {"balance": None},
        {"balance": True},
        {"balance": "lots"},
        {"balance": []},
    ],
)
def test_a_balance_answer_without_a_number_is_a_parse_error(document: dict[str, Any]) -> None:
    with pytest.raises(ReplyParseError):
        parse_balance(body(document))


def test_a_balance_refusal_raises_its_category() -> None:
    with pytest.raises(AuthenticationError):
        parse_balance(body({"errorCode": 108, "error": "Invalid or missing integration API Key."}))
    with pytest.raises(AuthenticationError):
        PARSERS["one-api"]["getbalance"](body({"error": {"code": 1, "description": "key"}}))


# -- status ----------------------------------------------------------------------------------


def test_platform_status_by_code() -> None:
    document = {
        "messageId": ID1,
        "status": "RECEIVED_BY_RECIPIENT",
        "statusCode": 4,
        "statusDescription": "Received by recipient",
        "timestamp": 1764930000000,
    }
    assert parse_platform_status(body(document)) == StatusReply(
        ID1, MessageStatus.RECEIVED_BY_RECIPIENT
    )


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("RECEIVED_BY_RECIPIENT", MessageStatus.RECEIVED_BY_RECIPIENT),
        ("delivered_to_gateway", MessageStatus.DELIVERED_TO_GATEWAY),
        ("QUEUED", MessageStatus.MESSAGE_QUEUED),
        ("EXPIRED", MessageStatus.MESSAGE_EXPIRED),
    ],
)
def test_platform_status_by_name_without_a_code(name: str, status: MessageStatus) -> None:
    assert parse_platform_status(body({"messageId": ID1, "status": name})) == StatusReply(
        ID1, status
    )


def test_platform_status_unknown_id_is_a_lookup_error() -> None:
    document = {"errorCode": 103, "error": "Unknown API message ID.", "errorDescription": "x"}
    with pytest.raises(MessageLookupError) as info:
        parse_platform_status(body(document))
    assert info.value.code is ErrorCode.UNKNOWN_API_MESSAGE_ID


@pytest.mark.parametrize(
    "document",
    [{"messageId": ID1}, {"messageId": ID1, "status": "NO_SUCH"}, {"messageId": ID1, "status": 4}],
)
def test_platform_status_without_a_status_is_a_parse_error(document: dict[str, Any]) -> None:
    with pytest.raises(ReplyParseError):
        parse_platform_status(body(document))


@pytest.mark.parametrize(
    ("document", "status"),
    [
        (
            {"sms": {"status": "DEVICE_ACK", "statusCode": 5, "timestamp": 1}},
            MessageStatus.RECEIVED_BY_RECIPIENT,
        ),
        ({"sms": {"status": "SENT_TO_SUPPLIER"}}, MessageStatus.DELIVERED_TO_GATEWAY),
        ({"sms": {"statusCode": 24}}, OneApiStatus.EMULATED),
        ({"sms": {"statusCode": 77}}, 77),
        ({"whatsapp": {"status": "READ", "statusCode": 6}}, MessageStatus.RECEIVED_BY_RECIPIENT),
    ],
)
def test_one_api_status(document: dict[str, Any], status: Any) -> None:
    reply = parse_one_api_status(body(document))
    assert reply == StatusReply("", status)
    assert type(reply.status) is type(status)


def test_one_api_status_unknown_id_is_a_lookup_error() -> None:
    with pytest.raises(MessageLookupError):
        parse_one_api_status(
            body({"error": {"code": 41, "description": "Resource does not exist"}})
        )


@pytest.mark.parametrize("document", [{}, {"sms": {}}, {"a": {}, "b": {}}, {"sms": {"status": 5}}])
def test_one_api_status_without_a_status_is_a_parse_error(document: dict[str, Any]) -> None:
    with pytest.raises(ReplyParseError):
        parse_one_api_status(body(document))


@pytest.mark.parametrize("code", [-1, -2, -105])
def test_a_code_below_0_is_a_parse_error_not_an_asms_sentinel(code: int) -> None:
    # -1 and -2 are asms's own OUTCOME_UNKNOWN and NOT_SENT: a rejection read with either
    # would become "unknown" or "never sent" (which a bulk rerun may send again).
    entry = rejected_2019(A) | {"errorCode": code}
    with pytest.raises(ReplyParseError):
        parse_platform_send(body({"messages": [entry]}))
    with pytest.raises(ReplyParseError):
        parse_platform_send(body({"messages": [], "errorCode": code, "error": "x"}))
    one_api = {"messages": [{"error": {"code": code, "description": "x"}, "accepted": False}]}
    with pytest.raises(ReplyParseError):
        parse_one_api_send(body(one_api))

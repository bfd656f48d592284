"""Gateway code tables: every error and status code round-trips with its description."""

from __future__ import annotations

import pytest

from asms._codes import (
    CALLBACK_TRIGGERS,
    CALLBACK_TRIGGERS_V238,
    ErrorCategory,
    ErrorCode,
    Feature,
    MessageStatus,
)

A = ErrorCategory.AUTHENTICATION
S = ErrorCategory.SESSION
V = ErrorCategory.VALIDATION
D = ErrorCategory.DESTINATION
L = ErrorCategory.MESSAGE_LOOKUP

# code, wire, member name, description (docs/protocol.md "Status and error codes"), category
ERROR_TABLE = [
    (1, "001", "AUTHENTICATION_FAILED", "Authentication failed", A),
    (2, "002", "UNKNOWN_USERNAME_OR_PASSWORD", "Unknown username or password", A),
    (3, "003", "SESSION_ID_EXPIRED", "Session ID expired", S),
    (4, "004", "ACCOUNT_FROZEN", "Account frozen", A),
    (5, "005", "MISSING_SESSION_ID", "Missing session ID", S),
    (7, "007", "IP_LOCKDOWN_VIOLATION", "IP Lockdown violation", A),
    (100, "100", "DATA_MALFORMED", "Data malformed", V),
    (101, "101", "INVALID_OR_MISSING_PARAMETERS", "Invalid or missing parameters", V),
    (102, "102", "INVALID_USER_DATA_HEADER", "Invalid user data header", V),
    (103, "103", "UNKNOWN_API_MESSAGE_ID", "Unknown API message ID", L),
    (104, "104", "UNKNOWN_CLIENT_MESSAGE_ID", "Unknown client message ID", L),
    (105, "105", "INVALID_DESTINATION_ADDRESS", "Invalid destination address", D),
    (106, "106", "INVALID_SOURCE_ADDRESS", "Invalid source address", V),
    (107, "107", "EMPTY_MESSAGE", "Empty message", V),
    (108, "108", "INVALID_OR_MISSING_API_ID", "Invalid or missing API ID", A),
    (109, "109", "MISSING_MESSAGE_ID", "Missing message ID", V),
    (110, "110", "ERROR_WITH_EMAIL_MESSAGE", "Error with email message", V),
    (111, "111", "INVALID_PROTOCOL", "Invalid protocol", V),
    (112, "112", "INVALID_MESSAGE_TYPE", "Invalid message type", V),
    (113, "113", "MAXIMUM_MESSAGE_PARTS_EXCEEDED", "Maximum message parts exceeded", V),
    (114, "114", "CANNOT_ROUTE_MESSAGE", "Cannot route message", D),
    (115, "115", "MESSAGE_EXPIRED", "Message expired", D),
    (116, "116", "INVALID_UNICODE_DATA", "Invalid Unicode data", V),
    (120, "120", "INVALID_DELIVERY_TIME", "Invalid delivery time", V),
    (121, "121", "DESTINATION_MOBILE_NUMBER_BLOCKED", "Destination mobile number blocked", D),
    (122, "122", "DESTINATION_MOBILE_OPTED_OUT", "Destination mobile opted out", D),
    (123, "123", "INVALID_SENDER_ID", "Invalid Sender ID", V),
    (128, "128", "NUMBER_DELISTED", "Number delisted", D),
    (
        130,
        "130",
        "MAXIMUM_MT_LIMIT_EXCEEDED_UNTIL",
        "Maximum MT limit exceeded until",
        ErrorCategory.THROTTLED,
    ),
    (201, "201", "INVALID_BATCH_ID", "Invalid batch ID", ErrorCategory.BATCH),
    (202, "202", "NO_BATCH_TEMPLATE", "No batch template", ErrorCategory.BATCH),
    (301, "301", "NO_CREDIT_LEFT", "No credit left", ErrorCategory.CREDIT),
    (302, "302", "MAX_ALLOWED_CREDIT", "Max allowed credit", ErrorCategory.CREDIT),
    (901, "901", "INTERNAL_ERROR", "Internal error", ErrorCategory.INTERNAL),
]

# code, wire, member name, description (docs/protocol.md "Status and error codes")
STATUS_TABLE = [
    (1, "001", "MESSAGE_UNKNOWN", "Message unknown"),
    (2, "002", "MESSAGE_QUEUED", "Message queued"),
    (3, "003", "DELIVERED_TO_GATEWAY", "Delivered to gateway"),
    (4, "004", "RECEIVED_BY_RECIPIENT", "Received by recipient"),
    (5, "005", "ERROR_WITH_MESSAGE", "Error with message"),
    (6, "006", "USER_CANCELLED", "User cancelled message delivery"),
    (7, "007", "ERROR_DELIVERING_MESSAGE", "Error delivering message"),
    (8, "008", "RECEIVED_BY_GATEWAY", "OK"),
    (9, "009", "ROUTING_ERROR", "Routing error"),
    (10, "010", "MESSAGE_EXPIRED", "Message expired"),
    (11, "011", "QUEUED_FOR_LATER_DELIVERY", "Message queued for later delivery"),
    (12, "012", "OUT_OF_CREDIT", "Out of credit"),
    (14, "014", "MAXIMUM_MT_LIMIT_EXCEEDED", "Maximum MT limit exceeded"),
]


@pytest.mark.parametrize(("value", "wire", "name", "description", "category"), ERROR_TABLE)
def test_error_code_round_trip(
    value: int, wire: str, name: str, description: str, category: ErrorCategory
) -> None:
    code = ErrorCode(value)
    assert code.name == name
    assert code.description == description
    assert code.category is category
    assert code.wire == wire == f"{code:03d}"
    assert ErrorCode.from_wire(wire) is code
    assert ErrorCode.from_wire(str(value)) is code
    assert ErrorCode[name] is code
    assert ErrorCode.coerce(wire) is code
    assert ErrorCode.coerce(value) is code


def test_error_table_is_complete() -> None:
    assert {code.value for code in ErrorCode} == {row[0] for row in ERROR_TABLE}
    assert len(ErrorCode) == 34


@pytest.mark.parametrize(("value", "wire", "name", "description"), STATUS_TABLE)
def test_message_status_round_trip(value: int, wire: str, name: str, description: str) -> None:
    status = MessageStatus(value)
    assert status.name == name
    assert status.description == description
    assert status.wire == wire == f"{status:03d}"
    assert MessageStatus.from_wire(wire) is status
    assert MessageStatus[name] is status
    assert MessageStatus.coerce(wire) is status
    assert MessageStatus.coerce(value) is status


def test_status_table_is_complete() -> None:
    assert {status.value for status in MessageStatus} == {row[0] for row in STATUS_TABLE}


def test_error_and_status_numbers_overlap_but_mean_different_things() -> None:
    assert ErrorCode(1).description == "Authentication failed"
    assert MessageStatus(1).description == "Message unknown"
    assert ErrorCode(1).name != MessageStatus(1).name


def test_retryable_codes() -> None:
    retryable = {code.value for code in ErrorCode if code.retryable}
    assert retryable == {3, 5, 130, 901}


def test_every_category_has_codes() -> None:
    assert {code.category for code in ErrorCode} == set(ErrorCategory)


STATUS_FLAGS = {
    # value: (final, intermediate, error)
    1: (False, False, False),
    2: (False, True, False),
    3: (False, True, False),
    4: (True, False, False),
    5: (True, False, True),
    6: (True, False, False),
    7: (True, False, True),
    8: (False, True, False),
    9: (True, False, True),
    10: (True, False, True),
    11: (False, True, False),
    12: (True, False, True),
    14: (True, False, True),
}


@pytest.mark.parametrize("status", list(MessageStatus))
def test_status_flags(status: MessageStatus) -> None:
    final, intermediate, error = STATUS_FLAGS[status.value]
    assert status.is_final is final
    assert status.is_intermediate is intermediate
    assert status.is_error is error
    assert not (status.is_error and not status.is_final)  # every error status is final


@pytest.mark.parametrize(
    "bad", ["", "abc", "-1", "1.0", "٣", "²", "999", "000", "0x1", "1 2", "1" * 5000]
)
def test_from_wire_rejects(bad: str) -> None:
    with pytest.raises(ValueError):
        ErrorCode.from_wire(bad)
    with pytest.raises(ValueError):
        MessageStatus.from_wire(bad)


def test_from_wire_allows_surrounding_whitespace() -> None:
    assert ErrorCode.from_wire(" 001 ") is ErrorCode.AUTHENTICATION_FAILED


def test_coerce_keeps_unknown_codes_as_ints() -> None:
    assert ErrorCode.coerce(999) == 999
    assert type(ErrorCode.coerce("999")) is int
    assert type(MessageStatus.coerce("013")) is int
    assert MessageStatus.coerce("013") == 13
    with pytest.raises(ValueError):
        ErrorCode.coerce("ERR")
    with pytest.raises(ValueError):
        MessageStatus.coerce("")


def test_callback_triggers_default_profile() -> None:
    def codes(value: int) -> set[int]:
        return {status.value for status in CALLBACK_TRIGGERS[value]}

    # the later documentation's table of callback values (docs/protocol.md "Callbacks")
    assert set(CALLBACK_TRIGGERS) == set(range(8))
    assert codes(0) == set()
    assert codes(1) == {3}
    assert codes(2) == {4, 5, 7, 9, 10, 12}
    assert codes(3) == {3, 4, 5, 7, 9, 10, 12}
    assert codes(4) == {5, 7, 9, 10, 12}
    assert codes(5) == {3, 5, 7, 9, 10, 12}
    assert codes(6) == {4, 5, 7, 9, 10, 12}
    assert codes(7) == {3, 4, 5, 7, 9, 10, 12}


def test_callback_triggers_v238() -> None:
    def codes(value: int) -> set[int]:
        return {status.value for status in CALLBACK_TRIGGERS_V238[value]}

    # the 2009 table (docs/protocol.md "Callbacks"): 0 none, 1 intermediate, 2 final,
    # 3 all but 001
    assert set(CALLBACK_TRIGGERS_V238) == set(range(4))
    assert codes(0) == set()
    assert codes(1) == {2, 3, 11}
    assert codes(2) == {4, 5, 6, 7, 8, 10, 12}
    assert codes(3) == set(range(2, 13))


def test_callback_tables_are_read_only() -> None:
    with pytest.raises(TypeError):
        CALLBACK_TRIGGERS[8] = frozenset()  # type: ignore[index]
    with pytest.raises(TypeError):
        CALLBACK_TRIGGERS_V238[0] = frozenset()  # type: ignore[index]


def test_feature_bits() -> None:
    assert [int(f) for f in Feature] == [1, 2, 4, 8, 16, 32, 512, 8192, 16384]
    # examples from the v2.3.8 spec
    assert Feature.NUMER | Feature.FLASH == 544
    assert Feature.ALPHA | Feature.NUMER | Feature.DELIVACK == 8240
    assert Feature(544) == Feature.NUMER | Feature.FLASH


def test_category_values_are_strings() -> None:
    assert ErrorCategory.THROTTLED.value == "throttled"
    assert str(ErrorCategory.MESSAGE_LOOKUP) == "message_lookup"

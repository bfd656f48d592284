"""Every fast function of the pure core against its plain twin (the rule of ``asms._fast``).

A fast function may decline (answer ``None``) and leave the input to its twin; it may never
answer differently. Each test here feeds both many inputs, clean ones (where the fast one
must answer) and broken ones (where it must decline or agree).
"""

from __future__ import annotations

import pickle
import string
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import asms
from asms import DeliveryState, SendResult, SendResults
from asms._codes import ErrorCode
from asms._encoding import (
    _GSM7_EXTENSION_STR,
    GSM7_BASIC,
    GSM7_CONCAT_SEPTETS,
    GSM7_EXTENSION,
    GSM7_SINGLE_SEPTETS,
    UCS2_SINGLE_UNITS,
    PartCount,
    _extension_count,
    count_parts,
    fits_latin1_gsm,
)
from asms._exceptions import InvalidNumberError, ReplyParseError
from asms._fast import (
    IdLines,
    OneId,
    StridedLines,
    accepted_results,
    build_many,
    id_lines,
    id_to_columns,
    make_send_result,
    one_id,
)
from asms._models import Message, StatusInfo
from asms._numbers import (
    Numbers,
    _normalize,
    _normalize_plain,
    clean_numbers,
    normalize_list,
    normalize_msisdn,
)
from asms._replies import IdReply, Reply, expect_send, parse_line, parse_lines
from asms._sending import match_replies, parse_send

NUMBERS = [str(27820000000 + i) for i in range(5)]
IDS = [f"{i:032x}" for i in range(5)]


def eager(refs: list[object] | None = None) -> list[SendResult]:
    refs = refs or [None] * 5
    return [
        SendResult(n, i, "cid", None, None, 2, r)
        for n, i, r in zip(NUMBERS, IDS, refs, strict=True)
    ]


# -- one_id, id_lines, StridedLines: the all-accepted sendmsg reply ---------------------------


def test_all_accepted_reply_takes_the_fast_path_and_equals_the_general_parser() -> None:
    body = "\n".join(f"ID: {i} To: {n}" for i, n in zip(IDS, NUMBERS, strict=True)) + "\n"
    for wire_body in (body, body.encode()):
        lines = parse_send(wire_body)
        assert isinstance(lines, StridedLines)  # equal-length lines
        assert list(lines.apimsgids()) == IDS and lines.numbers() == NUMBERS
        ids = lines.apimsgids()
        assert ids[1] == IDS[1] and ids[-1] == IDS[-1] and ids[1:3] == IDS[1:3]
        with pytest.raises(IndexError):
            ids[5]
        assert lines.names(NUMBERS) and not lines.names(NUMBERS[::-1])
        assert not lines.names(NUMBERS[:4]) and not lines.names([*NUMBERS[:4], "2782000000"])
        fast = match_replies(NUMBERS, lines, "cid", 2)
        assert fast == match_replies(NUMBERS, expect_send(wire_body), "cid", 2) == eager()
        assert fast.apimsgids == IDS
    # ids (or numbers) of different lengths: the split path
    ragged = ["a", "bb", "ccc", "dd", "e"]
    body = "\n".join(f"ID: {i} To: {n}" for i, n in zip(ragged, NUMBERS, strict=True))
    lines = parse_send(body)
    assert isinstance(lines, IdLines)
    assert lines.apimsgids == ragged and lines.to == NUMBERS
    fast = match_replies(NUMBERS, lines, "cid", 2)
    assert fast == match_replies(NUMBERS, expect_send(body), "cid", 2)
    assert fast.apimsgids == ragged


@pytest.mark.parametrize(
    "body",
    [
        "ID: a To: 27820000000\nERR: 105, Invalid Destination Address To: 27820000001",
        "ID: a To: 27820000000\r\nID: b To: 27820000001",
        "ID: a To: 27820000000\nID: b c To: 27820000001",
        "ID: a To: 27820000000\nID:  To: 27820000001",
        "ID: a To: 27820000000\nID: b To: +27820000001",
        "ID: a To: 27820000000\nxyz To: 27820000001 To: 27820000002",
        "ID: a To: 27820000000\nID: é To: 27820000001",
    ],
)
def test_anything_but_clean_id_lines_goes_to_the_general_parser(body: str) -> None:
    try:
        parsed = parse_send(body)
    except asms.ReplyParseError:
        return  # the general parser refused it: no fast path took it
    assert not isinstance(parsed, IdLines)


_line = st.one_of(
    st.builds(
        lambda i, n: f"ID: {i} To: {n}",
        st.text("abc012", min_size=0, max_size=4),
        st.sampled_from(["27820000000", "27820000001", "2782", "+2782", "x"]),
    ),
    st.sampled_from(
        ["ERR: 105, Invalid Destination Address", "ERR: 001, Authentication failed", ""]
    ),
    st.text("ID:To 0a\n\r", max_size=12),
)


_uniform_line = st.builds(
    lambda i, n: f"ID: {i} To: {n}",
    st.text("ab0", min_size=2, max_size=2),
    st.sampled_from(["27820000000", "27820000001", "27820000002"]),
)


@given(
    st.lists(_uniform_line, min_size=2, max_size=5),
    st.integers(min_value=0, max_value=200),
    st.sampled_from(["", " ", "\n", "x", "1", ":", "\r", "é"]),
    st.booleans(),
)
def test_strided_fast_path_never_disagrees_with_the_general_parser(
    lines: list[str], where: int, char: str, corrupt: bool
) -> None:
    body = "\n".join(lines)
    if corrupt:  # one character replaced, deleted or inserted somewhere
        at = where % (len(body) + 1)
        body = body[:at] + char + body[at + 1 :]
    recipients = ["27820000000", "27820000001", "27820000002"][: len(lines)]
    try:
        general = expect_send(body)
    except (asms.ReplyParseError, asms.GatewayError):
        general = None
    try:
        parsed = parse_send(body)
    except (asms.ReplyParseError, asms.GatewayError):
        assert general is None
        return
    assert general is not None
    if isinstance(parsed, StridedLines):
        assert [r.to for r in general] == parsed.numbers()
        assert [r.apimsgid for r in general] == list(parsed.apimsgids())  # type: ignore[union-attr]
    assert match_replies(recipients, parsed, None, 1) == match_replies(recipients, general, None, 1)


@given(
    st.lists(
        st.sampled_from(["27820000000", "27820000001", "2782000000", "278200000012"]),
        min_size=2,
        max_size=5,
    ),
    st.lists(
        st.sampled_from(["27820000000", "27820000001", "2782000000", "278200000012"]),
        min_size=2,
        max_size=5,
    ),
)
def test_names_reads_a_clean_list_as_it_reads_a_plain_one(
    numbers: list[str], recipients: list[str]
) -> None:
    body = "\n".join(f"ID: {i:032x} To: {n}" for i, n in enumerate(numbers))
    parsed = parse_send(body)
    clean = normalize_list(recipients)
    assert type(clean) is Numbers
    expected = numbers == recipients
    if isinstance(parsed, StridedLines):
        assert parsed.names(clean) is expected
        assert parsed.names(list(recipients)) is expected
        assert (parsed.numbers() == list(recipients)) is expected  # the plain twin
    general = match_replies(recipients, expect_send(body), None, 1)
    assert match_replies(clean, parsed, None, 1) == general


@given(st.lists(_line, min_size=1, max_size=6), st.sampled_from(["\n", "\r\n"]))
def test_fast_path_never_disagrees_with_the_general_parser(lines: list[str], newline: str) -> None:
    body = newline.join(lines)
    recipients = ["27820000000", "27820000001"]
    try:
        general = expect_send(body)
    except asms.ReplyParseError:
        general = None
    except asms.GatewayError:
        with pytest.raises(asms.GatewayError):
            parse_send(body)
        return
    try:
        parsed = parse_send(body)
    except asms.ReplyParseError:
        assert general is None
        return
    except asms.GatewayError:
        return  # a whole-request refusal: the general parser's verdict
    assert general is not None
    if isinstance(parsed, StridedLines):
        assert [r.to for r in general] == parsed.numbers()
    elif isinstance(parsed, IdLines):
        assert [r.to for r in general] == parsed.to
        assert [r.apimsgid for r in general] == parsed.apimsgids  # type: ignore[union-attr]
    assert match_replies(recipients, parsed, None, 1) == match_replies(recipients, general, None, 1)


def test_single_id_reply_fast_path_equals_the_general_parser() -> None:
    for body in (b"ID: abc123", "ID: abc123\n", b"ID: abc123\r\n"):
        one = parse_send(body)
        assert isinstance(one, OneId) and one.apimsgid == "abc123"
        for recipients in (["27820000000"], ["27820000000", "27820000001"]):
            fast = match_replies(recipients, one, "cid", 1, refs=["r"] * len(recipients))
            general = match_replies(
                recipients, expect_send(body), "cid", 1, refs=["r"] * len(recipients)
            )
            assert fast == general and [r.ref for r in fast] == ["r"] * len(recipients)
            if len(recipients) == 1:
                assert fast[0].apimsgid == "abc123"
            else:  # one line without a number for two recipients: it answers neither
                assert [r.state for r in fast] == [DeliveryState.UNKNOWN] * 2
                assert fast.apimsgids == [None, None]
    assert not isinstance(parse_send(b"ID: abc To: 27820000000"), OneId)


_ALNUM = string.ascii_letters + string.digits


@given(
    st.text(_ALNUM, min_size=1, max_size=64),
    st.sampled_from(["", "\n", "\r\n", " \t\n"]),
    st.booleans(),
)
def test_one_id_answers_a_clean_single_id_as_the_general_parser(
    apimsgid: str, tail: str, as_bytes: bool
) -> None:
    text = f"ID: {apimsgid}{tail}"
    body: bytes | str = text.encode() if as_bytes else text
    assert one_id(body) == OneId(apimsgid)
    assert expect_send(body) == [IdReply(apimsgid)]


@given(st.one_of(st.text("ID: aZ09\r\n\t:To", max_size=20), st.binary(max_size=20)))
@example("ID: ")
@example("ID: a b")
@example("ID: " + "a" * 65)
@example(b"ID: \xe9")
def test_one_id_never_answers_what_the_general_parser_reads_otherwise(
    body: bytes | str,
) -> None:
    fast = one_id(body)
    if fast is None:
        return
    assert expect_send(body) == [IdReply(fast.apimsgid)]


@given(
    st.lists(
        st.tuples(
            st.text(_ALNUM, min_size=1, max_size=8),
            st.from_regex(r"[1-9][0-9]{0,14}", fullmatch=True),
        ),
        min_size=2,
        max_size=8,
    ),
    st.sampled_from(["", "\n"]),
    st.booleans(),
)
def test_id_lines_answers_clean_lines_as_the_general_parser(
    pairs: list[tuple[str, str]], tail: str, as_bytes: bool
) -> None:
    text = "\n".join(f"ID: {i} To: {n}" for i, n in pairs) + tail
    body: bytes | str = text.encode() if as_bytes else text
    fast = id_lines(body)
    assert fast is not None
    ids = list(fast.apimsgids()) if isinstance(fast, StridedLines) else fast.apimsgids
    numbers = fast.numbers() if isinstance(fast, StridedLines) else fast.to
    assert expect_send(body) == [IdReply(i, n) for i, n in zip(ids, numbers, strict=True)]
    assert [(i, n) for i, n in zip(ids, numbers, strict=True)] == pairs


# -- id_to_columns + build_many: the all-ID body for the line parser --------------------------


def _line_by_line(body: str) -> list[Reply] | None:
    """The plain twin: every non-empty line through parse_line()."""
    try:
        replies = [parse_line(line) for line in body.split("\n") if line.strip()]
    except ReplyParseError:
        return None
    return replies or None


def _fast_replies(body: str) -> list[IdReply] | None:
    columns = id_to_columns(body)
    if columns is None:
        return None
    ids, numbers = columns
    return build_many(IdReply, len(ids), (ids, numbers))


def _parse_or_error(body: bytes | str) -> list[Reply] | None:
    try:
        return parse_lines(body)
    except ReplyParseError:
        return None


BULK_TOKENS = [
    "ID:",
    "To:",
    "ID: a To: 1",
    "a",
    "27",
    "b:",
    ":",
    " ",
    "  ",
    "\n",
    "\r\n",
    "\r",
    "\t",
]


@given(st.lists(st.sampled_from(BULK_TOKENS), min_size=1, max_size=30).map("".join))
@example("ID: a To:\nID: ID: b To: c")
@example("ID: a\nTo: b ID: c To: d")
@example("ID: a To: 1 ID: b To: 2\n \nID: c To: 3")
@example("ID: a To: 1\r\r\nID: b To: 2")
def test_bulk_path_agrees_with_line_by_line(body: str) -> None:
    assert _parse_or_error(body) == _line_by_line(body)
    fast = _fast_replies(body)
    if fast is not None:
        assert fast == _line_by_line(body)


@given(
    st.lists(
        st.tuples(
            st.text(_ALNUM + "é.-", min_size=1, max_size=8),
            st.text(_ALNUM + "+", min_size=1, max_size=15),
        ),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from(["\n", "\r\n"]),
    st.sampled_from(["", "  ", "\n", "\r\n \n"]),
)
def test_id_to_columns_answers_every_all_id_body(
    pairs: list[tuple[str, str]], newline: str, around: str
) -> None:
    body = around + newline.join(f"ID: {i} To: {n}" for i, n in pairs) + around
    assert id_to_columns(body) == ([i for i, _ in pairs], [n for _, n in pairs])
    assert _fast_replies(body) == _line_by_line(body) == [IdReply(i, n) for i, n in pairs]
    assert all(type(reply) is IdReply for reply in parse_lines(body))


# -- build_many, make_send_result, accepted_results: results by their slots -------------------

_text_or_none = st.one_of(st.none(), st.text(max_size=8))
_code = st.one_of(st.none(), st.sampled_from(ErrorCode), st.integers(-2, 999))
_ref = st.one_of(st.none(), st.integers(), st.text(max_size=4), st.just(object()))


@given(
    st.text(max_size=15),
    _text_or_none,
    _text_or_none,
    _code,
    _text_or_none,
    st.integers(1, 35),
    _ref,
)
def test_make_send_result_builds_what_the_constructor_builds(
    to: str,
    apimsgid: str | None,
    climsgid: str | None,
    code: ErrorCode | int | None,
    description: str | None,
    parts: int,
    ref: Any,
) -> None:
    fast = make_send_result(to, apimsgid, climsgid, code, description, parts, ref)
    plain = SendResult(to, apimsgid, climsgid, code, description, parts, ref)
    assert type(fast) is SendResult
    assert fast == plain and hash(fast) == hash(plain) and repr(fast) == repr(plain)
    assert fast.ref is ref and fast.duplicate is False
    assert fast.state is plain.state and fast.ok is plain.ok
    assert pickle.loads(pickle.dumps(fast)) == plain
    with pytest.raises(AttributeError):  # frozen, as the constructor's objects
        fast.to = "1"  # type: ignore[misc]


@given(
    st.lists(st.tuples(st.text(max_size=15), st.text(max_size=8), _ref), max_size=20),
    _text_or_none,
    st.integers(1, 35),
    st.booleans(),
)
def test_accepted_results_build_what_the_constructor_builds(
    rows: list[tuple[str, str, Any]], climsgid: str | None, parts: int, with_refs: bool
) -> None:
    to = [t for t, _, _ in rows]
    ids = [i for _, i, _ in rows]
    refs = [r for _, _, r in rows] if with_refs else None
    built = accepted_results(to, ids, climsgid, parts, refs)
    want = [
        SendResult(t, i, climsgid, None, None, parts, r if with_refs else None) for t, i, r in rows
    ]
    assert built == want
    assert [r.ref for r in built] == [r.ref for r in want]
    assert all(type(r) is SendResult and r.duplicate is False for r in built)


def test_accepted_results_of_nothing() -> None:
    assert accepted_results([], [], None, 1, None) == []


@given(
    st.lists(st.tuples(st.text(max_size=8), st.one_of(st.none(), st.text(max_size=8))), max_size=20)
)
def test_build_many_builds_what_the_constructor_builds(rows: list[tuple[str, str | None]]) -> None:
    columns = ([a for a, _ in rows], [b for _, b in rows])
    built = build_many(IdReply, len(rows), columns)
    plain = [IdReply(*row) for row in zip(*columns, strict=True)]
    assert built == plain
    assert [hash(r) for r in built] == [hash(r) for r in plain]
    assert all(type(r) is IdReply for r in built)


def test_build_many_refuses_classes_it_would_get_wrong() -> None:
    @dataclass
    class Plain:
        value: int

    with pytest.raises(TypeError, match="not a slotted dataclass"):
        build_many(Plain, 1, ([1],))
    with pytest.raises(TypeError, match="not a slotted dataclass"):
        build_many(int, 1, ([1],))
    # Message validates its fields in its own __init__: writing the slots would skip that.
    with pytest.raises(TypeError, match="__init__ of its own"):
        build_many(Message, 1, (["27821234567"], ["hi"], [None], [None], [None]))

    @dataclass(frozen=True, slots=True)
    class Checked:
        value: int

        def __post_init__(self) -> None:
            if self.value < 0:
                raise ValueError("negative")

    with pytest.raises(TypeError, match="__post_init__"):
        build_many(Checked, 1, ([-1],))
    assert build_many(StatusInfo, 1, (["a"], [3])) == [StatusInfo("a", 3)]


# -- SendResults.all_accepted: results built when first read ----------------------------------


@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[1-9][0-9]{6,14}", fullmatch=True),
            st.text(_ALNUM, min_size=1, max_size=8),
        ),
        max_size=12,
    ),
    _text_or_none,
    st.integers(1, 5),
    st.booleans(),
)
def test_lazy_results_read_as_the_built_list(
    rows: list[tuple[str, str]], climsgid: str | None, parts: int, with_refs: bool
) -> None:
    to = [t for t, _ in rows]
    ids = [i for _, i in rows]
    refs: list[object] | None = [f"r{n}" for n in range(len(rows))] if with_refs else None

    def fresh() -> SendResults:
        return SendResults.all_accepted(to, ids, climsgid, parts, refs)

    plain = SendResults(
        [
            SendResult(t, i, climsgid, None, None, parts, refs[n] if refs else None)
            for n, (t, i) in enumerate(rows)
        ]
    )
    # The summaries, read before anything is built, then again after.
    for lazy in (fresh(), fresh()):
        assert len(lazy) == len(plain)
        assert lazy.ok is plain.ok and lazy.accepted == plain.accepted
        assert lazy.apimsgids == plain.apimsgids
        assert lazy.counts() == plain.counts()
        assert lazy == plain and list(lazy) == list(plain)
        assert [r.ref for r in lazy] == [r.ref for r in plain]
        assert repr(lazy) == repr(plain)
        assert lazy.ok is plain.ok and lazy.accepted == plain.accepted
        assert lazy.apimsgids == plain.apimsgids and lazy.counts() == plain.counts()
    assert fresh()[1:3] == plain[1:3]
    if rows:
        assert fresh()[-1] == plain[-1]


# -- _numbers: clean lists and clean numbers ---------------------------------------------------


def _plain_or_error(number: str, cc: str | None) -> str | tuple[str, str]:
    try:
        return _normalize_plain(number, cc)
    except InvalidNumberError as err:
        return (err.rule, str(err))


def _fast_or_error(number: str, cc: str | None) -> str | tuple[str, str]:
    try:
        return _normalize(number, cc)
    except InvalidNumberError as err:
        return (err.rule, str(err))


_number_text = st.one_of(
    st.from_regex(r"[0-9]{0,17}", fullmatch=True),
    st.from_regex(r"(\+|00)?[0-9 ()./-]{0,20}", fullmatch=True),
    st.text("0123456789+ ()-.\u0663x", max_size=18),
)


@given(_number_text, st.sampled_from([None, "27", "1"]))
@example("27821234567", None)
@example("0821234567", "27")
@example("1234567", None)
@example("123456789012345", None)
@example("0123456789", None)
def test_clean_number_shortcut_answers_as_the_rules(number: str, cc: str | None) -> None:
    assert _fast_or_error(number, cc) == _plain_or_error(number, cc)


def _corrupt(case: tuple[list[str], int, int, str, bool]) -> list[str]:
    """One character of one number replaced (or, with "", deleted) when the flag is set."""
    numbers, item, at, char, corrupt = case
    if corrupt:
        numbers = [*numbers]
        number = numbers[item % len(numbers)]
        at %= len(number) + 1
        numbers[item % len(numbers)] = number[:at] + char + number[at + 1 :]
    return numbers


_UNIFORM = st.integers(7, 15).flatmap(
    lambda w: st.lists(st.from_regex(rf"[1-9][0-9]{{{w - 1}}}", fullmatch=True), min_size=2)
)
_MIXED = st.lists(st.from_regex(r"[1-9][0-9]{6,14}", fullmatch=True), min_size=2)
_NUMBER_LISTS = st.tuples(
    _UNIFORM | _MIXED,
    st.integers(min_value=0, max_value=20),
    st.just(0) | st.integers(min_value=0, max_value=16),  # the first digit, often
    st.sampled_from(["", "0", "00", ",", "+", " ", "a", "\u0663"]),
    st.booleans(),
).map(_corrupt) | st.lists(st.text("0123456789,+ ", max_size=17), min_size=2, max_size=8)


@given(_NUMBER_LISTS)
def test_clean_list_check_agrees_with_the_rules(numbers: list[str]) -> None:
    clean = clean_numbers(numbers)
    try:
        already_clean = all(normalize_msisdn(number) == number for number in numbers)
    except InvalidNumberError:
        already_clean = False
    plain_clean = all(_plain_or_error(number, None) == number for number in numbers)
    assert already_clean is plain_clean
    if not already_clean:
        assert clean is None
    else:
        assert clean == numbers and clean.joined == ",".join(numbers)
        widths = set(map(len, numbers))
        assert clean.width == (widths.pop() if len(widths) == 1 else None)


@given(_NUMBER_LISTS | st.lists(_number_text, max_size=3), st.sampled_from([None, "27"]))
def test_normalize_list_answers_as_each_number_on_its_own(
    numbers: list[str], cc: str | None
) -> None:
    plain = [_plain_or_error(number, cc) for number in numbers]
    errors = [p for p in plain if isinstance(p, tuple)]
    for given_as in (numbers, tuple(numbers)):
        if errors:
            with pytest.raises(InvalidNumberError) as info:
                normalize_list(given_as, cc)
            assert (info.value.rule, str(info.value)) == errors[0]
        else:
            assert normalize_list(given_as, cc) == plain
    text = ",".join(numbers)
    items = [item.strip() for item in text.split(",") if item.strip()]
    plain = [_plain_or_error(item, cc) for item in items]
    errors = [p for p in plain if isinstance(p, tuple)]
    if errors:
        with pytest.raises(InvalidNumberError) as info:
            normalize_list(text, cc)
        assert (info.value.rule, str(info.value)) == errors[0]
    else:
        assert normalize_list(text, cc) == plain


def test_normalize_list_shortcut_still_checks_the_country_code() -> None:
    with pytest.raises(InvalidNumberError, match="country_code"):
        normalize_list(["27821234567"], "0")
    with pytest.raises(InvalidNumberError, match="country_code"):
        normalize_list("27821234567", "1234")


# -- _encoding: alphabet checks over Latin-1 bytes, prebuilt single-part counts ----------------

_GSM = sorted(GSM7_BASIC | GSM7_EXTENSION)
_texts = st.one_of(
    st.text(st.sampled_from(_GSM), max_size=200),
    st.text(st.sampled_from([*_GSM, "é", "ñ", "\u0663", "😀", "\x1b", "\xa0"]), max_size=200),
    st.text(max_size=50),
)


@given(_texts)
def test_alphabet_checks_answer_as_a_set_lookup(text: str) -> None:
    gsm = set(text) <= GSM7_BASIC | GSM7_EXTENSION
    plain = sum(text.count(c) for c in _GSM7_EXTENSION_STR) if gsm else -1
    assert _extension_count(text) == plain
    latin1 = all(ord(c) < 256 for c in text)
    assert fits_latin1_gsm(text) is (gsm and latin1)


@given(_texts)
def test_prebuilt_part_counts_equal_built_ones(text: str) -> None:
    count = count_parts(text)
    plain = PartCount(count.encoding, count.units, count.parts)
    assert count == plain and count.per_part == plain.per_part
    if count.parts == 1:
        single = GSM7_SINGLE_SEPTETS if count.encoding == "gsm7" else UCS2_SINGLE_UNITS
        assert count.units <= single
    elif count.encoding == "gsm7":
        assert count.per_part == GSM7_CONCAT_SEPTETS


@pytest.mark.parametrize(
    "body",
    [
        "ID: a To: 1\nID: b To: 1xID: c To: 1",  # equal strides, a line break missing
        "ID: a To: 1\nID: b To: 1\nID: c To: ",  # a number missing
        "ID: a To: 1\nID: b Tx: 1",
        "ID: a To: 1\nID: b:To: 1",
    ],
)
def test_id_lines_leaves_near_misses_to_the_general_parser(body: str) -> None:
    assert id_lines(body) is None
    assert id_lines(body.encode()) is None

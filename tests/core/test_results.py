"""SendResults (built when first read) and the all-accepted reply fast path behind it."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

import asms
from asms import DeliveryState, SendResult, SendResults
from asms._fast import IdLines, OneId, StridedLines
from asms._numbers import Numbers, normalize_list
from asms._replies import expect_send
from asms._sending import match_replies, parse_send

NUMBERS = [str(27820000000 + i) for i in range(5)]
IDS = [f"{i:032x}" for i in range(5)]


def lazy(refs: list[object] | None = None) -> SendResults:
    return SendResults.all_accepted(NUMBERS, IDS, "cid", 2, refs)


def eager(refs: list[object] | None = None) -> list[SendResult]:
    refs = refs or [None] * 5
    return [
        SendResult(n, i, "cid", None, None, 2, r)
        for n, i, r in zip(NUMBERS, IDS, refs, strict=True)
    ]


def test_lazy_results_read_like_the_list_they_stand_for() -> None:
    results, want = lazy(), eager()
    assert len(results) == 5
    assert results.ok and results.accepted == 5
    assert results.apimsgids == IDS
    assert results.counts() == {DeliveryState.ACCEPTED: 5}
    assert results[0] == want[0] and results[-1] == want[-1]
    assert results[1:3] == want[1:3]
    assert list(results) == want
    assert results == want and results == tuple(want) and results == SendResults(want)
    assert results != want[:4]
    assert results != "not a list"
    assert SendResult("1", "x") not in results and want[2] in results
    assert results.index(want[3]) == 3
    assert repr(results) == f"SendResults({want!r})"
    with pytest.raises(IndexError):
        results[5]
    with pytest.raises(TypeError):
        hash(results)


def test_refs_ride_along_and_must_match_the_recipients() -> None:
    refs: list[object] = ["a", "b", "c", "d", "e"]
    assert [r.ref for r in lazy(refs)] == refs
    with pytest.raises(ValueError, match="per recipient"):
        SendResults.all_accepted(NUMBERS, IDS[:4], None, 1)
    with pytest.raises(ValueError, match="per recipient"):
        SendResults.all_accepted(NUMBERS, IDS, None, 1, refs[:2])


def test_summaries_of_built_results_count_every_state() -> None:
    mixed = SendResults(
        [
            SendResult("1", "a"),
            SendResult("2", None, error_code=asms.ErrorCode(105), error_description="x"),
            SendResult("3", None, error_code=asms.OUTCOME_UNKNOWN, error_description="?"),
            SendResult("4", None, error_code=asms.NOT_SENT, error_description="-"),
            SendResult("5", None),  # accepted, id unknown
        ]
    )
    assert not mixed.ok and mixed.accepted == 2
    assert mixed.apimsgids == ["a", None, None, None, None]
    assert mixed.counts() == {
        DeliveryState.ACCEPTED: 2,
        DeliveryState.REJECTED: 1,
        DeliveryState.UNKNOWN: 1,
        DeliveryState.NOT_SENT: 1,
    }
    empty = SendResults()
    assert empty.ok and empty.accepted == 0 and len(empty) == 0 and empty.counts() == {}
    assert SendResults.all_accepted([], [], None, 1).counts() == {}


def test_results_pickle_whole() -> None:
    results = lazy()
    assert pickle.loads(pickle.dumps(results)) == eager()
    assert pickle.loads(pickle.dumps(SendResults(eager()))) == eager()


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

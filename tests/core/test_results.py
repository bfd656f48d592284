"""SendResults, built when first read (against the built list: test_core_fast_path.py)."""

from __future__ import annotations

import pickle

import pytest

import asms
from asms import DeliveryState, SendResult, SendResults

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

"""`SendResults`: the per-recipient outcomes of one send, built when first read."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar, overload

from ._exceptions import ThrottledError, TransportError
from ._fast import accepted_results
from ._models import DeliveryState, SendResult

__all__ = ["SendResults"]


class SendResults(Sequence[SendResult]):
    """One :class:`SendResult` per recipient, in recipient order: a read-only list.

    Indexing, slicing, iteration, ``len`` and ``==`` (with another ``SendResults``, a list
    or a tuple) behave as for a list. When every recipient was accepted, the reply has been
    checked line by line against the recipients, but the result objects are only built
    when first read: a 600-recipient send that only looks at :attr:`ok` or
    :attr:`accepted` never builds 600 objects.
    """

    __slots__ = (
        "_climsgid",
        "_ids",
        "_items",
        "_parts",
        "_refs",
        "_to",
        "throttled",
        "unreachable",
    )

    _items: list[SendResult] | None
    #: The ``ERR 130`` that refused the whole request, when it came back as results (not
    #: waited out): it knows the gateway's clock when it answered, for whoever waits.
    throttled: ThrottledError | None
    #: The transport failure that kept the whole request from leaving, every retry spent
    #: (its recipients are ``NOT_SENT``): the gateway could not be reached. None otherwise.
    unreachable: TransportError | None

    def __init__(self, results: Iterable[SendResult] = ()) -> None:
        self._items = list(results)
        self._to: Sequence[str] = ()
        self._ids: Sequence[str] = ()
        self._climsgid: str | None = None
        self._parts = 1
        self._refs: Sequence[Any] | None = None
        self.throttled = None
        self.unreachable = None

    # -- the fast path (the rule of asms._fast) ------------------------------------------------
    # all_accepted() keeps the columns and builds the results only when first read; the
    # summaries below answer from the columns. The plain twin is SendResults(built list),
    # and tests/core/test_core_fast_path.py holds every reading of the two equal.

    @classmethod
    def all_accepted(
        cls,
        to: Sequence[str],
        apimsgids: Sequence[str],
        climsgid: str | None,
        parts: int,
        refs: Sequence[Any] | None = None,
    ) -> SendResults:
        """Results of a send whose every recipient ``to[i]`` got ``apimsgids[i]``.

        Reads as ``SendResults([SendResult(to[i], apimsgids[i], climsgid, None, None, parts,
        refs[i]), …])``, without building those objects until one is read.
        """
        if len(apimsgids) != len(to) or (refs is not None and len(refs) != len(to)):
            raise ValueError("one apimsgid (and ref) per recipient")
        self = cls.__new__(cls)
        self._items = None
        self._to, self._ids, self._climsgid = to, apimsgids, climsgid
        self._parts, self._refs = parts, refs
        self.throttled = None
        self.unreachable = None
        return self

    def accepted_columns(self) -> tuple[Sequence[str], str | None, int] | None:
        """``(apimsgids, climsgid, parts)`` while every recipient is accepted and no result
        has been built yet (for a caller that builds its own results from them, as a bulk
        run does); None otherwise."""
        if self._items is not None:
            return None
        return self._ids, self._climsgid, self._parts

    def _list(self) -> list[SendResult]:
        items = self._items
        if items is None:
            items = accepted_results(
                self._to, self._ids, self._climsgid, self._parts, self._refs or None
            )
            self._items = items
            self._to = self._ids = ()
            self._refs = None
        return items

    # -- the list protocol ------------------------------------------------------------------

    def __len__(self) -> int:
        items = self._items
        return len(self._to) if items is None else len(items)

    @overload
    def __getitem__(self, index: int) -> SendResult: ...

    @overload
    def __getitem__(self, index: slice) -> list[SendResult]: ...

    def __getitem__(self, index: int | slice) -> SendResult | list[SendResult]:
        return self._list()[index]

    def __iter__(self) -> Iterator[SendResult]:
        return iter(self._list())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SendResults):
            return self._list() == other._list()
        if isinstance(other, list | tuple):
            return self._list() == list(other)
        return NotImplemented

    # Unhashable, like the list it stands for (and declared as typeshed declares list's).
    __hash__: ClassVar[None] = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SendResults({self._list()!r})"

    # -- summaries that never build the results ---------------------------------------------

    @property
    def ok(self) -> bool:
        """Every recipient was accepted (an empty send is ok)."""
        items = self._items
        return items is None or all(r.error_code is None for r in items)

    @property
    def accepted(self) -> int:
        """How many recipients the gateway accepted."""
        items = self._items
        if items is None:
            return len(self._to)
        return sum(1 for r in items if r.error_code is None)

    @property
    def apimsgids(self) -> list[str | None]:
        """Each recipient's ``apimsgid`` (None where there is none), in recipient order."""
        if self._items is None:
            return list(self._ids)
        return [r.apimsgid for r in self._items]

    def counts(self) -> Counter[DeliveryState]:
        """How many results are in each :class:`DeliveryState`."""
        if self._items is None:
            return Counter({DeliveryState.ACCEPTED: len(self._to)}) if self._to else Counter()
        return Counter(r.state for r in self._items)

"""Probe: what 600 per-recipient results cost to build and read, beside what any 600 Python
objects cost (the floor under S2's read-all line).

S2 read-all asks every ``SendResult`` of a 600-recipient reply. Each is a distinct object with
eight attributes; whatever builds them, CPython must allocate and fill 600 objects. This
probe times, per 600:

* ``floor: bare objects`` -- 600 objects of that class allocated and nothing written: what
  any 600 distinct objects cost before a single attribute;
* ``floor: slots class`` -- a plain class with the same eight ``__slots__`` and a Python
  ``__init__``, built with ``map`` over the columns: the cheapest distinct objects with
  attributes that pure Python makes;
* ``floor: tuple subclass`` -- a ``namedtuple`` built the same way (C-level construction,
  but a tuple: not what ``SendResult`` may become, its equality and typing would change);
* ``asms: build`` -- ``SendResults.all_accepted(...)`` read into a list (what the client
  builds when a caller first reads a result);
* ``reader loop`` -- S2's reader, ``sum(r.ok for r in results)``, over results built already;
* ``asms: build + read`` -- the two together, as S2 read-all pays them.

    .venv/bin/python benchmarks/result_objects.py [--reps 2000] [--runs 7]

Median, min and max of ``--runs`` timings, each the mean over ``--reps`` builds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import namedtuple
from collections.abc import Callable
from itertools import repeat
from typing import Any

from asms._results import SendResults

RECIPIENTS = 600
_FIELDS = ("to", "apimsgid", "climsgid", "error_code", "error_description", "parts", "ref")


class _Slots:
    __slots__ = (*_FIELDS, "duplicate")

    def __init__(
        self, to: str, apimsgid: str, climsgid: Any, code: Any, text: Any, parts: int, ref: Any
    ) -> None:
        self.to = to
        self.apimsgid = apimsgid
        self.climsgid = climsgid
        self.error_code = code
        self.error_description = text
        self.parts = parts
        self.ref = ref
        self.duplicate = False


_new = object.__new__
_Tuple = namedtuple("_Tuple", (*_FIELDS, "duplicate"))


def _columns(count: int) -> tuple[list[str], list[str]]:
    return [str(27820000000 + i) for i in range(count)], [f"{i:032x}" for i in range(count)]


def cases(count: int) -> dict[str, Callable[[], object]]:
    to, ids = _columns(count)
    none, ones, no = [None] * count, [1] * count, [False] * count  # reusable, unlike repeat()
    built = list(SendResults.all_accepted(to, ids, None, 1))

    def floor_bare() -> object:
        return list(map(_new, repeat(_Slots, count)))

    def floor_slots() -> object:
        return list(map(_Slots, to, ids, none, none, none, ones, none))

    def floor_tuple() -> object:
        rows = zip(to, ids, none, none, none, ones, none, no, strict=True)
        return list(map(_Tuple._make, rows))

    def asms_build() -> object:
        return list(SendResults.all_accepted(to, ids, None, 1))

    def reader() -> object:
        return sum(r.ok for r in built)

    def asms_read_all() -> object:
        return sum(r.ok for r in SendResults.all_accepted(to, ids, None, 1))

    return {
        "floor: bare objects": floor_bare,
        "floor: slots class": floor_slots,
        "floor: tuple subclass": floor_tuple,
        "asms: build": asms_build,
        "reader loop": reader,
        "asms: build + read": asms_read_all,
    }


def time_case(case: Callable[[], object], reps: int, runs: int) -> list[float]:
    """µs per call, one figure per run."""
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(reps):
            case()
        timings.append((time.perf_counter() - start) / reps * 1e6)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=2000, help="builds per timing")
    parser.add_argument("--runs", type=int, default=7, help="timings per case")
    args = parser.parse_args()
    if args.reps < 1 or args.runs < 1:
        parser.error("--reps and --runs must be at least 1")
    print(f"µs per {RECIPIENTS} results: median (min–max) of {args.runs} runs")
    for name, case in cases(RECIPIENTS).items():
        case()  # warm-up
        timings = time_case(case, args.reps, args.runs)
        print(
            f"  {name:24s} {statistics.median(timings):8.1f} "
            f"({min(timings):.1f}–{max(timings):.1f})"
        )


if __name__ == "__main__":
    main()

"""The keyword arguments of a bulk run, declared once.

``AsyncClient.send_bulk`` and :func:`asms._bulk.run.send_bulk` take the same keywords:
:class:`BulkOptions` declares their names and types (``AsyncClient.send_bulk``'s docstring
says what each means), and what a caller leaves out is taken from the defaults in
:mod:`asms._config` in one place (``BulkRun.__init__``), so neither a keyword nor a default can
differ between the two. :class:`RunOptions` adds the one keyword a run started without a
client takes.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Final, TypedDict

from .._clock import Clock
from .._exceptions import ValidationError
from .._limiter import Limiter
from .journal import Journal
from .report import BulkStatistics

__all__ = [
    "BULK_KEYWORDS",
    "RUN_KEYWORDS",
    "BulkOptions",
    "RunOptions",
    "check_keywords",
    "check_values",
]


class BulkOptions(TypedDict, total=False):
    """The keyword arguments of ``AsyncClient.send_bulk``, whose docstring describes them
    (each may be left out; the defaults are in :mod:`asms._config`)."""

    rate: float | None
    burst: int
    concurrency: int | None
    journal: str | os.PathLike[str] | Journal | None
    group_size: int | None
    progress: Callable[[BulkStatistics], object] | None
    clock: Clock | None
    limiter: Limiter | None
    drain_timeout: float
    linger: float
    reconcile_grace: float


class RunOptions(BulkOptions, total=False):
    """:class:`BulkOptions`, and what a run through any ``RequestSender`` may add:

    * ``reconcile_schedule``: the delays of a resumed run's look-ups (a request is resent
      only when the last one says the gateway does not know it); default: the sender's
      ``RetryPolicy.reconcile_schedule``, as for a live run (a client's own policy).
    """

    reconcile_schedule: Sequence[float] | None


BULK_KEYWORDS: Final = BulkOptions.__optional_keys__
"""The keywords ``AsyncClient.send_bulk`` takes."""
RUN_KEYWORDS: Final = RunOptions.__optional_keys__
"""The keywords :func:`asms._bulk.run.send_bulk` and ``BulkRun`` take."""


def check_keywords(options: Mapping[str, object], known: frozenset[str], function: str) -> None:
    """TypeError for a keyword not in ``known``, as a signature that listed them would raise
    (a ``**options`` parameter takes any keyword at run time)."""
    unknown = options.keys() - known
    if unknown:
        raise TypeError(f"{function}() got an unexpected keyword argument {min(unknown)!r}")


# numbers.Real and Integral, not int and float: NumPy's scalars (a rate read from a config
# table, say) register with them without deriving from int or float.
def _is_real(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    return not math.isnan(float(value))


def _is_count(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return False
    return int(value) >= 1


def check_values(options: Mapping[str, object]) -> None:
    """:class:`ValidationError` naming the first keyword whose value a run cannot take,
    before anything is opened, read or sent (``limiter`` is checked by the run)."""
    rate = options.get("rate")
    if rate is not None and not (_is_real(rate) and rate > 0):  # type: ignore[operator]
        raise ValidationError(
            "rate", "must be a positive number of messages per second, or None for no limit", rate
        )
    for name in ("burst", "concurrency", "group_size"):
        value = options.get(name)
        if (value is not None or (name == "burst" and name in options)) and not _is_count(value):
            raise ValidationError(name, "must be a whole number, 1 or more", value)
    journal = options.get("journal")
    if journal is not None and not isinstance(journal, str | os.PathLike | Journal):
        raise ValidationError("journal", "must be a file path or an asms.Journal", journal)
    progress = options.get("progress")
    if progress is not None and not callable(progress):
        raise ValidationError("progress", "must be a callable (it gets BulkStatistics)", progress)
    for name in ("drain_timeout", "linger", "reconcile_grace"):
        if name in options:
            value = options[name]
            if not (_is_real(value) and 0 <= value < math.inf):  # type: ignore[operator]
                raise ValidationError(name, "must be a number of seconds, 0 or more", value)

"""The keyword arguments of a bulk run, declared once.

``AsyncClient.send_bulk`` and :func:`asms._bulk.run.send_bulk` take the same keywords:
:class:`BulkOptions` declares their names and types (``AsyncClient.send_bulk``'s docstring
says what each means), and what a caller leaves out is taken from the defaults in
:mod:`asms._config` in one place (``BulkRun.__init__``), so neither a keyword nor a default can
differ between the two. :class:`RunOptions` adds the one keyword a run started without a
client takes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Final, TypedDict

from .._clock import Clock
from .._limiter import Limiter
from .journal import Journal
from .report import BulkStatistics

__all__ = ["BULK_KEYWORDS", "RUN_KEYWORDS", "BulkOptions", "RunOptions", "check_keywords"]


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

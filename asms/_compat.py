"""The one place asms imports httpx (and httpcore), so moving to a fork is a one-line change;
and how the public packages present what they export (:func:`show_as_public`).

Every other module takes httpx from here: the client, the wires, the configuration, the
command line, the emulator, and the transport package too. The transport is built on httpx's
transport API (``AsyncBaseTransport``, ``Request``/``Response``, httpx's exceptions) and
wraps httpx's own transport for proxies, whose head limit it reads from httpcore; a fork
would have to keep those.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import FunctionType

import httpcore
import httpx

__all__ = ["httpcore", "httpx", "show_as_public"]


def show_as_public(package: str, namespace: Mapping[str, object], names: Iterable[str]) -> None:
    """Name ``package`` as the ``__module__`` of each class and function among ``names`` in
    ``namespace`` (the package's globals) that a module inside the package defines.

    Reprs, tracebacks and the docs then show ``asms.X`` (``asms.testing.X``…) as httpx does;
    pickling still works, because every such name is importable from the package. An object
    from outside the package (re-exported from another public package) keeps its name; a
    name served by the package's ``__getattr__`` (a deprecated alias) is not in
    ``namespace`` and is left alone.
    """
    inside = package + "."
    for name in names:
        obj = namespace.get(name)
        if isinstance(obj, type | FunctionType) and obj.__module__.startswith(inside):
            obj.__module__ = package

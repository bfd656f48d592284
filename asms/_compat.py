"""The one place asms imports httpx (and httpcore), so moving to a fork is a one-line change.

Every other module takes them from here: the client, the wires, the configuration, the
command line, the emulator, and the transport package too. The transport is built on httpx's
transport API (``AsyncBaseTransport``, ``Request``/``Response``, httpx's exceptions) and
wraps httpx's own transport for proxies, whose head limit it reads from httpcore; a fork
would have to keep those.
"""

from __future__ import annotations

import httpcore
import httpx

__all__ = ["httpcore", "httpx"]

"""The one place asms imports httpx, so moving to a fork (httpx2) is a one-line change."""

from __future__ import annotations

import httpx

__all__ = ["httpx"]

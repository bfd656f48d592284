"""Proxies from the environment: which one applies to a URL, as curl decides."""

from __future__ import annotations

import ipaddress
import urllib.request

from .._compat import httpx

__all__ = ["env_proxy"]


def env_proxy(url: httpx.URL | str | None) -> str | None:
    """The proxy that ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``ALL_PROXY`` set for ``url``.

    ``NO_PROXY`` is honoured as curl does: ``*``, host names (which also exempt their
    subdomains), ``.suffix`` entries, IP addresses and networks. Without a ``url`` any proxy
    variable counts, since there is no host to exempt.
    """
    proxies = urllib.request.getproxies()
    no_proxy = [entry.strip().lower() for entry in proxies.get("no", "").split(",")]
    if "*" in no_proxy:
        return None
    if url is None:
        chosen = proxies.get("https") or proxies.get("http") or proxies.get("all")
    else:
        url = httpx.URL(url)
        chosen = proxies.get(url.scheme) or proxies.get("all")
        if chosen and _exempt(url.host.lower(), no_proxy):
            return None
    if not chosen:
        return None
    return chosen if "://" in chosen else f"http://{chosen}"


def _exempt(host: str, no_proxy: list[str]) -> bool:
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in no_proxy:
        entry = entry.strip("[]")
        if not entry:
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        entry = entry.split(":", 1)[0] if entry.count(":") == 1 else entry  # drop a port
        suffix = entry if entry.startswith(".") else f".{entry}"
        if host == entry.lstrip(".") or host.endswith(suffix):
            return True
    return False

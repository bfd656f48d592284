"""Transport configuration: default limits, TLS contexts, proxies from the environment."""

from __future__ import annotations

import ipaddress
import os
import ssl
import urllib.request
from typing import TypeAlias

import httpx

__all__ = [
    "DEFAULT_LIMITS",
    "MAX_HEAD_BYTES",
    "MAX_REPLY_BYTES",
    "CertTypes",
    "VerifyTypes",
    "create_ssl_context",
    "env_proxy",
]

# httpx keeps at most 20 idle connections by default; at a steady 50 requests in flight that
# closes and reopens 30 connections per round. Keep every connection the pool may open.
DEFAULT_LIMITS = httpx.Limits(
    max_connections=100, max_keepalive_connections=100, keepalive_expiry=5.0
)

# A reply is refused as soon as it crosses either limit, while it is being read: a broken or
# hostile server cannot make the client buffer more than about this much per connection.
#: Largest reply body (the gateway's largest answer, to 600 recipients, is about 40 kB).
MAX_REPLY_BYTES = 4_000_000
#: Largest reply head: status line and headers, with any interim (1xx) responses before them.
MAX_HEAD_BYTES = 64 * 1024

VerifyTypes: TypeAlias = ssl.SSLContext | bool | str
CertTypes: TypeAlias = str | tuple[str, str] | tuple[str, str, str]


def create_ssl_context(
    verify: VerifyTypes = True, cert: CertTypes | None = None, *, trust_env: bool = True
) -> ssl.SSLContext:
    """An ``ssl`` client context: certificates verified unless ``verify`` is False.

    ``verify`` may be a context (used as is), True (certifi's bundle, or ``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR`` when ``trust_env``), False, or a CA bundle file or directory.
    ``cert`` is a client certificate: a file, or (certfile, keyfile[, password]).
    """
    if isinstance(verify, ssl.SSLContext):
        context = verify
    elif verify is True:
        if trust_env and os.environ.get("SSL_CERT_FILE"):
            context = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
        elif trust_env and os.environ.get("SSL_CERT_DIR"):
            context = ssl.create_default_context(capath=os.environ["SSL_CERT_DIR"])
        else:
            import certifi  # httpx's own default bundle; imported only when needed

            context = ssl.create_default_context(cafile=certifi.where())
    elif verify is False:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif os.path.isdir(verify):
        context = ssl.create_default_context(capath=verify)
    else:
        context = ssl.create_default_context(cafile=verify)
    if not isinstance(verify, ssl.SSLContext):
        context.set_alpn_protocols(["http/1.1"])
    if cert is not None:
        if isinstance(cert, str):
            context.load_cert_chain(cert)
        else:
            context.load_cert_chain(*cert)
    return context


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

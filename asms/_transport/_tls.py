"""TLS client contexts: certificate verification as configured, client certificates."""

from __future__ import annotations

import os
import ssl
from typing import TypeAlias

__all__ = ["CertTypes", "VerifyTypes", "create_ssl_context"]

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

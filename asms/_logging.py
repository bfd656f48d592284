"""The ``asms`` logger, the ``ASMS_LOG`` switch and the redaction of secrets.

asms never logs a password, session id or API id on purpose. As a second line of defence every
client registers its secrets here, and a filter on the ``asms``, ``httpx`` and ``httpcore``
loggers (and on the handler ``ASMS_LOG`` installs) replaces any registered secret in a record
with ``***`` before a handler sees it.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
from typing import Final

__all__ = [
    "IN_FLIGHT",
    "LOGGER_NAME",
    "REDACTED",
    "RedactingFilter",
    "configure_from_env",
    "install_redaction",
    "logger",
    "redact",
    "register_secret",
]

LOGGER_NAME: Final = "asms"
#: The attribute of a record that says a cancelled request may have been accepted (its
#: climsgid): a caller that reports such requests itself (``asms send``) filters them out.
IN_FLIGHT: Final = "asms_in_flight"
REDACTED: Final = "***"
# Values shorter than this are not redacted: replacing every "12" in a log would destroy it,
# and such values are not secrets anyone can rely on anyway.
MIN_SECRET_LENGTH: Final = 4

logger: Final = logging.getLogger(LOGGER_NAME)

# Filters on a logger only see records logged to that very logger, not to its children,
# so every logger that can see request data is named.
_GUARDED_LOGGERS: Final = (
    LOGGER_NAME,
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
)

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None
_installed = False
_env_handler: logging.Handler | None = None


def register_secret(value: str | None) -> None:
    """Add a value that must never appear in a log record."""
    global _pattern
    if not value or len(value) < MIN_SECRET_LENGTH or value in _secrets:
        return
    with _lock:
        _secrets.add(value)
        # Longest first, so a secret containing another is replaced whole.
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(REDACTED, text)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (and formatted traceback) without registered secrets."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        if _pattern is None:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        if record.exc_info and not getattr(record, "_asms_redacted", False):
            record.exc_text = redact(self._formatter.formatException(record.exc_info))
            record._asms_redacted = True
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER: Final = RedactingFilter()


def install_redaction(*names: str) -> None:
    """Put the redaction filter on the asms/httpx/httpcore loggers (and any others named)."""
    global _installed
    if _installed and not names:
        return
    for name in names or _GUARDED_LOGGERS:
        target = logging.getLogger(name)
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)
    if not names:
        _installed = True


def configure_from_env() -> None:
    """``ASMS_LOG=debug|info``: log asms to stderr at that level (once per process)."""
    global _env_handler
    level = os.environ.get("ASMS_LOG", "").strip().lower()
    if level not in ("debug", "info") or _env_handler is not None:
        return
    with _lock:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        # On the handler too: it also sees records of child loggers (asms.bulk, ...).
        handler.addFilter(_FILTER)
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG if level == "debug" else logging.INFO)
        _env_handler = handler

"""The ``sora2`` logger, with a filter that keeps API tokens out of every record.

The logger has a ``NullHandler``, so the library prints nothing unless the application
configures logging (or the CLI is given ``-v``). Clients register their token here; the filter
replaces it (and anything that looks like a bearer credential) before a record reaches any
handler. Error messages built from the service's answers go through :func:`redact` too, in
case the service echoes a token back.
"""

from __future__ import annotations

import logging
import re
import threading

__all__ = ["REDACTED", "logger", "redact", "register_secret"]

REDACTED = "[REDACTED]"

logger = logging.getLogger("sora2")

_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\",;]+")
_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(secret: str) -> None:
    """Redact ``secret`` from every later ``sora2`` log record and error message."""
    if secret:
        with _lock:
            _secrets.add(secret)


def redact(text: str) -> str:
    """``text`` with every registered secret and every ``Bearer <credential>`` replaced."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _BEARER.sub(lambda m: m.group(1) + REDACTED, text)


class _RedactingFilter(logging.Filter):
    """Render the record's message once, redacted, so no handler sees the raw arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error handling
            return True
        record.msg = redact(message)
        record.args = None
        return True


if not any(isinstance(f, _RedactingFilter) for f in logger.filters):
    logger.addFilter(_RedactingFilter())
if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
    # A library prints nothing unless asked: without this, Python's last-resort handler would
    # put sora2's warnings (a broken journal) on stderr of every program that never configured
    # logging.
    logger.addHandler(logging.NullHandler())

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
_JOINS = re.compile(r"[\w-]")
"""What joins characters into one word: a short token glued to one is part of another word."""
_ANYWHERE = 16
"""Secrets this long are redacted even inside other text (see ``_as_token``)."""
_patterns: dict[str, re.Pattern[str]] = {}
_lock = threading.Lock()


def register_secret(secret: str) -> None:
    """Redact ``secret`` from every later ``sora2`` log record and error message."""
    if secret:
        pattern = _as_token(secret)
        with _lock:
            _patterns[secret] = pattern


def _as_token(secret: str) -> re.Pattern[str]:
    """Where ``secret`` is to be replaced.

    A short secret only where it stands as a token of its own: not glued to a letter, digit,
    ``_`` or ``-`` on a side where it begins or ends with one. So a one-letter token is found
    in ``?token=t``, ``/t/`` or ``Authorization: t`` but never inside ``injected`` or
    ``x-request-id``; a percent escape before it (``Bearer%20t``) still counts as a boundary.
    A secret of ``_ANYWHERE`` characters or more is replaced wherever it appears: no word
    contains it by chance, so every occurrence is the token leaking.
    """
    if len(secret) >= _ANYWHERE:
        return re.compile(re.escape(secret))
    before = r"(?:(?<![\w-])|(?<=%[0-9A-Fa-f]{2}))" if _JOINS.match(secret[0]) else ""
    after = r"(?![\w-])" if _JOINS.match(secret[-1]) else ""
    return re.compile(before + re.escape(secret) + after)


def redact(text: str) -> str:
    """``text`` with every registered secret and every ``Bearer <credential>`` replaced.

    A secret is replaced where it appears as a token (a header's value, a URL's path segment
    or query value, a whole word), never inside another word, so a short token cannot mangle
    the rest of a message.
    """
    with _lock:
        patterns = [_patterns[s] for s in sorted(_patterns, key=len, reverse=True)]
    for pattern in patterns:
        if pattern.search(text):
            text = pattern.sub(REDACTED, text)
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

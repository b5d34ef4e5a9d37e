"""HTTP facts the client's layers share: which statuses are worth retrying, and Retry-After.

Kept apart from ``_retry`` so that the exceptions, the answer interpretation and the download
can use them without importing the retry machinery (stamina).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import datetime

    import httpx

__all__ = [
    "IDEMPOTENT_RETRY_STATUSES",
    "SUBMIT_RETRY_STATUSES",
    "host_port",
    "parse_retry_after",
    "user_agent",
]

IDEMPOTENT_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
"""Answers worth retrying when a repeat cannot cost twice: status, result, cancel, download."""
SUBMIT_RETRY_STATUSES = frozenset({429, 503})
"""The only answers that prove a submit was not taken: rate limited, or service unavailable."""


def parse_retry_after(
    headers: Mapping[str, str], *, now: datetime.datetime | None = None
) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), or None if absent/bad."""
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        # Imported here: the exceptions import this module, and `import sora2` stays cheap.
        import datetime
        import email.utils

        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
        seconds = (when - (now or datetime.datetime.now(datetime.UTC))).total_seconds()
    if seconds != seconds or seconds == float("inf"):  # NaN or infinite
        return None
    return max(0.0, seconds)


def host_port(url: httpx.URL) -> str:
    """``127.0.0.1:1``, ``api.example:443``: where a request went, the port always shown (a
    refused connection is about a port as much as a host)."""
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{host}:{port}" if port is not None else host


def user_agent() -> str:
    """``sora2/<version> python-httpx/<version>``: every request says which client sent it
    (the service's logs, a support ticket), keeping httpx's own product token after ours."""
    import httpx

    from ._version import __version__

    return f"sora2/{__version__} python-httpx/{httpx.__version__}"

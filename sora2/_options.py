"""Every setting of a client, defined once: one frozen object.

``Client`` and ``AsyncClient`` build a :class:`ClientOptions` from their keywords, resolve it
once (the environment's key and base URL, the opened journal) and keep it; ``with_options`` is
an ``attrs.evolve`` of it, and the async twin of a sync client (``Client.batch``) is built from
the same object. A bad value is a ``ConfigurationError`` naming the setting, at construction.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs
import httpx

from ._constants import (
    DEFAULT_CONNECTION_LIMIT,
    DEFAULT_MAX_DOWNLOAD_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    DEFAULT_WAIT_TIMEOUT,
)
from ._exceptions import ConfigurationError
from ._journal_store import JournalStore

__all__ = ["ClientOptions", "JournalOption"]

JournalOption = JournalStore | str | os.PathLike[str] | None | Literal[False]


def _timeout(value: float | httpx.Timeout) -> httpx.Timeout:
    return value if isinstance(value, httpx.Timeout) else httpx.Timeout(value)


def _hosts(value: Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _whole(minimum: int) -> Any:
    def check(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigurationError(
                f"{attribute.name} must be a whole number >= {minimum}, not {value!r}",
                setting=attribute.name,
            )

    return check


def _wait_timeout(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ConfigurationError(
            f"wait_timeout must be >= 0, not {value!r}", setting="wait_timeout"
        )


def _max_bytes(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value <= 0:
        raise ConfigurationError(
            f"max_download_bytes must be > 0, not {value!r}", setting="max_download_bytes"
        )


@attrs.frozen(kw_only=True)
class ClientOptions:
    """Every setting of a client: ``Client`` and ``AsyncClient`` take each as a keyword."""

    api_key: str | None = attrs.field(default=None, repr=False)
    """Defaults to ``$RUNCOMFY_API_TOKEN``, ``$RUNCOMFY_TOKEN``, then ``$YOUR_API_TOKEN``; only
    needed by calls that talk to the service, and not at all with ``emulator=True``."""
    base_url: str | None = None
    """Defaults to ``$RUNCOMFY_BASE_URL``, then the spec's server."""
    timeout: httpx.Timeout = attrs.field(default=DEFAULT_TIMEOUT, converter=_timeout)
    """Per HTTP request (seconds, or an ``httpx.Timeout``)."""
    max_retries: int = attrs.field(default=DEFAULT_MAX_RETRIES, validator=_whole(0))
    """Retries of a request that is safe to retry (see ``sora2._retry``)."""
    journal: JournalOption = None
    """A :class:`Journal` (any ``JournalStore``) or its path or ``postgresql://`` URL; None
    for ``$SORA2_JOURNAL`` or the default file in the user data directory; False for none."""
    wait_timeout: float = attrs.field(
        default=DEFAULT_WAIT_TIMEOUT, validator=_wait_timeout, converter=float
    )
    """Default deadline of ``wait`` and ``generate``, in seconds."""
    max_download_bytes: int = attrs.field(default=DEFAULT_MAX_DOWNLOAD_BYTES, validator=_max_bytes)
    """Default size cap of each file ``download`` saves."""
    connection_limit: int = attrs.field(default=DEFAULT_CONNECTION_LIMIT, validator=_whole(1))
    """Most connections open at once (per kind: API calls, downloads), all kept alive between
    calls (httpx keeps only 20 of its 100). ``AsyncClient`` also lets at most this many
    requests be in flight; threads sharing one ``Client`` simply wait for a connection, up to
    the timeout's ``pool`` part."""
    trusted_hosts: tuple[str, ...] = attrs.field(default=(), converter=_hosts)
    """More hosts output files may be downloaded from, besides the API's own host and
    RunComfy's (``*.runcomfy.net``, ``*.runcomfy.com``): names, suffixes (``.example.com``), IP
    addresses or networks (``10.0.0.0/8``; only these let a download reach a private address).
    ``$SORA2_TRUSTED_HOSTS`` adds more. See ``docs/connections.md``."""

    @classmethod
    def pick(cls, given: Mapping[str, Any]) -> ClientOptions:
        """The settings among ``given`` (a constructor's ``locals()``), by their names here: a
        constructor's signature names each setting, and nothing else restates them."""
        return cls(**{field.name: given[field.name] for field in attrs.fields(cls)})

    def limits(self) -> httpx.Limits:
        """Every connection kept alive: closing 80 of 100 after each use is pure churn."""
        limit = self.connection_limit
        return httpx.Limits(max_connections=limit, max_keepalive_connections=limit)

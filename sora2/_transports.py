"""A client's edges: the clock it waits on, the transports its requests travel by, the hosts
its downloads may reach, and its log.

The token goes only to the API's own origin (``BearerAuth``) and never into a log record or an
error message (``redact``, the filter on the ``sora2`` logger). ``APIRoot`` joins each path to
the base URL once; ``BorrowedTransport`` lends a transport without closing it;
``emulator=True`` is a transport into an in-process emulator on the client's :class:`Clock`.

An output URL comes from the service's answer, which must not be able to point sora2 at the
user's own network: ``HostPolicy`` (the rules: docs/connections.md) allows a trusted host, over
https (plain http only to the API's origin or a host the user named), at a public address
unless the user trusts that address. ``HostPolicy.check_url`` checks a URL and a literal
address in it; the download transports (``sora2._guarded``, ``sora2._aiohttp``) check every
address a name resolves to before connecting.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

import httpx

from ._exceptions import ConfigurationError, DownloadError
from ._options import RUNCOMFY_HOST_SUFFIXES, TRUSTED_HOSTS_ENV_VAR

__all__ = [
    "REDACTED",
    "APIRoot",
    "AddressCheck",
    "BearerAuth",
    "BorrowedTransport",
    "Clock",
    "HostPolicy",
    "IPAddress",
    "IPNetwork",
    "SystemClock",
    "in_process_emulator",
    "is_in_process",
    "is_loopback",
    "is_special_address",
    "logger",
    "parse_trusted_hosts",
    "redact",
    "refuse_unless_allowed",
    "register_secret",
]


class Clock(Protocol):
    """The time source of wait(): monotonic for deadlines, wall time for the journal."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    async def asleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        import anyio

        await anyio.sleep(seconds)


# The token: sent only to the API's origin, kept out of logs and messages ----------------


class BearerAuth(httpx.Auth):
    """Adds the token only to requests for the API's own origin; its repr hides the token."""

    def __init__(self, token: str | None, origin: httpx.URL) -> None:
        self._token = token
        self._origin = (origin.scheme, origin.host, origin.port)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        url = request.url
        if self._token and (url.scheme, url.host, url.port) == self._origin:
            request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:
        return "<BearerAuth [REDACTED]>"


REDACTED = "[REDACTED]"

logger = logging.getLogger("sora2")

_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\",;]+")
_JOINS = re.compile(r"[\w-]")
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

    A short secret only where it stands as a token of its own, not glued to a letter, digit,
    ``_`` or ``-`` (a percent escape before it, as in ``Bearer%20t``, is a boundary): found in
    ``?token=t`` or ``/t/`` but never inside ``injected``. A secret of ``_ANYWHERE`` characters
    or more is replaced wherever it appears: no word contains it by chance.
    """
    if len(secret) >= _ANYWHERE:
        return re.compile(re.escape(secret))
    before = r"(?:(?<![\w-])|(?<=%[0-9A-Fa-f]{2}))" if _JOINS.match(secret[0]) else ""
    after = r"(?![\w-])" if _JOINS.match(secret[-1]) else ""
    return re.compile(before + re.escape(secret) + after)


def redact(text: str) -> str:
    """``text`` with every registered secret and every ``Bearer <credential>`` replaced."""
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
    # put sora2's warnings on the stderr of every program that never configured logging.
    logger.addHandler(logging.NullHandler())


# Transports -------------------------------------------------------------------------------


class APIRoot:
    """The base URL, and each path's absolute URL under it, joined once (as httpx joins it).

    httpx parses and joins a request's URL on every request, in pure Python: a sixth of the
    cost of a status call, which asks the same path again and again. At most ``KEPT`` paths.
    """

    KEPT: Final = 4096

    def __init__(self, base_url: httpx.URL) -> None:
        raw_path = base_url.raw_path  # httpx's base URL always ends in "/": paths are appended
        self.url = (
            base_url.copy_with(raw_path=raw_path + b"/") if raw_path[-1:] != b"/" else base_url
        )
        self._joined: dict[str, httpx.URL] = {}

    def join(self, path: str) -> httpx.URL:
        """The absolute URL of ``path`` (relative to the base URL; an absolute URL stays)."""
        joined = self._joined.get(path)
        if joined is None:
            joined = httpx.URL(path)
            if joined.is_relative_url:
                root = self.url.raw_path
                joined = self.url.copy_with(raw_path=root + joined.raw_path.lstrip(b"/"))
            if len(self._joined) >= self.KEPT:
                self._joined.clear()
            self._joined[path] = joined
        return joined


class BorrowedTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Someone else's transport, sync or async, never closed: ``with_options`` copies, downloads."""

    def __init__(self, inner: httpx.BaseTransport | httpx.AsyncBaseTransport) -> None:
        self._inner: Any = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(request)  # type: ignore[no-any-return]

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)  # type: ignore[no-any-return]

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


def in_process_emulator(
    emulator: bool | Mapping[str, Any], clock: Clock, *, sync: bool
) -> httpx.BaseTransport | httpx.AsyncBaseTransport:
    """``emulator=True`` (or its options): a transport into a new in-process emulator on the
    client's clock (so a test's fake time drives both)."""
    options = dict(emulator) if isinstance(emulator, Mapping) else {}
    from ._exceptions import needs_extra

    with needs_extra("the in-process emulator", "emulator"):
        from . import emulator as package

        make = package.transport if sync else package.async_transport
        try:
            return make(clock=clock.monotonic, **options)
        except TypeError as exc:
            raise ConfigurationError(f"emulator options: {exc}") from None


def is_in_process(transport: object) -> bool:
    """The transport is an in-process emulator's: no key, its own journal file, and hints that
    name the client's own calls."""
    return getattr(transport, "in_process", False) is True


# Where downloads may go -------------------------------------------------------------------

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressCheck = Callable[[str, int, IPAddress], bool]
"""``allows(host, port, address)``: may a connection for ``host:port`` go to ``address``?"""
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_WIDEN: Final = (
    f"with trusted_hosts=[...], --trust-host or ${TRUSTED_HOSTS_ENV_VAR} (see docs/connections.md)"
)


def is_special_address(address: IPAddress) -> bool:
    """Not on the public internet (loopback, private, link-local, multicast, unspecified,
    reserved, shared); an IPv4-mapped IPv6 address is judged as its IPv4."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def parse_trusted_hosts(
    entries: Iterable[str],
) -> tuple[frozenset[str], tuple[str, ...], tuple[IPNetwork, ...]]:
    """``(names, suffixes, networks)`` of the user's trusted hosts: each entry a host name, a
    suffix (``.example.com`` or ``*.example.com``: the name and every name under it), an IP
    address (``::1``, ``[::1]``) or a network (``10.0.0.0/8``).

    Raises:
        ConfigurationError: an entry is none of these (a URL, a port, an empty string).
    """
    if isinstance(entries, str):
        entries = [entries]
    names: set[str] = set()
    suffixes: list[str] = []
    networks: list[IPNetwork] = []
    for raw in entries:
        entry = str(raw).strip().lower()
        if entry.startswith("[") and entry.endswith("]"):
            entry = entry[1:-1]
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
            continue
        except ValueError:
            pass
        name = entry[1:] if entry.startswith("*.") else entry
        bare = name.lstrip(".")
        if not bare or not all(part and _is_label(part) for part in bare.split(".")):
            raise ConfigurationError(
                f"trusted host {raw!r} is not a host name, a suffix such as .example.com, an IP "
                "address or a network such as 10.0.0.0/8 (no scheme, port or path)"
            )
        if name.startswith("."):
            suffixes.append("." + bare)
        else:
            names.add(bare)
    return frozenset(names), tuple(suffixes), tuple(networks)


def _is_label(part: str) -> bool:
    return all(ch.isalnum() or ch in "-_" for ch in part)


@dataclass(frozen=True)
class HostPolicy:
    """Which URLs and addresses a client's downloads may reach (see the module's docstring)."""

    api_scheme: str
    api_host: str
    api_port: int | None
    names: frozenset[str] = frozenset()
    suffixes: tuple[str, ...] = ()
    """The user's suffixes; RunComfy's (``RUNCOMFY_HOST_SUFFIXES``) are always trusted."""
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def for_client(
        cls,
        base_url: httpx.URL,
        trusted_hosts: Iterable[str] = (),
        *,
        environ: Mapping[str, str] | None = None,
    ) -> HostPolicy:
        """The policy of a client on ``base_url`` trusting ``trusted_hosts`` and
        ``$SORA2_TRUSTED_HOSTS``."""
        env = os.environ if environ is None else environ
        extra = env.get(TRUSTED_HOSTS_ENV_VAR, "").replace(",", " ").split()  # commas or spaces
        entries = [trusted_hosts] if isinstance(trusted_hosts, str) else list(trusted_hosts)
        names, suffixes, networks = parse_trusted_hosts([*entries, *extra])
        return cls(
            api_scheme=base_url.scheme,
            api_host=base_url.host.lower(),
            api_port=_port(base_url.scheme, base_url.port),
            names=names,
            suffixes=suffixes,
            networks=networks,
        )

    def is_api_origin(self, scheme: str | None, host: str, port: int | None) -> bool:
        """The API's own origin (scheme optional: a connection knows only host and port)."""
        if host.strip("[]").lower() != self.api_host.strip("[]"):
            return False
        if scheme is not None and scheme != self.api_scheme:
            return False
        return _port(scheme or self.api_scheme, port) == self.api_port

    def _named_by_user(self, host: str) -> bool:
        literal = _literal(host)
        if literal is not None:
            return any(literal in network for network in self.networks)
        return host in self.names or _under(host, self.suffixes)

    def trusts_host(self, host: str) -> bool:
        """A name (or literal address) downloads may come from."""
        host = host.strip("[]").lower()
        if host == self.api_host.strip("[]") or self._named_by_user(host):
            return True
        return _under(host, RUNCOMFY_HOST_SUFFIXES)

    def allows_address(self, host: str, port: int | None, address: IPAddress) -> bool:
        """May a connection for ``host:port`` go to ``address``? A public one always; a
        private one only for the API's own origin or an address the user trusts."""
        if not is_special_address(address) or self.is_api_origin(None, host, port):
            return True
        return any(address in network for network in self.networks)

    def check_url(self, url: str | httpx.URL, *, request_id: str | None) -> httpx.URL:
        """The parsed URL, if a download may fetch it; else a ``DownloadError`` that says why
        and how to widen the policy."""
        try:
            parsed = httpx.URL(str(url))
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise DownloadError(f"not a valid URL: {exc}", request_id=request_id) from None
        scheme, host = parsed.scheme, parsed.host.lower()
        where = f"{scheme or '?'}://{host or '?'}"
        if scheme not in ("http", "https") or not host:
            raise DownloadError(
                f"refusing to download from {where}: only https URLs are allowed",
                request_id=request_id,
            )
        api_origin = self.is_api_origin(scheme, host, parsed.port)
        if scheme == "http" and not (api_origin or self._named_by_user(host)):
            raise DownloadError(
                f"refusing to download from {where}: only https URLs are allowed (plain http "
                "only from the API's own origin or a host you trust)",
                request_id=request_id,
            )
        literal = _literal(host)
        if literal is not None and not self.allows_address(host, parsed.port, literal):
            raise DownloadError(_refused_address(host, literal), request_id=request_id)
        if not self.trusts_host(host):
            raise DownloadError(
                f"refusing to download from {host}: not a trusted host (the API's host, "
                f"{', '.join('*' + s for s in RUNCOMFY_HOST_SUFFIXES)}); trust it {_WIDEN}",
                request_id=request_id,
            )
        return parsed


def _refused_address(host: str, address: IPAddress) -> str:
    shown = host if host == str(address) else f"{host} ({address})"
    return (
        f"refusing to download from {shown}: not a public address (loopback, private, "
        f"link-local...); to allow it, trust the address itself ({address}) {_WIDEN}"
    )


def refuse_unless_allowed(
    host: str, port: int, addresses: Iterable[IPAddress], allows: AddressCheck
) -> None:
    """Both download guards' rule: a name is refused whole if any of its addresses is."""
    for address in addresses:
        if not allows(host, port, address):
            raise DownloadError(_refused_address(host, address), request_id=None)


def _under(host: str, suffixes: Iterable[str]) -> bool:
    """``host`` is one of the suffixes' names or under one (``.runcomfy.net``: itself too)."""
    return any(host == suffix[1:] or host.endswith(suffix) for suffix in suffixes)


def _port(scheme: str, port: int | None) -> int | None:
    return port if port is not None else _DEFAULT_PORTS.get(scheme)


@functools.lru_cache(maxsize=256)
def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

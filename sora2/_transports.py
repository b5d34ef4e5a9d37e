"""Where a client's requests may go, and how they travel there.

The token goes only to the API's own origin (``BearerAuth``); a ``with_options`` copy or a
download client uses its parent's transport without ever closing it (``BorrowedTransport``);
``emulator=True`` is a transport into an in-process emulator; ``InFlight`` bounds the async
requests in flight; ``APIRoot`` joins each request's path to the base URL once.

Output files may come only from where ``HostPolicy`` allows (no I/O). An output URL comes
from the service's answer, so it is not the user's choice: an answer (from the API, a proxy or
a compromised CDN) must not be able to point sora2 at the user's own network. A URL is fetched
only when

* its host is trusted: the API's own host, RunComfy's host suffixes, or a host the user named
  (``trusted_hosts=``, ``--trust-host``, ``$SORA2_TRUSTED_HOSTS``);
* it is https, or plain http to the API's own origin (the emulator, a local proxy) or to a host
  the user named;
* its address is public: loopback, private, link-local, multicast, unspecified and reserved
  addresses (IPv4, IPv6, IPv4-mapped IPv6) are refused, literal or resolved, unless they are
  the API's own origin or the user trusts the address itself (an IP or a network such as
  ``10.0.0.0/8``). Trusting a *name* does not trust the private address it resolves to.

``HostPolicy.check_url`` applies the first two rules and the third to literal addresses; the
download transport (``sora2._guarded``) applies the third to every resolved address before it
connects.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
from collections.abc import AsyncIterator, Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import httpx

from ._exceptions import ConfigurationError, DownloadError
from ._options import RUNCOMFY_HOST_SUFFIXES, TRUSTED_HOSTS_ENV_VAR
from ._waiting import Clock

if TYPE_CHECKING:
    import anyio

__all__ = [
    "APIRoot",
    "AsyncBorrowedTransport",
    "BearerAuth",
    "BorrowedTransport",
    "HostPolicy",
    "IPAddress",
    "IPNetwork",
    "InFlight",
    "in_process_emulator",
    "is_in_process",
    "is_loopback",
    "is_special_address",
    "parse_trusted_hosts",
    "refused_address",
    "split_trusted_hosts",
]


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


class APIRoot:
    """The API's base URL, and each request's absolute URL under it, parsed once.

    httpx parses a request's URL and joins it to the client's base URL on every request, in
    pure Python: a sixth of the whole cost of a status call. A job's status is asked at the
    same path again and again, so each path is joined here once (as httpx joins it) and httpx
    is handed the parsed URL, which it takes as it is. At most ``KEPT`` paths are kept.
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


class BorrowedTransport(httpx.BaseTransport):
    """Someone else's transport: used, never closed (``with_options`` copies, downloads)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(request)

    def close(self) -> None:
        pass


class AsyncBorrowedTransport(httpx.AsyncBaseTransport):
    """The async twin of :class:`BorrowedTransport`."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        pass


def in_process_emulator(
    emulator: bool | Mapping[str, Any], clock: Clock, *, sync: bool
) -> httpx.BaseTransport | httpx.AsyncBaseTransport:
    """``emulator=True`` (or its options): a transport into a new in-process emulator on the
    client's clock (so a test's fake time drives both), from ``sora2.emulator``."""
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
    """The transport is an in-process emulator's (``sora2.emulator.transport()``): no key, its
    own journal file, and hints that name the client's own calls."""
    return getattr(transport, "in_process", False) is True


class InFlight:
    """At most ``limit`` requests in flight: the rest wait here, not in httpcore's pool.

    httpcore's pool re-examines every queued request against every connection each time one
    is queued or released (encode/httpcore#1035): 900 requests queued behind 100 connections
    made 1,000 concurrent ``generate()`` calls spend 90% of their CPU there. A semaphore's
    queue costs nothing per waiter. It is made on first use on the running event loop, and
    again if the client is used from another loop later. Waiting for a turn is bounded by the
    timeout's ``pool`` part, as waiting in the pool was, with the same ``httpx.PoolTimeout``.
    """

    def __init__(self, limit: int, pool_timeout: float | None) -> None:
        self._limit = limit
        self._pool_timeout = pool_timeout
        self._loop: object = None
        self._semaphore: anyio.Semaphore | None = None

    async def acquire(self) -> anyio.Semaphore:
        """A taken slot: release it on the semaphore returned."""
        import asyncio

        import anyio

        try:
            loop: object = asyncio.get_running_loop()
        except RuntimeError:  # another async library (trio): one semaphore will do
            loop = None
        semaphore = self._semaphore
        if semaphore is None or loop is not self._loop:
            semaphore = self._semaphore = anyio.Semaphore(self._limit)
            self._loop = loop
        try:
            semaphore.acquire_nowait()
        except anyio.WouldBlock:
            if self._pool_timeout is None:
                await semaphore.acquire()
            else:
                with anyio.move_on_after(self._pool_timeout) as scope:
                    await semaphore.acquire()
                if scope.cancelled_caught:
                    raise httpx.PoolTimeout(
                        f"no free connection within {self._pool_timeout:g}s "
                        f"({self._limit} requests in flight)"
                    ) from None
        return semaphore

    @contextlib.asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """A slot, held for the block."""
        semaphore = await self.acquire()
        try:
            yield
        finally:
            semaphore.release()


# Where downloads may go: the host policy, without any I/O --------------------------------

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
_WIDEN: Final = (
    f"with trusted_hosts=[...], --trust-host or ${TRUSTED_HOSTS_ENV_VAR} (see docs/connections.md)"
)


def is_special_address(address: IPAddress) -> bool:
    """True for an address that is not on the public internet (loopback, private, link-local,
    multicast, unspecified, reserved, shared), an IPv4-mapped IPv6 one judged as its IPv4."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global or address.is_multicast


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def split_trusted_hosts(text: str) -> list[str]:
    """The entries of ``$SORA2_TRUSTED_HOSTS``: separated by commas or whitespace."""
    return [part for part in text.replace(",", " ").split() if part]


def parse_trusted_hosts(
    entries: Iterable[str],
) -> tuple[frozenset[str], tuple[str, ...], tuple[IPNetwork, ...]]:
    """``(names, suffixes, networks)`` of the user's trusted hosts.

    An entry is a host name (``cdn.example.com``), a suffix (``.example.com`` or
    ``*.example.com``: the name and every name under it), an IP address (``10.0.0.5``,
    ``::1``, ``[::1]``) or a network (``10.0.0.0/8``, ``fd00::/8``).

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
        """The policy of a client on ``base_url`` that trusts ``trusted_hosts`` and the hosts
        of ``$SORA2_TRUSTED_HOSTS``."""
        env = os.environ if environ is None else environ
        extra = split_trusted_hosts(env.get(TRUSTED_HOSTS_ENV_VAR, ""))
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
        same_host = host.strip("[]").lower() == self.api_host.strip("[]")
        if not same_host:
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
        if not is_special_address(address):
            return True
        if self.is_api_origin(None, host, port):
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
            raise DownloadError(refused_address(host, literal), request_id=request_id)
        if not self.trusts_host(host):
            raise DownloadError(
                f"refusing to download from {host}: not a trusted host (the API's host, "
                f"{', '.join('*' + s for s in RUNCOMFY_HOST_SUFFIXES)}); trust it {_WIDEN}",
                request_id=request_id,
            )
        return parsed


def refused_address(host: str, address: IPAddress) -> str:
    """The message of a refused private address."""
    shown = host if host == str(address) else f"{host} ({address})"
    return (
        f"refusing to download from {shown}: not a public address (loopback, private, "
        f"link-local...); to allow it, trust the address itself ({address}) {_WIDEN}"
    )


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

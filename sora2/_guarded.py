"""The download transport: it checks every address a name resolves to before connecting.

A host name that passed the policy of ``sora2._transports`` may still resolve to a private address
(a DNS answer pointing at 127.0.0.1 or 169.254.169.254). So the transport resolves the name
itself, refuses the connection if any address is not allowed, and connects to the checked
address, never resolving again (a second lookup could answer differently). TLS still verifies
the certificate against the name: httpcore passes the origin's host as ``server_hostname``.

Built on httpcore's pluggable network backend (``ConnectionPool(network_backend=...)``): the
only hand-written part is ``connect_tcp``; pooling, TLS, HTTP and the mapping of errors stay
httpx's and httpcore's. ``httpx.HTTPTransport`` takes no backend, so the two transports below
are httpx's own with the pool swapped for one on the guarded backend.

A refused address raises ``DownloadError`` from inside the request: it is not a transport
failure, so it is never retried.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from typing import Any

import httpcore
import httpx

from ._transports import AddressCheck, IPAddress, refuse_unless_allowed

__all__ = [
    "AsyncGuardedBackend",
    "AsyncGuardedTransport",
    "GuardedBackend",
    "GuardedTransport",
]

SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


def _literal(host: str) -> list[IPAddress] | None:
    """An address written as the host needs no lookup."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        return None


def _addresses(host: str, infos: Iterable[Sequence[Any]]) -> list[IPAddress]:
    """The distinct addresses of ``getaddrinfo`` results, in its order (its preference)."""
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address not in found:
            found.append(address)
    if not found:
        raise httpcore.ConnectError(f"{host} resolved to no address")
    return found


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's sync backend, connecting only to addresses ``allows`` accepts."""

    def __init__(self, allows: AddressCheck) -> None:
        self._allows = allows
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = _literal(host)
        if addresses is None:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise httpcore.ConnectError(f"{host}: {exc}") from exc
            addresses = _addresses(host, infos)
        refuse_unless_allowed(host, port, addresses, self._allows)
        error: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("downloads never use a Unix socket")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class AsyncGuardedBackend(httpcore.AsyncNetworkBackend):
    """The async twin of :class:`GuardedBackend`, on anyio (asyncio or trio)."""

    def __init__(self, allows: AddressCheck) -> None:
        self._allows = allows
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = _literal(host)
        if addresses is None:
            import anyio

            try:
                with anyio.fail_after(timeout):
                    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except TimeoutError as exc:
                raise httpcore.ConnectTimeout(f"{host}: name resolution timed out") from exc
            except OSError as exc:
                raise httpcore.ConnectError(f"{host}: {exc}") from exc
            addresses = _addresses(host, infos)
        refuse_unless_allowed(host, port, addresses, self._allows)
        error: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("downloads never use a Unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _pool_options(limits: httpx.Limits) -> dict[str, Any]:
    """httpx's own pool settings for ``limits`` (``httpx.HTTPTransport`` builds the same)."""
    return {
        "ssl_context": httpx.create_ssl_context(),
        "max_connections": limits.max_connections,
        "max_keepalive_connections": limits.max_keepalive_connections,
        "keepalive_expiry": limits.keepalive_expiry,
    }


class GuardedTransport(httpx.HTTPTransport):
    """``httpx.HTTPTransport`` (its request handling and error mapping) on a pool whose
    connections go only to allowed addresses. No proxy: a proxy would resolve names itself,
    out of reach of the check."""

    def __init__(self, allows: AddressCheck, *, limits: httpx.Limits) -> None:
        # Not super().__init__(): it would build a pool (and an SSL context) only to be replaced.
        backend = GuardedBackend(allows)
        self._pool = httpcore.ConnectionPool(network_backend=backend, **_pool_options(limits))


class AsyncGuardedTransport(httpx.AsyncHTTPTransport):
    """The async twin of :class:`GuardedTransport`."""

    def __init__(self, allows: AddressCheck, *, limits: httpx.Limits) -> None:
        backend = AsyncGuardedBackend(allows)
        self._pool = httpcore.AsyncConnectionPool(network_backend=backend, **_pool_options(limits))

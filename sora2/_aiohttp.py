"""How ``AsyncClient``'s requests reach the network: aiohttp under httpx when ``httpx-aiohttp``
is installed, and a bound on the requests in flight (:class:`InFlight`).

At 1,000 concurrent jobs, httpx's own pool (httpcore) costs about ten times the client CPU of
aiohttp's connector for the same requests (encode/httpx#3215): every queued or released request
re-examines every connection. ``httpx_aiohttp.AiohttpTransport`` puts aiohttp under the httpx
API, so the rest of the client (auth, retries, streaming, the contract checker's wrapper) is
unchanged. What this module adds around it:

* **Exceptions that say whether a request was sent.** ``httpx_aiohttp`` maps aiohttp's
  ``ClientConnectionError`` (a server that hung up after reading a submit, a reset) to
  ``httpx.ConnectTimeout``, which means "never sent": a submit would be retried and could be
  paid twice. Here only a failed connect is ``ConnectError``/``ConnectTimeout``; a dropped or
  garbled answer is ``RemoteProtocolError``/``ReadError``, a read timeout ``ReadTimeout``.
* **One aiohttp session per event loop**, made on first use (a client made outside a loop, or
  used from a second ``asyncio.run``, works); under another async library (trio) httpx's own
  transport is used.
* **One place to shape connections**: ``connector_options`` go to ``aiohttp.TCPConnector``;
  aiohttp keeps no cookies of its own (httpx's jar is the only one).
* **Downloads too** (:func:`guarded_download_transport`): with ``allows``, every address a
  name resolves to is checked before connecting (a resolver around aiohttp's own, the rule of
  ``sora2._guarded``), and a host written as an address is checked before the request. httpcore's
  pool, which the guarded httpx transport is built on, re-examines every connection on each
  request: at 1,000 concurrent downloads that cost more client CPU than all the rest.

The default is skipped when the environment names a proxy (``HTTPS_PROXY``...), which httpx
honours and this transport would not.

``InFlight`` keeps requests beyond ``connection_limit`` waiting on a semaphore, whatever the
transport, rather than in httpcore's pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import ssl
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from ._transports import AddressCheck, refuse_unless_allowed

if TYPE_CHECKING:
    import aiohttp
    import anyio


__all__ = [
    "KEEPALIVE_MARGIN",
    "AiohttpTransport",
    "InFlight",
    "default_async_transport",
    "guarded_download_transport",
    "is_available",
]


KEEPALIVE_MARGIN = 1.0
"""Seconds an idle connection is dropped before ``keepalive_expiry``. httpcore checks that the
server has not closed a pooled connection before reusing it; aiohttp does not (it retries a
GET once on a dropped reused connection, never a POST). A server that closes idle connections
after the same 5 s as httpx's default (uvicorn) could then drop a submit sent on one, an
unknown outcome; dropping them a second earlier keeps clear of that."""


def is_available() -> bool:
    """Whether ``httpx-aiohttp`` (and so aiohttp) is installed: ``pip install 'sora2[aiohttp]'``."""
    return importlib.util.find_spec("httpx_aiohttp") is not None


def default_async_transport(
    limits: httpx.Limits, *, connector_options: Mapping[str, Any] | None = None
) -> httpx.AsyncBaseTransport | None:
    """The transport ``AsyncClient`` uses when given none; None means httpx's own.

    aiohttp when installed and no proxy is configured in the environment (httpx honours
    ``HTTP(S)_PROXY``/``ALL_PROXY``; this transport does not), else httpx's.
    """
    if not is_available() or _environment_proxies():
        return None
    return AiohttpTransport(limits, connector_options=connector_options)


def guarded_download_transport(
    allows: AddressCheck, limits: httpx.Limits
) -> httpx.AsyncBaseTransport:
    """The transport of ``AsyncClient``'s downloads: connections only to addresses ``allows``
    accepts, on aiohttp when installed, else on httpcore's pool (``sora2._guarded``). Never
    through a proxy (a proxy would resolve names out of reach of the check)."""
    if is_available():
        return AiohttpTransport(limits, allows=allows)
    from ._guarded import AsyncGuardedTransport

    return AsyncGuardedTransport(allows, limits=limits)


def _environment_proxies() -> bool:
    import urllib.request

    proxies = urllib.request.getproxies()
    return any(proxies.get(scheme) for scheme in ("http", "https", "all"))


class AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx's API on aiohttp's connector, with exceptions httpx's own transport would raise.

    Args:
        limits: ``max_connections`` is the connector's limit (None: no limit) and
            ``keepalive_expiry`` how long an idle connection is kept.
        connector_options: More keywords for ``aiohttp.TCPConnector`` (``ssl``,
            ``family``...).
        allows: When given, ``allows(host, port, address)`` must accept every address a
            connection could go to (see :func:`guarded_download_transport`).
    """

    def __init__(
        self,
        limits: httpx.Limits,
        *,
        connector_options: Mapping[str, Any] | None = None,
        allows: AddressCheck | None = None,
    ) -> None:
        self._limits = limits
        self._connector_options = dict(connector_options or {})
        self._allows = allows
        self._literals: dict[tuple[str, int], bool] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inner: httpx.AsyncBaseTransport | None = None
        self._fallback: httpx.AsyncHTTPTransport | None = None

    @property
    def limits(self) -> httpx.Limits:
        return self._limits

    def _session(self) -> aiohttp.ClientSession:
        import aiohttp

        expiry = self._limits.keepalive_expiry
        options: dict[str, Any] = {
            "limit": self._limits.max_connections or 0,
            "keepalive_timeout": None if expiry is None else max(0.0, expiry - KEEPALIVE_MARGIN),
        }
        if "ssl" not in self._connector_options:
            options["ssl"] = _ssl_context()  # the same trust store as httpx
        if self._allows is not None:
            options["resolver"] = _guarded_resolver(self._allows)
        options.update(self._connector_options)
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(**options),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,  # httpx decodes, as with its own transport
        )

    def _transport(self) -> httpx.AsyncBaseTransport:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (trio): httpx's own transport
            if self._fallback is None:
                if self._allows is None:
                    self._fallback = httpx.AsyncHTTPTransport(limits=self._limits)
                else:
                    from ._guarded import AsyncGuardedTransport

                    self._fallback = AsyncGuardedTransport(self._allows, limits=self._limits)
            return self._fallback
        inner = self._inner
        if inner is None or loop is not self._loop:
            from httpx_aiohttp import AiohttpTransport as Inner

            if inner is not None:
                _abandon(inner)
            # verify=False: the context it would build (loading the CA store, ~40 ms) goes
            # unused, since the session (with its own) is ours.
            inner = self._inner = Inner(limits=self._limits, client=self._session, verify=False)
            self._loop = loop
        return inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self._transport()
        if transport is self._fallback:
            return await transport.handle_async_request(request)
        if self._allows is not None:
            self._check_literal(request.url)
        try:
            response = await transport.handle_async_request(request)
        except Exception as exc:
            mapped = _mapped(exc, request)
            if mapped is None:
                raise
            raise mapped from exc
        response.stream = _Stream(response.stream, request, response)
        return response

    def _check_literal(self, url: httpx.URL) -> None:
        """A host written as an address never reaches the resolver: checked here (each
        host and port once)."""
        import ipaddress

        port = url.port or (443 if url.scheme == "https" else 80)
        key = (url.host, port)
        if key in self._literals:
            return
        try:
            address = ipaddress.ip_address(url.host.strip("[]"))
        except ValueError:  # a name: its addresses are checked when it is resolved
            pass
        else:
            refuse_unless_allowed(url.host, port, [address], self._allows)  # type: ignore[arg-type]
        if len(self._literals) >= _HOSTS_REMEMBERED:
            self._literals.clear()
        self._literals[key] = True

    async def aclose(self) -> None:
        inner, self._inner = self._inner, None
        if inner is not None:
            with contextlib.suppress(RuntimeError):  # its loop may be gone: nothing to close
                await inner.aclose()
        if self._fallback is not None:
            await self._fallback.aclose()


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """httpx's default TLS context (its trust store), built once per process: loading the CA
    store costs tens of milliseconds, and a context is safe to share between sessions."""
    return httpx.create_ssl_context()


_HOSTS_REMEMBERED = 256
"""Hosts (with port) whose literal-address check passed, remembered by one transport."""


def _guarded_resolver(allows: AddressCheck) -> aiohttp.abc.AbstractResolver:
    """The system resolver (``getaddrinfo`` in a thread), refusing a name when any address it
    resolves to is not allowed (which one a connection would use is not ours to know); aiohttp
    connects to the addresses it returned, never resolving again."""
    import socket

    import aiohttp

    class GuardedResolver(aiohttp.abc.AbstractResolver):
        def __init__(self) -> None:
            self._inner = aiohttp.ThreadedResolver()  # the system's (aiodns is not)

        async def resolve(
            self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
        ) -> list[aiohttp.abc.ResolveResult]:
            import ipaddress

            found = await self._inner.resolve(host, port, family)
            addresses = list(
                dict.fromkeys(ipaddress.ip_address(str(r["host"]).split("%")[0]) for r in found)
            )
            refuse_unless_allowed(host, port, addresses, allows)
            return found

        async def close(self) -> None:
            await self._inner.close()

    return GuardedResolver()


class _Stream(httpx.AsyncByteStream):
    """The response body, its aiohttp errors raised as httpx's; once closed, it lets go of the
    response, so that the response is freed as soon as it is no longer used.

    httpx's client binds each response to its stream and the stream to the response (a
    reference cycle): every response, with its request, headers and aiohttp objects (about 40
    objects), would otherwise wait for the garbage collector. At 1,000 concurrent jobs those
    cycles were most of the collector's work, and what survived a collection while still
    referenced made the costly full collections come sooner. Closing replaces the response's
    stream by an empty one (its body was read or dropped: httpx never reads a closed stream).
    """

    __slots__ = ("_inner", "_request", "_response")

    def __init__(self, inner: Any, request: httpx.Request, response: httpx.Response) -> None:
        self._inner = inner
        self._request = request
        self._response: httpx.Response | None = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except Exception as exc:
            mapped = _mapped(exc, self._request)
            if mapped is None:
                raise
            raise mapped from exc

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        except Exception as exc:
            mapped = _mapped(exc, self._request)
            if mapped is None:
                raise
            raise mapped from exc
        finally:
            response, self._response = self._response, None
            if response is not None:
                response.stream = _CLOSED


_CLOSED = httpx.ByteStream(b"")
"""The stream of every closed response (see :class:`_Stream`): empty, and shared."""


def _mapped(exc: BaseException, request: httpx.Request) -> httpx.TransportError | None:
    """httpx's exception for an aiohttp failure (raw, or already mapped by httpx_aiohttp).

    Only a failure to connect says the request was not sent: anything else after the
    connection was made may have reached the server.
    """
    import aiohttp

    cause = exc.__cause__ if isinstance(exc, httpx.TransportError) else exc
    if not isinstance(cause, aiohttp.ClientError | asyncio.TimeoutError):
        return None  # httpx's own exception, or not a transport failure: raised as it is
    message = str(cause) or type(cause).__name__
    kind: type[httpx.TransportError]
    if isinstance(cause, aiohttp.ClientProxyConnectionError | aiohttp.ClientHttpProxyError):
        kind = httpx.ProxyError
    elif isinstance(cause, aiohttp.ClientConnectorError):
        kind = httpx.ConnectError
    elif isinstance(cause, aiohttp.ConnectionTimeoutError):
        kind = httpx.ConnectTimeout
    elif isinstance(cause, asyncio.TimeoutError):  # aiohttp's socket (read) timeouts
        kind = httpx.ReadTimeout
    elif isinstance(cause, aiohttp.ServerDisconnectedError | aiohttp.ClientResponseError):
        kind = httpx.RemoteProtocolError
    elif isinstance(cause, aiohttp.InvalidURL):
        kind = httpx.UnsupportedProtocol
    else:  # a payload cut short, a reset, any other connection error
        kind = httpx.ReadError
    return kind(message, request=request)


def _abandon(inner: Any) -> None:
    """Drop a session made on an event loop no longer in use (it cannot be awaited there)."""
    session = getattr(inner, "client", None)
    connector = getattr(session, "connector", None)
    close = getattr(connector, "_close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            close()  # marks it closed (no ResourceWarning) and drops its sockets


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

"""How a client reaches the service: the token's auth, borrowed transports, the in-process
emulator.

The token goes only to the API's own origin, and a ``with_options`` copy or a download client
uses its parent's transport without ever closing it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Generator, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from ._exceptions import ConfigurationError
from ._polling import Clock

if TYPE_CHECKING:
    import anyio

__all__ = [
    "AsyncBorrowedTransport",
    "BearerAuth",
    "BorrowedTransport",
    "InFlight",
    "in_process_emulator",
    "is_in_process",
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
    from ._extras import needs_extra

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

"""How a client's requests travel: to the API, and to the output files.

The token goes only to the API's own origin (``BearerAuth``); a ``with_options`` copy or a
download client uses its parent's transport without ever closing it (``BorrowedTransport``);
``emulator=True`` is a transport into an in-process emulator; ``InFlight`` bounds the async
requests in flight.

Downloads go through the clients' second httpx client (``Fetcher``, ``AsyncFetcher``). It
carries no token (output URLs need none) and reads nothing from the environment (no netrc
credentials, no proxy: a proxy would resolve names out of reach of the address check). It
fetches a URL, and follows a redirect, only where the client's ``HostPolicy`` allows; on the
network its transport checks every resolved address before connecting (``sora2._guarded``).
It streams each file into a ``PartFile`` and retries what is safe to retry.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Generator, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from ._constants import DOWNLOAD_CHUNK_SIZE, MAX_DOWNLOAD_REDIRECTS
from ._download import (
    PartFile,
    check_download_response,
    transport_failure,
    type_suffix,
    url_suffix,
    wire_bytes,
)
from ._exceptions import ConfigurationError, DownloadError
from ._hosts import HostPolicy
from ._http import user_agent
from ._outputs import FILE_KIND
from ._polling import Clock
from ._retry import RetryPolicy, acall_with_retries, call_with_retries
from ._threads import run_in_worker
from ._types import OutputFile

if TYPE_CHECKING:
    import anyio

    from ._base_client import SharedState
    from ._flows import Fetch
    from ._options import ClientOptions

__all__ = [
    "AsyncBorrowedTransport",
    "AsyncFetcher",
    "BearerAuth",
    "BorrowedTransport",
    "Fetcher",
    "InFlight",
    "in_process_emulator",
    "is_in_process",
]

C = TypeVar("C", httpx.Client, httpx.AsyncClient)


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


def _name_by_type(part: PartFile, item: OutputFile, response: httpx.Response) -> None:
    """A made-up name of a file whose URL has no extension takes its content type's
    (``image/jpeg`` -> ``.jpg``) instead of its kind's guess."""
    suffix = type_suffix(response.headers.get("content-type", ""))
    if suffix and not url_suffix(item.url) and suffix != part.target.suffix:
        part.rename(part.target.with_suffix(suffix))


def _kind(item: OutputFile) -> str | None:
    """The kind a file must be: a bare URL of unknown kind keeps the old rule (a video or
    bytes), not "anything"."""
    return None if not item.field and item.kind == FILE_KIND else item.kind


def _files_client(
    cls: type[C], shared: SharedState, policy: HostPolicy, options: ClientOptions
) -> C:
    """The download client (``cls``, sync or async): no token, nothing from the environment,
    no redirect followed on its own. It borrows the API's transport when the client was given
    one (the emulator's, a test's); on the network it connects only to allowed addresses."""
    sync, limits, source = cls is httpx.Client, options.limits(), shared.transport
    transport: Any
    if source is not None:  # of the client's own kind (checked by its _connect)
        transport = (BorrowedTransport if sync else AsyncBorrowedTransport)(source)  # type: ignore[arg-type]
    else:
        from . import _guarded

        guarded = _guarded.GuardedTransport if sync else _guarded.AsyncGuardedTransport
        transport = guarded(policy.allows_address, limits=limits)
    return cls(
        timeout=options.timeout,
        transport=transport,
        limits=limits,
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": user_agent()},
    )


def _next_hop(
    policy: HostPolicy, response: httpx.Response, request_id: str | None
) -> httpx.Request | None:
    """Where ``response`` redirects to (an allowed URL: any other is refused), or None."""
    if response.next_request is not None:
        policy.check_url(response.next_request.url, request_id=request_id)
    return response.next_request


def _begin(part: PartFile, step: Fetch, response: httpx.Response) -> int | None:
    """The answer checked before its body is read; its announced size (or None)."""
    announced = check_download_response(
        response, max_bytes=step.cap, request_id=step.request_id, kind=_kind(step.item)
    )
    if step.named:
        _name_by_type(part, step.item, response)
    return announced


def _open_part(step: Fetch) -> PartFile:
    return PartFile(step.target, max_bytes=step.cap, request_id=step.request_id)


def _finish(part: PartFile) -> Path:
    part.flush()
    return part.commit()


@contextlib.contextmanager
def _job_of(request_id: str | None) -> Iterator[None]:
    """A ``DownloadError`` raised inside is given the job's id (if it has none yet)."""
    try:
        yield
    except DownloadError as error:
        error.request_id = error.request_id or request_id
        raise


class _Fetcher:
    """What both fetchers hold: the client's shared state, host policy, options and retries."""

    def __init__(
        self, shared: SharedState, policy: HostPolicy, options: ClientOptions, retry: RetryPolicy
    ) -> None:
        self._shared = shared
        self._policy = policy
        self._options = options
        self._retry = retry


class Fetcher(_Fetcher):
    """``Client``'s downloads, on an httpx client made on first use."""

    _files: httpx.Client | None = None

    def _client(self) -> httpx.Client:
        if self._files is None:
            self._files = _files_client(httpx.Client, self._shared, self._policy, self._options)
        return self._files

    def _open(self, url: str, request_id: str | None) -> httpx.Response:
        """The streamed answer for ``url``, following redirects only to allowed URLs."""
        files = self._client()
        self._policy.check_url(url, request_id=request_id)
        request = files.build_request("GET", url)
        for _ in range(MAX_DOWNLOAD_REDIRECTS + 1):
            with _job_of(request_id):  # an address the transport refused
                response = files.send(request, stream=True)
            next_request = _next_hop(self._policy, response, request_id)
            if next_request is None:
                return response
            response.close()
            request = next_request
        raise DownloadError("download failed: too many redirects", request_id=request_id)

    def fetch(self, step: Fetch) -> Path:
        """Save one file (see ``sora2._flows.Fetch``), retried when safe."""
        request_id = step.request_id

        def attempt() -> Path:
            with _open_part(step) as part:
                try:
                    response = self._open(step.item.url, request_id)
                    try:
                        announced = _begin(part, step, response)
                        for chunk in response.iter_bytes(DOWNLOAD_CHUNK_SIZE):
                            part.write(chunk)
                            if step.on_progress is not None:
                                step.on_progress(part.size, announced)
                        part.check_length(announced, wire_bytes(response, part))
                    finally:
                        response.close()
                except (httpx.TransportError, httpx.DecodingError) as exc:
                    raise transport_failure(exc, request_id) from exc
                return _finish(part)

        return call_with_retries(self._retry, "download", attempt)

    def close(self) -> None:
        if self._files is not None:
            self._files.close()


class AsyncFetcher(_Fetcher):
    """``AsyncClient``'s downloads: file I/O in worker threads, at most ``connection_limit``
    in flight (its own bound: a long download never holds up a status poll)."""

    _files: httpx.AsyncClient | None = None

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._slots = InFlight(self._options.connection_limit, self._options.timeout.pool)

    def _client(self) -> httpx.AsyncClient:
        if self._files is None:
            self._files = _files_client(
                httpx.AsyncClient, self._shared, self._policy, self._options
            )
        return self._files

    async def _open(self, url: str, request_id: str | None) -> httpx.Response:
        files = self._client()
        self._policy.check_url(url, request_id=request_id)
        request = files.build_request("GET", url)
        for _ in range(MAX_DOWNLOAD_REDIRECTS + 1):
            with _job_of(request_id):  # an address the transport refused
                response = await files.send(request, stream=True)
            next_request = _next_hop(self._policy, response, request_id)
            if next_request is None:
                return response
            await response.aclose()
            request = next_request
        raise DownloadError("download failed: too many redirects", request_id=request_id)

    async def fetch(self, step: Fetch) -> Path:
        """See :meth:`Fetcher.fetch`."""
        request_id = step.request_id

        async def attempt() -> Path:
            part: PartFile = await run_in_worker(_open_part, step)
            with part:
                try:
                    async with self._slots.hold():
                        response = await self._open(step.item.url, request_id)
                        try:
                            announced = _begin(part, step, response)
                            async for chunk in response.aiter_bytes(DOWNLOAD_CHUNK_SIZE):
                                await run_in_worker(part.write, chunk)
                                if step.on_progress is not None:
                                    step.on_progress(part.size, announced)
                            part.check_length(announced, wire_bytes(response, part))
                        finally:
                            await response.aclose()
                except (httpx.TransportError, httpx.DecodingError) as exc:
                    raise transport_failure(exc, request_id) from exc
                return await run_in_worker(_finish, part)

        return await acall_with_retries(self._retry, "download", attempt)

    async def aclose(self) -> None:
        if self._files is not None:
            await self._files.aclose()

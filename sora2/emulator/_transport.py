"""A sync httpx transport for an ASGI app, so a plain ``httpx.Client`` can talk to the emulator.

httpx only ships an async ASGI transport. This one runs the app on an asyncio event loop in
a background thread (started on first use) and hands each request to ``httpx.ASGITransport``
there. Submitting to the loop is thread-safe, so one transport serves many threads at once;
their requests run concurrently on the loop. The thread is a daemon: a transport nobody closed
does not keep the interpreter from exiting (anyio's blocking portal would).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from starlette.types import ASGIApp

__all__ = [
    "AsyncInProcessTransport",
    "InProcessTransport",
    "SyncASGITransport",
    "async_transport",
    "transport",
]

_Exchange = tuple[int, list[tuple[bytes, bytes]], bytes, dict[str, Any]]


class SyncASGITransport(httpx.BaseTransport):
    """An ``httpx.BaseTransport`` that calls an ASGI app in process.

    The request's read timeout, when set, bounds the whole exchange and raises
    ``httpx.ReadTimeout`` (``httpx.ASGITransport`` ignores timeouts). Exceptions raised by the
    app reach the caller, as with ``httpx.ASGITransport``: an injected dropped connection is
    an ``httpx.RemoteProtocolError``. Close the transport (or the client that owns it) to stop
    the background thread; a closed transport refuses new requests.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        raise_app_exceptions: bool = True,
        root_path: str = "",
        client: tuple[str, int] = ("127.0.0.1", 123),
    ) -> None:
        self.app = app
        self._asgi = httpx.ASGITransport(
            app=app,
            raise_app_exceptions=raise_app_exceptions,
            root_path=root_path,
            client=client,
        )
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    def _schedule(
        self, request: httpx.Request, timeout: float | None
    ) -> concurrent.futures.Future[_Exchange]:
        """Start the loop if needed and schedule the exchange, under the lock that close()
        takes, so a request is either refused or scheduled before the loop is told to stop."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this SyncASGITransport is closed")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=_run_loop, args=(loop,), name="sora2-asgi-transport", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return asyncio.run_coroutine_threadsafe(self._exchange(request, timeout), self._loop)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        content = request.read()
        forwarded = httpx.Request(
            request.method,
            request.url,
            headers=request.headers,
            content=content,
            extensions=request.extensions,
        )
        timeout = request.extensions.get("timeout", {}).get("read")
        status, headers, body, extensions = self._schedule(forwarded, timeout).result()
        return httpx.Response(
            status,
            headers=headers,
            stream=httpx.ByteStream(body),
            extensions=extensions,
            request=request,
        )

    async def _exchange(self, request: httpx.Request, timeout: float | None) -> _Exchange:
        import anyio

        scope = anyio.fail_after(timeout) if timeout is not None else nullcontext()
        try:
            with scope:
                response = await self._asgi.handle_async_request(request)
                assert isinstance(response.stream, httpx.AsyncByteStream)
                try:
                    body = b"".join([part async for part in response.stream])
                finally:
                    await response.stream.aclose()
        except TimeoutError as exc:
            raise httpx.ReadTimeout(f"no answer within {timeout} s", request=request) from exc
        return response.status_code, response.headers.raw, body, dict(response.extensions)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            if thread is not threading.current_thread():
                thread.join()


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    """The transport's thread: run the loop until closed, then cancel what is left."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


class InProcessTransport(SyncASGITransport):
    """A new emulator as a client's transport: ``Client(transport=transport())`` is
    ``Client(emulator=True)``. A client on it needs no key (it sends a stand-in token), keeps
    its own journal file, and its paid-job hints name the client's own calls, since no later
    command can reach an emulator that ends with its client."""

    in_process = True


class AsyncInProcessTransport(httpx.ASGITransport):
    """The async twin of :class:`InProcessTransport` (``AsyncClient(transport=...)``)."""

    in_process = True


def transport(**options: Any) -> InProcessTransport:
    """A sync transport into a new in-process emulator; ``options`` are ``create_app``'s."""
    from ._app import create_app

    return InProcessTransport(create_app(**options))


def async_transport(**options: Any) -> AsyncInProcessTransport:
    """An async transport into a new in-process emulator; ``options`` are ``create_app``'s."""
    from ._app import create_app

    return AsyncInProcessTransport(app=create_app(**options))

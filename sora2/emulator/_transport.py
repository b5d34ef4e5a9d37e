"""A sync httpx transport for an ASGI app, so a plain ``httpx.Client`` can talk to the emulator.

httpx only ships an async ASGI transport. This one runs the app on an event loop in a
background thread (an anyio blocking portal, started on first use) and hands each request to
``httpx.ASGITransport`` there. ``portal.call`` is thread-safe, so one transport serves many
threads at once; their requests run concurrently on the portal's loop.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack, nullcontext
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from anyio.from_thread import BlockingPortal
    from starlette.types import ASGIApp

__all__ = ["SyncASGITransport"]


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
        self._stack: ExitStack | None = None
        self._portal: BlockingPortal | None = None
        self._closed = False

    def _get_portal(self) -> BlockingPortal:
        with self._lock:
            if self._closed:
                raise RuntimeError("this SyncASGITransport is closed")
            if self._portal is None:
                from anyio.from_thread import start_blocking_portal

                stack = ExitStack()
                self._portal = stack.enter_context(start_blocking_portal())
                self._stack = stack
            return self._portal

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
        status, headers, body, extensions = self._get_portal().call(
            self._exchange, forwarded, timeout
        )
        return httpx.Response(
            status,
            headers=headers,
            stream=httpx.ByteStream(body),
            extensions=extensions,
            request=request,
        )

    async def _exchange(
        self, request: httpx.Request, timeout: float | None
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes, dict[str, Any]]:
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
            stack, self._stack, self._portal = self._stack, None, None
        if stack is not None:
            stack.close()

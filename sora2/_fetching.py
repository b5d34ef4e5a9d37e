"""Fetching output files: the clients' second httpx client, for downloads only.

It carries no token (output URLs need none) and reads nothing from the environment (no netrc
credentials, no proxy: a proxy would resolve names out of reach of the address check). It
fetches a URL, and follows a redirect, only where the client's ``HostPolicy`` allows; on the
network its transport checks every resolved address before connecting (``sora2._guarded``).
It streams each file into a ``PartFile`` and retries what is safe to retry. ``Fetcher`` serves
``Client``, ``AsyncFetcher`` serves ``AsyncClient``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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
from ._exceptions import DownloadError
from ._hosts import HostPolicy
from ._http import user_agent
from ._outputs import FILE_KIND
from ._retry import RetryPolicy, acall_with_retries, call_with_retries
from ._transports import AsyncBorrowedTransport, BorrowedTransport, InFlight
from ._types import OutputFile

if TYPE_CHECKING:
    from ._base_client import SharedState

__all__ = ["AsyncFetcher", "Fetcher"]

T = TypeVar("T")
Progress = Callable[[int, int | None], None]


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


class Fetcher:
    """``Client``'s downloads, on an httpx client made on first use."""

    def __init__(
        self,
        shared: SharedState,
        *,
        policy: HostPolicy,
        timeout: httpx.Timeout,
        limits: httpx.Limits,
        retry: RetryPolicy,
    ) -> None:
        self._shared = shared
        self._policy = policy
        self._timeout = timeout
        self._limits = limits
        self._retry = retry
        self._files: httpx.Client | None = None

    def _client(self) -> httpx.Client:
        if self._files is None:
            source = self._shared.transport
            transport: httpx.BaseTransport
            if isinstance(source, httpx.BaseTransport):
                transport = BorrowedTransport(source)
            else:
                from ._guarded import GuardedTransport

                transport = GuardedTransport(self._policy.allows_address, limits=self._limits)
            self._files = httpx.Client(
                timeout=self._timeout,
                transport=transport,
                limits=self._limits,
                follow_redirects=False,
                trust_env=False,
                headers={"User-Agent": user_agent()},
            )
        return self._files

    def _open(self, url: str, request_id: str | None) -> httpx.Response:
        """The streamed answer for ``url``, following redirects only to allowed URLs."""
        files = self._client()
        request = files.build_request("GET", url)
        for _ in range(MAX_DOWNLOAD_REDIRECTS + 1):
            self._policy.check_url(request.url, request_id=request_id)
            try:
                response = files.send(request, stream=True)
            except DownloadError as error:  # an address the transport refused
                error.request_id = error.request_id or request_id
                raise
            if response.next_request is None:
                return response
            request = response.next_request
            response.close()
        raise DownloadError("download failed: too many redirects", request_id=request_id)

    def fetch(
        self,
        item: OutputFile,
        target: Path,
        cap: int,
        request_id: str | None,
        on_progress: Progress | None,
        *,
        named: bool = False,
    ) -> Path:
        """Save one file at ``target`` (at most ``cap`` bytes), retried when safe. ``named``:
        ``target``'s name was made up, so its extension may follow the content type."""
        url, kind = item.url, _kind(item)

        def attempt() -> Path:
            with PartFile(target, max_bytes=cap, request_id=request_id) as part:
                try:
                    response = self._open(url, request_id)
                    try:
                        announced = check_download_response(
                            response, max_bytes=cap, request_id=request_id, kind=kind
                        )
                        if named:
                            _name_by_type(part, item, response)
                        for chunk in response.iter_bytes(DOWNLOAD_CHUNK_SIZE):
                            part.write(chunk)
                            if on_progress is not None:
                                on_progress(part.size, announced)
                        part.check_length(announced, wire_bytes(response, part))
                    finally:
                        response.close()
                except (httpx.TransportError, httpx.DecodingError) as exc:
                    raise transport_failure(exc, request_id) from exc
                part.flush()
                return part.commit()

        return call_with_retries(self._retry, "download", attempt)

    def close(self) -> None:
        if self._files is not None:
            self._files.close()


class AsyncFetcher:
    """``AsyncClient``'s downloads: file I/O in worker threads, at most ``limit`` in flight."""

    def __init__(
        self,
        shared: SharedState,
        *,
        timeout: httpx.Timeout,
        limits: httpx.Limits,
        retry: RetryPolicy,
        policy: HostPolicy,
        limit: int,
        in_thread: Callable[..., Awaitable[Any]],
    ) -> None:
        self._shared = shared
        self._policy = policy
        self._timeout = timeout
        self._limits = limits
        self._retry = retry
        self._in_thread = in_thread
        self._files: httpx.AsyncClient | None = None
        # Its own bound (each httpx client has its own pool): a long download never holds up
        # a status poll.
        self._slots = InFlight(limit, timeout.pool)

    def _client(self) -> httpx.AsyncClient:
        if self._files is None:
            source = self._shared.transport
            transport: httpx.AsyncBaseTransport
            if isinstance(source, httpx.AsyncBaseTransport):
                transport = AsyncBorrowedTransport(source)
            else:
                from ._aiohttp import guarded_download_transport

                transport = guarded_download_transport(self._policy.allows_address, self._limits)
            self._files = httpx.AsyncClient(
                timeout=self._timeout,
                transport=transport,
                limits=self._limits,
                follow_redirects=False,
                trust_env=False,
                headers={"User-Agent": user_agent()},
            )
        return self._files

    async def _open(self, url: str, request_id: str | None) -> httpx.Response:
        files = self._client()
        request = files.build_request("GET", url)
        for _ in range(MAX_DOWNLOAD_REDIRECTS + 1):
            self._policy.check_url(request.url, request_id=request_id)
            try:
                response = await files.send(request, stream=True)
            except DownloadError as error:  # an address the transport refused
                error.request_id = error.request_id or request_id
                raise
            if response.next_request is None:
                return response
            request = response.next_request
            await response.aclose()
        raise DownloadError("download failed: too many redirects", request_id=request_id)

    async def fetch(
        self,
        item: OutputFile,
        target: Path,
        cap: int,
        request_id: str | None,
        on_progress: Progress | None,
        *,
        named: bool = False,
    ) -> Path:
        """See :meth:`Fetcher.fetch`."""
        url, kind = item.url, _kind(item)

        def open_part() -> PartFile:
            return PartFile(target, max_bytes=cap, request_id=request_id)

        def finish(part: PartFile, last: bytes, announced: int | None, wire: int | None) -> Path:
            """The last chunk written, the length checked (``wire``: the bytes received, when
            the body was encoded), the file committed: one hop (a video of one chunk costs two
            hops in all, not three)."""
            part.write(last)
            part.check_length(announced, part.size if wire is None else wire)
            part.flush()
            return part.commit()

        async def attempt() -> Path:
            part: PartFile = await self._in_thread(open_part)
            with part:
                last = b""  # each chunk is written when the next arrives; the last by finish()
                try:
                    slot = await self._slots.acquire()
                    try:
                        response = await self._open(url, request_id)
                        try:
                            announced = check_download_response(
                                response, max_bytes=cap, request_id=request_id, kind=kind
                            )
                            if named:
                                _name_by_type(part, item, response)
                            async for chunk in response.aiter_bytes(DOWNLOAD_CHUNK_SIZE):
                                if last:
                                    await self._in_thread(part.write, last)
                                    if on_progress is not None:
                                        on_progress(part.size, announced)
                                last = chunk
                            # Not the response itself: finish() may wait its turn for a thread.
                            encoding = response.headers.get("content-encoding", "identity")
                            identity = encoding.lower() == "identity"
                            wire = None if identity else wire_bytes(response, part)
                        finally:
                            await response.aclose()
                    finally:
                        slot.release()
                except (httpx.TransportError, httpx.DecodingError) as exc:
                    raise transport_failure(exc, request_id) from exc
                path: Path = await self._in_thread(finish, part, last, announced, wire)
                if on_progress is not None and last:
                    on_progress(part.size, announced)
                return path

        return await acall_with_retries(self._retry, "download", attempt)

    async def aclose(self) -> None:
        if self._files is not None:
            await self._files.aclose()

"""Downloading a result's files: the download client, its checks, and the part file.

Guarantees, for both clients:

* nothing partial ever sits at the target path: the bytes go to a hidden ``.part`` file in the
  same directory, which is fsynced and atomically renamed only once complete and checked, and
  removed on any failure (Ctrl-C included);
* checks: status 200, a content type that suits the file's kind, the size against
  Content-Length and against a cap, before and while streaming;
* no credentials: file URLs are fetched by a second httpx client (``Fetcher``, ``AsyncFetcher``)
  that has no Authorization header at all and reads nothing from the environment (no netrc
  credentials, no proxy: a proxy would resolve names out of reach of the address check);
* only from where the client trusts (``HostPolicy`` of ``sora2._transports``, and on the network
  ``sora2._guarded``, which checks every resolved address): redirects included.

What is safe to retry is retried. Where each file goes is ``sora2._outputs``'s.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Final, TypeVar

import httpx

from ._exceptions import DownloadError, TransientDownloadError, parse_retry_after
from ._options import DOWNLOAD_CHUNK_SIZE, MAX_DOWNLOAD_REDIRECTS, user_agent
from ._outputs import FILE_KIND, allowed_content_types, required_kind, type_suffix, url_suffix
from ._retry import IDEMPOTENT_RETRY_STATUSES, RetryPolicy, acall_with_retries, call_with_retries
from ._transports import BorrowedTransport, HostPolicy, logger, redact
from ._types import OutputFile

if TYPE_CHECKING:
    from ._base_client import SharedState
    from ._flows import Fetch
    from ._options import ClientOptions

__all__ = [
    "AsyncFetcher",
    "Fetcher",
    "PartFile",
    "check_download_response",
    "transport_failure",
]

C = TypeVar("C", httpx.Client, httpx.AsyncClient)
_O_BINARY: Final = getattr(os, "O_BINARY", 0)


def check_download_response(
    response: httpx.Response, *, max_bytes: int, request_id: str | None, kind: str | None = None
) -> int | None:
    """Check status, type and announced size; the announced size (Content-Length) or None.

    The type must suit the file's ``kind`` (see :func:`allowed_content_types`).
    """
    status = response.status_code
    if status != 200:
        message = f"download failed: {status} {response.reason_phrase}"
        if status in IDEMPOTENT_RETRY_STATUSES:
            raise TransientDownloadError(
                message, request_id=request_id, retry_after=parse_retry_after(response.headers)
            )
        raise DownloadError(message, request_id=request_id)
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    allowed = allowed_content_types(kind)
    if (
        not content_type.startswith(allowed)
        or content_type.endswith("/")
        or (kind == FILE_KIND and content_type == "text/html")
    ):
        what = "a video" if kind is None else f"a {kind}"
        raise DownloadError(
            f"download refused: content type {content_type or '(none)'!r} is not {what}",
            request_id=request_id,
        )
    length_header = response.headers.get("content-length")
    length: int | None = None
    if length_header is not None:
        try:
            length = int(length_header)
        except ValueError:
            raise DownloadError(
                f"download refused: bad Content-Length {length_header!r}", request_id=request_id
            ) from None
        if length > max_bytes:
            raise DownloadError(
                f"download refused: {length} bytes is over the {max_bytes}-byte cap",
                request_id=request_id,
            )
    return length


class PartFile:
    """A temporary file beside ``target`` that becomes ``target`` only through :meth:`commit`;
    created by its first write (``Fetcher``: before its request).

    Used as a context manager: leaving it without a commit (an error, Ctrl-C) deletes the
    temporary file, so the target is either untouched or complete.
    """

    def __init__(self, target: Path, *, max_bytes: int, request_id: str | None) -> None:
        self.target = target
        self.max_bytes = max_bytes
        self.request_id = request_id
        self.size = 0
        self.path = target.with_name(f".{target.name}.{secrets.token_hex(6)}.part")
        self._file: BinaryIO | None = None
        self._committed = False
        self._started = time.time()

    def _opened(self) -> BinaryIO:
        """The file, created (with its folder) by the first write: ``AsyncFetcher`` makes that
        in a worker thread, a small video's in the one hop that also commits it."""
        if self._file is None:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            # Not mkstemp: its 0600 mode would stick to the video; 0666 lets the umask decide.
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
            self._file = os.fdopen(fd, "wb")
        return self._file

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise DownloadError(
                f"download stopped: more than the {self.max_bytes}-byte cap",
                request_id=self.request_id,
            )
        self._opened().write(chunk)

    def rename(self, target: Path) -> None:
        """Commit to ``target`` instead (same directory): a name chosen once the answer's
        content type is known."""
        self.target = target

    def check_length(self, announced: int | None, received: int) -> None:
        """Fail if fewer or more bytes arrived on the wire than Content-Length announced."""
        if announced is not None and received != announced:
            raise TransientDownloadError(
                f"download incomplete: {received} of {announced} bytes",
                request_id=self.request_id,
            )

    def flush(self) -> None:
        """Flush and fsync the data (blocking; the async client runs it in a thread)."""
        file = self._opened()
        file.flush()
        os.fsync(file.fileno())

    def commit(self) -> Path:
        """Move the complete file into place atomically, and make the rename durable."""
        self._opened().close()
        os.replace(self.path, self.target)
        self._committed = True
        with contextlib.suppress(OSError):  # not every platform can fsync a directory
            dir_fd = os.open(self.target.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        logger.debug("saved %d bytes to %s", self.size, self.target)
        self._remove_stale_parts()
        return self.target

    def _remove_stale_parts(self) -> None:
        """Delete part files of this target left by a killed process (SIGKILL skips cleanup).

        Only those untouched since before this download began: a live download elsewhere
        keeps writing, so its file stays fresh and is left alone. The folder is listed once
        per process (``_parts_found``), not once per file: 10,000 videos saved in one folder
        would otherwise list it 10,000 times.
        """
        for stale in _parts_found(self.target.parent, self.target.name):
            with contextlib.suppress(OSError):
                if stale.stat().st_mtime < self._started:
                    stale.unlink()
                    logger.debug("removed a stale part file %s", stale)

    def discard(self) -> None:
        if self._file is None:  # never opened: nothing was written
            return
        if not self._file.closed:
            self._file.close()
        if not self._committed:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def __enter__(self) -> PartFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.discard()


_PART_NAME = re.compile(r"\.(?P<target>.+)\.[0-9a-f]{12}\.part\Z", re.DOTALL)
_parts_by_folder: dict[Path, dict[str, list[Path]]] = {}
_parts_lock = threading.Lock()


def _parts_found(folder: Path, target_name: str) -> list[Path]:
    """The part files of ``target_name`` that were in ``folder`` when this process first
    looked there (each is handed out once): those a killed process may have left behind."""
    with _parts_lock:
        found = _parts_by_folder.get(folder)
        if found is None:
            found = _parts_by_folder[folder] = {}
            with contextlib.suppress(OSError), os.scandir(folder) as entries:
                for entry in entries:
                    matched = _PART_NAME.match(entry.name)
                    if matched is not None:
                        found.setdefault(matched["target"], []).append(folder / entry.name)
        return found.pop(target_name, [])


def transport_failure(
    exc: httpx.TransportError | httpx.DecodingError, request_id: str | None
) -> DownloadError:
    """A connection problem, or a body that cannot be decoded (a corrupt gzip stream), during a
    download: retried, then reported as a DownloadError."""
    from ._errors import host_port

    detail = redact(str(exc)) or type(exc).__name__
    with contextlib.suppress(RuntimeError):  # httpx raises when no request is tied to it
        detail = f"{host_port(exc.request.url)}: {detail}"
    return TransientDownloadError(f"download failed: {detail}", request_id=request_id)


def _encoded_bytes(response: httpx.Response) -> int | None:
    """Bytes received as sent when the body was encoded (compressed); None when it was not, and
    what was written is what was sent."""
    if response.headers.get("content-encoding", "identity").lower() != "identity":
        return response.num_bytes_downloaded
    return None


def _name_by_type(part: PartFile, item: OutputFile, response: httpx.Response) -> None:
    """A made-up name of a file whose URL has no extension takes its content type's
    (``image/jpeg`` -> ``.jpg``) instead of its kind's guess."""
    suffix = type_suffix(response.headers.get("content-type", ""))
    if suffix and not url_suffix(item.url) and suffix != part.target.suffix:
        part.rename(part.target.with_suffix(suffix))


def _files_client(
    cls: type[C], shared: SharedState, policy: HostPolicy, options: ClientOptions
) -> C:
    """The download client (``cls``, sync or async): no token, nothing from the environment,
    no redirect followed on its own. It borrows the API's transport when the client was given
    one (the emulator's, a test's); on the network it connects only to allowed addresses."""
    sync, limits, source = cls is httpx.Client, options.limits(), shared.transport
    if source is not None:  # of the client's own kind (checked by its _connect)
        transport: Any = BorrowedTransport(source)
    elif sync:
        from ._guarded import GuardedTransport

        transport = GuardedTransport(policy.allows_address, limits=limits)
    else:  # aiohttp when installed: httpcore's pool re-examines every connection per request
        from ._aiohttp import guarded_download_transport

        transport = guarded_download_transport(policy.allows_address, limits)
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
        response, max_bytes=step.cap, request_id=step.request_id, kind=required_kind(step.item)
    )
    if step.named:
        _name_by_type(part, step.item, response)
    return announced


def _finish(
    part: PartFile, last: bytes, announced: int | None, encoded: int | None
) -> tuple[Path, int]:
    """The last chunk written, the length checked against the announced size (``encoded``: the
    bytes received when the body was encoded, see :func:`_encoded_bytes`) and the file
    committed: for ``AsyncFetcher``, one thread hop. The path and the bytes saved."""
    part.write(last)
    part.check_length(announced, part.size if encoded is None else encoded)
    part.flush()
    return part.commit(), part.size


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
        request = files.build_request("GET", self._policy.check_url(url, request_id=request_id))
        for _ in range(MAX_DOWNLOAD_REDIRECTS + 1):
            with _job_of(request_id):  # an address the transport refused
                response = files.send(request, stream=True)
            next_request = _next_hop(self._policy, response, request_id)
            if next_request is None:
                return response
            response.close()
            request = next_request
        raise DownloadError("download failed: too many redirects", request_id=request_id)

    def fetch(self, step: Fetch) -> tuple[Path, int]:
        """Save one file (see ``sora2._flows.Fetch``), retried when safe."""
        request_id = step.request_id

        def attempt() -> tuple[Path, int]:
            with PartFile(step.target, max_bytes=step.cap, request_id=step.request_id) as part:
                part._opened()  # before the request: a part file says a download is under way
                try:
                    response = self._open(step.item.url, request_id)
                    try:
                        announced = _begin(part, step, response)
                        for chunk in response.iter_bytes(DOWNLOAD_CHUNK_SIZE):
                            part.write(chunk)
                            if step.on_progress is not None:
                                step.on_progress(part.size, announced)
                        encoded = _encoded_bytes(response)
                    finally:
                        response.close()
                except (httpx.TransportError, httpx.DecodingError) as exc:
                    raise transport_failure(exc, request_id) from exc
                return _finish(part, b"", announced, encoded)

        return call_with_retries(self._retry, "download", attempt)

    def close(self) -> None:
        if self._files is not None:
            self._files.close()


class AsyncFetcher(_Fetcher):
    """``AsyncClient``'s downloads: file I/O in worker threads, at most ``connection_limit``
    in flight (its own bound: a long download never holds up a status poll)."""

    _files: httpx.AsyncClient | None = None

    def __init__(self, *args: Any) -> None:
        from ._aiohttp import InFlight  # async only: a sync client never loads it

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
        request = files.build_request("GET", self._policy.check_url(url, request_id=request_id))
        for _ in range(MAX_DOWNLOAD_REDIRECTS + 1):
            with _job_of(request_id):  # an address the transport refused
                response = await files.send(request, stream=True)
            next_request = _next_hop(self._policy, response, request_id)
            if next_request is None:
                return response
            await response.aclose()
            request = next_request
        raise DownloadError("download failed: too many redirects", request_id=request_id)

    async def fetch(self, step: Fetch) -> tuple[Path, int]:
        """See :meth:`Fetcher.fetch`."""
        from ._threads import run_in_worker  # async only: a sync client never loads it

        request_id = step.request_id

        async def attempt() -> tuple[Path, int]:
            # Created by its first write, in a worker thread: no hop of its own.
            with PartFile(step.target, max_bytes=step.cap, request_id=step.request_id) as part:
                try:
                    async with self._slots.hold():
                        response = await self._open(step.item.url, request_id)
                        try:
                            announced, last = _begin(part, step, response), b""
                            async for chunk in response.aiter_bytes(DOWNLOAD_CHUNK_SIZE):
                                if last:  # each chunk written when the next one arrives
                                    await run_in_worker(part.write, last)
                                    if step.on_progress is not None:
                                        step.on_progress(part.size, announced)
                                last = chunk
                            encoded = _encoded_bytes(response)
                        finally:
                            await response.aclose()
                except (httpx.TransportError, httpx.DecodingError) as exc:
                    raise transport_failure(exc, request_id) from exc
                saved = await run_in_worker(_finish, part, last, announced, encoded)
                if step.on_progress is not None and last:
                    step.on_progress(part.size, announced)
                return saved

        return await acall_with_retries(self._retry, "download", attempt)

    async def aclose(self) -> None:
        if self._files is not None:
            await self._files.aclose()

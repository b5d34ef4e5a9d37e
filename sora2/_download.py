"""Saving a result's files: where each goes, the checks on the way, the part file, the fetcher.

Guarantees, for both clients (``AsyncFetcher`` is beside ``AsyncClient``), retrying what is safe:

* nothing partial ever sits at the target path: the bytes go to a hidden ``.part`` file beside
  it, fsynced and atomically renamed once complete and checked, removed on any failure (Ctrl-C);
* checks: status 200, a content type that suits the file's kind, the size against
  Content-Length and against a cap, before and while streaming;
* no credentials: a second httpx client, with no Authorization header, reading nothing from the
  environment (no netrc, no proxy: it would resolve names out of reach of the address check);
* only from hosts the client trusts (``HostPolicy``; on the network ``sora2._guarded`` checks
  every resolved address), redirects included.
"""

from __future__ import annotations

import contextlib
import mimetypes
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO, Final, TypeVar

import httpx

from ._exceptions import DownloadError, InvalidInputError, TransientDownloadError, parse_retry_after
from ._options import DOWNLOAD_CHUNK_SIZE, MAX_DOWNLOAD_REDIRECTS, user_agent
from ._transports import BorrowedTransport, HostPolicy, logger
from ._types import FILE_KIND, OutputFile, allowed_content_types, required_kind

if TYPE_CHECKING:
    from ._base_client import SharedState
    from ._flows import Fetch
    from ._options import ClientOptions
    from ._retry import RetryPolicy

__all__ = [
    "Fetcher",
    "FetcherBase",
    "PartFile",
    "absolute_target",
    "begin",
    "check_download_response",
    "check_output_target",
    "file_suffix",
    "job_of",
    "names_directory",
    "names_files",
    "target_paths",
    "url_suffix",
]

C = TypeVar("C", httpx.Client, httpx.AsyncClient)
_O_BINARY: Final = getattr(os, "O_BINARY", 0)

# Where each file goes ---------------------------------------------------------------------

_FILE_SUFFIX: Final = ".bin"
_KIND_SUFFIXES: Final = {"image": ".png", "video": ".mp4"}  # for a URL without an extension
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def url_suffix(url: str) -> str:
    """The extension of a URL's path (``".png"``), or ``""`` when it has none."""
    suffix = _SAFE_NAME.sub("", PurePosixPath(httpx.URL(url).path).suffix)
    return suffix if len(suffix) > 1 else ""


def file_suffix(url: str, kind: str) -> str:
    """A file's extension before it is fetched: its URL's, else the usual one of its kind's
    media (``.png``...); a made-up name follows the answer's content type (``Fetcher``)."""
    return url_suffix(url) or _KIND_SUFFIXES.get(kind, _FILE_SUFFIX)


def names_directory(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` means "inside this folder": an existing directory, or a path that
    ends with a separator (``"dl/"``), which need not exist yet."""
    raw = os.fspath(path)
    return raw.endswith((os.sep, "/")) or Path(raw).expanduser().is_dir()


def names_files(path: str | os.PathLike[str], count: int) -> bool:
    """True when :func:`target_paths` makes up the file names (a directory, or several files
    beside ``path``); False when ``path`` itself is the one file's name."""
    return count > 1 or names_directory(path)


def target_paths(
    path: str | os.PathLike[str], files: Sequence[OutputFile], request_id: str | None
) -> list[Path]:
    """Where each of a job's files goes; the naming rule of ``download`` and ``generate``.

    ``path`` names a directory when it is an existing one or ends with a path separator
    (``"dl/"``: created if missing). One file: ``path`` itself, or inside the directory as
    ``<request_id><ext>``. Several files: inside the directory as ``<request_id>-1<ext>``,
    ``<request_id>-2<ext>``...; otherwise beside ``path``, as ``<stem>-1<ext>``,
    ``<stem>-2<ext>``... Each ``<ext>`` is the file's own: its URL's, else the usual one of the
    content type it arrives with, else its kind's; the numbers follow ``JobResult.files``.
    """
    target = Path(path).expanduser()
    if not names_directory(path):
        if len(files) == 1:
            return [target.absolute()]
        directory, stem = target.parent, target.stem
    elif len(files) == 1:
        only = files[0]
        stem = request_id or PurePosixPath(httpx.URL(only.url).path).stem or only.kind
        name = _SAFE_NAME.sub("_", stem) + file_suffix(only.url, only.kind)
        return [(target / name).absolute()]
    else:
        directory, stem = target, _SAFE_NAME.sub("_", request_id or "output")
    return [
        (directory / f"{stem}-{index}{file_suffix(item.url, item.kind)}").absolute()
        for index, item in enumerate(files, start=1)
    ]


def absolute_target(path: str | os.PathLike[str]) -> str:
    """``path`` made absolute, keeping a trailing separator (it says "a directory")."""
    raw = os.fspath(path)
    absolute = str(Path(raw).expanduser().absolute())
    if raw.endswith((os.sep, "/")) and not absolute.endswith(os.sep):
        absolute += os.sep
    return absolute


_PROBE_SECONDS: Final = 10.0  # how long a folder that took a probe file counts as writable
_probed: dict[Path, float] = {}


def check_output_target(out: str | os.PathLike[str]) -> None:
    """Refuse (``InvalidInputError(field="out")``), before anything is paid for, an output path
    the video could not be saved at: a writable directory, or a file path whose directory
    exists or can be created. A probe file is written (permission bits say nothing for root, a
    read-only file system or ``/proc``), once per folder per ``_PROBE_SECONDS``."""
    try:
        target = Path(out).expanduser().absolute()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise InvalidInputError(f"out: not a usable path: {exc}", field="out", value=out) from None
    if "\x00" in str(target):
        raise _bad_out(out, "the path contains a NUL character")
    wants_directory = str(out).endswith(("/", os.sep))
    if target.exists() and not target.is_dir():
        if wants_directory:
            raise _bad_out(out, f"{target} is a file, not a directory")
        if not target.is_file():
            raise _bad_out(out, f"{target} is not a regular file")
    directory = target if wants_directory or target.is_dir() else target.parent
    for ancestor in (directory, *directory.parents):
        if ancestor.exists():
            if not ancestor.is_dir():
                raise _bad_out(out, f"{ancestor} is not a directory")
            break
    if time.monotonic() - _probed.get(directory, -_PROBE_SECONDS) < _PROBE_SECONDS:
        return  # proven writable a moment ago
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".sora2-probe.{secrets.token_hex(6)}.part"
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o600))
        probe.unlink()
    except (OSError, ValueError) as exc:
        reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
        raise _bad_out(out, f"cannot write in {directory}: {reason}") from None
    if len(_probed) >= 256:
        _probed.clear()
    _probed[directory] = time.monotonic()


def _bad_out(out: str | os.PathLike[str], reason: str) -> InvalidInputError:
    message = f"out: {reason}; nothing was submitted (choose a writable file or directory)"
    return InvalidInputError(message, field="out", value=str(out))


def check_download_response(
    response: httpx.Response, *, max_bytes: int, request_id: str | None, kind: str | None
) -> int | None:
    """Check status, type (see :func:`allowed_content_types`) and announced size; the
    announced size (Content-Length) or None."""
    status = response.status_code
    if status != 200:
        message = f"download failed: {status} {response.reason_phrase}"
        from ._retry import IDEMPOTENT_RETRY_STATUSES

        if status in IDEMPOTENT_RETRY_STATUSES:
            raise TransientDownloadError(
                message, request_id=request_id, retry_after=parse_retry_after(response.headers)
            )
        raise DownloadError(message, request_id=request_id)
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if (
        not content_type.startswith(allowed_content_types(kind))
        or content_type.endswith("/")
        or (kind == FILE_KIND and content_type == "text/html")
    ):
        what = "a video" if kind is None else f"a {kind}"
        raise DownloadError(
            f"download refused: content type {content_type or '(none)'!r} is not {what}",
            request_id=request_id,
        )
    length_header = response.headers.get("content-length")
    if length_header is None:
        return None
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
    """A temporary file beside ``target`` that becomes ``target`` only through :meth:`finish`;
    created by its first write (``Fetcher``: before its request).

    Used as a context manager: leaving it unfinished (an error, Ctrl-C) deletes the temporary
    file, so the target is either untouched or complete.
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
        """The file, created (with its folder) by the first write (``AsyncFetcher``: in a worker
        thread, a small video's in the one hop that also commits it)."""
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

    def finish(
        self, last: bytes, announced: int | None, response: httpx.Response
    ) -> tuple[Path, int]:
        """Write the last chunk, check the bytes received (as sent, when the body was encoded)
        against Content-Length, then fsync and move the file into place atomically and
        durably: for ``AsyncFetcher``, one thread hop. The path and the bytes saved."""
        self.write(last)
        received = self.size
        if response.headers.get("content-encoding", "identity").lower() != "identity":
            received = response.num_bytes_downloaded
        if announced is not None and received != announced:
            raise TransientDownloadError(
                f"download incomplete: {received} of {announced} bytes", request_id=self.request_id
            )
        file = self._opened()
        file.flush()
        os.fsync(file.fileno())
        file.close()
        os.replace(self.path, self.target)
        self._committed = True
        with contextlib.suppress(OSError):  # not every platform can fsync a directory
            dir_fd = os.open(self.target.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        logger.debug("saved %d bytes to %s", self.size, self.target)
        # Part files a killed process left (SIGKILL skips cleanup), untouched since this began.
        for stale in _parts_found(self.target.parent, self.target.name):
            with contextlib.suppress(OSError):
                if stale.stat().st_mtime < self._started:
                    stale.unlink()
                    logger.debug("removed a stale part file %s", stale)
        return self.target, self.size

    def __enter__(self) -> PartFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._file is None:  # never opened: nothing was written
            return
        if not self._file.closed:
            self._file.close()
        if not self._committed:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


_PART_NAME = re.compile(r"\.(?P<target>.+)\.[0-9a-f]{12}\.part\Z", re.DOTALL)
_parts_by_folder: dict[Path, dict[str, list[Path]]] = {}
_parts_lock = threading.Lock()


def _parts_found(folder: Path, target_name: str) -> list[Path]:
    """The part files of ``target_name`` that were in ``folder`` when this process first
    looked there, each handed out once: 10,000 videos saved in one folder list it once."""
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


# The fetcher ------------------------------------------------------------------------------


def begin(part: PartFile, step: Fetch, response: httpx.Response) -> int | None:
    """The answer checked before its body is read; its announced size (or None). A made-up
    name without a URL extension takes its content type's (``image/jpeg``: ``.jpg``)."""
    announced = check_download_response(
        response, max_bytes=step.cap, request_id=step.request_id, kind=required_kind(step.item)
    )
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    suffix = _SAFE_NAME.sub("", mimetypes.guess_extension(media) or "") if step.named else ""
    if suffix and not url_suffix(step.item.url) and suffix != part.target.suffix:
        part.target = part.target.with_suffix(suffix)
    return announced


@contextlib.contextmanager
def job_of(request_id: str | None) -> Iterator[None]:
    """A ``DownloadError`` raised inside is given the job's id (if it has none yet)."""
    try:
        yield
    except DownloadError as error:
        error.request_id = error.request_id or request_id
        raise


@dataclass(eq=False)
class FetcherBase:
    """What both fetchers hold: the client's shared state, host policy, options and retries."""

    _shared: SharedState
    _policy: HostPolicy
    _options: ClientOptions
    _retry: Callable[[], RetryPolicy]
    """The client's retry policy, asked for (and ``sora2._retry`` loaded) at a first failure."""

    def _made(self, cls: type[C], transport: object) -> C:
        """The download client (``cls``, sync or async) over ``transport``: no token, nothing
        from the environment, no redirect followed on its own."""
        return cls(
            timeout=self._options.timeout,
            transport=transport,  # type: ignore[arg-type]
            limits=self._options.limits(),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": user_agent()},
        )

    def _next_hop(self, response: httpx.Response, request_id: str | None) -> httpx.Request | None:
        """Where ``response`` redirects to (an allowed URL: any other is refused), or None."""
        if response.next_request is not None:
            self._policy.check_url(response.next_request.url, request_id=request_id)
        return response.next_request


class Fetcher(FetcherBase):
    """``Client``'s downloads, on an httpx client made on first use: on the API's transport if
    the client was given one (the emulator's, a test's), else only to allowed addresses."""

    _files: httpx.Client | None = None

    def _client(self) -> httpx.Client:
        if self._files is None:
            transport: object = self._shared.transport  # of the client's kind (its _connect)
            if transport is None:
                from ._guarded import GuardedTransport

                allows, limits = self._policy.allows_address, self._options.limits()
                transport = GuardedTransport(allows, limits=limits)
            else:
                transport = BorrowedTransport(transport)  # type: ignore[arg-type]
            self._files = self._made(httpx.Client, transport)
        return self._files

    def _open(self, url: str, request_id: str | None) -> httpx.Response:
        """The streamed answer for ``url``, following redirects only to allowed URLs."""
        files = self._client()
        request = files.build_request("GET", self._policy.check_url(url, request_id=request_id))
        for _ in range(MAX_DOWNLOAD_REDIRECTS + 1):
            with job_of(request_id):  # an address the transport refused
                response = files.send(request, stream=True)
            next_request = self._next_hop(response, request_id)
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
                        announced = begin(part, step, response)
                        for chunk in response.iter_bytes(DOWNLOAD_CHUNK_SIZE):
                            part.write(chunk)
                            if step.on_progress is not None:
                                step.on_progress(part.size, announced)
                    finally:
                        response.close()
                except (httpx.TransportError, httpx.DecodingError) as exc:
                    from ._errors import transport_failure

                    raise transport_failure(exc, request_id) from exc
                return part.finish(b"", announced, response)

        try:
            return attempt()
        except Exception as exc:  # the retry machinery is loaded at a first failure
            from ._retry import retry_failed

            return retry_failed(self._retry(), "download", attempt, exc)

    def close(self) -> None:
        if self._files is not None:
            self._files.close()

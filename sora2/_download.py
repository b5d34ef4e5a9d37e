"""Saving a result's video: streamed to a temporary file beside the target, then renamed.

Guarantees, for both clients:

* nothing partial ever sits at the target path: the bytes go to a hidden ``.part`` file in the
  same directory, which is fsynced and atomically renamed only once complete and checked, and
  removed on any failure (Ctrl-C included);
* checks: status 200, a ``video/*`` or ``application/octet-stream`` content type, the size
  against Content-Length and against a cap, before and while streaming;
* no credentials: file URLs are fetched by a separate HTTP client that has no Authorization
  header at all;
* only from where the client trusts (``sora2._hosts``, ``sora2._guarded``): https from trusted
  hosts on public addresses, redirects included.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import re
import secrets
import threading
import time
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import TYPE_CHECKING, Final

import httpx

from ._exceptions import DownloadError, InvalidInputError, TransientDownloadError
from ._http import IDEMPOTENT_RETRY_STATUSES, host_port, parse_retry_after
from ._logging import logger, redact
from ._outputs import FILE_KIND

if TYPE_CHECKING:
    from ._types import OutputFile

__all__ = [
    "ALLOWED_CONTENT_TYPES",
    "PartFile",
    "absolute_target",
    "allowed_content_types",
    "check_download_response",
    "check_output_target",
    "file_suffix",
    "is_loopback",
    "names_directory",
    "names_files",
    "target_path",
    "target_paths",
    "transport_failure",
    "type_suffix",
    "url_suffix",
    "wire_bytes",
]

ALLOWED_CONTENT_TYPES: Final = ("video/", "application/octet-stream")
_DEFAULT_SUFFIX: Final = ".mp4"
_FILE_SUFFIX: Final = ".bin"
_KIND_SUFFIXES: Final = {"image": ".png", "video": ".mp4"}
"""The extension of a file whose URL has none, by kind (the emulator's formats)."""
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_O_BINARY: Final = getattr(os, "O_BINARY", 0)


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


def target_path(path: str | os.PathLike[str], url: str, request_id: str | None) -> Path:
    """The file to write: ``path`` itself, or a file named after the job inside a directory."""
    target = Path(path).expanduser()
    if names_directory(path):
        suffix = PurePosixPath(httpx.URL(url).path).suffix or _DEFAULT_SUFFIX
        stem = request_id or PurePosixPath(httpx.URL(url).path).stem or "video"
        target = target / (_SAFE_NAME.sub("_", stem) + _SAFE_NAME.sub("", suffix))
    return target.absolute()


def url_suffix(url: str) -> str:
    """The extension of a URL's path (``".png"``), or ``""`` when it has none."""
    suffix = _SAFE_NAME.sub("", PurePosixPath(httpx.URL(url).path).suffix)
    return suffix if len(suffix) > 1 else ""


def type_suffix(content_type: str) -> str:
    """The usual extension of a media type (``image/jpeg`` -> ``.jpg``), or ``""``."""
    import mimetypes

    media = content_type.split(";")[0].strip().lower()
    return _SAFE_NAME.sub("", mimetypes.guess_extension(media) or "") if media else ""


def names_files(path: str | os.PathLike[str], count: int) -> bool:
    """True when :func:`target_paths` makes up the file names (``path`` names a directory, or
    several files go beside it); False when ``path`` itself is the one file's name."""
    return count > 1 or names_directory(path)


def file_suffix(url: str, kind: str) -> str:
    """A file's extension before it is fetched: its URL's, else the usual one of its kind's
    media (``.png``...). A name made up from the kind is corrected by the answer's content
    type once it arrives (see ``Fetcher.fetch``)."""
    return url_suffix(url) or _KIND_SUFFIXES.get(kind, _FILE_SUFFIX)


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
    if len(files) == 1:
        only = files[0]
        target = Path(path).expanduser()
        if names_directory(path):
            stem = request_id or PurePosixPath(httpx.URL(only.url).path).stem or only.kind
            return [
                (target / (_SAFE_NAME.sub("_", stem) + file_suffix(only.url, only.kind))).absolute()
            ]
        return [target.absolute()]
    target = Path(path).expanduser()
    if names_directory(path):
        directory, stem = target, _SAFE_NAME.sub("_", request_id or "output")
    else:
        directory, stem = target.parent, target.stem
    return [
        (directory / f"{stem}-{index}{file_suffix(item.url, item.kind)}").absolute()
        for index, item in enumerate(files, start=1)
    ]


def names_directory(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` means "inside this folder": an existing directory, or a path that
    ends with a separator (``"dl/"``), which need not exist yet."""
    raw = os.fspath(path)
    return raw.endswith((os.sep, "/")) or Path(raw).expanduser().is_dir()


def absolute_target(path: str | os.PathLike[str]) -> str:
    """``path`` made absolute, keeping a trailing separator (it says "a directory")."""
    raw = os.fspath(path)
    absolute = str(Path(raw).expanduser().absolute())
    if raw.endswith((os.sep, "/")) and not absolute.endswith(os.sep):
        absolute += os.sep
    return absolute


def allowed_content_types(kind: str | None) -> tuple[str, ...]:
    """The media types a file of ``kind`` may arrive as: its own (``image/*``...) or bytes.

    None (a bare URL of unknown kind) keeps the historical rule: a video or bytes. A ``file``
    of unknown kind may be anything.
    """
    if kind is None:
        return ALLOWED_CONTENT_TYPES
    if kind == FILE_KIND:
        return ("",)
    return (f"{kind}/", "application/octet-stream")


def check_output_target(out: str | os.PathLike[str]) -> None:
    """Refuse, before anything is paid for, an output path the video could not be saved at.

    ``out`` must be an existing writable directory (the file is named inside it), or a file
    path whose directory exists or can be created, and is writable. The directory is created
    and a probe file written and removed: permission bits say nothing for root, a read-only
    file system or ``/proc``; a folder that took one is not probed again for
    ``_PROBE_SECONDS`` (a thousand concurrent jobs saving in one folder: one probe).
    Raises ``InvalidInputError(field="out")``.
    """
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
        return  # proven writable a moment ago (1,000 concurrent jobs, one folder: one probe)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".sora2-probe.{secrets.token_hex(6)}.part"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o600)
        os.close(fd)
        probe.unlink()
    except (OSError, ValueError) as exc:
        reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
        raise _bad_out(out, f"cannot write in {directory}: {reason}") from None
    if len(_probed) >= 256:
        _probed.clear()
    _probed[directory] = time.monotonic()


_PROBE_SECONDS: Final = 10.0
"""How long a folder that took a probe file counts as writable without another probe."""
_probed: dict[Path, float] = {}


def _bad_out(out: str | os.PathLike[str], reason: str) -> InvalidInputError:
    return InvalidInputError(
        f"out: {reason}; nothing was submitted (choose a writable file or directory)",
        field="out",
        value=str(out),
    )


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
    """A temporary file beside ``target`` that becomes ``target`` only through :meth:`commit`.

    Used as a context manager: leaving it without a commit (an error, Ctrl-C) deletes the
    temporary file, so the target is either untouched or complete.
    """

    def __init__(self, target: Path, *, max_bytes: int, request_id: str | None) -> None:
        self.target = target
        self.max_bytes = max_bytes
        self.request_id = request_id
        self.size = 0
        target.parent.mkdir(parents=True, exist_ok=True)
        # Not mkstemp: its 0600 mode would stick to the video; 0666 lets the umask decide.
        self.path = target.with_name(f".{target.name}.{secrets.token_hex(6)}.part")
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o666)
        self._file = os.fdopen(fd, "wb")
        self._committed = False
        self._started = time.time()

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise DownloadError(
                f"download stopped: more than the {self.max_bytes}-byte cap",
                request_id=self.request_id,
            )
        self._file.write(chunk)

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
        self._file.flush()
        os.fsync(self._file.fileno())

    def commit(self) -> Path:
        """Move the complete file into place atomically, and make the rename durable."""
        self._file.close()
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
        if not self._file.closed:
            self._file.close()
        if not self._committed:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def __enter__(self) -> PartFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
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
    detail = redact(str(exc)) or type(exc).__name__
    with contextlib.suppress(RuntimeError):  # httpx raises when no request is tied to it
        detail = f"{host_port(exc.request.url)}: {detail}"
    return TransientDownloadError(f"download failed: {detail}", request_id=request_id)


def wire_bytes(response: httpx.Response, part: PartFile) -> int:
    """Bytes received as sent: compressed size if the body was encoded, else what was written."""
    if response.headers.get("content-encoding", "identity").lower() != "identity":
        return response.num_bytes_downloaded
    return part.size

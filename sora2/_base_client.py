"""What ``Client`` and ``AsyncClient`` share: configuration, and every decision that does
not depend on sync or async I/O.

Each call validates its input, delegates to a generated ``*_detailed`` function over our own
httpx client, and turns the exchange into a typed value or a typed error (``sora2._responses``).
The two clients add only the I/O: sending, sleeping, streaming.
"""

from __future__ import annotations

import contextvars
import os
import sqlite3
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeGuard, TypeVar

import httpx

from ._constants import (
    API_KEY_ENV_VARS,
    BASE_URL_ENV_VAR,
    EMULATOR_BASE_URL,
)
from ._download import (
    PartFile,
    is_loopback,
)
from ._exceptions import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    DownloadError,
    InvalidInputError,
    JobFailedError,
    NoOutputError,
    NotFoundError,
    PermissionDeniedError,
    SubmissionUnknownError,
)
from ._http import parse_retry_after
from ._journal import JobRecord, Journal, default_journal_path
from ._logging import logger, redact, register_secret
from ._outputs import is_file_url, kind_of, output_files
from ._polling import Clock, ProgressModel, SystemClock
from ._responses import (
    JOB_NOT_FOUND,
    NOT_SENT_ERRORS,
    error_for_status,
    invalid_response,
    json_body,
    salvage_request_id,
    schema_error,
    submit_failure,
    transport_error,
    unknown_submission,
)
from ._retry import RetryPolicy
from ._types import JobResult, JobStatus, OutputFile, Submission
from ._waiting import WaitTracker

__all__ = [
    "DEFERRED_WRITES",
    "FATAL_FOR_RESUME",
    "PARSE_FAILURES",
    "AsyncBorrowedTransport",
    "BaseClient",
    "BearerAuth",
    "BorrowedTransport",
    "Invocation",
    "JournalOption",
    "SharedState",
    "check_request_id",
    "emulator_app",
    "is_gone",
    "job_failed",
    "wire_bytes",
]

T = TypeVar("T")
PARSE_FAILURES = (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError)
"""What the generated parsers raise on a body that is not what the spec says."""
FATAL_FOR_RESUME = (ConfigurationError, AuthenticationError, PermissionDeniedError)
"""Errors that would fail every job alike: resume stops instead of recording each."""

_EMULATOR_TOKEN = "sora2-emulator"
"""Sent to the in-process emulator when no key is configured: it stands for "any token"."""
_OPTION_NAMES = frozenset(
    {
        "api_key",
        "base_url",
        "timeout",
        "max_retries",
        "journal",
        "wait_timeout",
        "max_download_bytes",
        "connection_limit",
    }
)

_VIDEO_KIND = "video"
"""The kind whose first file is ``JobResult.video_url`` (kept for compatibility)."""

JournalOption = Journal | str | os.PathLike[str] | None | Literal[False]

DEFERRED_WRITES: contextvars.ContextVar[list[Callable[[], object]] | None] = contextvars.ContextVar(
    "sora2_deferred_writes", default=None
)
"""Set by AsyncClient around a sync step: journal writes queue here, to run in a thread."""


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
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        pass


@dataclass
class SharedState:
    """What a client shares with its ``with_options`` copies."""

    clock: Clock
    progress: ProgressModel = field(default_factory=ProgressModel)
    seeded: bool = False
    requested_seconds: dict[str, int] = field(default_factory=dict)
    submitted_wall: dict[str, float] = field(default_factory=dict)
    transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None
    """The transport every copy borrows: the caller's, or the in-process emulator's."""
    in_process: bool = False
    unknown_logged: set[tuple[str, str]] = field(default_factory=set)
    """(request_id, state) of unknown states already logged, so each is logged once per job."""
    journaled: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    """The (state, queue position) last written for each job: a poll that sees the same
    again writes nothing."""
    journaled_urls: dict[str, str] = field(default_factory=dict)


def _first_env(names: tuple[str, ...]) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


class BaseClient:
    """Configuration, and every decision that does not depend on sync or async I/O."""

    def __init__(
        self,
        api_key: str | None,
        *,
        base_url: str | None,
        timeout: float | httpx.Timeout,
        max_retries: int,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None,
        emulator: bool | Mapping[str, Any],
        journal: JournalOption,
        wait_timeout: float,
        max_download_bytes: int,
        connection_limit: int,
        shared: SharedState | None,
        clock: Clock | None,
    ) -> None:
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigurationError(
                f"max_retries must be a whole number >= 0, not {max_retries!r}"
            )
        if wait_timeout < 0:
            raise ConfigurationError(f"wait_timeout must be >= 0, not {wait_timeout!r}")
        if max_download_bytes <= 0:
            raise ConfigurationError(f"max_download_bytes must be > 0, not {max_download_bytes!r}")
        if (
            isinstance(connection_limit, bool)
            or not isinstance(connection_limit, int)
            or connection_limit < 1
        ):
            raise ConfigurationError(
                f"connection_limit must be a whole number >= 1, not {connection_limit!r}"
            )
        self._emulator_options: dict[str, Any] = (
            dict(emulator) if isinstance(emulator, Mapping) else {}
        )
        emulator = isinstance(emulator, Mapping) or bool(emulator)
        if emulator and transport is not None and shared is None:
            raise ConfigurationError("pass either emulator=True or a transport, not both")
        self._emulator = emulator
        # The in-process emulator needs no key: the environment's real token is not sent to it.
        self._api_key = api_key or (None if emulator else _first_env(API_KEY_ENV_VARS))
        if self._api_key:
            register_secret(self._api_key)
        default_base = EMULATOR_BASE_URL if emulator else None
        raw_base = base_url or default_base or os.environ.get(BASE_URL_ENV_VAR)
        if raw_base is None:
            from ._spec import server_url

            raw_base = server_url()
        self._base_url = raw_base.rstrip("/")
        try:
            parsed = httpx.URL(self._base_url)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise ConfigurationError(f"unusable base URL {self._base_url!r}: {exc}") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ConfigurationError(f"unusable base URL {self._base_url!r}: not an http(s) URL")
        uses_network = (shared.transport if shared else transport) is None and not emulator
        if uses_network and parsed.scheme == "http" and not is_loopback(parsed.host):
            raise ConfigurationError(
                f"refusing to send the API token over plain http to {parsed.host}; use https"
            )
        self._origin = parsed
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._max_retries = max_retries
        self._retry = RetryPolicy(max_retries=max_retries)
        self._wait_timeout = float(wait_timeout)
        self._max_download_bytes = max_download_bytes
        self._connection_limit = connection_limit
        self._journal = self._open_journal(journal)
        self._shared = shared or SharedState(clock=clock or SystemClock())
        if shared is None:
            self._shared.transport = transport
            self._shared.in_process = emulator

    # configuration ---------------------------------------------------------------------------

    def _open_journal(self, journal: JournalOption) -> Journal | None:
        self._owns_journal = False
        if journal is False:
            return None
        if isinstance(journal, Journal):
            return journal
        self._owns_journal = True
        if journal is None:
            return Journal(default_journal_path(emulator=self._emulator))
        return Journal(journal)

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def journal(self) -> Journal | None:
        """The journal in use, or None when disabled with ``journal=False``."""
        return self._journal

    @property
    def emulator(self) -> bool:
        return self._emulator

    @property
    def max_retries(self) -> int:
        return self._max_retries

    @property
    def timeout(self) -> httpx.Timeout:
        return self._timeout

    @property
    def wait_timeout(self) -> float:
        return self._wait_timeout

    @property
    def max_download_bytes(self) -> int:
        return self._max_download_bytes

    @property
    def connection_limit(self) -> int:
        """Most connections open at once, all kept alive; AsyncClient: most requests in flight."""
        return self._connection_limit

    def _limits(self) -> httpx.Limits:
        """Every connection kept alive: closing 80 of 100 after each use is pure churn."""
        limit = self._connection_limit
        return httpx.Limits(max_connections=limit, max_keepalive_connections=limit)

    def __repr__(self) -> str:
        journal = str(self._journal.path) if self._journal is not None else None
        return (
            f"{type(self).__name__}(base_url={self._base_url!r}, emulator={self._emulator}, "
            f"journal={journal!r})"
        )

    def _hint_base_url(self) -> str | None:
        """The base URL a ``sora2`` command must be given to reach this client's service, or
        None when it is the command's own default."""
        if self._emulator:
            return None
        from ._spec import server_url

        default = (os.environ.get(BASE_URL_ENV_VAR) or server_url()).rstrip("/")
        return None if self._base_url == default else self._base_url

    def _token(self) -> str | None:
        if self._api_key:
            return self._api_key
        return _EMULATOR_TOKEN if self._emulator else None

    def _require_key(self) -> None:
        if self._token() is None:
            raise ConfigurationError(
                "no API key: pass api_key=..., or set "
                f"{' or '.join(API_KEY_ENV_VARS)} (get a key from your RunComfy profile)"
            )

    def _options(self, overrides: dict[str, Any]) -> dict[str, Any]:
        unknown = set(overrides) - _OPTION_NAMES
        if unknown:
            raise TypeError(f"with_options() got unexpected options: {', '.join(sorted(unknown))}")
        options: dict[str, Any] = {
            "api_key": self._api_key,
            "base_url": self._base_url,
            "timeout": self._timeout,
            "max_retries": self._max_retries,
            "journal": self._journal if self._journal is not None else False,
            "wait_timeout": self._wait_timeout,
            "max_download_bytes": self._max_download_bytes,
            "connection_limit": self._connection_limit,
        }
        options.update(overrides)
        return options

    # journal ---------------------------------------------------------------------------------

    def _journaled(self, action: Callable[[Journal], T]) -> T | None:
        """Run a journal action; a broken journal is logged, never allowed to lose a job."""
        if self._journal is None:
            return None
        try:
            return action(self._journal)
        except (sqlite3.Error, OSError) as exc:
            logger.warning("journal %s: %s", self._journal.path, exc)
            return None

    def _write(self, action: Callable[[Journal], object]) -> None:
        """A journal write: now, or (AsyncClient) after the sync step that asked for it, in a
        worker thread, so SQLite never blocks the event loop."""
        if self._journal is None:
            return
        deferred = DEFERRED_WRITES.get()
        if deferred is not None:
            deferred.append(lambda: self._journaled(action))
        else:
            self._journaled(action)

    def _observe(self, request_id: str, status: JobStatus) -> None:
        """Journal a polled state, on a change only: the same state again costs no write."""
        if self._journal is None:
            return
        seen = (status.state, status.queue_position)
        written = self._shared.journaled
        if written.get(request_id) == seen:
            return
        written[request_id] = seen
        self._write(
            lambda j: j.observe_state(
                request_id,
                status.state,
                queue_position=status.queue_position,
                at=self._shared.clock.time(),
            )
        )

    def _gone(self, request_id: str, error: Exception) -> None:
        """The service does not know a journaled id (expired, or a typo): settle its row."""
        self._shared.journaled.pop(request_id, None)
        self._write(lambda j: j.mark_gone(request_id, f"not found by the service: {error}"))

    def _forget(self, request_id: str) -> bool:
        self._shared.journaled.pop(request_id, None)
        return bool(self._journaled(lambda j: j.forget(request_id)))

    def _prune(self, older_than: float | None) -> list[str]:
        return (
            self._journaled(lambda j: j.prune(base_url=self._base_url, older_than=older_than)) or []
        )

    def _record_submission(
        self, request_id: str, body: dict[str, Any], target: str | None = None
    ) -> None:
        params = {k: v for k, v in body.items() if k != "prompt"}
        seconds = params.get("seconds", _spec_default("seconds"))
        if isinstance(seconds, int):
            self._shared.requested_seconds[request_id] = seconds
        now = self._shared.clock.time()
        self._shared.submitted_wall[request_id] = now
        self._write(
            lambda j: j.record_submission(
                request_id,
                base_url=self._base_url,
                prompt=str(body.get("prompt", "")),
                params=params,
                submitted_at=now,
                target_path=target,
            )
        )
        logger.debug("submitted %s", request_id)

    def _jobs(self, unfinished: bool) -> list[JobRecord]:
        return self._journaled(lambda j: j.records(unfinished=unfinished)) or []

    def _resume_records(self, request_id: str | None) -> list[JobRecord]:
        if request_id is None:
            return (
                self._journaled(lambda j: j.records(unfinished=True, base_url=self._base_url)) or []
            )
        record = self._journaled(lambda j: j.get(request_id))
        if record is None:
            # Adopt an id the journal never saw (from the dashboard, another machine).
            self._journaled(
                lambda j: j.record_submission(
                    request_id, base_url=self._base_url, prompt="", params={}
                )
            )
            record = self._journaled(lambda j: j.get(request_id))
        return [record] if record is not None else [_adhoc_record(request_id, self._base_url)]

    def _download_target(
        self, record: JobRecord, out_dir: str | os.PathLike[str] | None
    ) -> str | os.PathLike[str] | None:
        if record.output_path:
            return None
        if out_dir is not None:
            directory = Path(out_dir)
            directory.mkdir(parents=True, exist_ok=True)
            if record.target_path and not Path(record.target_path).is_dir():
                return directory / Path(record.target_path).name
            return directory
        return record.target_path

    def _record_error(self, request_id: str, message: str) -> None:
        self._write(lambda j: j.update(request_id, error=message))

    def _refresh(self, record: JobRecord) -> JobRecord:
        return self._journaled(lambda j: j.get(record.request_id)) or record

    # answers -----------------------------------------------------------------------------------

    def _submit_body(self, prompt: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """The checked body: ``prompt`` and exactly the inputs given (see ``validate_input``)."""
        from ._inputs import validate_input

        if "prompt" in inputs:
            raise TypeError("prompt is given twice: positionally and as a keyword")
        return validate_input({"prompt": prompt, **inputs})

    def _transport_failure(
        self, operation: str, exc: httpx.RequestError, request_id: str | None
    ) -> APIError:
        try:
            request: httpx.Request | None = exc.request
        except RuntimeError:
            request = None
        if operation == "submit" and not isinstance(exc, NOT_SENT_ERRORS):
            return unknown_submission(
                f"{type(exc).__name__} after the request was sent", request=request
            )
        return transport_error(exc, request_id=request_id, operation=operation)

    def _interpret_submit(
        self, raw: httpx.Response, parsed: Any, body: dict[str, Any], target: str | None = None
    ) -> Submission:
        from sora2_api.models import SubmitResponse

        if not 200 <= raw.status_code < 300:
            error = submit_failure(raw)
            if isinstance(error, SubmissionUnknownError) and error.request_id is not None:
                self._record_submission(error.request_id, body, target)  # the job may exist
            raise error
        request_id = salvage_request_id(raw)
        if request_id is None:
            raise unknown_submission(
                f"the service answered {raw.status_code} without a readable request_id",
                request=raw.request,
            )
        # The job exists: write it down before anything else can fail.
        self._record_submission(request_id, body, target)
        ok, data = json_body(raw)
        problem = (
            "the body is not JSON"
            if not ok
            else (
                f"undocumented status {raw.status_code}"
                if raw.status_code != 200
                else schema_error("submit", data)
            )
        )
        if problem is None and not isinstance(parsed, SubmitResponse):
            problem = "the body is not a SubmitResponse"
        if problem is not None:
            raise invalid_response("submit", problem, raw, request_id=request_id)
        assert isinstance(parsed, SubmitResponse)
        return Submission(
            request_id=parsed.request_id,
            status_url=parsed.status_url,
            result_url=parsed.result_url,
            cancel_url=parsed.cancel_url,
            raw=parsed,
        )

    def _checked_body(self, operation: str, raw: httpx.Response, request_id: str) -> Any:
        """The JSON body of a 200 that matches the spec; raises the typed error otherwise."""
        if raw.status_code >= 400:
            error = error_for_status(raw, request_id=request_id)
            if is_gone(error):
                self._gone(request_id, error)
            raise error
        if raw.status_code != 200:
            raise invalid_response(
                operation, f"undocumented status {raw.status_code}", raw, request_id=request_id
            )
        ok, data = json_body(raw)
        problem = "the body is not JSON" if not ok else schema_error(operation, data)
        if problem is not None:
            raise invalid_response(operation, problem, raw, request_id=request_id)
        return data

    def _interpret_status(
        self, operation: str, raw: httpx.Response, parsed: Any, request_id: str
    ) -> JobStatus:
        from sora2_api.models import RequestStatus

        self._checked_body(operation, raw, request_id)
        if not isinstance(parsed, RequestStatus):
            raise invalid_response(operation, "not a RequestStatus", raw, request_id=request_id)
        status = _job_status(parsed, request_id, retry_after=parse_retry_after(raw.headers))
        self._observe(request_id, status)
        return status

    def _interpret_result(self, raw: httpx.Response, parsed: Any, request_id: str) -> JobResult:
        from sora2_api.models import RequestResult, RequestStatus
        from sora2_api.types import Unset

        data = self._checked_body("result", raw, request_id)
        if isinstance(parsed, RequestStatus) and "output" in data:
            # The generated parser fell back to the state-only shape: the outputs are broken.
            raise invalid_response("result", "unreadable output", raw, request_id=request_id)
        status = _job_status(parsed, request_id)
        if isinstance(parsed, RequestResult):
            outputs = parsed.output.to_dict()
            files = output_files(outputs)
            videos = [f.url for f in files if f.kind == _VIDEO_KIND]
            result = JobResult(
                request_id=status.request_id,
                state=status.state,
                video_url=videos[0] if videos else None,
                outputs=outputs,
                created_at=None if isinstance(parsed.created_at, Unset) else parsed.created_at,
                finished_at=None if isinstance(parsed.finished_at, Unset) else parsed.finished_at,
                raw=parsed,
                files=files,
                error=status.error,
            )
        elif isinstance(parsed, RequestStatus):
            result = JobResult(
                request_id=status.request_id,
                state=status.state,
                video_url=None,
                outputs={},
                created_at=None,
                finished_at=None,
                raw=parsed,
                error=status.error,
            )
        else:
            raise invalid_response("result", "not a result", raw, request_id=request_id)
        self._observe(request_id, status)
        if result.files and self._shared.journaled_urls.get(request_id) != (
            url := result.files[0].url
        ):
            self._shared.journaled_urls[request_id] = url
            self._write(lambda j: j.update(request_id, video_url=url))
        return result

    def _ended(self, status: JobStatus) -> JobStatus:
        """A final status, returned; a failed one raised as ``JobFailedError``."""
        if status.is_failed:
            raise job_failed(status.request_id, status.state, status.error)
        return status

    # waiting -----------------------------------------------------------------------------------

    def _tracker(
        self,
        request_id: str,
        timeout: float | None,
        on_update: Callable[[JobStatus], None] | None,
    ) -> WaitTracker:
        shared = self._shared
        if not shared.seeded:
            shared.seeded = True
            samples = self._journaled(lambda j: j.processing_samples(base_url=self._base_url))
            shared.progress.seed(samples or [])
        record = self._journaled(lambda j: j.get(request_id))
        seconds: float | None = shared.requested_seconds.get(request_id)
        submitted = shared.submitted_wall.get(request_id)
        started = None
        if record is not None:
            seconds = record.seconds if record.seconds is not None else seconds
            submitted = record.submitted_at.timestamp()
            if record.started_at is not None and record.state == "in_progress":
                started = record.started_at.timestamp()
        return WaitTracker(
            request_id,
            timeout=self._wait_timeout if timeout is None else timeout,
            clock=shared.clock,
            model=shared.progress,
            journal_write=self._write if self._journal is not None else None,
            video_seconds=seconds,
            submitted_wall=submitted,
            started_wall=started,
            on_update=on_update,
            unknown_logged=shared.unknown_logged,
            hint_base_url=self._hint_base_url(),
        )

    # downloads ---------------------------------------------------------------------------------

    def _download_source(
        self, result: JobResult | str
    ) -> tuple[tuple[OutputFile, ...] | None, str | None]:
        """(files, request_id) of a result or a URL; files None for a bare request id.

        Raises:
            JobFailedError: the result is of a failed job.
            NoOutputError: the job completed but names no output file.
            DownloadError: the job has not completed (or was cancelled).
        """
        if isinstance(result, JobResult):
            if result.files:
                return result.files, result.request_id
            if result.is_failed:
                raise job_failed(result.request_id, result.state, result.error)
            if result.is_completed:
                raise NoOutputError(
                    f"{result.request_id} completed without any output file "
                    f"(output fields: {', '.join(sorted(result.outputs)) or 'none'}); it stays "
                    f"unfinished in the journal, so `sora2 resume {result.request_id}` asks again",
                    request_id=result.request_id,
                )
            raise DownloadError(
                f"{result.request_id} has no output to download (state: {result.state})",
                request_id=result.request_id,
            )
        if is_file_url(result):
            return (OutputFile(url=result, kind=kind_of("", result), field=""),), None
        return None, result

    def _saved(self, request_id: str | None, paths: list[Path]) -> list[Path]:
        if request_id is not None and paths:
            first = str(paths[0])
            self._write(lambda j: j.update(request_id, output_path=first, error=None))
        return paths


def _spec_default(name: str) -> Any:
    """The spec's default of input ``name`` (what the service applies), or None."""
    from ._inputs import input_fields

    found = input_fields().get(name)
    return found.default if found is not None and found.has_default else None


def is_gone(error: BaseException) -> TypeGuard[NotFoundError]:
    """The service's 404001: it does not know the id (expired, or a typo). The journal marks
    the job ``gone`` with the reason, so its row already says why it ended."""
    return isinstance(error, NotFoundError) and error.error_code == JOB_NOT_FOUND


def check_request_id(request_id: str | None) -> None:
    """Refuse an empty or non-string id before it becomes a malformed URL."""
    if request_id is not None and (not isinstance(request_id, str) or not request_id.strip()):
        raise InvalidInputError(
            f"request_id must be a non-empty string, not {request_id!r}",
            field="request_id",
            value=request_id,
        )


def wire_bytes(response: httpx.Response, part: PartFile) -> int:
    """Bytes received as sent: compressed size if the body was encoded, else what was written."""
    if response.headers.get("content-encoding", "identity").lower() != "identity":
        return response.num_bytes_downloaded
    return part.size


def _job_status(parsed: Any, request_id: str, *, retry_after: float | None = None) -> JobStatus:
    """The typed status of an answer; the id asked about when the answer leaves it out."""
    from sora2_api.types import Unset

    position = getattr(parsed, "queue_position", None)
    answered = getattr(parsed, "request_id", None)
    error = getattr(parsed, "error", None)
    if error is None or isinstance(error, Unset):
        error = parsed.additional_properties.get("error")
    else:
        error = error.to_dict()
    return JobStatus(
        request_id=answered if isinstance(answered, str) and answered else request_id,
        state=str(parsed.status),
        queue_position=None if isinstance(position, Unset) else position,
        raw=parsed,
        retry_after=retry_after,
        error=error if isinstance(error, dict) else None,
    )


def job_failed(request_id: str, state: str, error: Mapping[str, Any] | None) -> JobFailedError:
    """The error for a job that ended failed, quoting the service's reason when it gave one."""
    reason = error.get("message") if error else None
    text = f": {redact(reason).rstrip('. ')}" if isinstance(reason, str) and reason else ""
    return JobFailedError(
        f"{request_id} {state}{text}; there is no output to download "
        f"(`sora2 status {request_id}` shows its state)",
        request_id=request_id,
        state=state,
        detail=error,
    )


def _adhoc_record(request_id: str, base_url: str) -> JobRecord:
    import datetime

    now = datetime.datetime.now(datetime.UTC)
    return JobRecord(
        request_id=request_id,
        base_url=base_url,
        prompt="",
        params={},
        state="unknown",
        queue_position=None,
        submitted_at=now,
        started_at=None,
        finished_at=None,
        processing_seconds=None,
        video_url=None,
        target_path=None,
        output_path=None,
        error=None,
        created_at=now,
        updated_at=now,
    )


def emulator_app(clock: Clock, options: Mapping[str, Any] | None = None) -> Any:
    """A new in-process emulator on the client's clock (so a test's fake time drives both).

    ``options`` are keywords of ``create_app`` (``outputs``, ``faults``, ``speed``...).
    """
    try:
        from .emulator import create_app

        try:
            return create_app(clock=clock.monotonic, **dict(options or {}))
        except TypeError as exc:
            raise ConfigurationError(f"emulator options: {exc}") from None
    except ImportError as exc:
        raise ConfigurationError(
            f"the emulator needs extra packages ({exc.name or exc}): pip install 'sora2[emulator]'"
        ) from None


@dataclass
class Invocation:
    raw: httpx.Response
    parsed: Any

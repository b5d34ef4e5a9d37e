"""``Client`` and ``AsyncClient``: prompt in, video file out, reliably.

Both sit thinly over the generated ``sora2_api``: each call validates its input, delegates to
a generated ``*_detailed`` function over our own httpx client, and turns the exchange into a
typed value or a typed error (``sora2._responses``). What they add is what a bare generated
client lacks: retries that never pay twice (``sora2._retry``), an adaptive wait with a deadline
(``sora2._polling``, ``sora2._waiting``), safe downloads (``sora2._download``) and a journal of
every job (``sora2._journal``). The two classes share everything but their I/O.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import httpx

from ._constants import (
    API_KEY_ENV_VARS,
    BASE_URL_ENV_VAR,
    DEFAULT_MAX_DOWNLOAD_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    DEFAULT_WAIT_TIMEOUT,
    DOWNLOAD_CHUNK_SIZE,
    EMULATOR_BASE_URL,
    MAX_DOWNLOAD_REDIRECTS,
)
from ._download import (
    PartFile,
    check_download_response,
    check_download_url,
    is_loopback,
    target_path,
    transport_failure,
)
from ._exceptions import (
    APIError,
    APIResponseValidationError,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    DownloadError,
    PermissionDeniedError,
    Sora2Error,
)
from ._journal import JobRecord, Journal, default_journal_path
from ._logging import logger, register_secret
from ._polling import Clock, ProgressModel, SystemClock
from ._responses import (
    NOT_SENT_ERRORS,
    acapture_response,
    capture_response,
    error_for_status,
    invalid_response,
    json_body,
    last_response,
    reset_last_response,
    salvage_request_id,
    schema_error,
    submit_failure,
    transport_error,
    unknown_submission,
)
from ._retry import RetryPolicy, acall_with_retries, call_with_retries, parse_retry_after
from ._types import NOT_GIVEN, JobResult, JobStatus, NotGiven, Submission
from ._waiting import TRANSIENT_POLL_ERRORS, WaitTracker

if TYPE_CHECKING:
    from sora2_api import AuthenticatedClient

__all__ = ["AsyncClient", "Client"]

T = TypeVar("T")
_PARSE_FAILURES = (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError)
"""What the generated parsers raise on a body that is not what the spec says."""
_FATAL_FOR_RESUME = (ConfigurationError, AuthenticationError, PermissionDeniedError)
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
    }
)

JournalOption = Journal | str | os.PathLike[str] | None | Literal[False]


class _BearerAuth(httpx.Auth):
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


class _BorrowedTransport(httpx.BaseTransport):
    """Someone else's transport: used, never closed (``with_options`` copies, downloads)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(request)

    def close(self) -> None:
        pass


class _AsyncBorrowedTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        pass


@dataclass
class _Shared:
    """What a client shares with its ``with_options`` copies."""

    clock: Clock
    progress: ProgressModel = field(default_factory=ProgressModel)
    seeded: bool = False
    requested_seconds: dict[str, int] = field(default_factory=dict)
    submitted_wall: dict[str, float] = field(default_factory=dict)
    transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None
    """The transport every copy borrows: the caller's, or the in-process emulator's."""
    in_process: bool = False


def _first_env(names: tuple[str, ...]) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


class _BaseClient:
    """Configuration, and every decision that does not depend on sync or async I/O."""

    def __init__(
        self,
        api_key: str | None,
        *,
        base_url: str | None,
        timeout: float | httpx.Timeout,
        max_retries: int,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None,
        emulator: bool,
        journal: JournalOption,
        wait_timeout: float,
        max_download_bytes: int,
        shared: _Shared | None,
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
        if emulator and transport is not None and shared is None:
            raise ConfigurationError("pass either emulator=True or a transport, not both")
        self._emulator = emulator
        self._api_key = api_key or _first_env(API_KEY_ENV_VARS)
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
        self._journal_option: JournalOption = journal
        self._journal = self._open_journal(journal)
        self._shared = shared or _Shared(clock=clock or SystemClock())
        if shared is None:
            self._shared.transport = transport
            self._shared.in_process = emulator

    # configuration ---------------------------------------------------------------------------

    def _open_journal(self, journal: JournalOption) -> Journal | None:
        if journal is False:
            return None
        if isinstance(journal, Journal):
            return journal
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

    def __repr__(self) -> str:
        journal = str(self._journal.path) if self._journal is not None else None
        return (
            f"{type(self).__name__}(base_url={self._base_url!r}, emulator={self._emulator}, "
            f"journal={journal!r})"
        )

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

    def _observe(self, status: JobStatus) -> None:
        self._journaled(
            lambda j: j.observe_state(
                status.request_id,
                status.state,
                queue_position=status.queue_position,
                at=self._shared.clock.time(),
            )
        )

    def _record_submission(self, request_id: str, body: dict[str, Any]) -> None:
        params = {k: v for k, v in body.items() if k != "prompt"}
        seconds = params.get("seconds")
        if isinstance(seconds, int):
            self._shared.requested_seconds[request_id] = seconds
        now = self._shared.clock.time()
        self._shared.submitted_wall[request_id] = now
        self._journaled(
            lambda j: j.record_submission(
                request_id,
                base_url=self._base_url,
                prompt=str(body.get("prompt", "")),
                params=params,
                submitted_at=now,
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
            if record.target_path:
                return directory / Path(record.target_path).name
            return directory
        return record.target_path

    def _record_error(self, request_id: str, message: str) -> None:
        self._journaled(lambda j: j.update(request_id, error=message))

    def _refresh(self, record: JobRecord) -> JobRecord:
        return self._journaled(lambda j: j.get(record.request_id)) or record

    # answers -----------------------------------------------------------------------------------

    def _submit_body(self, prompt: str, size: object, seconds: object) -> dict[str, Any]:
        from ._inputs import validate_input

        values: dict[str, Any] = {"prompt": prompt}
        if not isinstance(size, NotGiven):
            values["size"] = size
        if not isinstance(seconds, NotGiven):
            values["seconds"] = seconds
        return validate_input(values)

    def _transport_failure(
        self, operation: str, exc: httpx.TransportError, request_id: str | None
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
        self, raw: httpx.Response, parsed: Any, body: dict[str, Any]
    ) -> Submission:
        from sora2_api.models import SubmitResponse

        if not 200 <= raw.status_code < 300:
            raise submit_failure(raw)
        request_id = salvage_request_id(raw)
        if request_id is None:
            raise unknown_submission(
                f"the service answered {raw.status_code} without a readable request_id",
                request=raw.request,
            )
        # The job exists: write it down before anything else can fail.
        self._record_submission(request_id, body)
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

    def _checked_body(self, operation: str, raw: httpx.Response, request_id: str) -> None:
        if raw.status_code >= 400:
            raise error_for_status(raw, request_id=request_id)
        if raw.status_code != 200:
            raise invalid_response(
                operation, f"undocumented status {raw.status_code}", raw, request_id=request_id
            )
        ok, data = json_body(raw)
        problem = "the body is not JSON" if not ok else schema_error(operation, data)
        if problem is not None:
            raise invalid_response(operation, problem, raw, request_id=request_id)

    def _interpret_status(
        self, operation: str, raw: httpx.Response, parsed: Any, request_id: str
    ) -> JobStatus:
        from sora2_api.models import RequestStatus

        self._checked_body(operation, raw, request_id)
        if not isinstance(parsed, RequestStatus):
            raise invalid_response(operation, "not a RequestStatus", raw, request_id=request_id)
        status = _job_status(parsed, retry_after=parse_retry_after(raw.headers))
        self._observe(status)
        return status

    def _interpret_result(self, raw: httpx.Response, parsed: Any, request_id: str) -> JobResult:
        from sora2_api.models import RequestResult, RequestStatus
        from sora2_api.types import Unset

        self._checked_body("result", raw, request_id)
        if isinstance(parsed, RequestResult):
            video = parsed.output.video
            result = JobResult(
                request_id=parsed.request_id,
                state=str(parsed.status),
                video_url=None if isinstance(video, Unset) else video,
                outputs=parsed.output.to_dict(),
                created_at=None if isinstance(parsed.created_at, Unset) else parsed.created_at,
                finished_at=None if isinstance(parsed.finished_at, Unset) else parsed.finished_at,
                raw=parsed,
            )
        elif isinstance(parsed, RequestStatus):
            result = JobResult(
                request_id=parsed.request_id,
                state=str(parsed.status),
                video_url=None,
                outputs={},
                created_at=None,
                finished_at=None,
                raw=parsed,
            )
        else:
            raise invalid_response("result", "not a result", raw, request_id=request_id)
        self._observe(_job_status(parsed))
        if result.video_url is not None:
            url = result.video_url
            self._journaled(lambda j: j.update(request_id, video_url=url))
        return result

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
            journal=self._journal,
            video_seconds=seconds,
            submitted_wall=submitted,
            started_wall=started,
            on_update=on_update,
        )

    # downloads ---------------------------------------------------------------------------------

    def _download_source(self, result: JobResult | str) -> tuple[str | None, str | None]:
        """(url, request_id) of a result, a URL, or None for the url of a bare request id."""
        if isinstance(result, JobResult):
            if result.video_url is None:
                raise DownloadError(
                    f"{result.request_id} has no video to download (state: {result.state})",
                    request_id=result.request_id,
                )
            return result.video_url, result.request_id
        if result.startswith(("http://", "https://")):
            return result, None
        return None, result

    def _saved(self, request_id: str | None, path: Path) -> Path:
        if request_id is not None:
            self._journaled(lambda j: j.update(request_id, output_path=str(path), error=None))
        return path


def _job_status(parsed: Any, *, retry_after: float | None = None) -> JobStatus:
    from sora2_api.types import Unset

    position = getattr(parsed, "queue_position", None)
    return JobStatus(
        request_id=parsed.request_id,
        state=str(parsed.status),
        queue_position=None if isinstance(position, Unset) else position,
        raw=parsed,
        retry_after=retry_after,
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


def _emulator_app() -> Any:
    try:
        from .emulator import create_app
    except ImportError as exc:
        raise ConfigurationError(
            f"the emulator needs extra packages ({exc.name or exc}): pip install 'sora2[emulator]'"
        ) from None
    return create_app()


@dataclass
class _Invocation:
    raw: httpx.Response
    parsed: Any


class Client(_BaseClient):
    """The synchronous client.

    Args:
        api_key: defaults to ``$RUNCOMFY_API_TOKEN``, then ``$YOUR_API_TOKEN``; only needed by
            calls that talk to the service, and not at all with ``emulator=True``.
        base_url: defaults to ``$RUNCOMFY_BASE_URL``, then the spec's server.
        timeout: per HTTP request (seconds, or an ``httpx.Timeout``).
        max_retries: retries of a request that is safe to retry (see ``sora2._retry``).
        transport: an httpx transport for every request (tests: an ASGI or mock transport).
        emulator: talk to an in-process emulator: no network, no key.
        journal: a :class:`Journal` or its path; None for ``$SORA2_JOURNAL`` or the default
            file in the user data directory; False for none.
        wait_timeout: default deadline of :meth:`wait` and :meth:`generate`, in seconds.
        max_download_bytes: default size cap of :meth:`download`.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        transport: httpx.BaseTransport | None = None,
        emulator: bool = False,
        journal: JournalOption = None,
        wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        _clock: Clock | None = None,
        _shared: _Shared | None = None,
    ) -> None:
        super().__init__(
            api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            transport=transport,
            emulator=emulator,
            journal=journal,
            wait_timeout=wait_timeout,
            max_download_bytes=max_download_bytes,
            shared=_shared,
            clock=_clock,
        )
        if _shared is None and emulator:
            from .emulator import SyncASGITransport

            self._shared.transport = SyncASGITransport(_emulator_app())
        source = self._shared.transport
        if source is not None and not isinstance(source, httpx.BaseTransport):
            raise ConfigurationError("Client needs a sync transport (httpx.BaseTransport)")
        api_transport: httpx.BaseTransport | None = source
        if _shared is not None and source is not None:
            api_transport = _BorrowedTransport(source)
        self._http = httpx.Client(
            base_url=self._base_url,
            timeout=self._timeout,
            transport=api_transport,
            auth=_BearerAuth(self._token(), self._origin),
            follow_redirects=False,
            event_hooks={"response": [capture_response]},
        )
        self._files: httpx.Client | None = None
        self._api: AuthenticatedClient | None = None

    # plumbing ----------------------------------------------------------------------------------

    def _generated(self) -> AuthenticatedClient:
        """The generated client over our httpx client; the token travels in our auth, not here."""
        if self._api is None:
            from sora2_api import AuthenticatedClient

            self._api = AuthenticatedClient(
                base_url=self._base_url, token="", raise_on_unexpected_status=False
            ).set_httpx_client(self._http)
        return self._api

    def _invoke(
        self, operation: str, call: Callable[[], Any], request_id: str | None = None
    ) -> _Invocation:
        self._require_key()
        reset_last_response()
        parsed: Any = None
        try:
            parsed = call().parsed
        except httpx.TransportError as exc:
            raise self._transport_failure(operation, exc, request_id) from exc
        except _PARSE_FAILURES as exc:
            logger.debug("%s: the generated parser failed: %r", operation, exc)
        raw = last_response()
        if raw is None:
            raise APIResponseValidationError(f"{operation}: no response", request_id=request_id)
        logger.debug("%s: %s %s", operation, raw.status_code, raw.request.url.path)
        return _Invocation(raw, parsed)

    def _file_client(self) -> httpx.Client:
        if self._files is None:
            source = self._shared.transport
            self._files = httpx.Client(
                timeout=self._timeout,
                transport=_BorrowedTransport(source)
                if isinstance(source, httpx.BaseTransport)
                else None,
                follow_redirects=False,
            )
        return self._files

    def _open_download(self, url: str, request_id: str | None) -> httpx.Response:
        """The streamed answer for ``url``, following redirects only to allowed URLs."""
        files = self._file_client()
        request = files.build_request("GET", url)
        for _ in range(MAX_DOWNLOAD_REDIRECTS + 1):
            check_download_url(
                request.url, in_process=self._shared.in_process, request_id=request_id
            )
            response = files.send(request, stream=True)
            if response.next_request is None:
                return response
            request = response.next_request
            response.close()
        raise DownloadError("download failed: too many redirects", request_id=request_id)

    # operations --------------------------------------------------------------------------------

    def submit(
        self,
        prompt: str,
        *,
        size: str | NotGiven = NOT_GIVEN,
        seconds: int | NotGiven = NOT_GIVEN,
    ) -> Submission:
        """Submit a job. Retried only when the service provably did not take it.

        Raises:
            InvalidInputError: before anything is sent, naming the field and allowed values.
            SubmissionUnknownError: the request may have created a job; it is not retried.
        """
        from sora2_api.api.text_to_video import submit as op
        from sora2_api.models import Input

        body = self._submit_body(prompt, size, seconds)
        model = Input.from_dict(body)

        def attempt() -> Submission:
            call = self._invoke(
                "submit", lambda: op.sync_detailed(client=self._generated(), body=model)
            )
            return self._interpret_submit(call.raw, call.parsed, body)

        return call_with_retries(self._retry, "submit", attempt, submit=True)

    def status(self, request_id: str) -> JobStatus:
        """The job's current state (retried on transient failures)."""
        from sora2_api.api.requests import status as op

        def attempt() -> JobStatus:
            call = self._invoke(
                "status", lambda: op.sync_detailed(request_id, client=self._generated()), request_id
            )
            return self._interpret_status("status", call.raw, call.parsed, request_id)

        return call_with_retries(self._retry, "status", attempt)

    def result(self, request_id: str) -> JobResult:
        """The job's outputs once completed; before that its state, with ``video_url`` None."""
        from sora2_api.api.requests import result as op

        def attempt() -> JobResult:
            call = self._invoke(
                "result", lambda: op.sync_detailed(request_id, client=self._generated()), request_id
            )
            return self._interpret_result(call.raw, call.parsed, request_id)

        return call_with_retries(self._retry, "result", attempt)

    def cancel(self, request_id: str) -> JobStatus:
        """Cancel a queued job. Raises ConflictError once it has started."""
        from sora2_api.api.requests import cancel as op

        def attempt() -> JobStatus:
            call = self._invoke(
                "cancel", lambda: op.sync_detailed(request_id, client=self._generated()), request_id
            )
            return self._interpret_status("cancel", call.raw, call.parsed, request_id)

        return call_with_retries(self._retry, "cancel", attempt)

    def wait(
        self,
        request_id: str,
        *,
        timeout: float | None = None,
        on_update: Callable[[JobStatus], None] | None = None,
        cancel_on_timeout: bool = False,
    ) -> JobStatus:
        """Poll until the job is ``completed`` or ``cancelled`` and return that status.

        ``on_update`` sees every change of state or queue position. A state this version does
        not know counts as "not finished". At the deadline (``timeout``, default the client's
        ``wait_timeout``) raises ``WaitTimeoutError``, after cancelling the job first if
        ``cancel_on_timeout`` and it is still queued.
        """
        self._require_key()
        tracker = self._tracker(request_id, timeout, on_update)
        while True:
            try:
                status = self.status(request_id)
            except TRANSIENT_POLL_ERRORS as exc:
                delay = tracker.failed(exc)
            else:
                next_delay = tracker.observe(status)
                if next_delay is None:
                    return status
                delay = next_delay
            remaining = tracker.remaining()
            if remaining <= 0:
                raise tracker.timeout_error(
                    cancelled=cancel_on_timeout
                    and tracker.queued
                    and self._cancel_quietly(request_id)
                )
            self._shared.clock.sleep(min(delay, remaining))

    def _cancel_quietly(self, request_id: str) -> bool:
        try:
            return self.cancel(request_id).state == "cancelled"
        except ConflictError:
            logger.debug("%s: started before it could be cancelled", request_id)
            return False

    def download(
        self,
        result: JobResult | str,
        path: str | os.PathLike[str],
        *,
        max_bytes: int | None = None,
    ) -> Path:
        """Save a result's video at ``path`` (or inside it, if a directory) and return the file.

        ``result`` is a :class:`JobResult`, a request id (its result is fetched) or a video URL.
        """
        url, request_id = self._download_source(result)
        if url is None:
            assert request_id is not None
            url, request_id = self._download_source(self.result(request_id))
        assert url is not None
        cap = self._max_download_bytes if max_bytes is None else max_bytes
        target = target_path(path, url, request_id)
        check_download_url(url, in_process=self._shared.in_process, request_id=request_id)

        def attempt() -> Path:
            with PartFile(target, max_bytes=cap, request_id=request_id) as part:
                try:
                    response = self._open_download(url, request_id)
                    try:
                        announced = check_download_response(
                            response, max_bytes=cap, request_id=request_id
                        )
                        for chunk in response.iter_bytes(DOWNLOAD_CHUNK_SIZE):
                            part.write(chunk)
                        part.check_length(announced, response.num_bytes_downloaded)
                    finally:
                        response.close()
                except httpx.TransportError as exc:
                    raise transport_failure(exc, request_id) from exc
                part.flush()
                return part.commit()

        saved = call_with_retries(self._retry, "download", attempt)
        return self._saved(request_id, saved)

    def generate(
        self,
        prompt: str,
        *,
        size: str | NotGiven = NOT_GIVEN,
        seconds: int | NotGiven = NOT_GIVEN,
        out: str | os.PathLike[str],
        timeout: float | None = None,
        on_update: Callable[[JobStatus], None] | None = None,
        on_submit: Callable[[Submission], None] | None = None,
    ) -> Path:
        """Submit, wait, download: the video file at ``out``.

        If the process dies half-way, ``resume()`` finishes the job from the journal.
        """
        submission = self.submit(prompt, size=size, seconds=seconds)
        request_id = submission.request_id
        target = str(Path(out).expanduser().absolute())
        self._journaled(lambda j: j.update(request_id, target_path=target))
        if on_submit is not None:
            on_submit(submission)
        status = self.wait(request_id, timeout=timeout, on_update=on_update)
        if status.state != "completed":
            raise DownloadError(
                f"{request_id} was {status.state}; there is no video", request_id=request_id
            )
        return self.download(self.result(request_id), target)

    def jobs(self, *, unfinished: bool = False) -> list[JobRecord]:
        """The journal, oldest first; ``unfinished`` keeps jobs that ``resume`` would finish."""
        return self._jobs(unfinished)

    def resume(
        self,
        request_id: str | None = None,
        *,
        out_dir: str | os.PathLike[str] | None = None,
        on_update: Callable[[JobStatus], None] | None = None,
    ) -> list[JobRecord]:
        """Finish unfinished journaled jobs (or one) without submitting anything again.

        Waits for each, then downloads completed videos that ``generate`` meant to save, or
        every completed video when ``out_dir`` is given. With one ``request_id`` errors are
        raised; otherwise each job's error is recorded in its row and the next one goes on.
        """
        self._require_key()
        finished: list[JobRecord] = []
        for record in self._resume_records(request_id):
            try:
                self._resume_one(record, out_dir, on_update)
            except _FATAL_FOR_RESUME:
                raise
            except Sora2Error as exc:
                if request_id is not None:
                    raise
                self._record_error(record.request_id, str(exc))
            finished.append(self._refresh(record))
        return finished

    def _resume_one(
        self,
        record: JobRecord,
        out_dir: str | os.PathLike[str] | None,
        on_update: Callable[[JobStatus], None] | None,
    ) -> None:
        state = record.state
        if not record.is_terminal:
            state = self.wait(record.request_id, on_update=on_update).state
        target = self._download_target(record, out_dir)
        if state == "completed" and target is not None:
            self.download(self.result(record.request_id), target)

    def with_options(self, **overrides: Any) -> Client:
        """A copy with some options changed (``timeout``, ``max_retries``, ...).

        The copy shares the transport, the emulator, the journal and what was learned about
        processing times; closing it leaves the original open.
        """
        return Client(**self._options(overrides), emulator=self._emulator, _shared=self._shared)

    def close(self) -> None:
        self._http.close()
        if self._files is not None:
            self._files.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient(_BaseClient):
    """The asynchronous client: the same surface as :class:`Client`, with async methods."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        transport: httpx.AsyncBaseTransport | None = None,
        emulator: bool = False,
        journal: JournalOption = None,
        wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        _clock: Clock | None = None,
        _shared: _Shared | None = None,
    ) -> None:
        super().__init__(
            api_key,
            base_url=base_url,
            timeout=timeout,
            max_retries=max_retries,
            transport=transport,
            emulator=emulator,
            journal=journal,
            wait_timeout=wait_timeout,
            max_download_bytes=max_download_bytes,
            shared=_shared,
            clock=_clock,
        )
        if _shared is None and emulator:
            self._shared.transport = httpx.ASGITransport(app=_emulator_app())
        source = self._shared.transport
        if source is not None and not isinstance(source, httpx.AsyncBaseTransport):
            raise ConfigurationError(
                "AsyncClient needs an async transport (httpx.AsyncBaseTransport)"
            )
        api_transport: httpx.AsyncBaseTransport | None = source
        if _shared is not None and source is not None:
            api_transport = _AsyncBorrowedTransport(source)
        self._http = httpx.AsyncClient(
            base_url=self._base_url,
            timeout=self._timeout,
            transport=api_transport,
            auth=_BearerAuth(self._token(), self._origin),
            follow_redirects=False,
            event_hooks={"response": [acapture_response]},
        )
        self._files: httpx.AsyncClient | None = None
        self._api: AuthenticatedClient | None = None

    def _generated(self) -> AuthenticatedClient:
        if self._api is None:
            from sora2_api import AuthenticatedClient

            self._api = AuthenticatedClient(
                base_url=self._base_url, token="", raise_on_unexpected_status=False
            ).set_async_httpx_client(self._http)
        return self._api

    async def _invoke(
        self, operation: str, call: Callable[[], Any], request_id: str | None = None
    ) -> _Invocation:
        self._require_key()
        reset_last_response()
        parsed: Any = None
        try:
            parsed = (await call()).parsed
        except httpx.TransportError as exc:
            raise self._transport_failure(operation, exc, request_id) from exc
        except _PARSE_FAILURES as exc:
            logger.debug("%s: the generated parser failed: %r", operation, exc)
        raw = last_response()
        if raw is None:
            raise APIResponseValidationError(f"{operation}: no response", request_id=request_id)
        logger.debug("%s: %s %s", operation, raw.status_code, raw.request.url.path)
        return _Invocation(raw, parsed)

    def _file_client(self) -> httpx.AsyncClient:
        if self._files is None:
            source = self._shared.transport
            self._files = httpx.AsyncClient(
                timeout=self._timeout,
                transport=_AsyncBorrowedTransport(source)
                if isinstance(source, httpx.AsyncBaseTransport)
                else None,
                follow_redirects=False,
            )
        return self._files

    async def _open_download(self, url: str, request_id: str | None) -> httpx.Response:
        files = self._file_client()
        request = files.build_request("GET", url)
        for _ in range(MAX_DOWNLOAD_REDIRECTS + 1):
            check_download_url(
                request.url, in_process=self._shared.in_process, request_id=request_id
            )
            response = await files.send(request, stream=True)
            if response.next_request is None:
                return response
            request = response.next_request
            await response.aclose()
        raise DownloadError("download failed: too many redirects", request_id=request_id)

    async def submit(
        self,
        prompt: str,
        *,
        size: str | NotGiven = NOT_GIVEN,
        seconds: int | NotGiven = NOT_GIVEN,
    ) -> Submission:
        """See :meth:`Client.submit`."""
        from sora2_api.api.text_to_video import submit as op
        from sora2_api.models import Input

        body = self._submit_body(prompt, size, seconds)
        model = Input.from_dict(body)

        async def attempt() -> Submission:
            call = await self._invoke(
                "submit", lambda: op.asyncio_detailed(client=self._generated(), body=model)
            )
            return self._interpret_submit(call.raw, call.parsed, body)

        return await acall_with_retries(self._retry, "submit", attempt, submit=True)

    async def status(self, request_id: str) -> JobStatus:
        """See :meth:`Client.status`."""
        from sora2_api.api.requests import status as op

        async def attempt() -> JobStatus:
            call = await self._invoke(
                "status",
                lambda: op.asyncio_detailed(request_id, client=self._generated()),
                request_id,
            )
            return self._interpret_status("status", call.raw, call.parsed, request_id)

        return await acall_with_retries(self._retry, "status", attempt)

    async def result(self, request_id: str) -> JobResult:
        """See :meth:`Client.result`."""
        from sora2_api.api.requests import result as op

        async def attempt() -> JobResult:
            call = await self._invoke(
                "result",
                lambda: op.asyncio_detailed(request_id, client=self._generated()),
                request_id,
            )
            return self._interpret_result(call.raw, call.parsed, request_id)

        return await acall_with_retries(self._retry, "result", attempt)

    async def cancel(self, request_id: str) -> JobStatus:
        """See :meth:`Client.cancel`."""
        from sora2_api.api.requests import cancel as op

        async def attempt() -> JobStatus:
            call = await self._invoke(
                "cancel",
                lambda: op.asyncio_detailed(request_id, client=self._generated()),
                request_id,
            )
            return self._interpret_status("cancel", call.raw, call.parsed, request_id)

        return await acall_with_retries(self._retry, "cancel", attempt)

    async def wait(
        self,
        request_id: str,
        *,
        timeout: float | None = None,
        on_update: Callable[[JobStatus], None] | None = None,
        cancel_on_timeout: bool = False,
    ) -> JobStatus:
        """See :meth:`Client.wait`."""
        self._require_key()
        tracker = self._tracker(request_id, timeout, on_update)
        while True:
            try:
                status = await self.status(request_id)
            except TRANSIENT_POLL_ERRORS as exc:
                delay = tracker.failed(exc)
            else:
                next_delay = tracker.observe(status)
                if next_delay is None:
                    return status
                delay = next_delay
            remaining = tracker.remaining()
            if remaining <= 0:
                cancelled = (
                    cancel_on_timeout and tracker.queued and await self._cancel_quietly(request_id)
                )
                raise tracker.timeout_error(cancelled=cancelled)
            await self._shared.clock.asleep(min(delay, remaining))

    async def _cancel_quietly(self, request_id: str) -> bool:
        try:
            return (await self.cancel(request_id)).state == "cancelled"
        except ConflictError:
            logger.debug("%s: started before it could be cancelled", request_id)
            return False

    async def download(
        self,
        result: JobResult | str,
        path: str | os.PathLike[str],
        *,
        max_bytes: int | None = None,
    ) -> Path:
        """See :meth:`Client.download`."""
        import anyio.to_thread

        url, request_id = self._download_source(result)
        if url is None:
            assert request_id is not None
            url, request_id = self._download_source(await self.result(request_id))
        assert url is not None
        cap = self._max_download_bytes if max_bytes is None else max_bytes
        target = target_path(path, url, request_id)
        check_download_url(url, in_process=self._shared.in_process, request_id=request_id)

        async def attempt() -> Path:
            with PartFile(target, max_bytes=cap, request_id=request_id) as part:
                try:
                    response = await self._open_download(url, request_id)
                    try:
                        announced = check_download_response(
                            response, max_bytes=cap, request_id=request_id
                        )
                        async for chunk in response.aiter_bytes(DOWNLOAD_CHUNK_SIZE):
                            part.write(chunk)
                        part.check_length(announced, response.num_bytes_downloaded)
                    finally:
                        await response.aclose()
                except httpx.TransportError as exc:
                    raise transport_failure(exc, request_id) from exc
                await anyio.to_thread.run_sync(part.flush)
                return part.commit()

        saved = await acall_with_retries(self._retry, "download", attempt)
        return self._saved(request_id, saved)

    async def generate(
        self,
        prompt: str,
        *,
        size: str | NotGiven = NOT_GIVEN,
        seconds: int | NotGiven = NOT_GIVEN,
        out: str | os.PathLike[str],
        timeout: float | None = None,
        on_update: Callable[[JobStatus], None] | None = None,
        on_submit: Callable[[Submission], None] | None = None,
    ) -> Path:
        """See :meth:`Client.generate`."""
        submission = await self.submit(prompt, size=size, seconds=seconds)
        request_id = submission.request_id
        target = str(Path(out).expanduser().absolute())
        self._journaled(lambda j: j.update(request_id, target_path=target))
        if on_submit is not None:
            on_submit(submission)
        status = await self.wait(request_id, timeout=timeout, on_update=on_update)
        if status.state != "completed":
            raise DownloadError(
                f"{request_id} was {status.state}; there is no video", request_id=request_id
            )
        return await self.download(await self.result(request_id), target)

    async def jobs(self, *, unfinished: bool = False) -> list[JobRecord]:
        """See :meth:`Client.jobs`."""
        return self._jobs(unfinished)

    async def resume(
        self,
        request_id: str | None = None,
        *,
        out_dir: str | os.PathLike[str] | None = None,
        on_update: Callable[[JobStatus], None] | None = None,
    ) -> list[JobRecord]:
        """See :meth:`Client.resume`."""
        self._require_key()
        finished: list[JobRecord] = []
        for record in self._resume_records(request_id):
            try:
                await self._resume_one(record, out_dir, on_update)
            except _FATAL_FOR_RESUME:
                raise
            except Sora2Error as exc:
                if request_id is not None:
                    raise
                self._record_error(record.request_id, str(exc))
            finished.append(self._refresh(record))
        return finished

    async def _resume_one(
        self,
        record: JobRecord,
        out_dir: str | os.PathLike[str] | None,
        on_update: Callable[[JobStatus], None] | None,
    ) -> None:
        state = record.state
        if not record.is_terminal:
            state = (await self.wait(record.request_id, on_update=on_update)).state
        target = self._download_target(record, out_dir)
        if state == "completed" and target is not None:
            await self.download(await self.result(record.request_id), target)

    def with_options(self, **overrides: Any) -> AsyncClient:
        """See :meth:`Client.with_options`."""
        return AsyncClient(
            **self._options(overrides), emulator=self._emulator, _shared=self._shared
        )

    async def close(self) -> None:
        await self._http.aclose()
        if self._files is not None:
            await self._files.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

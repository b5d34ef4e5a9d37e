"""What ``Client`` and ``AsyncClient`` share: configuration, and every decision that does
not depend on sync or async I/O.

Each call validates its input, builds its request with the generated request builder
(``build_request_kwargs``), sends it on the client's own httpx client, and turns the answer into
a typed value or a typed error (the pure functions of ``sora2._responses``); the journal is kept
by one ``JournalKeeper`` (``sora2._journal_glue``). The two clients add only the I/O: sending,
sleeping, streaming.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from ._constants import (
    API_KEY_ENV_VARS,
    BASE_URL_ENV_VAR,
    EMULATOR_BASE_URL,
)
from ._download import is_loopback
from ._errors import (
    NOT_SENT_ERRORS,
    is_gone,
    job_failed,
    json_body,
    transport_error,
    unknown_submission,
)
from ._exceptions import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    SubmissionUnknownError,
)
from ._hosts import HostPolicy
from ._journal_glue import JournalKeeper
from ._journal_store import JournalStore, open_journal
from ._logging import register_secret
from ._polling import Clock, ProgressModel, SystemClock
from ._responses import interpret_result, interpret_status, interpret_submit, submitted_id
from ._retry import RetryPolicy
from ._telemetry import annotate, count, job_attributes
from ._types import IN_PROGRESS, JobRef, JobResult, JobStatus, Submission
from ._waiting import WaitTracker

__all__ = [
    "FATAL_FOR_RESUME",
    "BaseClient",
    "JournalOption",
    "SharedState",
    "check_request_id",
    "request_id_of",
]

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
        "trusted_hosts",
    }
)

JournalOption = JournalStore | str | os.PathLike[str] | None | Literal[False]


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
        trusted_hosts: Iterable[str],
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
        self._trusted_hosts = (
            (trusted_hosts,) if isinstance(trusted_hosts, str) else tuple(trusted_hosts)
        )
        self._host_policy = HostPolicy.for_client(parsed, self._trusted_hosts)
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
        self._keeper = JournalKeeper(self._journal, self._base_url, self._shared)
        self._file_checks = uses_network
        """Ask file inputs' hosts before paying, when the API is reached over the network: the
        in-process emulator never fetches them, and a given transport is not the network."""
        self._hosted_transport: httpx.BaseTransport | None = None
        """The transport of those checks (None: the network, guarded); a seam for tests."""
        self._price_documents: dict[str, Any] = {}
        """Each model's document (or why it could not be read), asked once per client."""
        self._price_locks: dict[str, Any] = {}
        """AsyncClient: one lock per model, so concurrent submits ask its price once."""

    # configuration ---------------------------------------------------------------------------

    def _open_journal(self, journal: JournalOption) -> JournalStore | None:
        self._owns_journal = False
        if journal is False:
            return None
        if isinstance(journal, JournalStore):
            return journal
        self._owns_journal = True
        return open_journal(journal, emulator=self._emulator)

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def journal(self) -> JournalStore | None:
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

    @property
    def trusted_hosts(self) -> tuple[str, ...]:
        """The hosts given as ``trusted_hosts`` (``$SORA2_TRUSTED_HOSTS`` adds its own)."""
        return self._trusted_hosts

    def _limits(self) -> httpx.Limits:
        """Every connection kept alive: closing 80 of 100 after each use is pure churn."""
        limit = self._connection_limit
        return httpx.Limits(max_connections=limit, max_keepalive_connections=limit)

    def __repr__(self) -> str:
        journal = self._journal.location if self._journal is not None else None
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
                f"{' or '.join(API_KEY_ENV_VARS)} (get a key from your RunComfy profile)",
                setting="api_key",
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
            "trusted_hosts": self._trusted_hosts,
        }
        options.update(overrides)
        return options

    # answers -----------------------------------------------------------------------------------

    def _check_journal(self) -> None:
        """Refuse to submit when the journal cannot record the id (``JournalError``): a paid job
        whose id is lost is what the journal exists to prevent. No journal: nothing to check."""
        if self._journal is not None:
            self._journal.check_writable()

    def _submit_body(
        self, prompt: str, inputs: Mapping[str, Any], model: str | None
    ) -> tuple[str, dict[str, Any]]:
        """The model's id and the checked body: ``prompt`` and exactly the inputs given,
        against that model's input schema (see ``validate_input``)."""
        from ._file_inputs import refuse_local_files
        from ._inputs import known_model, validate_input

        if "prompt" in inputs:
            raise TypeError("prompt is given twice: positionally and as a keyword")
        model_id = known_model(model)
        refuse_local_files(inputs, model_id)
        return model_id, validate_input({"prompt": prompt, **inputs}, model_id)

    def _checks_files(self) -> bool:
        """Whether file inputs are asked for before paying: over the network, or through the
        transport given for these checks (a seam for tests)."""
        return self._file_checks or self._hosted_transport is not None

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
        self,
        raw: httpx.Response,
        body: dict[str, Any],
        target: str | None = None,
        model: str | None = None,
        estimate_usd: float | None = None,
    ) -> Submission:
        decoded = json_body(raw)  # the body's one decoding
        try:
            request_id = submitted_id(raw, decoded)
        except SubmissionUnknownError as error:
            if error.request_id is not None:
                # the job may exist
                self._keeper.submitted(error.request_id, body, target, model, estimate_usd)
            raise
        # The job exists: write it down before anything else can fail.
        self._keeper.submitted(request_id, body, target, model, estimate_usd)
        annotate("sora2.request_id", request_id)
        count("submitted", job_attributes(body))
        return interpret_submit(raw, decoded, request_id)

    def _interpret_status(self, operation: str, raw: httpx.Response, request_id: str) -> JobStatus:
        try:
            status = interpret_status(operation, raw, request_id)
        except NotFoundError as error:
            self._settle_gone(request_id, error)
            raise
        self._keeper.observe(request_id, status)
        annotate("sora2.state", status.state)
        return status

    def _interpret_result(self, raw: httpx.Response, request_id: str) -> JobResult:
        try:
            status, result = interpret_result(raw, request_id)
        except NotFoundError as error:
            self._settle_gone(request_id, error)
            raise
        self._keeper.observe_result(request_id, status, result)
        return result

    def _settle_gone(self, request_id: str, error: NotFoundError) -> None:
        if is_gone(error):
            self._keeper.gone(request_id, error)

    def _ended(self, status: JobStatus) -> JobStatus:
        """A final status, returned; a failed one raised as ``JobFailedError``."""
        if status.is_failed:
            count("failed", job_attributes(None, status.request_id))
            raise job_failed(status.request_id, status.state, status.error)
        if status.is_completed:
            count("completed", job_attributes(None, status.request_id))
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
            shared.progress.seed(self._keeper.processing_samples())
        record = self._keeper.get(request_id)
        seconds: float | None = shared.requested_seconds.get(request_id)
        submitted = shared.submitted_wall.get(request_id)
        started = None
        if record is not None:
            seconds = record.seconds if record.seconds is not None else seconds
            submitted = record.submitted_at.timestamp()
            if record.started_at is not None and record.state == IN_PROGRESS:
                started = record.started_at.timestamp()
        return WaitTracker(
            request_id,
            timeout=self._wait_timeout if timeout is None else timeout,
            clock=shared.clock,
            model=shared.progress,
            journal_write=self._keeper.write if self._journal is not None else None,
            video_seconds=seconds,
            submitted_wall=submitted,
            started_wall=started,
            on_update=on_update,
            unknown_logged=shared.unknown_logged,
            hint_base_url=self._hint_base_url(),
            hint_in_process=self._emulator,
        )


def check_request_id(request_id: str | None) -> None:
    """Refuse an empty or non-string id before it becomes a malformed URL."""
    if request_id is not None and (not isinstance(request_id, str) or not request_id.strip()):
        raise InvalidInputError(
            f"request_id must be a non-empty string, not {request_id!r}",
            field="request_id",
            value=request_id,
        )


def request_id_of(job: JobRef) -> str:
    """The id of ``job``: a string id, or the ``Submission``, ``JobStatus`` or ``JobResult``
    a call returned for it. Anything else is refused before it becomes a malformed URL."""
    if isinstance(job, Submission | JobStatus | JobResult):
        job = job.request_id
    if not isinstance(job, str) or not job.strip():
        raise InvalidInputError(
            "request_id must be a non-empty string id, or the Submission, JobStatus or "
            f"JobResult of a job, not {job!r}",
            field="request_id",
            value=job,
        )
    return job

"""What ``Client`` and ``AsyncClient`` share: their settings resolved once, and every decision
that does not depend on sync or async I/O. The two clients add only the I/O."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar

import attrs
import httpx

from ._exceptions import (
    AuthenticationError,
    ConfigurationError,
    InvalidInputError,
    PermissionDeniedError,
)
from ._journal import open_journal
from ._journal_glue import JournalKeeper, JournalStore
from ._operations import Submit
from ._options import (
    API_KEY_ENV_VARS,
    BASE_URL_ENV_VAR,
    DEFAULT_CONNECTION_LIMIT,
    DEFAULT_MAX_DOWNLOAD_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    DEFAULT_WAIT_TIMEOUT,
    EMULATOR_BASE_URL,
    ClientOptions,
    JournalOption,
    user_agent,
)
from ._transports import (
    APIRoot,
    BearerAuth,
    Clock,
    HostPolicy,
    SystemClock,
    in_process_emulator,
    is_in_process,
    is_loopback,
    register_secret,
)
from ._types import IN_PROGRESS, JobRef, JobResult, JobStatus, Submission
from ._waiting import (
    ProgressModel,
    WaitTracker,
    annotate,
    count,
    job_attributes,
    remember_job,
)

if TYPE_CHECKING:
    from ._retry import RetryPolicy

__all__ = [
    "FATAL_FOR_RESUME",
    "BaseClient",
    "SharedState",
    "TransportT",
    "observed",
    "request_id_of",
    "submitted",
]

FATAL_FOR_RESUME = (ConfigurationError, AuthenticationError, PermissionDeniedError)
"""Errors that would fail every job alike: resume stops instead of recording each."""

_EMULATOR_TOKEN = "sora2-emulator"
"""Sent to the in-process emulator when no key is configured: it stands for "any token"."""


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


V = TypeVar("V")


class _Setting(Generic[V]):
    """A client's setting, read-only (``client.timeout``): its ``ClientOptions`` field, as the
    client resolved it."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, client: BaseClient[Any] | None, owner: type | None = None) -> V:
        if client is None:
            return self  # type: ignore[return-value]  # the class's own attribute
        value: V = getattr(client._options, self.name)
        return value

    def __set__(self, client: BaseClient[Any], value: object) -> None:
        raise AttributeError(f"{self.name} is read-only: use with_options({self.name}=...)")


TransportT = TypeVar("TransportT", httpx.BaseTransport, httpx.AsyncBaseTransport)
"""The kind of transport a client takes: ``httpx.BaseTransport`` for ``Client``,
``httpx.AsyncBaseTransport`` for ``AsyncClient``."""


class BaseClient(Generic[TransportT]):
    """Configuration, and every decision that does not depend on sync or async I/O."""

    _SYNC: ClassVar[bool]
    """Client (sync I/O) or AsyncClient: the kind of in-process emulator it makes."""
    _options: ClientOptions

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        transport: TransportT | None = None,
        emulator: bool | Mapping[str, Any] = False,
        journal: JournalOption = None,
        wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        connection_limit: int = DEFAULT_CONNECTION_LIMIT,
        trusted_hosts: Iterable[str] = (),
        _clock: Clock | None = None,
        _shared: SharedState | None = None,
    ) -> None:
        options = ClientOptions.pick(locals())
        source = self._emulated(emulator, transport, _clock, _shared, sync=self._SYNC)
        self._setup(options, source, _clock, _shared)

    @classmethod
    def _from_options(
        cls,
        options: ClientOptions,
        *,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
        shared: SharedState | None = None,
    ) -> Self:
        """A client with ``options``: a ``with_options`` copy (sharing ``shared``), or the async
        twin of a sync client."""
        client = cls.__new__(cls)
        client._setup(options, transport, clock, shared)
        return client

    def _setup(
        self,
        options: ClientOptions,
        transport: httpx.BaseTransport | httpx.AsyncBaseTransport | None,
        clock: Clock | None,
        shared: SharedState | None,
    ) -> None:
        """Resolve ``options`` once (the environment's key and base URL, the journal opened)."""
        self._borrowed = shared is not None
        self._shared = shared or SharedState(clock=clock or SystemClock(), transport=transport)
        source = self._shared.transport
        # The in-process emulator needs no key: the environment's real token is not sent to it.
        in_process = self._in_process = is_in_process(source)
        api_key = options.api_key
        if not api_key and not in_process:
            api_key = next(
                (key for name in API_KEY_ENV_VARS if (key := os.environ.get(name))), None
            )
        if api_key:
            register_secret(api_key)
        raw_base = options.base_url or (EMULATOR_BASE_URL if in_process else None)
        raw_base = raw_base or os.environ.get(BASE_URL_ENV_VAR)
        if raw_base is None:
            from ._spec import server_url

            raw_base = server_url()
        base_url = raw_base.rstrip("/")
        try:
            parsed = httpx.URL(base_url)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise ConfigurationError(f"unusable base URL {base_url!r}: {exc}") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ConfigurationError(f"unusable base URL {base_url!r}: not an http(s) URL")
        if source is None and parsed.scheme == "http" and not is_loopback(parsed.host):
            raise ConfigurationError(
                f"refusing to send the API token over plain http to {parsed.host}; use https"
            )
        self._origin = parsed
        self._api = APIRoot(parsed)
        self._host_policy = HostPolicy.for_client(parsed, options.trusted_hosts)
        journal = self._open_journal(options.journal, in_process)
        self._journal = journal
        self._options = attrs.evolve(
            options,
            api_key=api_key,
            base_url=base_url,
            journal=journal if journal is not None else False,
        )
        self._base_url = base_url
        self._keeper = JournalKeeper(journal, base_url, self._shared)
        self._file_checks = source is None
        """Ask file inputs' hosts before paying, when the API is reached over the network: the
        in-process emulator never fetches them, and a given transport is not the network."""
        self._hosted_transport: httpx.BaseTransport | None = None
        """The transport of those checks (None: the network, guarded); a seam for tests."""
        self._price_documents: dict[str, Any] = {}
        """Each model's document (or why it could not be read), asked once per client."""
        self._price_locks: dict[str, Any] = {}
        """AsyncClient: one lock per model, so concurrent submits ask its price once."""
        self._connect(self._options)

    def _connect(self, options: ClientOptions) -> None:
        """Open the client's own I/O: its httpx clients (sync or async)."""
        raise NotImplementedError

    @staticmethod
    def _emulated(
        emulator: bool | Mapping[str, Any],
        transport: Any,
        clock: Clock | None,
        shared: SharedState | None,
        *,
        sync: bool,
    ) -> Any:
        """``emulator=True``, the one convenience: the transport of a new in-process emulator
        (``sora2.emulator.transport()``) on the client's clock; else ``transport`` as given."""
        if not emulator or shared is not None:
            return transport
        if transport is not None:
            raise ConfigurationError("pass either emulator=True or a transport, not both")
        return in_process_emulator(emulator, clock or SystemClock(), sync=sync)

    def _http_settings(self) -> dict[str, Any]:
        """The API's httpx client: its origin, timeouts, limits, token and User-Agent."""
        options = self._options
        return {
            "base_url": self._api.url,
            "timeout": options.timeout,
            "limits": options.limits(),
            "auth": BearerAuth(self._token(), self._origin),
            "follow_redirects": False,
            "headers": {"User-Agent": user_agent()},
        }

    # configuration ---------------------------------------------------------------------------

    def _open_journal(self, journal: JournalOption, in_process: bool) -> JournalStore | None:
        self._owns_journal = False
        if journal is False:
            return None
        if isinstance(journal, JournalStore):
            return journal
        self._owns_journal = True
        return open_journal(journal, emulator=in_process)

    @property
    def journal(self) -> JournalStore | None:
        """The journal in use, or None when disabled with ``journal=False``."""
        return self._journal

    @property
    def emulator(self) -> bool:
        """The client talks to an in-process emulator (``emulator=True``)."""
        return self._in_process

    # Each setting, resolved and read-only; what it means is said once, on ClientOptions.
    base_url: _Setting[str] = _Setting()
    max_retries: _Setting[int] = _Setting()
    timeout: _Setting[httpx.Timeout] = _Setting()
    wait_timeout: _Setting[float] = _Setting()
    max_download_bytes: _Setting[int] = _Setting()
    connection_limit: _Setting[int] = _Setting()
    trusted_hosts: _Setting[tuple[str, ...]] = _Setting()

    def with_options(self, **overrides: Any) -> Self:
        """A copy with some options changed (``timeout``, ``max_retries``, ...).

        The copy shares the transport, the emulator, the journal and what was learned about
        processing times; closing it leaves the original open.
        """
        unknown = set(overrides) - set(attrs.fields_dict(ClientOptions))
        if unknown:
            raise TypeError(f"with_options() got unexpected options: {', '.join(sorted(unknown))}")
        return self._from_options(attrs.evolve(self._options, **overrides), shared=self._shared)

    def __repr__(self) -> str:
        journal = self._journal.location if self._journal is not None else None
        return (
            f"{type(self).__name__}(base_url={self._base_url!r}, emulator={self._in_process}, "
            f"journal={journal!r})"
        )

    def _hint_base_url(self) -> str | None:
        """The base URL a ``sora2`` command must be given to reach this client's service, or
        None when it is the command's own default."""
        if self._in_process:
            return None
        from ._spec import server_url

        default = (os.environ.get(BASE_URL_ENV_VAR) or server_url()).rstrip("/")
        return None if self._base_url == default else self._base_url

    @functools.cached_property
    def _retry(self) -> RetryPolicy:
        """How a failed request is retried: built, and ``sora2._retry`` loaded, at a first
        failure."""
        from ._retry import RetryPolicy

        return RetryPolicy(max_retries=self._options.max_retries)

    def _token(self) -> str | None:
        if self._options.api_key:
            return self._options.api_key
        return _EMULATOR_TOKEN if self._in_process else None

    def _require_key(self) -> None:
        if self._token() is None:
            raise ConfigurationError(
                "no API key: pass api_key=..., or set "
                f"{' or '.join(API_KEY_ENV_VARS)} (get a key from your RunComfy profile)",
                setting="api_key",
            )

    # answers -----------------------------------------------------------------------------------

    def _check_journal(self) -> None:
        """Refuse to submit when the journal cannot record the id (``JournalError``): a paid job
        whose id is lost is what the journal exists to prevent. No journal: nothing to check."""
        if self._journal is not None:
            self._journal.check_writable()

    def _submit_op(
        self, prompt: str, inputs: Mapping[str, Any], model: str | None, target: str | None
    ) -> Submit:
        """The submit of ``prompt`` and exactly the inputs given, checked against the model's
        input schema (see ``validate_input``); a local path or http:// URL as a hosted-file
        input is refused."""
        from ._inputs import known_model, refuse_local_files, validate_input

        if "prompt" in inputs:
            raise TypeError("prompt is given twice: positionally and as a keyword")
        model_id = known_model(model)
        refuse_local_files(inputs, model_id)
        body = validate_input({"prompt": prompt, **inputs}, model_id)
        return Submit(model_id, body, target)

    def _checks_files(self) -> bool:
        """Whether file inputs are asked for before paying: over the network, or through the
        transport given for these checks (a seam for tests)."""
        return self._file_checks or self._hosted_transport is not None

    def _ended(self, status: JobStatus) -> JobStatus:
        """A final status, returned; a failed one raised as ``JobFailedError``."""
        if status.is_failed:
            count("failed", job_attributes(None, status.request_id))
            from ._errors import job_failed

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
            timeout=self._options.wait_timeout if timeout is None else timeout,
            clock=shared.clock,
            model=shared.progress,
            video_seconds=seconds,
            submitted_wall=submitted,
            started_wall=started,
            on_update=on_update,
            unknown_logged=shared.unknown_logged,
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


def submitted(submission: Submission, body: Mapping[str, Any], model: str) -> Submission:
    """A submission, told to telemetry (the span's request id, the submitted count, and the
    job's model and inputs for its later spans)."""
    annotate("sora2.request_id", submission.request_id)
    count("submitted", job_attributes(body, model=model))
    remember_job(submission.request_id, model, body)
    return submission


def observed(status: JobStatus, poll: Any = ...) -> JobStatus:
    """A status, told to telemetry: its state set on ``poll``, the span the caller holds (None
    when none records: no need to ask again), or if not given on the current span."""
    if poll is ...:
        annotate("sora2.state", status.state)
    elif poll is not None:
        poll.set_attribute("sora2.state", status.state)
    return status

"""One exception tree for everything sora2 raises::

    Sora2Error
    ├── InvalidInputError          bad input, refused before anything is sent (also a ValueError)
    ├── ConfigurationError         no API key, an unusable base URL, a missing extra
    │   ├── JournalError           the journal cannot record a job id: nothing is submitted
    │   └── MissingExtraError      an optional extra is not installed (also an ImportError)
    ├── APIError                   something went wrong talking to the service
    │   ├── APIConnectionError     the service could not be reached, or the connection broke
    │   │   └── APITimeoutError    no answer in time
    │   ├── SubmissionUnknownError a submit failed ambiguously: the job may exist and be billed
    │   ├── APIResponseValidationError  the answer does not match the spec
    │   └── APIStatusError         the service answered with an error status
    │       ├── BadRequestError (400)
    │       │   └── InsufficientBalanceError (400002)
    │       ├── AuthenticationError (401, and 400004 account or token invalid)
    │       ├── PermissionDeniedError (403)
    │       ├── NotFoundError (404)
    │       ├── ConflictError (409: e.g. cancelling a job that is no longer queued)
    │       ├── UnprocessableEntityError (422)
    │       ├── RateLimitError (429)
    │       └── InternalServerError (5xx)
    ├── WaitTimeoutError           wait() reached its deadline; the job goes on
    ├── JobFailedError             the job ended in a failed state; ``detail`` says why
    ├── NoOutputError              the job completed without any output file
    ├── DownloadError              a result could not be saved (size cap, type, scheme, I/O)
    │   └── TransientDownloadError a failure worth retrying (connection, 429, 5xx, a short body)
    │   └── DownloadWriteError     the file could not be written (disk full, permissions, path)
    ├── JournalUnavailableError    the journal could not be read or written (a database down)
    └── ContractViolationError     an exchange broke the spec (sora2.contract)

Every error that concerns a job carries its ``request_id`` (the job's id, as returned by
submit) when one exists. An error raised after a job was submitted (and so paid for) also
carries ``output_urls`` when they were known, and its message ends with ``paid_hint``: the
command that fetches the result. ``http_request_id`` is the service's id of one HTTP exchange.
Messages never include the API token.

:func:`parse_retry_after` reads the Retry-After header that ``RateLimitError.retry_after``, the
retries and the download honour. :func:`needs_extra` turns the import of an optional extra
that is not installed into a :class:`MissingExtraError`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, TypedDict, TypeGuard, Unpack

if TYPE_CHECKING:
    import datetime

    import httpx

    from .contract._violations import Violation

__all__ = [
    "JOB_NOT_FOUND",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "ContractViolationError",
    "CostLimitError",
    "DownloadError",
    "DownloadWriteError",
    "InsufficientBalanceError",
    "InternalServerError",
    "InvalidInputError",
    "JobFailedError",
    "JournalError",
    "JournalUnavailableError",
    "MissingExtraError",
    "NoOutputError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "Sora2Error",
    "SubmissionUnknownError",
    "TransientDownloadError",
    "UnprocessableEntityError",
    "WaitTimeoutError",
    "is_gone",
    "needs_extra",
    "parse_retry_after",
]

JOB_NOT_FOUND: Final = 404001
"""The service's error code for a request id it does not know, or no longer knows (expired)."""


class Sora2Error(Exception):
    """Base class of every exception sora2 raises on purpose."""

    request_id: str | None = None
    output_urls: tuple[str, ...] = ()
    """The job's output URLs, when they were known at the failure (after a submission)."""
    paid_hint: str | None = None
    """Set on a failure after a submission: the job is paid for, and how to fetch its result."""

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request_id = request_id

    def __str__(self) -> str:
        text = self._describe()
        return f"{text}; {self.paid_hint}" if self.paid_hint else text

    def _describe(self) -> str:
        return super().__str__()


class InvalidInputError(Sora2Error, ValueError):
    """An input breaks the spec; nothing was sent and nothing was spent."""

    def __init__(
        self,
        message: str,
        *,
        field: str,
        value: Any = None,
        allowed: Sequence[Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.field = field
        self.value = value
        self.allowed = tuple(allowed) if allowed is not None else None


class CostLimitError(InvalidInputError):
    """The job (or batch) would cost more than ``max_cost``, or its cost cannot be estimated
    while ``max_cost`` was given; nothing was sent and nothing was spent.

    ``field`` is ``"max_cost"``; ``estimate_usd`` is the estimate (None when it could not be
    made) and ``basis`` says how it was computed, or why it could not be.
    """

    def __init__(
        self, message: str, *, max_cost: float, estimate_usd: float | None, basis: str
    ) -> None:
        super().__init__(message, field="max_cost", value=max_cost)
        self.max_cost = max_cost
        self.estimate_usd = estimate_usd
        self.basis = basis


class ConfigurationError(Sora2Error):
    """The client cannot be used as configured (no key, bad base URL, missing extra).
    ``setting`` names the missing or unusable setting when there is one (``"api_key"``), so a
    caller such as the CLI can say how to give it in its own terms."""

    def __init__(
        self, message: str, *, request_id: str | None = None, setting: str | None = None
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.setting = setting


class MissingExtraError(ConfigurationError, ModuleNotFoundError):
    """An optional extra is not installed; the message gives the pip command that adds it.
    Also a ``ModuleNotFoundError``, so ``except ImportError`` still catches it."""

    def __init__(self, message: str, *, extra: str, name: str | None = None) -> None:
        super().__init__(message)
        self.extra = extra
        self.name = name


@contextlib.contextmanager
def needs_extra(feature: str, extra: str) -> Iterator[None]:
    """Turn an import of a third-party module that is not installed into the one-line
    :class:`MissingExtraError` for ``extra`` (``sora2._extras`` writes its advice, loaded only
    then); sora2's own broken imports stay as they are."""
    try:
        yield
    except ModuleNotFoundError as exc:
        top = (exc.name or "").partition(".")[0]
        if isinstance(exc, MissingExtraError) or not top or top == "sora2":
            raise
        from ._extras import missing_extra

        raise missing_extra(feature, extra, exc.name) from None


class JournalError(ConfigurationError):
    """The journal cannot record a job's id (not SQLite, a folder that cannot be written).

    Nothing was submitted: a paid job whose id is lost cannot be resumed. ``path`` is the
    journal's file. Pass another journal, or ``journal=False`` (the CLI's ``--no-journal``) to
    submit without one.
    """

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class JournalUnavailableError(Sora2Error):
    """The journal could not be read or written (its database unreachable): logged by the
    client, which goes on; a shared batch stops taking rows (run it again once it is back)."""


class APIError(Sora2Error):
    """A problem in an exchange with the service."""

    def __init__(
        self,
        message: str,
        *,
        request_id: str | None = None,
        request: httpx.Request | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.request = request


class APIConnectionError(APIError):
    """The service could not be reached, or the connection broke before a full answer."""


class APITimeoutError(APIConnectionError):
    """The service did not answer within the timeout."""


class SubmissionUnknownError(APIError):
    """A submit failed after it may have reached the service. The job may exist and be
    billed, so it is not retried: a second submit is a second job. Check your RunComfy
    dashboard, or ``sora2 jobs``, before submitting again."""


class APIResponseValidationError(APIError):
    """The service answered something that does not match the spec (bad JSON, wrong shape)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        request: httpx.Request | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id, request=request)
        self.status_code = status_code
        self.response = response


class _StatusFields(TypedDict, total=False):
    """The optional keywords of :class:`APIStatusError`, for subclasses that add their own."""

    error_code: int | None
    detail: Sequence[Any] | None
    request_id: str | None
    http_request_id: str | None
    request: httpx.Request | None
    response: httpx.Response | None


class APIStatusError(APIError):
    """The service answered with an error status and, usually, its JSON error body."""

    status_code: int

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_code: int | None = None,
        detail: Sequence[Any] | None = None,
        request_id: str | None = None,
        http_request_id: str | None = None,
        request: httpx.Request | None = None,
        response: httpx.Response | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id, request=request)
        self.status_code = status_code
        self.error_code = error_code
        self.detail = list(detail) if detail is not None else []
        self.http_request_id = http_request_id
        self.response = response

    def _describe(self) -> str:
        code = f" error_code={self.error_code}" if self.error_code is not None else ""
        job = f" request_id={self.request_id}" if self.request_id else ""
        return f"{self.status_code}{code}: {self.message}{job}"


class BadRequestError(APIStatusError):
    """400: an invalid resource id, a body that is not JSON, or an account problem."""


class InsufficientBalanceError(BadRequestError):
    """400002: the account's balance does not cover the job."""


class AuthenticationError(APIStatusError):
    """401, or 400004: the API token is missing, wrong or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the token may not use this resource."""


class NotFoundError(APIStatusError):
    """404: the request id is unknown or has expired."""


def is_gone(error: BaseException) -> TypeGuard[NotFoundError]:
    """The service's 404001: it does not know the id (expired, or a typo). The journal marks
    the job ``gone`` with the reason, so its row already says why it ended."""
    return isinstance(error, NotFoundError) and error.error_code == JOB_NOT_FOUND


class ConflictError(APIStatusError):
    """409: the job is not in a state that allows the operation (cancel after it started)."""


class UnprocessableEntityError(APIStatusError):
    """422: the service rejected the input; ``detail`` names the fields."""


class RateLimitError(APIStatusError):
    """429: too many requests; ``retry_after`` says how long the service asked to wait: the
    ``retry_after`` given, else the seconds of the response's Retry-After header."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        retry_after: float | None = None,
        **fields: Unpack[_StatusFields],
    ) -> None:
        super().__init__(message, status_code=status_code, **fields)
        response = fields.get("response")
        if retry_after is None and response is not None:
            retry_after = parse_retry_after(response.headers)
        self.retry_after = retry_after


class InternalServerError(APIStatusError):
    """5xx: the service failed; the request may be retried when it is safe to."""


class WaitTimeoutError(Sora2Error):
    """wait() reached its deadline. The job was not cancelled unless ``cancelled`` is True."""

    def __init__(
        self,
        message: str,
        *,
        request_id: str,
        last_status: str | None = None,
        cancelled: bool = False,
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.last_status = last_status
        self.cancelled = cancelled


class JobFailedError(Sora2Error):
    """The job ended in a state the spec calls failed; there is no output to fetch.
    ``detail`` is the service's account of why (the answer's ``error`` object), or None."""

    def __init__(
        self,
        message: str,
        *,
        request_id: str,
        state: str,
        detail: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.state = state
        self.detail = dict(detail) if detail is not None else None


class NoOutputError(Sora2Error):
    """The job completed, but its answer names no output file to download. The journal
    keeps the job unfinished, so ``resume`` asks again later."""

    def __init__(self, message: str, *, request_id: str | None) -> None:
        super().__init__(message, request_id=request_id)


class DownloadError(Sora2Error):
    """A result could not be saved; nothing partial is left at the target path."""


class TransientDownloadError(DownloadError):
    """A download failure worth retrying (connection trouble, 429, 5xx, a short body).
    ``retry_after`` is the delay a 429 or 503 asked for, when it named one."""

    def __init__(
        self, message: str, *, request_id: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, request_id=request_id)
        self.retry_after = retry_after


class DownloadWriteError(DownloadError):
    """The video could not be written where asked (disk full, permissions, a missing path).
    Raised for an ``OSError`` while saving: the job is done and paid for, so ``paid_hint``
    says how to fetch it again, somewhere writable."""


class ContractViolationError(Sora2Error):
    """One or more exchanges broke the spec; ``violations`` lists each problem."""

    def __init__(self, message: str, *, violations: Sequence[Violation]) -> None:
        super().__init__(message)
        self.violations = list(violations)


def parse_retry_after(
    headers: Mapping[str, str], *, now: datetime.datetime | None = None
) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), or None if absent/bad."""
    value = headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        # Imported here: `import sora2` imports this module, and must stay cheap.
        import datetime
        import email.utils

        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.UTC)
        seconds = (when - (now or datetime.datetime.now(datetime.UTC))).total_seconds()
    if seconds != seconds or seconds == float("inf"):  # NaN or infinite
        return None
    return max(0.0, seconds)

"""The typed error for an exchange that went wrong: an error status, a broken body, a lost
connection, or a submit whose outcome is unknown. Each is one of ``sora2._exceptions``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final

import httpx

from ._exceptions import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InsufficientBalanceError,
    InternalServerError,
    JobFailedError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    SubmissionUnknownError,
    UnprocessableEntityError,
    WaitTimeoutError,
)
from ._options import MAX_POLL_INTERVAL, MAX_RETRY_AFTER, MAX_WAIT_ERRORS, MIN_POLL_INTERVAL
from ._responses import json_body, salvage_request_id
from ._retry import SUBMIT_RETRY_STATUSES
from ._transports import logger, redact

if TYPE_CHECKING:
    from ._exceptions import APIError
    from ._waiting import WaitTracker

__all__ = [
    "NOT_SENT_ERRORS",
    "error_for_status",
    "host_port",
    "invalid_response",
    "job_failed",
    "poll_failed",
    "submit_failure",
    "transport_error",
    "unknown_submission",
    "wait_timeout",
]

NOT_SENT_ERRORS: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Transport errors raised before a single byte of the request left: safe to retry a submit."""

_BY_STATUS: Final[dict[int, type[APIStatusError]]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}
_BY_ERROR_CODE: Final[dict[int, type[APIStatusError]]] = {
    400002: InsufficientBalanceError,
    400004: AuthenticationError,
}


def host_port(url: httpx.URL) -> str:
    """``127.0.0.1:1``, ``api.example:443``: where a request went, the port always shown (a
    refused connection is about a port as much as a host)."""
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{host}:{port}" if port is not None else host


# Errors -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ErrorBody:
    error_code: int | None
    message: str | None
    detail: list[Any]


def _error_body(response: httpx.Response) -> _ErrorBody:
    ok, data = json_body(response)
    if not ok or not isinstance(data, dict):
        return _ErrorBody(None, None, [])
    code = data.get("error_code")
    message = data.get("message")
    detail = data.get("detail")
    return _ErrorBody(
        code if isinstance(code, int) and not isinstance(code, bool) else None,
        redact(message) if isinstance(message, str) else None,
        detail if isinstance(detail, list) else [],
    )


def _phrase(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "Unknown status"


def error_for_status(response: httpx.Response, *, request_id: str | None) -> APIStatusError:
    """The typed error for an error answer; the body may be JSON, HTML or nothing at all."""
    body = _error_body(response)
    status = response.status_code
    cls: type[APIStatusError] = (
        _BY_ERROR_CODE.get(body.error_code or 0)
        or _BY_STATUS.get(status)
        or (InternalServerError if status >= 500 else APIStatusError)
    )
    return cls(
        body.message or _phrase(status),
        status_code=status,
        error_code=body.error_code,
        detail=body.detail,
        request_id=request_id,
        http_request_id=response.headers.get("x-request-id"),
        request=response.request,
        response=response,
    )


def transport_error(
    exc: httpx.RequestError, *, request_id: str | None, operation: str
) -> APIConnectionError:
    """An httpx transport failure as ``APIConnectionError`` or ``APITimeoutError``."""
    cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
    what = "timed out" if cls is APITimeoutError else "failed"
    try:
        request: httpx.Request | None = exc.request
    except RuntimeError:  # httpx raises when the error was never tied to a request
        request = None
    detail = redact(str(exc)) or type(exc).__name__
    if request is not None:
        where = host_port(request.url)
        detail = (
            f"cannot connect to {where}: {detail}"
            if isinstance(exc, httpx.ConnectError)
            else f"{where}: {detail}"
        )
    return cls(f"{operation} {what}: {detail}", request_id=request_id, request=request)


def unknown_submission(
    reason: str, *, request: httpx.Request | None, request_id: str | None = None
) -> SubmissionUnknownError:
    return SubmissionUnknownError(
        f"submit: {reason}; the job may have been created and billed, so it was not retried. "
        "Check `sora2 jobs` or your RunComfy dashboard before submitting again.",
        request_id=request_id,
        request=request,
    )


def submit_failure(response: httpx.Response) -> Exception:
    """The error for a submit answered with anything but a readable 200.

    Client errors (4xx but 429) prove the job was refused; 429 and 503 prove it was not taken
    (and are retried); every other status leaves the outcome unknown.
    """
    status = response.status_code
    if 400 <= status < 500 or status in SUBMIT_RETRY_STATUSES:
        return error_for_status(response, request_id=None)
    return unknown_submission(
        f"the service answered {status} {_phrase(status)}",
        request=response.request,
        request_id=salvage_request_id(response),
    )


def invalid_response(
    operation: str,
    reason: str,
    response: httpx.Response,
    *,
    request_id: str | None,
) -> APIResponseValidationError:
    return APIResponseValidationError(
        f"{operation}: the answer does not match the spec ({redact(reason)})",
        status_code=response.status_code,
        request_id=request_id,
        request=response.request,
        response=response,
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


# wait(): a failed poll, and the deadline ----------------------------------------------------


def poll_failed(tracker: WaitTracker, exc: APIError) -> float:
    """Seconds until the poll after a failed one (already retried): backing off, but never past
    the latency bound; the error itself after ``MAX_WAIT_ERRORS`` failures in a row."""
    tracker.failures += 1
    if tracker.failures >= MAX_WAIT_ERRORS:
        raise exc
    bound = tracker.schedule.latency_bound(tracker.clock.monotonic())
    delay = min(MAX_POLL_INTERVAL, max(bound, MIN_POLL_INTERVAL * tracker.failures))
    if isinstance(exc, RateLimitError) and exc.retry_after is not None:
        delay = max(delay, min(exc.retry_after, MAX_RETRY_AFTER))
    logger.debug("%s: poll failed (%s); trying again in %.1fs", tracker.request_id, exc, delay)
    return delay


def wait_timeout(tracker: WaitTracker, *, cancelled: bool) -> WaitTimeoutError:
    """The error of a wait past its deadline; the job goes on (and is paid for) unless it was
    cancelled while still queued."""
    from ._paid import mark_paid

    state = tracker.last.state if tracker.last is not None else None
    tail = "it was still queued, so it was cancelled" if cancelled else "the job goes on"
    error = WaitTimeoutError(
        f"gave up waiting for {tracker.request_id} after {tracker.timeout:g}s "
        f"(last state: {state or 'unknown'}); {tail}",
        request_id=tracker.request_id,
        last_status=state,
        cancelled=cancelled,
    )
    if not cancelled:
        base_url, in_process = tracker.hints
        mark_paid(error, tracker.request_id, base_url=base_url, in_process=in_process)
    return error

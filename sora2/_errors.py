"""The typed error for an exchange that went wrong: an error status, a broken body, a lost
connection, a submit whose outcome is unknown, or a result with nothing to download. Each is one
of ``sora2._exceptions``. A call (``sora2._operations``) imports this module only when it fails.
"""

from __future__ import annotations

import functools
import json
import re
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
    DownloadError,
    InsufficientBalanceError,
    InternalServerError,
    JobFailedError,
    NoOutputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    SubmissionUnknownError,
    TransientDownloadError,
    UnprocessableEntityError,
    WaitTimeoutError,
)
from ._operations import answer_schema, client_formats, json_body, named_id
from ._options import MAX_POLL_INTERVAL, MAX_RETRY_AFTER, MAX_WAIT_ERRORS, MIN_POLL_INTERVAL
from ._retry import SUBMIT_RETRY_STATUSES
from ._transports import logger, redact
from ._types import JobResult

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

    from ._exceptions import APIError, Sora2Error
    from ._waiting import WaitTracker

__all__ = [
    "NOT_SENT_ERRORS",
    "answer_validator",
    "bad_answer",
    "call_failure",
    "error_for_status",
    "explain",
    "host_port",
    "invalid_response",
    "job_failed",
    "nothing_to_download",
    "poll_failed",
    "salvage_request_id",
    "submit_failure",
    "transport_error",
    "transport_failure",
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


# What a broken or rejected answer still says ----------------------------------------------------

_REQUEST_ID: Final = re.compile(rb'"request_id"\s*:\s*"((?:[^"\\]|\\.){1,200})"')


def salvage_request_id(response: httpx.Response, decoded: tuple[bool, Any]) -> str | None:
    """The job id in a submit answer, even from a body that is broken or cut short."""
    ok, data = decoded
    if ok:
        return named_id(data)
    found = _REQUEST_ID.search(response.content)
    if found is None:
        return None
    try:
        value = json.loads(b'"' + found.group(1) + b'"')
    except ValueError:
        return None
    return value if isinstance(value, str) and value else None


@functools.cache
def answer_validator(operation_id: str) -> Validator | None:
    """jsonschema's check of ``operation_id``'s 200 body, with the client's formats: it explains
    a body the fast verdict (``sora2._operations.schema_error``) rejected."""
    from ._spec import schema_compiler

    location, schema = answer_schema(operation_id)
    if schema is None:
        return None
    compiled = schema_compiler().validator(location, schema)
    validator: Validator = compiled.evolve(format_checker=client_formats())
    return validator


def explain(operation_id: str, data: Any) -> str | None:
    """Why ``data`` is not the spec's 200 body of ``operation_id``, or None if it is."""
    validator = answer_validator(operation_id)
    error = None if validator is None else next(iter(validator.iter_errors(data)), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "body"
    return f"{where}: {error.message}"


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


def _request_of(exc: httpx.RequestError) -> httpx.Request | None:
    try:
        return exc.request
    except RuntimeError:  # httpx raises when the error was never tied to a request
        return None


def transport_error(
    exc: httpx.RequestError, *, request_id: str | None, operation: str
) -> APIConnectionError:
    """An httpx transport failure as ``APIConnectionError`` or ``APITimeoutError``."""
    cls = APITimeoutError if isinstance(exc, httpx.TimeoutException) else APIConnectionError
    what = "timed out" if cls is APITimeoutError else "failed"
    request = _request_of(exc)
    detail = redact(str(exc)) or type(exc).__name__
    if request is not None:
        where = host_port(request.url)
        detail = (
            f"cannot connect to {where}: {detail}"
            if isinstance(exc, httpx.ConnectError)
            else f"{where}: {detail}"
        )
    return cls(f"{operation} {what}: {detail}", request_id=request_id, request=request)


def call_failure(operation: str, exc: httpx.RequestError, request_id: str | None) -> APIError:
    """The typed error of a request that got no answer: a submit that may have been sent has
    an unknown outcome."""
    if operation == "submit" and not isinstance(exc, NOT_SENT_ERRORS):
        return unknown_submission(
            f"{type(exc).__name__} after the request was sent", request=_request_of(exc)
        )
    return transport_error(exc, request_id=request_id, operation=operation)


def unknown_submission(
    reason: str, *, request: httpx.Request | None, request_id: str | None = None
) -> SubmissionUnknownError:
    return SubmissionUnknownError(
        f"submit: {reason}; the job may have been created and billed, so it was not retried. "
        "Check `sora2 jobs` or your RunComfy dashboard before submitting again.",
        request_id=request_id,
        request=request,
    )


def submit_failure(response: httpx.Response, decoded: tuple[bool, Any]) -> APIError:
    """The error of a submit answered with anything but a 2xx naming its job; its
    ``request_id`` names a job that may exist (to be journaled too).

    Client errors (4xx but 429) prove the job was refused; 429 and 503 prove it was not taken
    (and are retried); every other status leaves the outcome unknown.
    """
    status = response.status_code
    request_id = salvage_request_id(response, decoded)
    if not 200 <= status < 300:
        if 400 <= status < 500 or status in SUBMIT_RETRY_STATUSES:
            return error_for_status(response, request_id=None)
        reason = f"the service answered {status} {_phrase(status)}"
    elif request_id is None:
        reason = f"the service answered {status} without a readable request_id"
    else:  # a 2xx naming its job in a body that is not JSON
        return invalid_response("submit", "the body is not JSON", response, request_id=request_id)
    return unknown_submission(reason, request=response.request, request_id=request_id)


def bad_answer(
    call: str, response: httpx.Response, request_id: str, problem: str | None, data: Any
) -> APIError:
    """The error of an answer other than a 200 that the spec and the generated model accept
    (``problem``: what the spec's check found wrong with a 200 body)."""
    status = response.status_code
    if status >= 400:
        return error_for_status(response, request_id=request_id)
    if status != 200:
        problem = f"undocumented status {status}"
    elif problem is None and call == "result":
        output = isinstance(data, dict) and "output" in data  # the state-only shape would parse
        problem = "unreadable output" if output else "not a result"
    elif problem is None:
        problem = "the body is not a SubmitResponse" if call == "submit" else "not a RequestStatus"
    return invalid_response(call, problem, response, request_id=request_id)


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


def nothing_to_download(result: JobResult) -> Sora2Error:
    """The error for a result without a file: failed, completed without output, or unfinished."""
    if result.is_failed:
        return job_failed(result.request_id, result.state, result.error)
    if result.is_completed:
        return NoOutputError(
            f"{result.request_id} completed without any output file "
            f"(output fields: {', '.join(sorted(result.outputs)) or 'none'}); it stays "
            f"unfinished in the journal, so `sora2 resume {result.request_id}` asks again",
            request_id=result.request_id,
        )
    return DownloadError(
        f"{result.request_id} has no output to download (state: {result.state})",
        request_id=result.request_id,
    )


def transport_failure(
    exc: httpx.TransportError | httpx.DecodingError, request_id: str | None
) -> TransientDownloadError:
    """A connection problem, or a body that cannot be decoded (a corrupt gzip stream), during a
    download: retried, then reported as a DownloadError."""
    request = _request_of(exc)
    where = f"{host_port(request.url)}: " if request is not None else ""
    detail = redact(str(exc)) or type(exc).__name__
    return TransientDownloadError(f"download failed: {where}{detail}", request_id=request_id)


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


def wait_timeout(
    tracker: WaitTracker, *, cancelled: bool, base_url: str | None, in_process: bool
) -> WaitTimeoutError:
    """The error of a wait past its deadline; the job goes on (and is paid for) unless it was
    cancelled while still queued, and the hint reaches the client's service (``mark_paid``)."""
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
        mark_paid(error, tracker.request_id, base_url=base_url, in_process=in_process)
    return error

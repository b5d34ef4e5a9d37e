"""Turning one HTTP exchange into a typed value or a typed error, for both clients.

Pure functions: a raw ``httpx.Response`` in, a ``Submission``, ``JobStatus`` or ``JobResult``
out, or one of the exceptions in ``sora2._exceptions`` raised. The generated models parse what
the spec promises and nothing else: a 500 with an HTML page, a 200 that is not JSON, or an
undocumented status would make them raise ``KeyError`` or ``ValueError``, and a wrong-typed
field slips through their ``from_dict``. So a body is decoded once, checked once against the
spec's own response schema, and only then parsed with the generated model's ``from_dict``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final, TypeGuard

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
)
from ._http import SUBMIT_RETRY_STATUSES, parse_retry_after
from ._logging import redact
from ._outputs import output_files
from ._types import JobResult, JobStatus, Submission
from ._verdict import schema_error

__all__ = [
    "JOB_NOT_FOUND",
    "NOT_SENT_ERRORS",
    "PARSE_FAILURES",
    "Decoded",
    "error_for_status",
    "interpret_result",
    "interpret_status",
    "interpret_submit",
    "invalid_response",
    "is_gone",
    "job_failed",
    "job_status",
    "json_body",
    "salvage_request_id",
    "schema_error",
    "submit_failure",
    "submitted_id",
    "transport_error",
    "unknown_submission",
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

JOB_NOT_FOUND: Final = 404001
"""The service's error code for a request id it does not know, or no longer knows (expired)."""

_REQUEST_ID = re.compile(rb'"request_id"\s*:\s*"((?:[^"\\]|\\.){1,200})"')


# Bodies -----------------------------------------------------------------------------------------


Decoded = tuple[bool, Any]
"""``(True, data)`` for a JSON body, ``(False, None)`` for anything else."""


def json_body(response: httpx.Response) -> Decoded:
    """``(True, data)`` when the body is JSON, ``(False, None)`` otherwise (never raises)."""
    try:
        return True, json.loads(response.content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False, None


def salvage_request_id(response: httpx.Response, decoded: Decoded | None = None) -> str | None:
    """The job id in a submit answer, even from a body that is broken or cut short."""
    ok, data = json_body(response) if decoded is None else decoded
    if ok:
        if isinstance(data, dict):
            value = data.get("request_id")
            if isinstance(value, str) and value:
                return value
        return None
    found = _REQUEST_ID.search(response.content)
    if found is None:
        return None
    try:
        value = json.loads(b'"' + found.group(1) + b'"')
    except ValueError:
        return None
    return value if isinstance(value, str) and value else None


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
    return cls(
        f"{operation} {what}: {redact(str(exc)) or type(exc).__name__}",
        request_id=request_id,
        request=request,
    )


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


def is_gone(error: BaseException) -> TypeGuard[NotFoundError]:
    """The service's 404001: it does not know the id (expired, or a typo). The journal marks
    the job ``gone`` with the reason, so its row already says why it ended."""
    return isinstance(error, NotFoundError) and error.error_code == JOB_NOT_FOUND


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


# Answers ----------------------------------------------------------------------------------------

PARSE_FAILURES: Final = (
    ValueError,
    KeyError,
    TypeError,
    AttributeError,
    IndexError,
    RecursionError,
)
"""What a generated ``from_dict`` raises on data that is not what the spec says."""

_VIDEO_KIND: Final = "video"
"""The kind whose first file is ``JobResult.video_url`` (kept for compatibility)."""


def submitted_id(response: httpx.Response, decoded: Decoded) -> str:
    """The id of the job a submit made: to be journaled before anything else can go wrong.

    Raises:
        SubmissionUnknownError: the outcome is unknown (its ``request_id`` set when the body
            still names a job, which must then be journaled too).
        APIStatusError: the submit was refused, or provably not taken.
    """
    if not 200 <= response.status_code < 300:
        raise submit_failure(response)
    request_id = salvage_request_id(response, decoded)
    if request_id is None:
        raise unknown_submission(
            f"the service answered {response.status_code} without a readable request_id",
            request=response.request,
        )
    return request_id


def interpret_submit(response: httpx.Response, decoded: Decoded, request_id: str) -> Submission:
    """The ``Submission`` of a submit answered 2xx with job ``request_id``."""
    from sora2_api.models import SubmitResponse

    ok, data = decoded
    problem = (
        "the body is not JSON"
        if not ok
        else (
            f"undocumented status {response.status_code}"
            if response.status_code != 200
            else schema_error("submit", data)
        )
    )
    if problem is None:
        try:
            parsed = SubmitResponse.from_dict(data)
        except PARSE_FAILURES:
            problem = "the body is not a SubmitResponse"
    if problem is not None:
        raise invalid_response("submit", problem, response, request_id=request_id)
    return Submission(
        request_id=parsed.request_id,
        status_url=parsed.status_url,
        result_url=parsed.result_url,
        cancel_url=parsed.cancel_url,
        raw=parsed,
    )


def _checked_body(operation: str, response: httpx.Response, request_id: str) -> Any:
    """The JSON body of a 200 that matches the spec; raises the typed error otherwise."""
    if response.status_code >= 400:
        raise error_for_status(response, request_id=request_id)
    if response.status_code != 200:
        raise invalid_response(
            operation,
            f"undocumented status {response.status_code}",
            response,
            request_id=request_id,
        )
    ok, data = json_body(response)
    problem = "the body is not JSON" if not ok else schema_error(operation, data)
    if problem is not None:
        raise invalid_response(operation, problem, response, request_id=request_id)
    return data


def interpret_status(operation: str, response: httpx.Response, request_id: str) -> JobStatus:
    """The ``JobStatus`` in a status or cancel answer about job ``request_id``."""
    from sora2_api.models import RequestStatus

    data = _checked_body(operation, response, request_id)
    try:
        parsed = RequestStatus.from_dict(data)
    except PARSE_FAILURES:
        raise invalid_response(
            operation, "not a RequestStatus", response, request_id=request_id
        ) from None
    return job_status(parsed, request_id, retry_after=parse_retry_after(response.headers))


def interpret_result(response: httpx.Response, request_id: str) -> tuple[JobStatus, JobResult]:
    """The ``JobResult`` in a result answer about job ``request_id``, and its status."""
    from sora2_api.models import RequestResult, RequestStatus
    from sora2_api.types import Unset

    data = _checked_body("result", response, request_id)
    parsed: RequestResult | RequestStatus
    try:
        if not isinstance(data, dict):
            raise TypeError
        parsed = RequestResult.from_dict(data)
    except (TypeError, ValueError, AttributeError, KeyError):
        if isinstance(data, dict) and "output" in data:
            # Only the state-only shape would parse: the outputs are broken.
            raise invalid_response(
                "result", "unreadable output", response, request_id=request_id
            ) from None
        try:
            parsed = RequestStatus.from_dict(data)
        except PARSE_FAILURES:
            raise invalid_response(
                "result", "not a result", response, request_id=request_id
            ) from None
    status = job_status(parsed, request_id)
    if isinstance(parsed, RequestResult):
        outputs = parsed.output.to_dict()
        files = output_files(outputs)
        videos = [f.url for f in files if f.kind == _VIDEO_KIND]
        return status, JobResult(
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
    return status, JobResult(
        request_id=status.request_id,
        state=status.state,
        video_url=None,
        outputs={},
        created_at=None,
        finished_at=None,
        raw=parsed,
        error=status.error,
    )


def job_status(parsed: Any, request_id: str, *, retry_after: float | None = None) -> JobStatus:
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

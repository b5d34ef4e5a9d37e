"""Turning one HTTP exchange into a typed value or a typed error, for both clients.

The generated functions parse what the spec promises and nothing else: a 500 with an HTML
page, a 200 that is not JSON, or an undocumented status make them raise ``JSONDecodeError``,
``KeyError`` or ``ValueError``, and a wrong-typed field slips through their ``from_dict``.
So every answer is also checked here against the spec's own response schema, and every
failure becomes one of the exceptions in ``sora2._exceptions``.
"""

from __future__ import annotations

import contextvars
import datetime
import functools
import json
import re
from collections.abc import Callable
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
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    SubmissionUnknownError,
    UnprocessableEntityError,
)
from ._http import SUBMIT_RETRY_STATUSES
from ._logging import redact

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

__all__ = [
    "JOB_NOT_FOUND",
    "NOT_SENT_ERRORS",
    "acapture_response",
    "capture_response",
    "error_for_status",
    "invalid_response",
    "json_body",
    "last_response",
    "reset_last_response",
    "salvage_request_id",
    "schema_error",
    "submit_failure",
    "transport_error",
    "unknown_submission",
]

_last: contextvars.ContextVar[httpx.Response | None] = contextvars.ContextVar(
    "sora2_last_response", default=None
)

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

_SPEC_URI: Final = "urn:sora2:client-spec"
_REQUEST_ID = re.compile(rb'"request_id"\s*:\s*"((?:[^"\\]|\\.){1,200})"')


# Capturing the raw response -------------------------------------------------------------------


def capture_response(response: httpx.Response) -> None:
    """httpx response hook: remember the raw response of this call (per thread and task)."""
    _last.set(response)


async def acapture_response(response: httpx.Response) -> None:
    """The async client's twin of :func:`capture_response`."""
    _last.set(response)


def reset_last_response() -> None:
    _last.set(None)


def last_response() -> httpx.Response | None:
    return _last.get()


# Bodies -----------------------------------------------------------------------------------------


def json_body(response: httpx.Response) -> tuple[bool, Any]:
    """``(True, data)`` when the body is JSON, ``(False, None)`` otherwise (never raises)."""
    try:
        return True, json.loads(response.content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False, None


def salvage_request_id(response: httpx.Response) -> str | None:
    """The job id in a submit answer, even from a body that is broken or cut short."""
    ok, data = json_body(response)
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


def _is_date_time(value: object) -> bool:
    """What the generated models can parse: ``datetime.fromisoformat``."""
    if not isinstance(value, str):
        return True
    try:
        datetime.datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


@functools.cache
def _validator(operation_id: str) -> Validator | None:
    """The compiled check of ``operation_id``'s 200 body, its local ``$ref``s inlined.

    Resolving ``$ref``s through a registry on every call was most of the client's overhead
    per call, so the spec layer's compiler inlines them once here; the format check is the
    client's own: a ``date-time`` is what the generated models can parse.
    """
    from jsonschema import FormatChecker

    from ._spec import operation, resolve, schema_compiler

    answer = resolve(operation(operation_id).raw.get("responses", {}).get("200", {}))
    schema = answer.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return None
    checker = FormatChecker(formats=())
    checker.checks("date-time")(_is_date_time)
    # Not a JSON pointer: the schema's own $ref must be inlined, not seen as recursion.
    compiled = schema_compiler().validator(f"{_SPEC_URI}:{operation_id}:200", schema)
    validator: Validator = compiled.evolve(format_checker=checker)
    return validator


@functools.cache
def _quick(operation_id: str) -> Callable[[Any], bool] | None:
    """The fast verdict on a 200 body of ``operation_id``: jsonschema-rs, compiled once.

    jsonschema walks a schema through generic validator objects on every call (about 20 µs for a
    status body, as much as the rest of the client's work per call); jsonschema-rs gives the
    same verdict in well under a microsecond. jsonschema still explains an invalid body.
    """
    import jsonschema_rs

    validator = _validator(operation_id)
    if validator is None or not isinstance(validator.schema, dict):
        return None
    schema: dict[str, Any] = validator.schema
    # The same formats as the jsonschema validator: only date-time is asserted.
    formats: dict[str, Callable[[Any], bool]] = dict.fromkeys(_format_names(schema), _any)
    formats["date-time"] = _is_date_time
    fast = jsonschema_rs.validator_for(schema, validate_formats=True, formats=formats)
    check: Callable[[Any], bool] = fast.is_valid
    return check


def _any(value: object) -> bool:
    return True


def _format_names(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        found = {schema["format"]} if isinstance(schema.get("format"), str) else set()
        return found.union(*(_format_names(v) for v in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_format_names(v) for v in schema))
    return set()


def schema_error(operation_id: str, data: Any) -> str | None:
    """Why ``data`` is not the spec's 200 body of ``operation_id``, or None if it is."""
    quick = _quick(operation_id)
    if quick is not None and quick(data):
        return None
    validator = _validator(operation_id)
    if validator is None:
        return None
    error = next(iter(validator.iter_errors(data)), None)
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

"""Turning one HTTP exchange into a typed value or a typed error, for both clients.

Pure functions: a raw ``httpx.Response`` in, a ``Submission``, ``JobStatus`` or ``JobResult``
out, or one of the exceptions in ``sora2._exceptions`` raised (made by ``sora2._errors``). The
generated models parse what the spec promises and nothing else: a 500 with an HTML page, a 200
that is not JSON, or an undocumented status would make them raise ``KeyError`` or
``ValueError``, and a wrong-typed field slips through their ``from_dict``. So a body is decoded
once, checked once against the spec's own response schema, and only then parsed with the
generated model's ``from_dict``. The errors are imported where one is raised: a good answer
never needs them.

The check is compiled once per operation: the fast verdict is jsonschema-rs's, and jsonschema
explains a body that fails it. Both check the one format the generated models parse
(``date-time``) the way they parse it.
"""

from __future__ import annotations

import datetime
import functools
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import httpx

from ._exceptions import DownloadError, NoOutputError, parse_retry_after
from ._types import JobResult, JobStatus, OutputFile, Submission, is_file_url, kind_of, output_files

if TYPE_CHECKING:
    from jsonschema import FormatChecker
    from jsonschema.protocols import Validator
    from sora2_api.models import RequestStatus
    from sora2_api.types import Unset

__all__ = [
    "Decoded",
    "files_to_download",
    "interpret_result",
    "interpret_status",
    "interpret_submit",
    "job_status",
    "json_body",
    "salvage_request_id",
    "schema_error",
    "submitted_id",
]

# Bodies -----------------------------------------------------------------------------------------

_REQUEST_ID = re.compile(rb'"request_id"\s*:\s*"((?:[^"\\]|\\.){1,200})"')


Decoded = tuple[bool, Any]
"""``(True, data)`` for a JSON body, ``(False, None)`` for anything else."""


_DECODER: Final = json.JSONDecoder()
_NOT_JSON: Final = (ValueError, UnicodeDecodeError, RecursionError)


def json_body(response: httpx.Response) -> Decoded:
    """``(True, data)`` when the body is JSON, ``(False, None)`` otherwise (never raises).

    The same verdict as ``json.loads`` of the bytes, which first guesses the encoding (UTF-8,
    16 or 32, a BOM): a UTF-8 body is read straight, anything else goes the long way.
    """
    content = response.content
    try:
        return True, _DECODER.decode(content.decode())
    except _NOT_JSON:
        pass
    try:
        return True, json.loads(content)
    except _NOT_JSON:
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


# Checking a body --------------------------------------------------------------------------------

_SPEC_URI: Final = "urn:sora2:client-spec"


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
def _client_formats() -> FormatChecker:
    """The client's own format check: a ``date-time`` is what the generated models can parse."""
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())
    checker.checks("date-time")(_is_date_time)
    return checker


def _body_schema(operation_id: str) -> Any:
    from ._spec import operation, resolve

    answer = resolve(operation(operation_id).raw.get("responses", {}).get("200", {}))
    return answer.get("content", {}).get("application/json", {}).get("schema")


def _location(operation_id: str) -> str:
    # Not a JSON pointer: the schema's own $ref must be inlined, not seen as recursion.
    return f"{_SPEC_URI}:{operation_id}:200"


@functools.cache
def _validator(operation_id: str) -> Validator | None:
    """The compiled check of ``operation_id``'s 200 body, its local ``$ref``s inlined.

    Resolving ``$ref``s through a registry on every call was most of the client's overhead
    per call, so the spec layer's compiler inlines them once here; the format check is the
    client's own (:func:`_client_formats`).
    """
    from ._compiler import schema_compiler

    schema = _body_schema(operation_id)
    if schema is None:
        return None
    compiled = schema_compiler().validator(_location(operation_id), schema)
    validator: Validator = compiled.evolve(format_checker=_client_formats())
    return validator


@functools.cache
def _quick(operation_id: str) -> Callable[[Any], bool] | None:
    """The fast verdict on a 200 body of ``operation_id`` (the spec layer's jsonschema-rs
    verdict, with the client's formats), compiled once; jsonschema still explains an invalid
    body.

    jsonschema walks a schema through generic validator objects on every call (about 20 µs for a
    status body, as much as the rest of the client's work per call); jsonschema-rs gives the
    same verdict in well under a microsecond.
    """
    from ._compiler import schema_compiler

    schema = _body_schema(operation_id)
    if schema is None:
        return None
    return schema_compiler().verdict(_location(operation_id), schema, _client_formats())


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


# Answers ----------------------------------------------------------------------------------------

_FROM_DICT_FAILURES: Final = (
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
        from ._errors import submit_failure

        raise submit_failure(response)
    request_id = salvage_request_id(response, decoded)
    if request_id is None:
        from ._errors import unknown_submission

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
        except _FROM_DICT_FAILURES:
            problem = "the body is not a SubmitResponse"
    if problem is not None:
        from ._errors import invalid_response

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
        from ._errors import error_for_status

        raise error_for_status(response, request_id=request_id)
    ok, data = json_body(response)
    problem = (
        f"undocumented status {response.status_code}"
        if response.status_code != 200
        else ("the body is not JSON" if not ok else schema_error(operation, data))
    )
    if problem is not None:
        from ._errors import invalid_response

        raise invalid_response(operation, problem, response, request_id=request_id)
    return data


@functools.cache
def _generated() -> tuple[type[RequestStatus], type[Unset]]:
    """The generated status model and ``Unset``, imported on first use (``import sora2`` stays
    cheap), then found without an import statement: on each status answer one cost as much as
    the schema check."""
    from sora2_api.models import RequestStatus
    from sora2_api.types import Unset

    return RequestStatus, Unset


def interpret_status(operation: str, response: httpx.Response, request_id: str) -> JobStatus:
    """The ``JobStatus`` in a status or cancel answer about job ``request_id``."""
    data = _checked_body(operation, response, request_id)
    try:
        parsed = _generated()[0].from_dict(data)
    except _FROM_DICT_FAILURES:
        from ._errors import invalid_response

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
    except _FROM_DICT_FAILURES:
        from ._errors import invalid_response

        if isinstance(data, dict) and "output" in data:
            # Only the state-only shape would parse: the outputs are broken.
            raise invalid_response(
                "result", "unreadable output", response, request_id=request_id
            ) from None
        try:
            parsed = RequestStatus.from_dict(data)
        except _FROM_DICT_FAILURES:
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
    unset = _generated()[1]
    position = getattr(parsed, "queue_position", None)
    answered = getattr(parsed, "request_id", None)
    error = getattr(parsed, "error", None)
    if error is None or isinstance(error, unset):
        error = parsed.additional_properties.get("error")
    else:
        error = error.to_dict()
    return JobStatus(
        request_id=answered if isinstance(answered, str) and answered else request_id,
        state=str(parsed.status),
        queue_position=None if isinstance(position, unset) else position,
        raw=parsed,
        retry_after=retry_after,
        error=error if isinstance(error, dict) else None,
    )


def files_to_download(
    result: JobResult | str,
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
            from ._errors import job_failed

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

"""Turning one HTTP exchange into a typed value or a typed error, for both clients.

Pure functions: a raw ``httpx.Response`` in, a ``Submission``, ``JobStatus`` or ``JobResult``
out, or one of the exceptions in ``sora2._exceptions`` raised (made by ``sora2._errors``). The
generated models parse what the spec promises and nothing else: a 500 with an HTML page, a 200
that is not JSON, or an undocumented status would make them raise ``KeyError`` or
``ValueError``, and a wrong-typed field slips through their ``from_dict``. So a body is decoded
once, checked once against the spec's own response schema, and only then parsed with the
generated model's ``from_dict``.
"""

from __future__ import annotations

from typing import Any, Final

import httpx

from ._errors import (
    Decoded,
    error_for_status,
    invalid_response,
    job_failed,
    json_body,
    salvage_request_id,
    submit_failure,
    unknown_submission,
)
from ._exceptions import DownloadError, NoOutputError
from ._http import parse_retry_after
from ._outputs import is_file_url, kind_of, output_files
from ._types import JobResult, JobStatus, OutputFile, Submission
from ._verdict import schema_error

__all__ = [
    "files_to_download",
    "interpret_result",
    "interpret_status",
    "interpret_submit",
    "job_status",
    "submitted_id",
]

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
        except _FROM_DICT_FAILURES:
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
    except _FROM_DICT_FAILURES:
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

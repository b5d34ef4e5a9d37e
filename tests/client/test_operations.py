"""One call as data (``sora2._operations``): an answer read into a value or typed error, and the
journal changes it implies, with no I/O and nothing written."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from _fakes import FakeClock

from sora2 import APIResponseValidationError, JobFailedError, NoOutputError, NotFoundError
from sora2._base_client import SharedState
from sora2._exceptions import JOB_NOT_FOUND
from sora2._journal_glue import Gone, Observed, OutputSeen, Submitted
from sora2._operations import Result, Status, Submit, files_to_download
from sora2._spec import default_model
from sora2._types import COMPLETED, FAILED, output_fields, state_outcomes

from .helpers import status_body, submit_body

_NOW = 1_800_000_000.0


def _state(outcome: str) -> str:
    return next(state for state, found in state_outcomes().items() if found == outcome)


def _answer(status: int, body: Any = None, content: bytes | None = None) -> httpx.Response:
    """An answer as the client gets it: tied to its request."""
    request = httpx.Request("GET", "http://127.0.0.1/api")
    if content is not None:
        return httpx.Response(status, content=content, request=request)
    return httpx.Response(status, json=body, request=request)


def _shared() -> SharedState:
    return SharedState(clock=FakeClock())


def _result_body(request_id: str, url: str) -> dict[str, Any]:
    field = next(name for name, kind in output_fields() if kind == "video")
    return {"request_id": request_id, "status": _state(COMPLETED), "output": {field: url}}


class TestStatus:
    def test_a_new_state_is_journaled_once(self) -> None:
        """A polled state is an ``Observed`` change, and the same state seen again is none."""
        shared = _shared()
        answer = _answer(200, status_body("in_queue", "r", position=2))
        outcome = Status("r").interpret(answer, shared, _NOW)
        assert Observed("r", "in_queue", 2, _NOW) == outcome.changes[0]
        assert "in_queue" == outcome.unwrap().state
        shared.journaled["r"] = ("in_queue", 2)
        assert () == Status("r").interpret(answer, shared, _NOW).changes

    def test_a_job_the_service_forgot_settles_its_row(self) -> None:
        """The service's 404001 is a NotFoundError plus a ``Gone`` change for the job."""
        body = {"error_code": JOB_NOT_FOUND, "message": "expired"}
        outcome = Status("r").interpret(_answer(404, body), _shared(), _NOW)
        assert isinstance(outcome.error, NotFoundError)
        assert ["r"] == [change.request_id for change in outcome.changes]
        assert isinstance(outcome.changes[0], Gone)


class TestResult:
    def test_the_first_file_is_journaled_once(self) -> None:
        """A result's first output URL is an ``OutputSeen`` change until it was written."""
        shared = _shared()
        answer = _answer(200, _result_body("r", "https://cdn.example/v.mp4"))
        outcome = Result("r").interpret(answer, shared, _NOW)
        assert OutputSeen("r", "https://cdn.example/v.mp4") in outcome.changes
        assert "https://cdn.example/v.mp4" == outcome.unwrap().video_url
        shared.journaled_urls["r"] = "https://cdn.example/v.mp4"
        assert not any(
            isinstance(change, OutputSeen)
            for change in Result("r").interpret(answer, shared, _NOW).changes
        )

    @pytest.mark.parametrize("broken", [{"status": None}, {"output": "v.mp4"}])
    def test_a_broken_answer_is_a_validation_error(self, broken: dict[str, Any]) -> None:
        """A result answer the spec refuses is APIResponseValidationError naming the job, and
        journals nothing."""
        body = {**_result_body("r", "https://cdn.example/v.mp4"), **broken}
        outcome = Result("r").interpret(_answer(200, body), _shared(), _NOW)
        assert isinstance(outcome.error, APIResponseValidationError)
        assert "r" == outcome.error.request_id
        assert () == outcome.changes


class TestSubmit:
    def test_the_job_is_journaled_with_its_answer(self) -> None:
        """An accepted submit is its Submission plus the job's first row (``Submitted``)."""
        outcome = Submit(default_model(), {"prompt": "p"}).interpret(
            _answer(200, submit_body("r")), _shared(), _NOW
        )
        assert "r" == outcome.unwrap().request_id
        assert [Submitted] == [type(change) for change in outcome.changes]

    def test_a_cut_off_answer_naming_the_job_journals_it(self) -> None:
        """A 2xx body that is not JSON but names the job: the job's row and a typed error."""
        content = b'{"request_id": "r", "status_url": "http'
        outcome = Submit(default_model(), {"prompt": "p"}).interpret(
            _answer(200, content=content), _shared(), _NOW
        )
        assert isinstance(outcome.error, APIResponseValidationError)
        assert "r" == outcome.error.request_id
        assert ["r"] == [change.request_id for change in outcome.changes]


class TestFilesToDownload:
    def test_a_result_without_files_says_why(self) -> None:
        """A failed job's result is JobFailedError; a completed one without files NoOutputError."""
        failed = {"request_id": "r", "status": _state(FAILED)}
        read = Result("r").interpret(_answer(200, failed), _shared(), _NOW).unwrap()
        with pytest.raises(JobFailedError):
            files_to_download(read)
        done = {"request_id": "r", "status": _state(COMPLETED), "output": {}}
        read = Result("r").interpret(_answer(200, done), _shared(), _NOW).unwrap()
        with pytest.raises(NoOutputError):
            files_to_download(read)

    def test_a_url_or_an_id(self) -> None:
        """A file URL is one file to fetch; anything else is a job id to ask about."""
        files, request_id = files_to_download("https://cdn.example/v.mp4")
        assert files is not None and request_id is None
        assert (None, "r") == files_to_download("r")

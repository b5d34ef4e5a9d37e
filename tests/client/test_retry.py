"""Retries and their limits: GETs and cancel retry transient failures; submit never pays twice."""

from __future__ import annotations

import datetime
import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from stamina.instrumentation import RetryDetails

from sora2 import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    DownloadError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    SubmissionUnknownError,
    TransientDownloadError,
)
from sora2._exceptions import ConflictError, parse_retry_after
from sora2._journal import Journal
from sora2._options import MAX_RETRY_AFTER
from sora2._retry import RetryPolicy, acall_with_retries, call_with_retries
from sora2._transports import logger
from sora2.emulator import Emulator

from .helpers import Factory, Script, json_response, status_body, submit_body

pytestmark = pytest.mark.anyio


def _submissions(emulator: Emulator) -> int:
    return sum(emulator.stats.submissions.values())


class TestIdempotentRetries:
    @pytest.mark.parametrize("kind", ["429", "500", "502", "503"])
    async def test_status_recovers_within_the_limit(
        self, make_api: Factory, emulator: Emulator, kind: str
    ) -> None:
        """A status call that fails max_retries times in a row still succeeds on the last try."""
        api = make_api(emulator, max_retries=2)
        submission = await api.submit("x")
        emulator.faults = f"status:{kind}@first=2"
        assert (await api.status(submission.request_id)).state == "in_queue"
        assert emulator.stats.requests["status"] == 3

    async def test_status_gives_up_after_the_limit(
        self, make_api: Factory, emulator: Emulator
    ) -> None:
        """One failure more than max_retries raises the last error, after max_retries + 1 tries."""
        api = make_api(emulator, max_retries=2)
        submission = await api.submit("x")
        emulator.faults = "status:500@first=3"
        with pytest.raises(InternalServerError) as caught:
            await api.status(submission.request_id)
        assert submission.request_id == caught.value.request_id
        assert emulator.stats.requests["status"] == 3

    async def test_zero_retries(self, make_api: Factory, emulator: Emulator) -> None:
        """max_retries=0 makes exactly one attempt."""
        api = make_api(emulator, max_retries=0)
        submission = await api.submit("x")
        emulator.faults = "result:503@first=1"
        with pytest.raises(InternalServerError):
            await api.result(submission.request_id)
        assert emulator.stats.requests["result"] == 1

    async def test_cancel_is_retried(self, make_api: Factory, emulator: Emulator) -> None:
        """cancel is idempotent, so a 502 before it is retried."""
        api = make_api(emulator)
        submission = await api.submit("x")
        emulator.faults = "cancel:502@first=1"
        assert (await api.cancel(submission.request_id)).state == "cancelled"
        assert emulator.stats.requests["cancel"] == 2

    async def test_client_errors_are_not_retried(
        self, make_api: Factory, emulator: Emulator
    ) -> None:
        """A 404 or a 409 is final: one request."""
        api = make_api(emulator)
        with pytest.raises(NotFoundError):
            await api.status("missing")
        assert emulator.stats.requests["status"] == 1
        submission = await api.submit("x")
        await api.cancel(submission.request_id)
        with pytest.raises(ConflictError):
            await api.cancel(submission.request_id)
        assert emulator.stats.requests["cancel"] == 2

    async def test_dropped_connection_is_retried_for_gets(
        self, make_api: Factory, emulator: Emulator
    ) -> None:
        """A dropped connection on status is retried; when it persists it is APIConnectionError."""
        api = make_api(emulator, max_retries=1)
        submission = await api.submit("x")
        emulator.faults = "status:drop@first=1"
        assert (await api.status(submission.request_id)).state == "in_queue"
        emulator.faults = "status:drop"
        with pytest.raises(APIConnectionError):
            await api.status(submission.request_id)

    async def test_timeouts(self, make_api: Factory) -> None:
        """A read timeout on a GET is retried and then raised as APITimeoutError."""
        calls = 0

        def handler(request: httpx.Request) -> httpx.Response:
            nonlocal calls
            calls += 1
            raise httpx.ReadTimeout("slow", request=request)

        api = make_api(handler=handler, max_retries=2)
        with pytest.raises(APITimeoutError) as caught:
            await api.status("r")
        assert isinstance(caught.value, APIConnectionError)
        assert calls == 3

    async def test_retry_after_is_honoured_and_logged(
        self, make_api: Factory, emulator: Emulator, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A 429's Retry-After becomes the backoff, and the decision is logged at DEBUG."""
        api = make_api(emulator)
        submission = await api.submit("x")
        emulator.faults = "status:429=2@first=1"
        with caplog.at_level(logging.DEBUG, logger="sora2"):
            await api.status(submission.request_id)
        assert any("Retry-After 2.0s" in r.getMessage() for r in caplog.records)

    async def test_retry_after_over_the_cap_is_raised(
        self, make_api: Factory, emulator: Emulator
    ) -> None:
        """A Retry-After longer than the cap is not waited out: RateLimitError says how long."""
        api = make_api(emulator)
        submission = await api.submit("x")
        wait = int(MAX_RETRY_AFTER) + 1
        emulator.faults = f"status:429={wait}@first=1"
        with pytest.raises(RateLimitError) as caught:
            await api.status(submission.request_id)
        assert float(wait) == caught.value.retry_after
        assert emulator.stats.requests["status"] == 1


class TestSubmitRetries:
    @pytest.mark.parametrize("kind", ["429", "503"])
    async def test_provably_not_taken_is_retried(
        self, make_api: Factory, emulator: Emulator, kind: str
    ) -> None:
        """429 and 503 prove the job was not created: retried, and exactly one job exists."""
        api = make_api(emulator)
        emulator.faults = f"submit:{kind}@first=1"
        await api.submit("x")
        assert emulator.stats.requests["submit"] == 2
        assert _submissions(emulator) == 1

    @pytest.mark.parametrize("kind", ["500", "502", "drop", "drop=before"])
    async def test_ambiguous_failures_are_never_retried(
        self, make_api: Factory, emulator: Emulator, kind: str
    ) -> None:
        """500, 502 and a dropped connection raise SubmissionUnknownError after one request."""
        api = make_api(emulator, max_retries=5)
        emulator.faults = f"submit:{kind}"
        with pytest.raises(SubmissionUnknownError) as caught:
            await api.submit("x")
        assert "dashboard" in str(caught.value)
        assert emulator.stats.requests["submit"] == 1
        assert (1 if kind == "drop" else 0) == _submissions(emulator)

    async def test_connect_error_is_retried(self, make_api: Factory) -> None:
        """A refused connection never reached the service, so submit tries again."""
        script = Script().on(
            "submit",
            lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused", request=r)),
            json_response(200, submit_body("ok-1")),
        )
        api = make_api(handler=script)
        assert (await api.submit("x")).request_id == "ok-1"
        assert script.calls("submit") == 2

    async def test_connect_error_gives_up(self, make_api: Factory) -> None:
        """A service that stays unreachable raises APIConnectionError, not an unknown outcome."""

        def handler(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("refused", request=request)

        api = make_api(handler=handler, max_retries=1)
        with pytest.raises(APIConnectionError) as caught:
            await api.submit("x")
        assert not isinstance(caught.value, SubmissionUnknownError)

    async def test_read_timeout_is_unknown(self, make_api: Factory) -> None:
        """A read timeout after sending means the job may exist: one request, then the error."""
        calls = 0

        def handler(request: httpx.Request) -> httpx.Response:
            nonlocal calls
            calls += request.method == "POST"  # the price (a GET) is asked first, once
            raise httpx.ReadTimeout("slow", request=request)

        api = make_api(handler=handler, max_retries=3)
        with pytest.raises(SubmissionUnknownError):
            await api.submit("x")
        assert calls == 1

    async def test_truncated_body_with_request_id_is_journaled(
        self, make_api: Factory, emulator: Emulator, journal_path: object
    ) -> None:
        """A cut-off answer that still names the job: recorded in the journal, then raised."""
        api = make_api(emulator)
        emulator.faults = "submit:truncate"
        with pytest.raises(APIResponseValidationError) as caught:
            await api.submit("x")
        request_id = caught.value.request_id
        assert request_id is not None and emulator.job(request_id) is not None
        record = Journal(str(journal_path)).get(request_id)
        assert record is not None and record.state == "in_queue"
        assert emulator.stats.requests["submit"] == 1

    async def test_server_error_naming_a_job_is_journaled(
        self, make_api: Factory, journal_path: object
    ) -> None:
        """A 500 whose body still names a job: unknown outcome, not retried, and journaled."""
        body = {"error_code": 500001, "message": "late failure", "request_id": "maybe-1"}
        script = Script().on("submit", json_response(500, body))
        api = make_api(handler=script)
        with pytest.raises(SubmissionUnknownError) as caught:
            await api.submit("x")
        assert caught.value.request_id == "maybe-1"
        assert Journal(str(journal_path)).get("maybe-1") is not None
        assert script.calls("submit") == 1

    async def test_ok_without_request_id_is_unknown(self, make_api: Factory) -> None:
        """A 200 whose body names no job leaves the outcome unknown."""
        api = make_api(handler=Script().on("submit", httpx.Response(200, text="<html>ok</html>")))
        with pytest.raises(SubmissionUnknownError):
            await api.submit("x")

    async def test_wrong_shape_with_request_id(self, make_api: Factory) -> None:
        """A 200 with a request_id but no URLs: the id is kept on the validation error."""
        api = make_api(handler=Script().on("submit", json_response(200, {"request_id": "half"})))
        with pytest.raises(APIResponseValidationError) as caught:
            await api.submit("x")
        assert caught.value.request_id == "half"

    async def test_wait_survives_transient_poll_failures(
        self, make_api: Factory, emulator: Emulator
    ) -> None:
        """wait() keeps polling through failures that outlast a call's own retries."""
        api = make_api(emulator, max_retries=0)
        submission = await api.submit("x")
        emulator.faults = "status:503@first=3"
        assert (await api.wait(submission.request_id)).state == "completed"

    async def test_wait_gives_up_on_persistent_failures(self, make_api: Factory) -> None:
        """A service that keeps failing ends wait() with the last error, not an endless loop."""
        script = Script().on("status", json_response(500, {"error_code": 500001, "message": "x"}))
        api = make_api(handler=script, max_retries=0)
        with pytest.raises(InternalServerError):
            await api.wait("r", timeout=10_000)


class TestPolicy:
    def test_decisions(self) -> None:
        """The policy's answers: backoff, a Retry-After delay, or give up."""
        policy = RetryPolicy(max_retries=2)
        response = httpx.Response(429, headers={"Retry-After": "3"})
        limited = RateLimitError("slow down", status_code=429, response=response)
        assert 3.0 == limited.retry_after  # read from the response's Retry-After
        assert policy.decide(limited, operation="status", submit=False) == 3.0
        assert policy.decide(limited, operation="submit", submit=True) == 3.0
        server = InternalServerError("boom", status_code=500)
        assert policy.decide(server, operation="status", submit=False) is True
        assert policy.decide(server, operation="submit", submit=True) is False
        unknown = SubmissionUnknownError("?")
        assert policy.decide(unknown, operation="submit", submit=True) is False
        assert policy.decide(ValueError("x"), operation="status", submit=False) is False

    def test_download_decisions_follow_the_exception_type(self) -> None:
        """A TransientDownloadError is retried (after its Retry-After); a DownloadError is not."""
        policy = RetryPolicy(max_retries=2)
        assert policy.decide(DownloadError("cap"), operation="download", submit=False) is False
        short = TransientDownloadError("download incomplete")
        assert policy.decide(short, operation="download", submit=False) is True
        limited = TransientDownloadError("429", retry_after=2.0)
        assert 2.0 == policy.decide(limited, operation="download", submit=False)
        too_long = TransientDownloadError("429", retry_after=policy.max_retry_after + 1)
        assert policy.decide(too_long, operation="download", submit=False) is True

    def test_rate_limit_retry_after_is_set_by_the_constructor(self) -> None:
        """RateLimitError.retry_after is the value given, else the response's Retry-After."""
        response = httpx.Response(429, headers={"Retry-After": "3"})
        assert 3.0 == RateLimitError("slow", status_code=429, response=response).retry_after
        given = RateLimitError("slow", status_code=429, response=response, retry_after=1.5)
        assert 1.5 == given.retry_after
        assert RateLimitError("slow", status_code=429).retry_after is None

    @pytest.mark.parametrize(
        ("header", "expected"),
        [("7", 7.0), ("0", 0.0), ("-5", 0.0), ("soon", None), ("nan", None), (None, None)],
    )
    def test_parse_retry_after_seconds(self, header: str | None, expected: float | None) -> None:
        """Retry-After as delta-seconds; junk is ignored and negatives are zero."""
        headers = {} if header is None else {"retry-after": header}
        assert expected == parse_retry_after(headers)

    def test_parse_retry_after_date(self) -> None:
        """Retry-After as an HTTP date counts from now."""
        now = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)
        headers = {"retry-after": "Thu, 01 Jan 2026 12:00:30 GMT"}
        assert parse_retry_after(headers, now=now) == 30.0


def test_status_body_helper_matches_spec() -> None:
    """The scripted status body the tests use is itself valid for the spec."""
    from sora2._operations import schema_error

    assert schema_error("status", status_body("in_queue", position=1)) is None
    assert schema_error("submit", submit_body()) is None


# The first attempt outside stamina --------------------------------------------------------------


def _error(status: int, retry_after: str | None = None) -> Exception:
    from sora2._errors import error_for_status

    headers = {"retry-after": retry_after} if retry_after is not None else {}
    request = httpx.Request("GET", "http://localhost/v1/requests/r/status")
    response = httpx.Response(
        status, json={"message": "scripted"}, headers=headers, request=request
    )
    return error_for_status(response, request_id="r")


def _stamina_only(policy: RetryPolicy, operation: str, call: Any, *, submit: bool) -> Any:
    """What ``call_with_retries`` did before the fast path: every attempt inside stamina (the
    same retry context: named for sora2, its retries logged on the ``sora2`` logger)."""
    from sora2._retry import _retrying

    for attempt in _retrying(policy, operation, submit):
        with attempt:
            if attempt.num > 1:
                logger.debug("%s: attempt %d of %d", operation, attempt.num, policy.max_retries + 1)
            return call()
    raise AssertionError("unreachable")


_SCRIPTS: dict[str, tuple[Callable[[], Exception | None], ...]] = {
    "ok": (lambda: None,),
    "two 500s then ok": (lambda: _error(500), lambda: _error(500), lambda: None),
    "500s to the end": (lambda: _error(500),) * 4,
    "404 is final": (lambda: _error(404), lambda: None),
    "retry-after then ok": (lambda: _error(429, "0.002"), lambda: None),
    "retry-after over the cap": (lambda: _error(429, str(MAX_RETRY_AFTER + 1)), lambda: None),
    "dropped connection then ok": (lambda: APIConnectionError("dropped"), lambda: None),
    "a bug is not retried": (lambda: ValueError("bug"), lambda: None),
}


class _Trace:
    """One run of a retry loop: calls made, stamina's retry hook calls, logs, the outcome."""

    def __init__(self, script: tuple[Callable[[], Exception | None], ...]) -> None:
        self.errors = [make() for make in script]
        self.calls = 0
        self.retries: list[tuple[int, float, int]] = []

    def call(self) -> str:
        error = self.errors[min(self.calls, len(self.errors) - 1)]
        self.calls += 1
        if error is not None:
            raise error
        return "done"

    async def acall(self) -> str:
        return self.call()

    def hook(self, details: RetryDetails) -> None:
        cause = self.errors.index(details.caused_by)
        self.retries.append((details.retry_num, details.wait_for, cause))


def _outcome(trace: _Trace, run: Callable[[], Any]) -> tuple[object, ...]:
    try:
        result: object = run()
    except Exception as exc:
        result = trace.errors.index(exc)
    return result, trace.calls, trace.retries


@pytest.fixture
def retry_hooks() -> Iterator[list[Callable[[RetryDetails], None]]]:
    """stamina's on-retry hooks, set by the test and restored afterwards."""
    from stamina.instrumentation import get_on_retry_hooks, set_on_retry_hooks

    before = list(get_on_retry_hooks())
    hooks: list[Callable[[RetryDetails], None]] = []
    set_on_retry_hooks(hooks)
    yield hooks
    set_on_retry_hooks(before)


class TestFastPath:
    def test_a_first_success_never_enters_stamina(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A call that succeeds at once returns without building stamina's retry context."""
        import stamina

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("stamina.retry_context was entered")

        monkeypatch.setattr(stamina, "retry_context", refuse)
        assert "ok" == call_with_retries(RetryPolicy(), "status", lambda: "ok")

    @pytest.mark.parametrize("testing", [True, False], ids=["test mode", "real backoff"])
    @pytest.mark.parametrize("submit", [False, True], ids=["idempotent", "submit"])
    @pytest.mark.parametrize("name", list(_SCRIPTS))
    def test_same_as_every_attempt_in_stamina(
        self,
        name: str,
        submit: bool,
        testing: bool,
        retry_hooks: list[Callable[[RetryDetails], None]],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """Calls, retry decisions, backoffs, stamina's hooks, logs and the raised error are the
        same as when the first attempt ran inside stamina too."""
        import stamina

        # No jitter and millisecond delays: backoffs are exact and the test does not wait.
        policy = RetryPolicy(max_retries=2, initial_delay=0.001, max_delay=0.002, jitter=0.0)
        traces: list[tuple[object, ...]] = []
        logs: list[list[str]] = []
        for run in (call_with_retries, _stamina_only):
            trace = _Trace(_SCRIPTS[name])
            retry_hooks[:] = [trace.hook]
            caplog.clear()
            attempt = functools.partial(run, policy, "status", trace.call, submit=submit)
            with caplog.at_level(logging.DEBUG, logger="sora2"), stamina.set_testing(testing):
                traces.append(_outcome(trace, attempt))
            logs.append([r.getMessage() for r in caplog.records if r.name == "sora2"])
        assert traces[1] == traces[0]
        assert logs[1] == logs[0]

    @pytest.mark.parametrize("name", list(_SCRIPTS))
    async def test_async_twin_matches(
        self, name: str, retry_hooks: list[Callable[[RetryDetails], None]]
    ) -> None:
        """The async loop makes the same calls and retry decisions as the sync one."""
        policy = RetryPolicy(max_retries=2)
        sync, asynchronous = _Trace(_SCRIPTS[name]), _Trace(_SCRIPTS[name])
        retry_hooks[:] = [sync.hook]
        expected = _outcome(sync, lambda: call_with_retries(policy, "status", sync.call))
        retry_hooks[:] = [asynchronous.hook]
        try:
            result: object = await acall_with_retries(policy, "status", asynchronous.acall)
        except Exception as exc:
            result = asynchronous.errors.index(exc)
        assert expected == (result, asynchronous.calls, asynchronous.retries)

    def test_stamina_switched_off_makes_one_attempt(self) -> None:
        """With stamina deactivated, a failure is raised after the one attempt, as before."""
        import stamina

        trace = _Trace(_SCRIPTS["two 500s then ok"])
        stamina.set_active(False)
        try:
            with pytest.raises(InternalServerError):
                call_with_retries(RetryPolicy(max_retries=2), "status", trace.call)
        finally:
            stamina.set_active(True)
        assert 1 == trace.calls

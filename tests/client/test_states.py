"""States come from the spec: final states end a wait, failed ones raise, unknown ones wait on."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sora2 import (
    APIStatusError,
    DownloadError,
    JobFailedError,
    WaitTimeoutError,
)
from sora2._errors import _BY_STATUS
from sora2._journal import Journal
from sora2._spec import spec_document
from sora2._types import (
    CANCELLED,
    COMPLETED,
    FAILED,
    GONE,
    IN_PROGRESS,
    IN_QUEUE,
    has_ended,
    is_terminal_state,
    known_states,
    outcome_of,
    state_outcomes,
)
from sora2.emulator import create_app

from .helpers import TOKEN, Factory, FakeClock, Script, json_response, status_body, submit_body

pytestmark = pytest.mark.anyio


def _states(outcome: str) -> list[str]:
    return [state for state, found in state_outcomes().items() if found == outcome]


def _spec_outcomes() -> dict[str, list[str]]:
    schema = spec_document()["components"]["schemas"]["KnownRequestState"]
    outcomes: dict[str, list[str]] = schema["x-terminal-states"]
    return outcomes


class TestTheSpecDecides:
    def test_terminal_states_are_the_spec_x_terminal_states(self) -> None:
        """The final states are every state the spec's x-terminal-states lists, and only those."""
        listed = {state for states in _spec_outcomes().values() for state in states}
        assert listed == set(state_outcomes())
        assert all(is_terminal_state(state) for state in listed)
        assert not is_terminal_state("later")

    def test_every_final_state_is_a_known_state(self) -> None:
        """The final states are among the generated KnownRequestState values."""
        assert set(state_outcomes()) <= known_states()

    def test_the_spec_names_the_three_judgement_call_states(self) -> None:
        """Spec subject: failed, succeeded and canceled are known, final states."""
        assert {"failed", "succeeded", "canceled"} <= set(state_outcomes())
        assert {COMPLETED, CANCELLED, FAILED} == set(_spec_outcomes())


class TestNamedOnce:
    def test_named_states_are_generated_known_states(self) -> None:
        """Every state the code names is one of the generated KNOWN_REQUEST_STATE_VALUES."""
        from sora2_api.models.known_request_state import KNOWN_REQUEST_STATE_VALUES

        named = {IN_QUEUE, IN_PROGRESS, COMPLETED, CANCELLED, FAILED}
        assert named == named & set(KNOWN_REQUEST_STATE_VALUES)

    def test_named_final_states_are_their_own_outcome(self) -> None:
        """completed, cancelled and failed are final states meaning themselves; the queued and
        running states are not final."""
        assert [COMPLETED, CANCELLED, FAILED] == [
            outcome_of(state) for state in (COMPLETED, CANCELLED, FAILED)
        ]
        assert [False, False] == [is_terminal_state(IN_QUEUE), is_terminal_state(IN_PROGRESS)]

    def test_a_job_has_ended_in_a_final_state_or_gone(self) -> None:
        """has_ended: every final state of the spec and GONE (the journal's), never a queued,
        running or unknown state."""
        assert all(has_ended(state) for state in (*state_outcomes(), GONE))
        assert [False, False, False] == [has_ended(s) for s in (IN_QUEUE, IN_PROGRESS, "later")]

    def test_no_state_literal_is_compared_in_the_code(self) -> None:
        """No module of sora2/ compares a state with a string literal: states are named once."""
        import ast

        import sora2

        root = Path(sora2.__file__).parent
        states = known_states() | {"gone"}
        found = []
        for path in sorted(root.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Compare):
                    operands = [node.left, *node.comparators]
                    if any(isinstance(o, ast.Constant) and o.value in states for o in operands):
                        found.append(f"{path.relative_to(root)}:{node.lineno}")
                quoted = isinstance(node, ast.Constant) and isinstance(node.value, str)
                if quoted and any(f"'{state}'" in node.value for state in states):
                    found.append(f"{path.relative_to(root)}:{node.lineno} (SQL)")
        assert [] == found


def _answering(state: str, *, error: dict[str, str] | None = None) -> Script:
    body = status_body(state)
    if error is not None:
        body["error"] = error
    return (
        Script()
        .on("submit", json_response(200, submit_body()))
        .on("status", json_response(200, status_body("in_queue")), json_response(200, body))
        .on("result", json_response(200, body))
    )


class TestOutcomes:
    @pytest.mark.parametrize("state", _states(FAILED))
    async def test_a_failed_job_ends_wait_at_once(
        self, make_api: Factory, clock: FakeClock, state: str
    ) -> None:
        """wait() raises JobFailedError on the first failed poll, with the service's detail."""
        detail = {"message": "rejected by the filter", "code": "policy"}
        script = _answering(state, error=detail)
        api = make_api(handler=script)
        start = clock.monotonic()
        with pytest.raises(JobFailedError) as caught:
            await api.wait("req-1", timeout=3600)
        assert ("req-1", state, detail) == (
            caught.value.request_id,
            caught.value.state,
            caught.value.detail,
        )
        assert "rejected by the filter" in str(caught.value)
        assert 2 == script.calls("status")
        assert clock.monotonic() - start < 3600

    @pytest.mark.parametrize("state", _states(FAILED))
    async def test_generate_raises_job_failed(
        self, make_api: Factory, tmp_path: Path, state: str
    ) -> None:
        """generate() of a job that fails raises JobFailedError naming the job; nothing saved."""
        api = make_api(handler=_answering(state))
        with pytest.raises(JobFailedError) as caught:
            await api.generate("x", out=tmp_path / "x.mp4")
        assert "req-1" == caught.value.request_id and caught.value.detail is None
        assert [] == list(tmp_path.glob("x*"))

    @pytest.mark.parametrize("state", _states(COMPLETED))
    async def test_completed_like_states_end_the_wait(self, make_api: Factory, state: str) -> None:
        """A state the spec files under completed ends wait() and is_completed."""
        api = make_api(handler=_answering(state))
        status = await api.wait("req-1")
        assert state == status.state
        assert status.is_completed and status.is_terminal

    @pytest.mark.parametrize("state", _states(CANCELLED))
    async def test_cancelled_like_states_end_generate_without_video(
        self, make_api: Factory, tmp_path: Path, state: str
    ) -> None:
        """A state the spec files under cancelled ends generate() with the cancelled error."""
        api = make_api(handler=_answering(state))
        with pytest.raises(DownloadError, match=state):
            await api.generate("x", out=tmp_path / "x.mp4")

    async def test_emulator_fail_fault_ends_in_a_failed_state(
        self, make_api: Factory, clock: FakeClock, tmp_path: Path
    ) -> None:
        """The emulator's submit:fail fault makes a job that ends failed, with an error."""
        emulator = create_app(token=TOKEN, clock=clock.monotonic, faults="submit:fail")
        api = make_api(emulator)
        with pytest.raises(JobFailedError) as caught:
            await api.generate("doomed", out=tmp_path / "x.mp4")
        assert caught.value.state in _states(FAILED)
        assert caught.value.detail and caught.value.detail.get("message")
        record = Journal(make_api.journal_path).get(str(caught.value.request_id))
        assert record is not None and record.is_terminal and not record.is_unfinished


class TestTolerantReader:
    async def test_status_without_request_id_is_accepted(self, make_api: Factory) -> None:
        """An answer that leaves out request_id gets the id the client asked about."""
        body = {"status": "in_progress"}
        api = make_api(handler=Script().on("status", json_response(200, body)))
        status = await api.status("req-9")
        assert ("req-9", "in_progress") == (status.request_id, status.state)

    async def test_result_without_request_id_is_accepted(self, make_api: Factory) -> None:
        """A completed result without request_id is read, with the id asked about."""
        from sora2._types import output_fields

        name = output_fields()[0][0]
        body = {"status": _states(COMPLETED)[0], "output": {name: "https://cdn.example/a"}}
        api = make_api(handler=Script().on("result", json_response(200, body)))
        result = await api.result("req-9")
        assert "req-9" == result.request_id and result.is_completed and result.files

    async def test_submit_still_needs_its_request_id(self, make_api: Factory) -> None:
        """Spec subject: submit's answer keeps request_id required (the id is news there)."""
        schema = spec_document()["components"]["schemas"]["SubmitResponse"]
        assert "request_id" in schema["required"]


class TestUnknownStates:
    async def test_unknown_state_is_logged_once_and_the_deadline_holds(
        self, make_api: Factory, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A state nobody knows means not finished: logged once per job, then the deadline."""
        state = "zz-" + "-".join(sorted(known_states()))
        script = Script().on("status", json_response(200, status_body(state)))
        api = make_api(handler=script)
        with caplog.at_level(logging.INFO, logger="sora2"), pytest.raises(WaitTimeoutError):
            await api.wait("req-1", timeout=120)
        with caplog.at_level(logging.INFO, logger="sora2"), pytest.raises(WaitTimeoutError):
            await api.wait("req-1", timeout=60)  # a second wait on the same job
        mentions = [r for r in caplog.records if state in r.getMessage()]
        assert script.calls("status") > 2
        assert 1 == len([r for r in mentions if "not in the spec" in r.getMessage()])


def test_a_new_error_code_maps_to_its_http_status() -> None:
    """An error_code nobody knows is the typed error of its HTTP status."""
    import httpx

    from sora2._errors import error_for_status

    for status, cls in _BY_STATUS.items():
        body = {"error_code": status * 1000 + 999, "message": "new"}
        response = httpx.Response(status, json=body, request=httpx.Request("GET", "https://x"))
        error = error_for_status(response, request_id="r")
        assert cls is type(error)
        assert isinstance(error, APIStatusError) and status * 1000 + 999 == error.error_code

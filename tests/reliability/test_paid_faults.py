"""Faults after paying: whatever the service, the journal and the file system do once a job is
submitted, the public API raises only ``Sora2Error``, carrying the job's id and saying how to
fetch the paid result; and a later ``resume`` goes on past any one bad job."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stamina
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sora2 import Client, NotFoundError, Sora2Error, SubmissionUnknownError, WaitTimeoutError
from sora2._exceptions import JOB_NOT_FOUND
from sora2._journal import Journal
from sora2._types import JobStatus, Submission
from sora2.emulator import SyncASGITransport, create_app

from .helpers import TOKEN, FakeClock

BASE_URL = "http://localhost"
FAULTS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_TARGETS = ("submit", "status", "result", "video", "*")
_KINDS = ("429", "500", "502", "503", "drop", "truncate")
_TRIGGERS = ("", "@first=1", "@first=2", "@every=2", "@every=3", "@after=3", "@rate=0.3")
_JOURNAL_METHODS = (
    None,
    "record_submission",
    "observe_state",
    "update",
    "get",
    "records",
    "processing_samples",
    "mark_gone",
)
_SABOTAGE_AT = (None, "in_queue", "in_progress", "completed", "submitted")


@pytest.fixture(autouse=True)
def _no_backoff() -> Iterator[None]:
    with stamina.set_testing(True, attempts=3, cap=True):
        yield


def _rule(draw: st.DrawFn) -> str:
    return (
        f"{draw(st.sampled_from(_TARGETS))}:{draw(st.sampled_from(_KINDS))}"
        f"{draw(st.sampled_from(_TRIGGERS))}"
    )


@st.composite
def _fault_specs(draw: st.DrawFn) -> str:
    return ",".join(_rule(draw) for _ in range(draw(st.integers(0, 3))))


def _broken_journal(path: Path, method: str | None) -> Journal:
    """A real journal, one of whose methods fails like a full or locked disk."""

    class Broken(Journal):
        pass

    if method is not None:

        def fail(self: Journal, *args: Any, **kwargs: Any) -> Any:
            raise sqlite3.OperationalError("disk I/O error")

        setattr(Broken, method, fail)
    return Broken(path)


def _check_paid_error(error: BaseException, submitted: list[str]) -> None:
    """The exception is a Sora2Error; after a submission it names the job and the way back."""
    assert isinstance(error, Sora2Error), repr(error)
    if not submitted:
        return
    request_id = submitted[0]
    assert request_id == error.request_id, repr(error)
    nothing_to_fetch = (isinstance(error, WaitTimeoutError) and error.cancelled) or (
        isinstance(error, NotFoundError) and error.error_code == JOB_NOT_FOUND
    )
    if not nothing_to_fetch:
        assert error.paid_hint is not None and request_id in str(error), repr(error)


class TestGenerateUnderFaults:
    @FAULTS
    @given(
        faults=_fault_specs(),
        seed=st.integers(0, 2**16),
        journal_method=st.sampled_from(_JOURNAL_METHODS),
        sabotage_at=st.sampled_from(_SABOTAGE_AT),
    )
    def test_only_typed_errors_carrying_the_job(
        self,
        tmp_path_factory: pytest.TempPathFactory,
        faults: str,
        seed: int,
        journal_method: str | None,
        sabotage_at: str | None,
    ) -> None:
        """Service faults, a failing journal and an output directory replaced by a file at any
        point: generate() returns the saved file or raises a Sora2Error; once the job was
        submitted, the error carries its id and the command that fetches the result."""
        root = tmp_path_factory.mktemp("paid")
        clock = FakeClock()
        app = create_app(token=TOKEN, clock=clock.monotonic, faults=faults, seed=seed)
        out_dir = root / "out"
        submitted: list[str] = []

        def sabotage() -> None:
            shutil.rmtree(out_dir, ignore_errors=True)
            out_dir.write_text("a file where the directory was")

        def on_submit(submission: Submission) -> None:
            submitted.append(submission.request_id)
            if sabotage_at == "submitted":
                sabotage()

        def on_update(status: JobStatus) -> None:
            if status.state == sabotage_at and out_dir.is_dir():
                sabotage()

        journal = _broken_journal(root / "journal.sqlite3", journal_method)
        with Client(
            TOKEN,
            base_url=BASE_URL,
            transport=SyncASGITransport(app),
            journal=journal,
            _clock=clock,
        ) as client:
            try:
                outcome: Any = client.generate(
                    "A red kite over the dunes",
                    out=out_dir / "kite.mp4",
                    on_submit=on_submit,
                    on_update=on_update,
                )
            except BaseException as exc:  # the assertion is on its type
                outcome = exc
            if isinstance(outcome, SubmissionUnknownError):
                pass  # raised by the submit itself: the job may exist, its id may be unknown
            elif isinstance(outcome, BaseException):
                _check_paid_error(outcome, submitted)
            else:
                assert [out_dir / "kite.mp4"] == outcome and outcome[0].is_file()
            try:
                client.resume()
            except BaseException as exc:  # resume never raises for one job's trouble
                assert isinstance(exc, Sora2Error), repr(exc)

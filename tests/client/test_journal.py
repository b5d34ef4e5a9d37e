"""The journal: a row per job from the moment submit returns, and resume after a crash."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sora2 import Client
from sora2._inputs import input_fields
from sora2._journal import Journal, open_journal
from sora2._journal_glue import JobRecord, JournalStore
from sora2._types import JobStatus, Submission
from sora2.emulator import Emulator

from .helpers import BASE_URL, TOKEN, Api, Factory, FakeClock

pytestmark = pytest.mark.anyio


class _Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing on the way catches it."""


def _crash_when(state: str) -> object:
    def on_update(status: JobStatus) -> None:
        if status.state == state:
            raise _Crash

    return on_update


def _journal(where: Path | str) -> JournalStore:
    """The journal a client given ``journal=where`` writes: a file, or a PostgreSQL URL (the
    same tests run on both, see test_journal_postgres.py)."""
    return open_journal(where, emulator=False)


def _get(where: Path | str, request_id: str) -> JobRecord | None:
    """One row, read by a journal opened and closed for it."""
    journal = _journal(where)
    try:
        return journal.get(request_id)
    finally:
        journal.close()


def _submissions(emulator: Emulator) -> int:
    return sum(emulator.stats.submissions.values())


class TestRows:
    async def test_submit_writes_a_row(self, api: Api, journal_path: Path) -> None:
        """The row holds the prompt, the parameters and the service; never the token."""
        seconds = (input_fields()["seconds"].choices or ())[-1]
        submission = await api.submit("a quiet harbour", seconds=seconds)
        record = _get(journal_path, submission.request_id)
        assert record is not None
        assert (record.prompt, record.base_url, record.state) == (
            "a quiet harbour",
            BASE_URL,
            "in_queue",
        )
        assert record.params["seconds"] == seconds
        assert record.seconds == seconds
        assert "prompt" not in record.params
        assert record.is_unfinished
        for path in journal_path.parent.glob(journal_path.name + "*"):
            assert TOKEN.encode() not in path.read_bytes()

    async def test_lifecycle_updates(
        self, api: Api, emulator: Emulator, journal_path: Path, tmp_path: Path
    ) -> None:
        """wait, result and download fill state, timestamps, video URL and output path."""
        submission = await api.submit("x")
        await api.wait(submission.request_id)
        result = await api.result(submission.request_id)
        await api.download(result, tmp_path / "x.mp4")
        record = _get(journal_path, submission.request_id)
        assert record is not None
        assert record.state == "completed"
        assert record.started_at is not None and record.finished_at is not None
        assert record.submitted_at <= record.started_at <= record.finished_at
        assert record.processing_seconds is not None and record.processing_seconds > 0
        assert record.video_url == result.video_url
        assert record.output_path == str(tmp_path / "x.mp4")
        assert not record.is_unfinished

    async def test_cancel_updates(self, api: Api, journal_path: Path) -> None:
        """A cancelled job is journaled as cancelled, and is finished."""
        submission = await api.submit("x")
        await api.cancel(submission.request_id)
        record = _get(journal_path, submission.request_id)
        assert record is not None and record.state == "cancelled"
        assert not record.is_unfinished

    async def test_jobs_lists_the_journal(self, api: Api) -> None:
        """jobs() lists every row oldest first; unfinished=True drops finished ones."""
        first = await api.submit("one")
        second = await api.submit("two")
        await api.cancel(first.request_id)
        records: list[JobRecord] = await api.jobs()
        assert [r.request_id for r in records] == [first.request_id, second.request_id]
        unfinished: list[JobRecord] = await api.jobs(unfinished=True)
        assert [r.request_id for r in unfinished] == [second.request_id]
        assert json.loads(json.dumps(records[0].to_dict()))["state"] == "cancelled"

    async def test_disabled(self, make_api: Factory, emulator: Emulator, tmp_path: Path) -> None:
        """journal=False writes nothing and lists nothing."""
        api = make_api(emulator, journal=False)
        await api.submit("x")
        assert await api.jobs() == []
        assert api.client.journal is None
        assert list(tmp_path.glob("*.sqlite3")) == []

    def test_env_var_is_read_at_construction(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """SORA2_JOURNAL set after import still decides where the journal lives."""
        monkeypatch.setenv("SORA2_JOURNAL", str(tmp_path / "late.sqlite3"))
        with Client(api_key=TOKEN) as client:
            assert client.journal is not None
            assert client.journal.path == tmp_path / "late.sqlite3"

    async def test_a_broken_journal_does_not_lose_the_job(
        self,
        make_api: Factory,
        emulator: Emulator,
        tmp_path: Path,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """If a journal that passed its check fails to write the id (the disk filled up in
        between), submit still returns the id and logs a warning. (One that cannot record
        anything refuses to submit: see test_paid.TestUnusableJournal.)"""

        class FullDisk(Journal):
            def record_submission(self, request_id: str, **kwargs: Any) -> None:
                raise sqlite3.OperationalError("database or disk is full")

        api = make_api(emulator, journal=FullDisk(tmp_path / "full.sqlite3"))
        with caplog.at_level(logging.WARNING, logger="sora2"):
            submission: Submission = await api.submit("x")
        assert emulator.job(submission.request_id) is not None
        assert any("journal" in r.getMessage() for r in caplog.records)

    def test_shared_between_connections(self, tmp_path: Path) -> None:
        """Two journals on one file see each other's rows (WAL mode)."""
        one, two = Journal(tmp_path / "j.sqlite3"), Journal(tmp_path / "j.sqlite3")
        one.record_submission("a", base_url=BASE_URL, prompt="p", params={})
        two.observe_state("a", "in_progress")
        record = one.get("a")
        assert record is not None and record.state == "in_progress"
        with sqlite3.connect(tmp_path / "j.sqlite3") as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    def test_update_rejects_unknown_columns(self, tmp_path: Path) -> None:
        """update() only sets journal columns; anything else is a TypeError."""
        journal = Journal(tmp_path / "j.sqlite3")
        with pytest.raises(TypeError):
            journal.update("a", request_id="b")


class TestResume:
    async def test_crash_while_running(
        self, make_api: Factory, emulator: Emulator, tmp_path: Path
    ) -> None:
        """A generate that dies mid-wait is finished by resume, without submitting again."""
        target = tmp_path / "out" / "crash.mp4"
        first = make_api(emulator)
        with pytest.raises(_Crash):
            await first.generate("x", out=target, on_update=_crash_when("in_progress"))
        await first.close()  # the dead process's connections (and leases) go with it
        assert not target.exists()
        unfinished = await make_api(emulator).jobs(unfinished=True)
        assert len(unfinished) == 1 and unfinished[0].target_path == str(target)

        second = make_api(emulator)
        finished: list[JobRecord] = await second.resume()
        assert [r.output_path for r in finished] == [str(target)]
        assert target.stat().st_size > 0
        assert _submissions(emulator) == 1
        assert await second.jobs(unfinished=True) == []

    async def test_crash_right_after_submit(
        self, make_api: Factory, emulator: Emulator, tmp_path: Path
    ) -> None:
        """Dying in on_submit leaves a journaled job that resume completes."""

        def die(submission: Submission) -> None:
            raise _Crash

        dead = make_api(emulator)
        with pytest.raises(_Crash):
            await dead.generate("x", out=tmp_path / "a.mp4", on_submit=die)
        await dead.close()
        finished = await make_api(emulator).resume()
        assert [r.state for r in finished] == ["completed"]
        assert (tmp_path / "a.mp4").is_file()
        assert _submissions(emulator) == 1

    async def test_crash_during_download(
        self, make_api: Factory, emulator: Emulator, tmp_path: Path
    ) -> None:
        """A completed job whose download never finished is still unfinished until saved."""
        api = make_api(emulator)
        submission = await api.submit("x")
        api.client.journal.update(submission.request_id, target_path=str(tmp_path / "d.mp4"))
        await api.wait(submission.request_id)
        assert [r.request_id for r in await api.jobs(unfinished=True)] == [submission.request_id]
        await make_api(emulator).resume(submission.request_id)
        assert (tmp_path / "d.mp4").is_file()

    async def test_out_dir(self, make_api: Factory, emulator: Emulator, tmp_path: Path) -> None:
        """With out_dir, resume saves each completed video there, named after its job."""
        api = make_api(emulator)
        submission = await api.submit("x")
        finished = await api.resume(out_dir=tmp_path / "videos")
        assert finished[0].output_path == str(tmp_path / "videos" / f"{submission.request_id}.mp4")

    async def test_a_save_into_out_dir_cut_short_is_resumed_there(
        self, make_api: Factory, emulator: Emulator, tmp_path: Path
    ) -> None:
        """A job made by submit (no place of its own) and cut off while resume saved it into
        out_dir stays unfinished, and a later resume saves it there, submitting nothing."""
        api = make_api(emulator)
        submission = await api.submit("x")

        def die(received: int, total: int | None) -> None:
            raise _Crash

        with pytest.raises(_Crash):
            await api.resume(out_dir=tmp_path / "videos", on_progress=die)
        await api.close()
        target = tmp_path / "videos" / f"{submission.request_id}.mp4"
        later = make_api(emulator)
        assert [submission.request_id] == [r.request_id for r in await later.jobs(unfinished=True)]
        finished = await later.resume()
        assert [str(target)] == [r.output_path for r in finished]
        assert target.stat().st_size > 0
        assert 1 == _submissions(emulator)

    async def test_only_this_service(
        self, make_api: Factory, emulator: Emulator, journal_path: Path
    ) -> None:
        """Jobs journaled against another base URL are never resumed here."""
        journal = _journal(journal_path)
        journal.record_submission(
            "elsewhere", base_url="https://model-api.example", prompt="p", params={}
        )
        journal.close()
        api = make_api(emulator)
        assert await api.resume() == []
        assert emulator.stats.requests["status"] == 0

    async def test_unknown_id_is_adopted(
        self, make_api: Factory, emulator: Emulator, clock: FakeClock, journal_path: Path
    ) -> None:
        """resume(id) for a job the journal never saw waits for it and records it."""
        other = make_api(emulator, journal=False)
        submission = await other.submit("from another machine")
        finished = await make_api(emulator).resume(submission.request_id)
        assert [r.state for r in finished] == ["completed"]
        assert _get(journal_path, submission.request_id) is not None

    async def test_errors_are_recorded_and_the_rest_go_on(
        self, make_api: Factory, emulator: Emulator, journal_path: Path
    ) -> None:
        """An expired job is marked gone with the reason in its row; the next job is finished."""
        journal = _journal(journal_path)
        journal.record_submission("expired", base_url=BASE_URL, prompt="p", params={})
        journal.close()  # as if written by a process that has ended
        api = make_api(emulator)
        live = await api.submit("live")
        finished = await api.resume()
        by_id = {r.request_id: r for r in finished}
        assert by_id["expired"].error is not None and "404" in by_id["expired"].error
        assert "gone" == by_id["expired"].state
        assert by_id[live.request_id].state == "completed"
        assert [] == await api.jobs(unfinished=True)


class TestGenerateTarget:
    async def test_a_garbled_submit_answer_still_journals_where_generate_saves(
        self, make_api: Factory, tmp_path: Path
    ) -> None:
        """A 200 that names the job but breaks the spec leaves a row with the output path, so
        a later resume knows where to save the video."""
        from sora2 import APIResponseValidationError

        from .helpers import Script, json_response

        garbled = {"request_id": "req-garbled", "status_url": 42}
        api = make_api(handler=Script().on("submit", json_response(200, garbled)))
        target = tmp_path / "garbled.mp4"
        with pytest.raises(APIResponseValidationError) as caught:
            await api.generate("x", out=target)
        assert "req-garbled" == caught.value.request_id
        [record] = await api.jobs()
        assert ("req-garbled", str(target)) == (record.request_id, record.target_path)

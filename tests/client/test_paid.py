"""Paid work is never stranded: bad output paths and blank prompts are refused before paying,
every failure after paying is a typed error that says how to fetch the result, dead ids settle
as ``gone``, rows can be forgotten or pruned, and the journal writes only on a change."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sora2 import (
    Client,
    DownloadWriteError,
    InvalidInputError,
    JournalError,
    NotFoundError,
    WaitTimeoutError,
)
from sora2._download import check_output_target
from sora2._journal import Journal
from sora2._types import GONE, Submission
from sora2.emulator import Emulator, SyncASGITransport

from .helpers import BASE_URL, TOKEN, Factory, FakeClock, stats_submissions

pytestmark = pytest.mark.anyio


class TestCheckOutputTarget:
    def test_a_new_file_in_a_new_directory_is_fine(self, tmp_path: Path) -> None:
        """A file path whose directory can be created passes, and the directory now exists."""
        check_output_target(tmp_path / "new" / "deeper" / "video.mp4")
        assert (tmp_path / "new" / "deeper").is_dir()
        assert [] == list((tmp_path / "new" / "deeper").iterdir())

    def test_an_existing_directory_is_fine(self, tmp_path: Path) -> None:
        """An existing writable directory passes: the video is named inside it."""
        check_output_target(tmp_path)

    def test_a_file_in_the_way_of_the_directory_is_refused(self, tmp_path: Path) -> None:
        """A path under a regular file cannot be created: refused, naming the field ``out``."""
        (tmp_path / "plain").write_text("x")
        with pytest.raises(InvalidInputError) as caught:
            check_output_target(tmp_path / "plain" / "sub" / "video.mp4")
        assert "out" == caught.value.field
        assert "not a directory" in str(caught.value)

    def test_a_file_where_a_directory_is_meant_is_refused(self, tmp_path: Path) -> None:
        """``out`` ending in a separator means a directory: an existing file there is refused."""
        (tmp_path / "clip").write_text("x")
        with pytest.raises(InvalidInputError) as caught:
            check_output_target(str(tmp_path / "clip") + os.sep)
        assert "out" == caught.value.field

    @pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux /proc")
    def test_an_uncreatable_directory_is_refused(self) -> None:
        """The issue's /proc/x/fox.mp4: a directory no one can create, root included."""
        with pytest.raises(InvalidInputError) as caught:
            check_output_target("/proc/x/fox.mp4")
        assert "out" == caught.value.field


class TestCheckedBeforePaying:
    async def test_an_unusable_out_is_refused_before_submitting(
        self, make_api: Factory, emulator: Emulator, tmp_path: Path
    ) -> None:
        """generate() with an out path that cannot be written sends nothing and pays nothing."""
        (tmp_path / "plain").write_text("x")
        api = make_api(emulator)
        with pytest.raises(InvalidInputError) as caught:
            await api.generate("a fox", out=tmp_path / "plain" / "fox.mp4")
        assert "out" == caught.value.field
        assert 0 == stats_submissions(emulator)
        assert [] == await api.jobs()

    @pytest.mark.parametrize("prompt", ["   ", "\t\n "])
    async def test_a_blank_prompt_is_refused_before_submitting(
        self, make_api: Factory, emulator: Emulator, tmp_path: Path, prompt: str
    ) -> None:
        """A prompt of only whitespace is invalid input: nothing is sent for it."""
        api = make_api(emulator)
        with pytest.raises(InvalidInputError) as caught:
            await api.generate(prompt, out=tmp_path / "x.mp4")
        assert "prompt" == caught.value.field
        with pytest.raises(InvalidInputError):
            await api.submit(prompt)
        assert 0 == stats_submissions(emulator)


class TestTypedAfterPaying:
    async def test_an_unwritable_target_after_paying_is_a_typed_error(
        self, make_api: Factory, emulator: Emulator, tmp_path: Path
    ) -> None:
        """An OSError while saving is a DownloadWriteError with the id, the video URL and the
        command that fetches the paid result elsewhere."""
        target_dir = tmp_path / "out"

        def sabotage(submission: Submission) -> None:
            target_dir.rmdir()
            target_dir.write_text("now a file")

        api = make_api(emulator)
        with pytest.raises(DownloadWriteError) as caught:
            await api.generate("a fox", out=target_dir / "fox.mp4", on_submit=sabotage)
        error = caught.value
        assert error.request_id is not None
        assert 1 == len(error.output_urls)
        assert "paid for" in str(error)
        assert f"sora2 result {error.request_id} --out ." in str(error)

    async def test_a_timeout_after_paying_says_how_to_resume(
        self, make_api: Factory, emulator: Emulator, tmp_path: Path
    ) -> None:
        """generate() giving up at its deadline names the job and the resume command."""
        api = make_api(emulator)
        with pytest.raises(WaitTimeoutError) as caught:
            await api.generate("a fox", out=tmp_path / "fox.mp4", timeout=0)
        error = caught.value
        assert error.request_id is not None
        assert f"sora2 resume {error.request_id}" in str(error)
        assert "paid for" in str(error)

    async def test_a_failing_journal_write_after_completion_loses_nothing(
        self, make_api: Factory, emulator: Emulator, tmp_path: Path, clock: FakeClock
    ) -> None:
        """The learned processing time is written through the journal guard: a broken write is
        logged and the video is still saved."""

        attempts: list[str] = []

        class Failing(Journal):
            def update(self, request_id: str, **changes: Any) -> None:
                if "processing_seconds" in changes:
                    attempts.append(request_id)
                    raise sqlite3.OperationalError("disk I/O error")
                super().update(request_id, **changes)

        api = make_api(emulator, journal=Failing(tmp_path / "j.sqlite3"))
        await api.submit("warm-up")  # a queued job ahead, so the next one is seen queued first
        paths = await api.generate("a fox", out=tmp_path / "fox.mp4")
        assert paths and all(path.is_file() and path.stat().st_size > 0 for path in paths)
        assert 1 == len(attempts)


class TestUnusableJournal:
    @pytest.mark.parametrize("kind", ["text file", "under a file"])
    async def test_a_journal_that_cannot_record_refuses_to_submit(
        self, make_api: Factory, emulator: Emulator, tmp_path: Path, kind: str
    ) -> None:
        """A journal that is a text file, or whose folder cannot be made (its parent is a
        file; root writes anywhere else), raises JournalError naming it; nothing is sent."""
        (tmp_path / "notdb.sqlite3").write_text("just text\n")
        path = tmp_path / "notdb.sqlite3"
        if kind == "under a file":
            path = path / "journal.sqlite3"
        api = make_api(emulator, journal=path)
        for call in (api.submit("x"), api.generate("x", out=tmp_path / "x.mp4")):
            with pytest.raises(JournalError) as caught:
                await call
            assert str(path) == caught.value.path
            assert str(path) in str(caught.value)
        assert 0 == stats_submissions(emulator)
        assert "just text\n" == (tmp_path / "notdb.sqlite3").read_text()

    async def test_journal_false_submits_without_one(
        self, make_api: Factory, emulator: Emulator
    ) -> None:
        """journal=False is the explicit way to submit without crash safety."""
        api = make_api(emulator, journal=False)
        await api.submit("x")
        assert 1 == stats_submissions(emulator)

    def test_a_batch_refuses_before_submitting_any_row(
        self, emulator: Emulator, clock: FakeClock, tmp_path: Path
    ) -> None:
        """batch() with an unusable journal raises JournalError and submits no row."""
        (tmp_path / "notdb.sqlite3").write_text("just text\n")
        with (
            Client(
                api_key=TOKEN,
                base_url=BASE_URL,
                transport=SyncASGITransport(emulator),
                journal=tmp_path / "notdb.sqlite3",
                _clock=clock,
            ) as client,
            pytest.raises(JournalError),
        ):
            client.batch([{"prompt": "a"}, {"prompt": "b"}], out_dir=tmp_path / "out")
        assert 0 == stats_submissions(emulator)


class TestHints:
    def test_an_in_process_job_names_the_clients_own_calls(self, tmp_path: Path) -> None:
        """A paid-job error of Client(emulator=True) names the same client's calls, which
        work while it is open, never `sora2 resume`, which cannot reach it; and they work."""
        with Client(emulator=True, journal=tmp_path / "j.sqlite3") as client:
            with pytest.raises(WaitTimeoutError) as caught:
                client.generate("a fox", out=tmp_path / "fox.mp4", timeout=0)
            message = str(caught.value)
            assert "sora2 resume" not in message
            assert f"client.download(client.wait('{caught.value.request_id}'), PATH)" in message
            assert caught.value.request_id is not None
            (path,) = client.download(client.wait(caught.value.request_id), tmp_path / "f.mp4")
            assert path.stat().st_size > 0


class TestResumeUnknownId:
    async def test_a_typo_writes_no_row(
        self, make_api: Factory, emulator: Emulator, journal_path: Path
    ) -> None:
        """resume(id) of an id never journaled that the service does not know raises
        NotFoundError and writes no row (no gone row for a typo)."""
        api = make_api(emulator)
        with pytest.raises(NotFoundError):
            await api.resume("typo-id")
        assert [] == await api.jobs()

    async def test_a_saved_job_is_copied_into_out_dir(
        self, make_api: Factory, emulator: Emulator, tmp_path: Path
    ) -> None:
        """resume(id, out_dir=DIR) of a job saved already downloads it again into DIR."""
        api = make_api(emulator)
        (first,) = await api.generate("saved", out=tmp_path / "a.mp4")
        [job] = await api.jobs()
        [record] = await api.resume(job.request_id, out_dir=tmp_path / "copies")
        assert tmp_path / "copies" / "a.mp4" == Path(str(record.output_path))
        assert first.read_bytes() == (tmp_path / "copies" / "a.mp4").read_bytes()


class TestGone:
    async def test_a_dead_id_is_settled_as_gone(
        self, make_api: Factory, emulator: Emulator, journal_path: Path
    ) -> None:
        """A 404001 for a journaled id marks it gone, with the reason; it is no longer
        unfinished, so a later resume does not try it again."""
        Journal(journal_path).record_submission("typo-id", base_url=BASE_URL, prompt="p", params={})
        api = make_api(emulator)
        with pytest.raises(NotFoundError):
            await api.status("typo-id")
        record = Journal(journal_path).get("typo-id")
        assert record is not None
        assert GONE == record.state
        assert record.is_terminal and not record.is_unfinished
        assert record.error is not None and "404" in record.error
        assert [] == await api.jobs(unfinished=True)
        assert [] == await api.resume()


class TestForgetAndPrune:
    async def test_forget_removes_one_row(self, make_api: Factory, emulator: Emulator) -> None:
        """forget(id) drops the row and says whether there was one."""
        api = make_api(emulator)
        submission = await api.submit("x")
        assert await api.forget(submission.request_id) is True
        assert await api.forget(submission.request_id) is False
        assert [] == await api.jobs()

    async def test_prune_removes_only_settled_rows(
        self, make_api: Factory, emulator: Emulator, tmp_path: Path, journal_path: Path
    ) -> None:
        """prune() removes saved, cancelled and gone jobs of this service; unfinished stay."""
        api = make_api(emulator)
        saved = await api.generate("saved", out=tmp_path / "a.mp4")
        assert saved and all(path.is_file() for path in saved)
        waiting = await api.submit("still queued")
        Journal(journal_path).record_submission("dead", base_url=BASE_URL, prompt="p", params={})
        Journal(journal_path).mark_gone("dead", "not found")
        Journal(journal_path).record_submission(
            "other-service", base_url="https://model-api.example", prompt="p", params={}
        )
        Journal(journal_path).mark_gone("other-service", "not found")
        removed = await api.prune()
        assert 2 == len(removed) and "dead" in removed
        remaining = {r.request_id for r in Journal(journal_path).records()}
        assert {waiting.request_id, "other-service"} == remaining

    async def test_prune_keeps_a_completed_job_never_downloaded(
        self, make_api: Factory, emulator: Emulator, clock: FakeClock, tmp_path: Path
    ) -> None:
        """A job made by submit that completed but was never downloaded stays: its outputs are
        paid for and its row is the only record of the id. Saved, it is pruned."""
        api = make_api(emulator)
        submission = await api.submit("paid, not saved")
        assert (await api.wait(submission.request_id)).is_completed
        assert [] == await api.prune()
        assert [submission.request_id] == [r.request_id for r in await api.jobs()]
        await api.download(submission.request_id, tmp_path / "now-saved.mp4")
        assert [submission.request_id] == await api.prune()


class TestJournalCost:
    async def test_repeated_polls_of_one_state_write_once(
        self, make_api: Factory, emulator: Emulator, tmp_path: Path
    ) -> None:
        """The journal is written on a change of state, not on every status call."""
        writes: list[str] = []

        class Counting(Journal):
            def observe_state(self, request_id: str, state: str, **kwargs: Any) -> None:
                writes.append(state)
                super().observe_state(request_id, state, **kwargs)

        api = make_api(emulator, journal=Counting(tmp_path / "j.sqlite3"))
        submission = await api.submit("x")
        for _ in range(5):
            await api.status(submission.request_id)
        assert 1 == len(writes)

    def test_one_connection_per_journal(self, tmp_path: Path) -> None:
        """Every operation of a journal goes through one SQLite connection."""
        journal = Journal(tmp_path / "j.sqlite3")
        journal.record_submission("a", base_url=BASE_URL, prompt="p", params={})
        with journal._connect() as first:
            pass
        journal.observe_state("a", "in_progress")
        journal.get("a")
        with journal._connect() as second:
            assert first is second
        journal.close()


class TestIndependentResume:
    async def test_an_unwritable_job_does_not_block_the_others(
        self,
        make_api: Factory,
        emulator: Emulator,
        tmp_path: Path,
        journal_path: Path,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """The oldest job's target cannot be written: it is recorded with its error, and the
        next job is still resumed and saved."""
        api = make_api(emulator)
        first = await api.submit("first")
        second = await api.submit("second")
        (tmp_path / "blocked").write_text("a file")
        journal = Journal(journal_path)
        journal.update(first.request_id, target_path=str(tmp_path / "blocked" / "a.mp4"))
        journal.update(second.request_id, target_path=str(tmp_path / "ok" / "b.mp4"))
        with caplog.at_level(logging.WARNING, logger="sora2"):
            finished = await make_api(emulator).resume()
        by_id = {r.request_id: r for r in finished}
        assert by_id[first.request_id].error is not None
        assert by_id[second.request_id].output_path == str(tmp_path / "ok" / "b.mp4")
        assert (tmp_path / "ok" / "b.mp4").is_file()
        assert 2 == stats_submissions(emulator)


class TestAsyncOffTheLoop:
    async def test_journal_and_file_work_run_in_worker_threads(
        self, emulator: Emulator, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """AsyncClient never touches SQLite or the output file on the event loop's thread."""
        import threading

        from sora2 import AsyncClient
        from sora2._download import PartFile

        from .helpers import TOKEN

        loop_thread = threading.get_ident()
        threads: list[tuple[str, int]] = []

        class Watched(Journal):
            def _open(self) -> sqlite3.Connection:
                threads.append(("open", threading.get_ident()))
                return super()._open()

            def record_submission(self, request_id: str, **kwargs: Any) -> None:
                threads.append(("record_submission", threading.get_ident()))
                super().record_submission(request_id, **kwargs)

            def observe_state(self, request_id: str, state: str, **kwargs: Any) -> None:
                threads.append(("observe_state", threading.get_ident()))
                super().observe_state(request_id, state, **kwargs)

            def update(self, request_id: str, **changes: Any) -> None:
                threads.append(("update", threading.get_ident()))
                super().update(request_id, **changes)

        original_write = PartFile.write

        def write(self: PartFile, chunk: bytes) -> None:
            threads.append(("write", threading.get_ident()))
            original_write(self, chunk)

        import httpx

        monkeypatch.setattr(PartFile, "write", write)
        async with AsyncClient(
            TOKEN,
            base_url="http://localhost",
            transport=httpx.ASGITransport(app=emulator),
            journal=Watched(tmp_path / "j.sqlite3"),
            _clock=clock,
        ) as client:
            paths = await client.generate("a fox", out=tmp_path / "fox.mp4")
        assert paths and all(path.is_file() for path in paths)
        kinds = {kind for kind, _ in threads}
        assert {"open", "record_submission", "observe_state", "update", "write"} <= kinds
        assert [] == [kind for kind, ident in threads if ident == loop_thread]

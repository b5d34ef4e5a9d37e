"""Running a batch on ``AsyncClient.batch`` and ``Client.batch``, against the emulator."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sora2 import AsyncClient, BatchProgress, BatchRow, Client
from sora2._batch import _needs, _runner
from sora2._batch._manifest import Manifest
from sora2.emulator import Emulator

from .helpers import (
    SECONDS,
    assert_no_duplicates,
    durations,
    manifest,
    rows,
    submissions,
    write_jsonl,
)

pytestmark = pytest.mark.anyio


class TestRun:
    async def test_every_row_completes_with_its_files_and_manifest_line(
        self, aclient: AsyncClient, emulator: Emulator, tmp_path: Path
    ) -> None:
        """Each row's video is saved under its name (or row number and short id), and the
        manifest has one completed line per row with its input, id and files."""
        items = rows(5)
        items[1]["name"] = "second"
        out = tmp_path / "out"
        summary = await aclient.batch(items, out_dir=out, concurrency=2)
        assert summary.ok
        assert 5 == summary.submitted == submissions(emulator)
        lines = manifest(out)
        assert [1, 2, 3, 4, 5] == [line["row"] for line in lines]
        assert ["completed"] * 5 == [line["state"] for line in lines]
        assert [out / "second.mp4"] == [Path(p) for p in lines[1]["outputs"]]
        third = lines[2]
        assert [out / f"row0003-{third['request_id'][:8]}.mp4"] == [
            Path(p) for p in third["outputs"]
        ]
        assert {k: v for k, v in items[0].items() if k != "name"} == lines[0]["input"]
        for line in lines:
            assert Path(line["outputs"][0]).stat().st_size > 0

    async def test_concurrency_bounds_jobs_in_flight(
        self, aclient: AsyncClient, tmp_path: Path
    ) -> None:
        """No more than ``concurrency`` rows are ever submitted and unfinished at once."""
        most: list[int] = []

        def watch(progress: BatchProgress, row: BatchRow | None) -> None:
            most.append(len(progress.in_flight))

        summary = await aclient.batch(
            rows(9), out_dir=tmp_path / "out", concurrency=3, on_progress=watch
        )
        assert summary.ok
        assert 3 == max(most)

    async def test_invalid_rows_are_skipped_and_reported(
        self, aclient: AsyncClient, emulator: Emulator, tmp_path: Path
    ) -> None:
        """An invalid row is recorded as invalid with its problem; the valid ones still run."""
        items = rows(3)
        items[1][SECONDS] = max(durations()) + 1
        out = tmp_path / "out"
        summary = await aclient.batch(items, out_dir=out)
        assert not summary.ok
        assert 2 == submissions(emulator)
        assert ["completed", "invalid", "completed"] == [line["state"] for line in manifest(out)]
        assert SECONDS in manifest(out)[1]["error"]
        assert [2] == [item["row"] for item in summary.to_dict()["invalid"]]

    async def test_dry_run_submits_and_writes_nothing(
        self, aclient: AsyncClient, emulator: Emulator, tmp_path: Path
    ) -> None:
        """A dry run plans every valid row and neither submits nor writes a manifest."""
        out = tmp_path / "out"
        summary = await aclient.batch(rows(4), out_dir=out, dry_run=True)
        assert summary.ok and summary.dry_run
        assert 4 == summary.plan.jobs
        assert 0 == submissions(emulator)
        assert not out.exists()


class TestIdempotence:
    async def test_a_rerun_submits_nothing(
        self, aclient: AsyncClient, emulator: Emulator, tmp_path: Path
    ) -> None:
        """Running the same batch again makes 0 new submissions and reports every row done."""
        source = write_jsonl(tmp_path / "rows.jsonl", rows(4))
        out = tmp_path / "out"
        await aclient.batch(source, out_dir=out)
        before = submissions(emulator)
        again = await aclient.batch(source, out_dir=out)
        assert 4 == before == submissions(emulator)
        assert again.ok
        assert 0 == again.submitted

    async def test_a_rerun_follows_unfinished_jobs_without_resubmitting(
        self, aclient: AsyncClient, emulator: Emulator, tmp_path: Path
    ) -> None:
        """Rows left pending with an id (a run that stopped) are waited for, not submitted."""
        source = write_jsonl(tmp_path / "rows.jsonl", rows(3))
        out = tmp_path / "out"
        await aclient.batch(source, out_dir=out)
        lines = manifest(out)
        for line in lines:  # as a run killed after submitting would have left them
            Path(line["outputs"][0]).unlink()
            line.update(state="pending", job_state="in_queue", outputs=[])
        (out / "manifest.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
        again = await aclient.batch(source, out_dir=out)
        assert again.ok
        assert (0, 3) == (again.submitted, again.resumed)
        assert 3 == submissions(emulator)

    async def test_an_id_only_the_journal_has_is_adopted(
        self, aclient: AsyncClient, emulator: Emulator, tmp_path: Path
    ) -> None:
        """A job journaled but missing from the manifest (SIGKILL between the two writes) is
        picked up on the re-run instead of being submitted again."""
        source = write_jsonl(tmp_path / "rows.jsonl", rows(3))
        out = tmp_path / "out"
        await aclient.batch(source, out_dir=out)
        lines = manifest(out)
        Path(lines[1]["outputs"][0]).unlink()
        lines[1].update(request_id=None, state="pending", job_state=None, outputs=[])
        (out / "manifest.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
        again = await aclient.batch(source, out_dir=out)
        assert again.ok
        assert 3 == submissions(emulator)
        assert_no_duplicates(emulator, out)


class TestBudget:
    async def test_max_jobs_stops_submitting_and_says_so(
        self, aclient: AsyncClient, emulator: Emulator, tmp_path: Path
    ) -> None:
        """With --max-jobs 2 of 5 rows, 2 are submitted, 3 stay pending with the reason; a
        re-run with a larger budget submits only the rest."""
        source = write_jsonl(tmp_path / "rows.jsonl", rows(5))
        out = tmp_path / "out"
        summary = await aclient.batch(source, out_dir=out, max_jobs=2)
        assert 2 == submissions(emulator)
        assert summary.budget_stop is not None and "--max-jobs 2" in summary.budget_stop
        states = [line["state"] for line in manifest(out)]
        assert ["completed"] * 2 + ["pending"] * 3 == states
        assert "budget" in manifest(out)[2]["error"]
        rest = await aclient.batch(source, out_dir=out, max_jobs=5)
        assert rest.ok
        assert 3 == rest.submitted
        assert 5 == submissions(emulator)

    async def test_max_seconds_stops_before_the_job_that_would_exceed_it(
        self, aclient: AsyncClient, emulator: Emulator, tmp_path: Path
    ) -> None:
        """Submitting stops before the first row whose seconds would pass --max-seconds."""
        shortest = durations()[0]
        items = [{"prompt": f"p{i}", SECONDS: shortest} for i in range(4)]
        summary = await aclient.batch(items, out_dir=tmp_path / "out", max_seconds=2.5 * shortest)
        assert 2 == submissions(emulator)
        assert summary.budget_stop is not None and "--max-seconds" in summary.budget_stop


class TestFaults:
    async def test_faults_make_no_duplicates_and_lose_no_paid_id(
        self, aclient: AsyncClient, emulator: Emulator, tmp_path: Path
    ) -> None:
        """Under 429s, 5xx, truncated answers and dropped connections, every job is submitted
        once, every job the emulator made is in the manifest, and a re-run completes the rest."""
        emulator.faults = (
            "submit:503@every=3,submit:truncate@every=4,status:429@every=3,"
            "status:drop@every=5,result:500@every=4,video:drop@every=3"
        )
        source = write_jsonl(tmp_path / "rows.jsonl", rows(12))
        out = tmp_path / "out"
        first = await aclient.batch(source, out_dir=out, concurrency=4)
        assert_no_duplicates(emulator, out)
        assert emulator.stats.faults
        emulator.faults = None
        again = await aclient.batch(source, out_dir=out, concurrency=4)
        assert_no_duplicates(emulator, out)
        assert again.ok, [r.error for r in again.rows if r.state != "completed"]
        assert 12 == first.submitted + again.submitted == submissions(emulator)


class TestSyncClient:
    def test_client_batch_runs_on_the_same_emulator(
        self, client: Client, emulator: Emulator, tmp_path: Path
    ) -> None:
        """``Client.batch`` runs the batch through the client's own (in-process) emulator."""
        summary = client.batch(rows(3), out_dir=tmp_path / "out")
        assert summary.ok
        assert 3 == submissions(emulator)

    def test_in_process_emulator(self, tmp_path: Path) -> None:
        """``Client(emulator=True).batch`` needs no key and saves real files."""
        from _fakes import FakeClock

        with Client(emulator=True, journal=False, _clock=FakeClock()) as made:
            summary = made.batch(rows(2, named=True), out_dir=tmp_path / "out")
        assert summary.ok
        assert {"clip-0.mp4", "clip-1.mp4", "manifest.jsonl"} == {
            p.name for p in (tmp_path / "out").iterdir()
        }


class TestUnansweredSubmit:
    async def test_a_dropped_submit_is_not_paid_twice(
        self, aclient: AsyncClient, emulator: Emulator, tmp_path: Path
    ) -> None:
        """A submit whose connection dropped after the job was made is held back, not sent
        again on the re-run, until ``resubmit_unknown`` asks for it."""
        emulator.faults = "submit:drop@first=1"
        source = write_jsonl(tmp_path / "rows.jsonl", rows(1))
        out = tmp_path / "out"
        first = await aclient.batch(source, out_dir=out)
        assert 1 == submissions(emulator)  # the job exists; its id never reached us
        line = manifest(out)[0]
        assert (None, "pending", True) == (
            line["request_id"],
            line["state"],
            line["submit_unknown"],
        )
        assert not first.ok
        again = await aclient.batch(source, out_dir=out)
        assert (0, 1) == (again.submitted, submissions(emulator))
        assert "--resubmit-unknown" in (again.rows[0].error or "")
        forced = await aclient.batch(source, out_dir=out, resubmit_unknown=True)
        assert forced.ok
        assert 2 == submissions(emulator)


class TestFatal:
    async def test_a_refused_token_stops_the_batch_as_itself(
        self, emulator: Emulator, clock: object, tmp_path: Path
    ) -> None:
        """A 401 fails every row alike: the batch raises AuthenticationError (not a group), and
        no row is left marked as a submit without an answer."""
        import httpx

        from sora2 import AuthenticationError

        async with AsyncClient(
            api_key="not-the-token",
            base_url="http://localhost",
            transport=httpx.ASGITransport(app=emulator),
            journal=False,
            _clock=clock,  # type: ignore[arg-type]
        ) as wrong:
            with pytest.raises(AuthenticationError):
                await wrong.batch(rows(3), out_dir=tmp_path / "out")
        lines = manifest(tmp_path / "out")
        assert [False] * 3 == [line["submit_unknown"] for line in lines]
        assert 0 == submissions(emulator)


class TestCancellation:
    @pytest.mark.parametrize("cancel_queued", [False, True])
    async def test_a_cancelled_batch_keeps_every_id_and_cancels_queued_only_if_asked(
        self, aclient: AsyncClient, emulator: Emulator, tmp_path: Path, cancel_queued: bool
    ) -> None:
        """Cancelled from outside once every row is submitted, the batch records every id;
        queued jobs are cancelled only with ``cancel_queued_on_interrupt``; a re-run then
        completes the batch, each row with exactly one job that was not cancelled."""
        import anyio

        source = write_jsonl(tmp_path / "rows.jsonl", rows(2 * emulator.workers))
        out = tmp_path / "out"
        with anyio.CancelScope() as scope:

            def stop_when_all_submitted(progress: BatchProgress, row: BatchRow | None) -> None:
                flying = progress.in_flight.values()
                everyone = len(flying) == 2 * emulator.workers
                if row is not None and everyone and all(r.request_id for r in flying):
                    scope.cancel()

            await aclient.batch(
                source,
                out_dir=out,
                concurrency=2 * emulator.workers,
                cancel_queued_on_interrupt=cancel_queued,
                on_progress=stop_when_all_submitted,
            )
        assert scope.cancelled_caught
        stopped = manifest(out)
        assert all(line["request_id"] for line in stopped)
        cancelled = [line for line in stopped if line["state"] == "cancelled"]
        if cancel_queued:
            assert cancelled  # nothing ran yet: the jobs were still queued
            for line in cancelled:
                assert "cancelled" == emulator.job(line["request_id"]).state  # type: ignore[union-attr]
        else:
            assert [] == cancelled
            assert all(emulator.job(line["request_id"]).state != "cancelled" for line in stopped)  # type: ignore[union-attr]
        again = await aclient.batch(source, out_dir=out)
        assert again.ok
        for line in manifest(out):
            ids = [line["request_id"], *line["previous_request_ids"]]
            live = [i for i in ids if emulator.job(i).state != "cancelled"]  # type: ignore[union-attr]
            assert 1 == len(live)


class TestOneBadJob:
    async def test_a_failed_download_is_retried_by_the_rerun_without_resubmitting(
        self, aclient: AsyncClient, emulator: Emulator, tmp_path: Path
    ) -> None:
        """Downloads that keep failing leave their rows failed (with the id and the error) and
        the other rows complete; the re-run saves the files of the same jobs, submitting none."""
        source = write_jsonl(tmp_path / "rows.jsonl", rows(4))
        out = tmp_path / "out"
        attempts = aclient.max_retries + 1
        emulator.faults = f"video:500@first={2 * attempts}"  # every attempt of two downloads
        first = await aclient.batch(source, out_dir=out, concurrency=1)
        assert ["failed", "failed", "completed", "completed"] == [r.state for r in first.rows]
        failed = [row for row in first.rows if row.state == "failed"]
        assert all(row.request_id and row.error for row in failed)
        assert 4 == submissions(emulator)
        emulator.faults = None
        again = await aclient.batch(source, out_dir=out)
        assert again.ok
        assert (0, len(failed)) == (again.submitted, again.resumed)
        assert 4 == submissions(emulator)


class TestOffTheEventLoop:
    async def test_files_and_the_manifest_are_read_and_written_in_worker_threads(
        self, aclient: AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A batch reads its rows and its manifest, writes the manifest and looks for saved
        files in worker threads: the event loop's own thread does none of it."""
        threads: dict[str, set[int]] = {}

        def spy(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                threads.setdefault(name, set()).add(threading.get_ident())
                return function(*args, **kwargs)

            return wrapper

        monkeypatch.setattr(_runner, "load_rows", spy("rows", _runner.load_rows))
        monkeypatch.setattr(Manifest, "read", spy("read", Manifest.read))
        monkeypatch.setattr(Manifest, "write_text", spy("write", Manifest.write_text))
        monkeypatch.setattr(_needs, "files_present", spy("files", _needs.files_present))
        source = write_jsonl(tmp_path / "rows.jsonl", rows(3))
        for _ in range(2):  # the second run looks for the first one's files
            assert (await aclient.batch(source, out_dir=tmp_path / "out")).ok
        assert ["files", "read", "rows", "write"] == sorted(threads)
        assert [] == [name for name, seen in threads.items() if threading.get_ident() in seen]

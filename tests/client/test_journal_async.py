"""AsyncClient's group commit: many jobs' journal changes in one transaction, each caller
resuming only once its own are committed; failures surface as they would alone; close flushes."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from sora2 import AsyncClient
from sora2._base_client import SharedState
from sora2._journal import Journal
from sora2._journal_glue import JournalKeeper, Submitted
from sora2._transports import SystemClock
from sora2.emulator import Emulator

from .helpers import BASE_URL, TOKEN, FakeClock

pytestmark = pytest.mark.anyio

JOBS = 40


class CountingJournal(Journal):
    """A real SQLite journal that counts its commits: explicit ones, and each statement that
    changed rows outside a transaction (SQLite commits it on its own)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.commits = 0
        self.writes = 0

    def _open(self) -> sqlite3.Connection:
        conn = super()._open()

        def traced(statement: str) -> None:
            verb = statement.lstrip().split(" ", 1)[0].upper()
            if verb == "COMMIT":
                self.commits += 1
            elif verb in {"INSERT", "UPDATE", "DELETE"}:
                self.writes += 1
                if not conn.in_transaction:
                    self.commits += 1

        conn.set_trace_callback(traced)
        return conn


def _client(emulator: Emulator, clock: FakeClock, journal: Journal) -> AsyncClient:
    return AsyncClient(
        TOKEN,
        base_url=BASE_URL,
        transport=httpx.ASGITransport(app=emulator),
        journal=journal,
        _clock=clock,
    )


async def _generate_all(client: AsyncClient, out: Path, prompts: list[str]) -> list[Path]:
    found = await asyncio.gather(
        *(client.generate(prompt, out=out / f"{index}.mp4") for index, prompt in enumerate(prompts))
    )
    return [paths[0] for paths in found]


async def test_concurrent_jobs_share_commits(
    emulator: Emulator, clock: FakeClock, tmp_path: Path
) -> None:
    """Many concurrent generate() calls write every job's row completely, in fewer commits
    than the journal's writes (one per change without group commit)."""
    journal = CountingJournal(tmp_path / "j.sqlite3")
    async with _client(emulator, clock, journal) as client:
        paths = await _generate_all(client, tmp_path, [f"job {i}" for i in range(JOBS)])
    rows = Journal(tmp_path / "j.sqlite3").records()
    assert sorted(str(p) for p in paths) == sorted(str(r.output_path) for r in rows)
    assert all(r.is_settled for r in rows)
    assert journal.writes >= 3 * JOBS  # submitted, observed, output URL, saved
    assert journal.commits < journal.writes / 2


async def test_each_job_makes_one_thread_hop_of_its_own(
    emulator: Emulator, clock: FakeClock, tmp_path: Path
) -> None:
    """Concurrent generate() calls share the batches' worker-thread hops for their output
    checks, target paths and journal work; a one-chunk video is created, written and committed
    in one hop of its own: one per job, not four."""
    from concurrent.futures import ThreadPoolExecutor

    hops = 0

    class Counting(ThreadPoolExecutor):
        def submit(self, *args: Any, **kwargs: Any) -> Any:
            nonlocal hops
            hops += 1
            return super().submit(*args, **kwargs)

    asyncio.get_running_loop().set_default_executor(Counting())
    async with _client(emulator, clock, Journal(tmp_path / "j.sqlite3")) as client:
        await _generate_all(client, tmp_path, [f"job {i}" for i in range(JOBS)])
        batches = client._keeper.group_commit().batched.hops
    assert batches < JOBS
    assert JOBS == hops - batches


async def test_a_failing_write_surfaces_as_alone(
    emulator: Emulator, clock: FakeClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One job's failing journal write (a disk error) is logged once, as without group commit;
    the other jobs' changes in its batch are all written, and every job completes."""

    class OneBadRow(Journal):
        def record_submission(self, request_id: str, **kwargs: Any) -> None:
            if kwargs.get("prompt") == "bad":
                raise sqlite3.OperationalError("disk I/O error")
            super().record_submission(request_id, **kwargs)

    prompts = ["bad", *(f"job {i}" for i in range(JOBS - 1))]
    with caplog.at_level(logging.WARNING, logger="sora2"):
        async with _client(emulator, clock, OneBadRow(tmp_path / "j.sqlite3")) as client:
            paths = await _generate_all(client, tmp_path, prompts)
    assert JOBS == sum(path.is_file() for path in paths)
    rows = Journal(tmp_path / "j.sqlite3").records()
    assert sorted(prompts[1:]) == sorted(r.prompt for r in rows)
    assert all(r.output_path for r in rows)
    failures = [r for r in caplog.records if "disk I/O error" in r.getMessage()]
    assert 1 == len(failures)


async def test_another_error_reaches_its_own_caller_only(
    emulator: Emulator, clock: FakeClock, tmp_path: Path
) -> None:
    """An error that is not the journal's (a bug) is raised to the caller whose change caused
    it, not to the others of its batch."""

    class Buggy(Journal):
        def record_submission(self, request_id: str, **kwargs: Any) -> None:
            if kwargs.get("prompt") == "bad":
                raise TypeError("a bug")
            super().record_submission(request_id, **kwargs)

    async with _client(emulator, clock, Buggy(tmp_path / "j.sqlite3")) as client:
        found = await asyncio.gather(
            *(
                client.generate(prompt, out=tmp_path / f"{index}.mp4")
                for index, prompt in enumerate(["bad", "good 1", "good 2", "good 3"])
            ),
            return_exceptions=True,
        )
    assert isinstance(found[0], TypeError)
    assert all(isinstance(paths, list) for paths in found[1:])


async def test_close_writes_what_a_cancelled_caller_left(tmp_path: Path) -> None:
    """A caller cancelled while its change waits leaves it to be written: close (aclose)
    returns only once it is."""
    journal = Journal(tmp_path / "j.sqlite3")
    writer = JournalKeeper(journal, BASE_URL, SharedState(clock=SystemClock())).group_commit()
    change = Submitted("kept", "p", {}, at=0.0, target=None, model=None, seconds=None)
    caller = asyncio.ensure_future(writer.write((change,)))
    await asyncio.sleep(0)  # the change is handed over
    caller.cancel()
    await writer.aclose()
    assert caller.cancelled()
    record = Journal(tmp_path / "j.sqlite3").get("kept")
    assert record is not None
    assert "p" == record.prompt


_KILLED_AFTER_SUBMIT = textwrap.dedent(
    """
    import asyncio, os, sys
    from sora2 import AsyncClient

    def killed(submission):
        print(submission.request_id, flush=True)
        os._exit(9)  # as SIGKILL: no close, no flush, no atexit

    async def main():
        async with AsyncClient(emulator=True, journal=sys.argv[1]) as client:
            await asyncio.gather(*(
                client.generate(f"job {i}", out=f"{sys.argv[2]}/{i}.mp4", on_submit=killed)
                for i in range(20)
            ))

    asyncio.run(main())
    """
)


def test_the_id_is_durable_before_generate_goes_on(tmp_path: Path) -> None:
    """A process killed the moment generate() hands a submission on (among 20 concurrent
    ones) leaves that job's id committed in the journal."""
    journal = tmp_path / "j.sqlite3"
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_AFTER_SUBMIT, str(journal), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert 9 == done.returncode, done.stderr
    request_id = done.stdout.split()[0]
    record = Journal(journal).get(request_id)
    assert record is not None
    assert record.prompt.startswith("job ")


async def test_postgres_batches_are_transactions(
    emulator: Emulator, clock: FakeClock, tmp_path: Path, postgres_url: str
) -> None:
    """On PostgreSQL too, concurrent jobs' changes go in shared transactions, and every row
    ends complete."""
    from sora2._journal_pg import PostgresJournal

    class Counting(PostgresJournal):
        transactions = 0

        def transaction(self) -> Any:
            self.transactions += 1
            return super().transaction()

    journal = Counting(postgres_url)
    try:
        async with _client(emulator, clock, journal) as client:
            paths = await _generate_all(client, tmp_path, [f"job {i}" for i in range(JOBS)])
        rows = journal.records()
    finally:
        journal.close()
    assert sorted(str(p) for p in paths) == sorted(str(r.output_path) for r in rows)
    assert all(r.is_settled for r in rows)
    assert 0 < journal.transactions < 3 * JOBS

"""Many replicas, one journal: a job is followed by one process at a time through a lease, and
a dead (or stalled) process's jobs are adopted by another once its lease has expired, never
submitted again. The processes here are real: ``sora2`` children killed or stopped by signal."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from _fakes import FakeClock
from reliability.helpers import TOKEN
from reliability.test_crash import Child

from sora2 import AsyncClient, Client
from sora2._inputs import input_fields
from sora2._journal_pg import PostgresJournal
from sora2.emulator import Emulator, create_app

LEASE = 1.0
"""Seconds a child's lease lasts: short, so the tests wait for expiry in real time."""


@pytest.fixture
def emulator(clock: FakeClock) -> Emulator:
    """Jobs move only when the test advances the clock."""
    return create_app(token=TOKEN, clock=clock.monotonic)


@pytest.fixture
def child_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Children use a short lease (and the token ``Child`` gives them)."""
    monkeypatch.setenv("SORA2_LEASE_SECONDS", str(LEASE))


def _finish_every_job(emulator: Emulator, clock: FakeClock) -> None:
    queued, running = emulator.phase_durations(max(input_fields()["seconds"].choices or (20,)))
    clock.advance(4 * (queued + running))


def test_a_live_follower_keeps_its_job_and_gives_it_up_on_close(
    postgres_url: str, journals: list[PostgresJournal]
) -> None:
    """Renewed in the background, a lease outlives its first term; close() frees it at once."""
    owner = PostgresJournal(postgres_url, lease_seconds=0.6)
    other = PostgresJournal(postgres_url, lease_seconds=0.6)
    journals.extend([owner, other])
    owner.record_submission("job", base_url="https://x.example", prompt="p", params={})
    time.sleep(1.5)  # two and a half terms: only renewal keeps it
    assert [] == other.claim(["job"])
    assert owner.owner == owner.lease("job")[0]
    owner.close()
    assert ["job"] == other.claim(["job"])
    assert other.owner == other.lease("job")[0]


def test_a_killed_process_job_is_adopted_once_its_lease_expires(
    postgres_url: str,
    server: str,
    emulator: Emulator,
    clock: FakeClock,
    isolated: Path,
    child_env: None,
) -> None:
    """generate killed by SIGKILL: resume_pending in another process leaves the job while the
    lease runs, then adopts it and saves the video; the job was submitted once."""
    common = ("--base-url", server, "--journal", postgres_url)
    child = Child("generate", "killed owner", "--out", "killed.mp4", *common, cwd=isolated)
    request_id = child.expect("stdout", "request_id: ").removeprefix("request_id: ")
    child.expect("stderr", "in_queue")
    assert -signal.SIGKILL == child.kill()
    _finish_every_job(emulator, clock)
    journal = PostgresJournal(postgres_url, lease_seconds=LEASE)
    polls = emulator.stats.requests["status"]
    with Client(api_key=TOKEN, base_url=server, journal=journal) as client:
        assert [] == client.resume_pending()  # the dead process's lease still runs
        assert polls == emulator.stats.requests["status"]
        time.sleep(LEASE + 0.2)
        [record] = client.resume_pending()
    journal.close()
    assert (request_id, str(isolated / "killed.mp4")) == (record.request_id, record.output_path)
    assert (isolated / "killed.mp4").stat().st_size > 0
    assert {"killed owner": 1} == dict(emulator.stats.submissions)


def test_a_slow_owner_loses_its_lease_and_nothing_is_paid_twice(
    postgres_url: str,
    server: str,
    emulator: Emulator,
    clock: FakeClock,
    isolated: Path,
    child_env: None,
) -> None:
    """A generate stopped (SIGSTOP) past its lease is adopted by another process, which saves
    the video; resumed, the slow owner finishes too, cleanly, and nothing is submitted twice."""
    common = ("--base-url", server, "--journal", postgres_url)
    child = Child("generate", "slow owner", "--out", "slow.mp4", *common, cwd=isolated)
    request_id = child.expect("stdout", "request_id: ").removeprefix("request_id: ")
    child.expect("stderr", "in_queue")
    child.process.send_signal(signal.SIGSTOP)
    try:
        time.sleep(LEASE + 0.3)
        _finish_every_job(emulator, clock)
        journal = PostgresJournal(postgres_url, lease_seconds=LEASE)
        with Client(api_key=TOKEN, base_url=server, journal=journal) as client:
            [record] = client.resume_pending()
        journal.close()
    finally:
        child.process.send_signal(signal.SIGCONT)
    assert 0 == child.process.wait(60), child.seen
    assert (request_id, str(isolated / "slow.mp4")) == (record.request_id, record.output_path)
    assert (isolated / "slow.mp4").stat().st_size > 0
    assert {"slow owner": 1} == dict(emulator.stats.submissions)


@pytest.mark.anyio
async def test_async_resume_pending_sweeps_until_cancelled(
    postgres_url: str, server: str, emulator: Emulator, clock: FakeClock, isolated: Path
) -> None:
    """With ``every``, AsyncClient.resume_pending keeps adopting jobs that appear later."""
    import anyio

    submitter = PostgresJournal(postgres_url, lease_seconds=LEASE)
    async with AsyncClient(api_key=TOKEN, base_url=server, journal=submitter) as client:
        first = await client.submit("later one")
    submitter.close()  # the submitting replica is gone; its job is free to adopt
    _finish_every_job(emulator, clock)
    journal = PostgresJournal(postgres_url, lease_seconds=LEASE)
    async with AsyncClient(api_key=TOKEN, base_url=server, journal=journal) as service:
        with anyio.move_on_after(5):
            await service.resume_pending(out_dir=isolated / "videos", every=0.2)
        [record] = await service.jobs()
    journal.close()
    assert first.request_id == record.request_id
    assert record.output_path is not None and Path(record.output_path).is_file()

"""The drill of many workers: three ``sora2 batch`` processes on one PostgreSQL journal against
one emulator served on 127.0.0.1; one is killed with SIGKILL, then the batch is run again.
Every row is submitted at most once (counted at the emulator), jobs the killed process
submitted are finished by another process, and every video is saved but those whose submit
was in flight when its process died.

Such a submit reached the service, but its answer (the job's id) never reached the journal:
nobody can know the id, and submitting again could pay twice, so the row waits, its manifest
line saying why and what to do. How many there are depends on the moment of the kill: the
test kills as soon as one of the victim's jobs is journaled, when its other claims (up to
``CONCURRENCY - 1``) may have been sent and not yet recorded, a window a loaded machine widens.
So the bound is counted, from the table and the journal, not fixed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from batch.helpers import rows, write_jsonl
from reliability.helpers import TOKEN, report
from reliability.test_crash import Child

from sora2._batch._manifest import PENDING
from sora2._batch._needs import UNKNOWN_SUBMIT
from sora2._batch._shared import State
from sora2._inputs import input_fields
from sora2.emulator import Emulator, create_app

ROWS = 24
CONCURRENCY = 4
"""Submits each worker runs at once: the most the killed one can have in flight, less one."""
LEASE = 2.0
"""Seconds a worker's claims last unrenewed: the survivors adopt the killed one's after it."""
JOB_SECONDS = 2.0
"""Real seconds the longest job takes in the emulator (its speed is set from this)."""


@pytest.fixture
def emulator() -> Emulator:
    """Real time, sped up so the longest job takes ``JOB_SECONDS``; every job runs at once."""
    probe = create_app(token=TOKEN)
    longest = max(input_fields()["seconds"].choices or (20,))
    queued, running = probe.phase_durations(longest)
    return create_app(token=TOKEN, speed=(queued + running) / JOB_SECONDS, workers=ROWS)


@pytest.fixture
def spawned() -> Iterator[list[Child]]:
    """Children of the test, killed if still running when it ends (a failure)."""
    children: list[Child] = []
    yield children
    for child in children:
        if child.process.poll() is None:
            child.kill()


def _owned_by(url: str, pid: int) -> list[str]:
    """Ids of the unfinished jobs process ``pid`` holds the lease of."""
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regclass('sora2.jobs')").fetchone() == (None,):
            return []  # no worker has created the schema yet
        found = conn.execute(
            "SELECT request_id FROM sora2.jobs WHERE lease_owner LIKE %s AND output_path IS NULL",
            (f"%:{pid}:%",),
        ).fetchall()
    return [row[0] for row in found]


def _in_flight(url: str, pid: int) -> set[str]:
    """Prompts of the rows process ``pid`` claimed for submitting whose job id neither the
    table nor the journal holds: submits it had in flight when it died."""
    with psycopg.connect(url) as conn:
        found = conn.execute(
            "SELECT b.entry::jsonb -> 'input' ->> 'prompt' FROM sora2.batch_rows b "
            "WHERE b.worker LIKE %s AND b.request_id IS NULL AND b.state IN (%s, %s) "
            "AND NOT EXISTS (SELECT 1 FROM sora2.jobs j "
            "WHERE j.prompt = b.entry::jsonb -> 'input' ->> 'prompt')",
            (f"%:{pid}:%", State.SUBMITTING, State.UNKNOWN),
        ).fetchall()
    return {row[0] for row in found}


def _rows_left(child: Child) -> list[str]:
    """The rows a finished worker's summary lists as not done (its lines ``row N: ...``)."""
    for pump in child._pumps:
        pump.join(10)
    lines = []
    while not child.lines.empty():
        lines.append(child.lines.get()[1].strip())
    return [line for line in lines if line.startswith("row ")]


def test_three_workers_one_killed_then_rerun(
    postgres_url: str,
    server: str,
    emulator: Emulator,
    isolated: Path,
    monkeypatch: pytest.MonkeyPatch,
    record_property: Callable[[str, object], None],
    spawned: list[Child],
) -> None:
    """SIGKILL one of three batch workers mid-run, then run again: no row paid twice, the
    killed worker's jobs finished by the others, every video saved but those of submits in
    flight at the kill (fewer than ``CONCURRENCY``), which wait, saying why."""
    monkeypatch.setenv("SORA2_LEASE_SECONDS", str(LEASE))
    source = write_jsonl(isolated / "rows.jsonl", rows(ROWS))
    command = (
        "batch", str(source), "--out-dir", "out", "--journal", postgres_url,
        "--base-url", server, "--concurrency", str(CONCURRENCY), "-q",
    )  # fmt: skip
    started = time.monotonic()
    children = [Child(*command, cwd=isolated) for _ in range(3)]
    spawned.extend(children)
    victim = children[0]
    deadline = time.monotonic() + 60
    orphans: list[str] = []
    while not orphans:
        assert time.monotonic() < deadline, "the first worker never held a job"
        assert victim.process.poll() is None, "the first worker ended before it was killed"
        orphans = _owned_by(postgres_url, victim.process.pid)
        time.sleep(0.02)
    assert -signal.SIGKILL == victim.kill()
    codes = [child.process.wait(120) for child in children[1:]]
    first_round = time.monotonic() - started
    in_flight = _in_flight(postgres_url, victim.process.pid)
    rerun = subprocess.run(
        [sys.executable, "-m", "sora2", *command],
        cwd=isolated,
        env={**os.environ, "RUNCOMFY_API_TOKEN": TOKEN},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in rerun.stderr

    submissions = dict(emulator.stats.submissions)
    manifest = [
        json.loads(line)
        for line in (isolated / "out" / "manifest.jsonl").read_text().splitlines()
        if line
    ]
    saved = [
        row for row in manifest
        if row["state"] == "completed" and all(Path(p).is_file() for p in row["outputs"])
    ]  # fmt: skip
    unsaved = [row for row in manifest if row not in saved]
    report(
        record_property,
        "many workers drill",
        {
            "rows": ROWS,
            "submitted": sum(submissions.values()),
            "max_submissions_per_row": max(submissions.values()),
            "videos_saved": len(saved),
            "in_flight_at_kill": len(in_flight),
            "in_flight_reached_service": sum(1 for p in in_flight if p in submissions),
            "unsaved": [(r["row"], r["state"], r["error"]) for r in unsaved],
            "killed_worker_jobs_finished_elsewhere": len(orphans),
            "survivor_exit_codes": codes,
            "survivor_rows_left": [_rows_left(child) for child in children[1:]],
            "rerun_exit_code": rerun.returncode,
            "first_round_seconds": round(first_round, 2),
        },
    )
    assert all(1 == count for count in submissions.values()), submissions
    assert ROWS == len(manifest)
    by_id = {row["request_id"]: row for row in saved}
    assert all(request_id in by_id for request_id in orphans), orphans
    # One of the victim's claims was journaled before the kill; the rest may be in flight.
    assert len(in_flight) < CONCURRENCY, in_flight
    for row in unsaved:  # each one a submit in flight at the kill, waiting, saying why
        assert row["input"]["prompt"] in in_flight, row
        shown = (row["state"], row["submit_unknown"], row["error"])
        assert (PENDING, True, UNKNOWN_SUBMIT) == shown, row
        assert f"row {row['row']}: pending" in rerun.stdout, rerun.stdout
    assert not unsaved or "--resubmit-unknown" in rerun.stdout, rerun.stdout
    assert ({0} if not unsaved else {8}) >= set(codes) | {rerun.returncode}

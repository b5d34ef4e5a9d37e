"""The drill of many workers: three ``sora2 batch`` processes on one PostgreSQL journal against
one emulator served on 127.0.0.1; one is killed with SIGKILL, then the batch is run again.
Every row is submitted at most once (counted at the emulator), at least 23 of 24 videos are
saved, and jobs the killed process submitted are finished by another process."""

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

from sora2._inputs import input_fields
from sora2.emulator import Emulator, create_app

ROWS = 24
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


def test_three_workers_one_killed_then_rerun(
    postgres_url: str,
    server: str,
    emulator: Emulator,
    isolated: Path,
    monkeypatch: pytest.MonkeyPatch,
    record_property: Callable[[str, object], None],
    spawned: list[Child],
) -> None:
    """SIGKILL one of three batch workers mid-run, then run again: no row paid twice, at
    least 23 of 24 videos saved, the killed worker's jobs finished by the others."""
    monkeypatch.setenv("SORA2_LEASE_SECONDS", str(LEASE))
    source = write_jsonl(isolated / "rows.jsonl", rows(ROWS))
    command = (
        "batch", str(source), "--out-dir", "out", "--journal", postgres_url,
        "--base-url", server, "--concurrency", "4", "-q",
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
    assert all(1 == count for count in submissions.values()), submissions
    manifest = [
        json.loads(line)
        for line in (isolated / "out" / "manifest.jsonl").read_text().splitlines()
        if line
    ]
    assert ROWS == len(manifest)
    saved = [
        row for row in manifest
        if row["state"] == "completed" and all(Path(p).is_file() for p in row["outputs"])
    ]  # fmt: skip
    assert len(saved) >= ROWS - 1, [(r["row"], r["state"], r["error"]) for r in manifest]
    by_id = {row["request_id"]: row for row in saved}
    assert all(request_id in by_id for request_id in orphans), orphans
    assert ({0} if len(saved) == ROWS else {8}) >= set(codes) | {rerun.returncode}
    report(
        record_property,
        "many workers drill",
        {
            "rows": ROWS,
            "submitted": sum(submissions.values()),
            "max_submissions_per_row": max(submissions.values()),
            "videos_saved": len(saved),
            "killed_worker_jobs_finished_elsewhere": len(orphans),
            "survivor_exit_codes": codes,
            "rerun_exit_code": rerun.returncode,
            "first_round_seconds": round(first_round, 2),
        },
    )

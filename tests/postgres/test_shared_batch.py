"""A batch shared by many workers through a PostgreSQL journal (sora2._batch._shared): rows
are split, each submitted at most once in total, and every manifest shows every row."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from batch.conftest import YieldingClock
from batch.helpers import TOKEN, rows, write_jsonl

from sora2 import AsyncClient, ConfigurationError
from sora2._batch._needs import new_entry
from sora2._batch._rows import load_rows
from sora2._batch._shared import WAIT, SharedRows, batch_key
from sora2._journal_pg import PostgresJournal
from sora2.emulator import Emulator, create_app

pytestmark = pytest.mark.anyio
BASE_URL = "http://localhost"


@pytest.fixture
def clock() -> YieldingClock:
    return YieldingClock()


@pytest.fixture
def emulator(clock: YieldingClock) -> Emulator:
    return create_app(token=TOKEN, clock=clock.monotonic, workers=8)


@pytest.fixture
async def workers(
    postgres_url: str, emulator: Emulator, clock: YieldingClock
) -> AsyncIterator[Callable[..., AsyncClient]]:
    """Makes a worker: an AsyncClient with its own PostgreSQL journal (its own lease owner)."""
    made: list[AsyncClient] = []

    def make(**options: Any) -> AsyncClient:
        client = AsyncClient(
            api_key=TOKEN,
            base_url=BASE_URL,
            transport=httpx.ASGITransport(app=emulator),
            journal=PostgresJournal(postgres_url, **options),
            _clock=clock,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()
        assert client.journal is not None
        client.journal.close()


def _manifest(directory: Path) -> list[dict[str, Any]]:
    text = (directory / "manifest.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


async def test_three_workers_split_the_rows_and_pay_once(
    workers: Callable[..., AsyncClient], emulator: Emulator, isolated: Path
) -> None:
    """Three workers race for twelve rows: each row is submitted once, all are saved, more
    than one worker did some, and the manifest lists every row completed."""
    import anyio

    source = write_jsonl(isolated / "rows.jsonl", rows(12))
    out = isolated / "out"
    clients = [workers(), workers(), workers()]
    summaries: list[Any] = []

    async def run(client: AsyncClient) -> None:
        summaries.append(await client.batch(source, out_dir=out, concurrency=2))

    async with anyio.create_task_group() as group:
        for client in clients:
            group.start_soon(run, client)
    assert {f"clip {i}": 1 for i in range(12)} == dict(emulator.stats.submissions)
    assert 12 == sum(s.submitted for s in summaries)
    assert 2 <= sum(1 for s in summaries if s.submitted)
    manifest = _manifest(out)
    assert ["completed"] * 12 == [row["state"] for row in manifest]
    assert all(Path(path).is_file() for row in manifest for path in row["outputs"])
    assert 12 == len({row["request_id"] for row in manifest})


async def test_a_rerun_submits_nothing(
    workers: Callable[..., AsyncClient], emulator: Emulator, isolated: Path
) -> None:
    """Run again when everything is done, by any worker: nothing is submitted or followed."""
    source = write_jsonl(isolated / "rows.jsonl", rows(4))
    out = isolated / "out"
    await workers().batch(source, out_dir=out)
    before = dict(emulator.stats.requests)
    summary = await workers().batch(source, out_dir=out)
    assert 0 == summary.submitted
    assert before["submit"] == emulator.stats.requests["submit"]
    assert ["completed"] * 4 == [row["state"] for row in _manifest(out)]


def _play_worker(url: str, source: Path, out: Path, owner: str) -> SharedRows:
    """The table of ``source``'s batch in ``out``, as seen by a worker named ``owner``."""
    parsed = load_rows(source)
    journal = PostgresJournal(url, lease_seconds=0.5, owner=owner)
    shared = SharedRows(journal, batch_key(out.name, [r.key for r in parsed]))
    shared.register([new_entry(r) for r in parsed], resubmit_unknown=False)
    return shared


async def test_a_worker_killed_mid_submit_costs_one_unknown_row(
    workers: Callable[..., AsyncClient],
    emulator: Emulator,
    isolated: Path,
    postgres_url: str,
) -> None:
    """A row claimed by a worker that died before recording an answer is not submitted again
    (its job may exist); once its claim expires the others finish every other row."""
    source = write_jsonl(isolated / "rows.jsonl", rows(3))
    out = isolated / "out"
    dead = _play_worker(postgres_url, source, out, "dead-worker")
    taken = dead.next_row(set())  # claims row 0, then "dies": nothing more is written
    dead.journal.close()
    assert isinstance(taken, tuple) and "submit" == taken[0]
    summary = await workers(lease_seconds=0.5).batch(source, out_dir=out)
    states = [(row["state"], row["submit_unknown"]) for row in _manifest(out)]
    assert [("pending", True), ("completed", False), ("completed", False)] == states
    assert 2 == summary.submitted == sum(emulator.stats.submissions.values())
    with psycopg.connect(postgres_url) as conn:
        table = conn.execute("SELECT state FROM sora2.batch_rows ORDER BY position").fetchall()
    assert [("unknown",), ("done",), ("done",)] == table


def test_two_workers_race_for_one_row(postgres_url: str, isolated: Path) -> None:
    """Two workers claiming at the same instant: one gets the row, the other waits."""
    source = write_jsonl(isolated / "rows.jsonl", rows(1))
    out = isolated / "out"
    players = [_play_worker(postgres_url, source, out, f"w{i}") for i in range(2)]
    start = threading.Barrier(2)
    taken: list[object] = []

    def claim(shared: SharedRows) -> None:
        start.wait()
        taken.append(shared.next_row(set()))

    threads = [threading.Thread(target=claim, args=(p,)) for p in players]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for player in players:
        player.journal.close()
    assert [WAIT] == [t for t in taken if not isinstance(t, tuple)]
    assert ["submit"] == [t[0] for t in taken if isinstance(t, tuple)]


async def test_a_budget_is_refused(workers: Callable[..., AsyncClient], isolated: Path) -> None:
    """max_jobs on a shared batch is a clear error before anything is submitted."""
    source = write_jsonl(isolated / "rows.jsonl", rows(2))
    with pytest.raises(ConfigurationError, match="max_jobs"):
        await workers().batch(source, out_dir=isolated / "out", max_jobs=1)

"""A batch shared by many workers through a PostgreSQL journal (sora2._batch._shared): rows
are split, each submitted at most once in total, and every manifest shows every row."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from batch.conftest import YieldingClock
from batch.helpers import TOKEN, rows, write_jsonl

from sora2 import AsyncClient
from sora2._batch._needs import UNKNOWN_SUBMIT, Budget, new_entry
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


def _play_worker(
    url: str, source: Path, out: Path, owner: str, budget: Budget | None = None
) -> SharedRows:
    """The table of ``source``'s batch in ``out``, as seen by a worker named ``owner``."""
    parsed = load_rows(source)
    journal = PostgresJournal(url, lease_seconds=0.5, owner=owner)
    shared = SharedRows(journal, batch_key(out.name, [r.key for r in parsed]), budget=budget)
    entries = [new_entry(r) for r in parsed]
    shared.know(entries, {})
    shared.register(entries, resubmit_unknown=False)
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
    states = [(row["state"], row["submit_unknown"], row["error"]) for row in _manifest(out)]
    unknown = ("pending", True, UNKNOWN_SUBMIT)  # the manifest says why, and what to do
    assert [unknown, ("completed", False, None), ("completed", False, None)] == states
    assert 2 == summary.submitted == sum(emulator.stats.submissions.values())
    with psycopg.connect(postgres_url) as conn:
        table = conn.execute("SELECT state FROM sora2.batch_rows ORDER BY position").fetchall()
    assert [("unknown",), ("done",), ("done",)] == table


def test_a_slow_submit_keeps_its_claim(postgres_url: str, isolated: Path) -> None:
    """A row whose worker renews its claim (still submitting, slowly) outlives the lease: the
    other workers wait for it instead of marking it unknown."""
    source = write_jsonl(isolated / "rows.jsonl", rows(1))
    out = isolated / "out"
    slow, other = (_play_worker(postgres_url, source, out, name) for name in ("slow", "other"))
    taken = slow.next_row(set())
    assert isinstance(taken, tuple)
    for _ in range(3):  # 0.9 s in all, past the lease of 0.5 s, renewed every 0.3 s
        time.sleep(0.3)
        slow.renew([taken[1]])
    assert WAIT == other.next_row(set())
    with psycopg.connect(postgres_url) as conn:
        table = conn.execute("SELECT state, worker FROM sora2.batch_rows").fetchall()
    assert [("submitting", "slow")] == table
    for shared in (slow, other):
        shared.journal.close()


@pytest.mark.parametrize("budget", [None, Budget(max_jobs=1)])
def test_two_workers_race_for_one_row(
    postgres_url: str, isolated: Path, budget: Budget | None
) -> None:
    """Two workers claiming at the same instant: one gets the first row; the other waits, or
    under a budget of one job, finds every other row stopped by it."""
    source = write_jsonl(isolated / "rows.jsonl", rows(1 if budget is None else 3))
    out = isolated / "out"
    players = [_play_worker(postgres_url, source, out, f"w{i}", budget) for i in range(2)]
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
    first = load_rows(source)[0].key
    assert [("submit", first)] == [t[:2] for t in taken if isinstance(t, tuple)]
    if budget is not None:
        with psycopg.connect(postgres_url) as conn:
            table = conn.execute("SELECT state FROM sora2.batch_rows ORDER BY position").fetchall()
        assert [("submitting",), ("skipped",), ("skipped",)] == table


async def _three_workers(
    workers: Callable[..., AsyncClient], source: Path, out: Path, **budget: Any
) -> list[Any]:
    """The summaries of three workers running one batch at once, with the same budget."""
    import anyio

    summaries: list[Any] = []

    async def run(client: AsyncClient) -> None:
        summaries.append(await client.batch(source, out_dir=out, concurrency=2, **budget))

    async with anyio.create_task_group() as group:
        for client in [workers(), workers(), workers()]:
            group.start_soon(run, client)
    return summaries


async def test_max_jobs_holds_across_workers(
    workers: Callable[..., AsyncClient], emulator: Emulator, isolated: Path
) -> None:
    """Three workers given --max-jobs 5 submit five jobs together, the first five rows; every
    manifest says why the rest were not submitted; a re-run with 8 submits three more."""
    source = write_jsonl(isolated / "rows.jsonl", rows(12))
    out = isolated / "out"
    summaries = await _three_workers(workers, source, out, max_jobs=5)
    assert {f"clip {i}": 1 for i in range(5)} == dict(emulator.stats.submissions)
    assert 5 == sum(s.submitted for s in summaries)
    assert all("--max-jobs 5 reached" in (s.budget_stop or "") for s in summaries)
    manifest = _manifest(out)
    assert ["completed"] * 5 + ["pending"] * 7 == [row["state"] for row in manifest]
    assert all(row["error"].startswith("not submitted: budget") for row in manifest[5:])

    summaries = await _three_workers(workers, source, out, max_jobs=8)
    assert {f"clip {i}": 1 for i in range(8)} == dict(emulator.stats.submissions)
    assert ["completed"] * 8 + ["pending"] * 4 == [row["state"] for row in _manifest(out)]


async def test_max_cost_and_max_seconds_hold_across_workers(
    workers: Callable[..., AsyncClient], emulator: Emulator, isolated: Path
) -> None:
    """--max-cost (the estimates of the first four rows) and --max-seconds (their seconds)
    each let three workers together submit exactly those four rows."""
    from batch.helpers import SECONDS

    batch = rows(12)
    client = workers()
    prices = [await client.price(**row) for row in batch[:4]]
    assert all(price.usd is not None for price in prices)
    cost = sum(price.usd or 0.0 for price in prices)
    await _three_workers(
        workers, write_jsonl(isolated / "a.jsonl", batch), isolated / "a", max_cost=cost
    )
    assert {f"clip {i}": 1 for i in range(4)} == dict(emulator.stats.submissions)

    other = rows(12, prefix="other")
    seconds = sum(row[SECONDS] for row in other[:4])
    source = write_jsonl(isolated / "b.jsonl", other)
    summaries = await _three_workers(workers, source, isolated / "b", max_seconds=seconds)
    assert {f"other {i}": 1 for i in range(4)} == {
        k: v for k, v in emulator.stats.submissions.items() if k.startswith("other")
    }
    assert all("--max-seconds" in (s.budget_stop or "") for s in summaries)

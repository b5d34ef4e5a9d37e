"""The database goes away mid-batch: a shared batch waits for it (each journal operation is
retried while the server is unreachable) and finishes every row, each submitted once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from _postgres import PostgresServer, find_bindir
from batch.conftest import YieldingClock
from batch.helpers import TOKEN, rows, write_jsonl

from sora2 import AsyncClient
from sora2._journal_pg import PostgresJournal
from sora2.emulator import Emulator, create_app

pytestmark = pytest.mark.anyio
DOWN = 2.0
"""Seconds the server stays stopped: several polls and claims fall inside."""


@pytest.fixture
def own_server(postgres_server: PostgresServer) -> Iterator[PostgresServer]:
    """A server of this test's own, which it may stop and start (the session's is shared)."""
    bindir = find_bindir()
    assert bindir is not None
    server = PostgresServer(bindir)
    server.init()
    server.start()
    yield server
    server.close()


@pytest.mark.parametrize("max_jobs", [None, 7])
async def test_a_batch_survives_a_database_restart(
    own_server: PostgresServer, isolated: Path, max_jobs: int | None
) -> None:
    """Stopped after a third of the rows were submitted and started again two seconds later,
    the database costs no duplicate and no lost row; a budget counted in it still holds."""
    import anyio

    clock = YieldingClock()
    emulator: Emulator = create_app(token=TOKEN, clock=clock.monotonic, workers=8)
    source = write_jsonl(isolated / "rows.jsonl", rows(9))
    out = isolated / "out"
    restarted = threading.Event()
    problems: list[BaseException] = []
    at_stop: list[int] = []

    def restart_when_busy() -> None:
        try:
            deadline = time.monotonic() + 60
            while sum(emulator.stats.submissions.values()) < 3:
                if time.monotonic() > deadline:
                    raise TimeoutError("the batch never got going")
                time.sleep(0.01)
            own_server.stop("fast")
            at_stop.append(sum(emulator.stats.submissions.values()))
            time.sleep(DOWN)
            own_server.start()
        except BaseException as exc:  # reported by the test
            problems.append(exc)
        finally:
            restarted.set()

    clients = [
        AsyncClient(
            api_key=TOKEN,
            base_url="http://localhost",
            transport=httpx.ASGITransport(app=emulator),
            journal=PostgresJournal(own_server.url),
            _clock=clock,
        )
        for _ in range(2)
    ]
    summaries: list[Any] = []

    async def run(client: AsyncClient) -> None:
        summaries.append(await client.batch(source, out_dir=out, concurrency=2, max_jobs=max_jobs))

    restarter = threading.Thread(target=restart_when_busy, daemon=True)
    restarter.start()
    try:
        async with anyio.create_task_group() as group:
            for client in clients:
                group.start_soon(run, client)
    finally:
        for client in clients:
            await client.close()
        restarter.join(60)
    assert [] == problems and restarted.is_set()
    # The outage fell mid-batch: rows were still to be claimed and submitted after it.
    assert [] != at_stop and at_stop[0] < 9
    paid = 9 if max_jobs is None else max_jobs
    assert {f"clip {i}": 1 for i in range(paid)} == dict(emulator.stats.submissions)
    manifest = [
        json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines() if line
    ]
    assert ["completed"] * paid + ["pending"] * (9 - paid) == [row["state"] for row in manifest]
    assert all(Path(path).is_file() for row in manifest for path in row["outputs"])

"""Running a batch shared by many workers (``sora2._batch._shared``): each worker takes rows
from the table instead of its own list, and stays until every row is settled."""

from __future__ import annotations

import json
import queue
import signal
import threading
from typing import TYPE_CHECKING, Any

from .._exceptions import JournalUnavailableError
from .._threads import run_in_worker
from .._transports import logger
from .._types import CANCELLED, COMPLETED, FAILED, GONE
from ._manifest import INVALID, PENDING, BatchRow, Manifest
from ._needs import budget_stop, to_follow
from ._run import Run
from ._shared import DONE, NEXT_FOLLOW, UNKNOWN, WAIT, SharedRows, merge, state_of
from ._summary import BatchProgress, BatchSummary

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from .._async_client import AsyncClient
    from ._rows import Plan

__all__ = ["run_shared"]

Taken = tuple[str, str, str | None] | str | None
"""What ``SharedRows.next_row`` gives: a row to run, ``WAIT``, or None (all settled)."""


class SharedRun(Run):
    """A run whose every row change is also written to the shared table, in order, by a
    thread of its own: the event loop never waits for the database."""

    def __init__(self, *args: Any, shared: SharedRows) -> None:
        super().__init__(*args)
        self.shared = shared
        self.sending: set[str] = set()
        self.settled: set[str] = set()
        """Rows this worker ended: not followed again while their end is on its way."""
        self.pushed: dict[str, tuple[str, str | None, str]] = {}
        self.writes: queue.Queue[tuple[str, str, str | None, str] | None] = queue.Queue()
        self.recorder = threading.Thread(target=self._write_all, name="sora2-batch", daemon=True)
        self.recorder.start()

    def _write_all(self) -> None:
        while (item := self.writes.get()) is not None:
            try:
                self.shared.record(*item)
            except JournalUnavailableError as exc:
                # The manifest has it; a re-run puts it in the table (or the claim runs out).
                logger.warning("batch row not shared: %s", exc)

    def flush(self) -> None:
        """Wait until every change is written (blocking: call it in a thread)."""
        if self.recorder.is_alive():
            self.writes.put(None)
            self.recorder.join()

    async def changed(self, row: BatchRow | None = None) -> None:
        await super().changed(row)
        if row is not None:
            self.push(row)

    async def settle(self) -> None:
        await super().settle()
        await run_in_worker(self.flush)

    def push(self, row: BatchRow) -> None:
        state = state_of(row)
        if row.key in self.sending and state == UNKNOWN:
            return  # marked just before sending: the table already says "submitting"
        seen = (state, row.request_id, row.state + (row.error or "") + str(row.outputs))
        if self.pushed.get(row.key) == seen:
            return
        self.pushed[row.key] = seen
        if state == DONE:
            self.settled.add(row.key)
        self.writes.put((row.key, state, row.request_id, json.dumps(row.to_dict(), default=str)))

    async def submit(self, row: BatchRow) -> bool:
        self.sending.add(row.key)
        try:
            return await super().submit(row)
        finally:
            self.sending.discard(row.key)

    async def shared_worker(
        self, by_key: dict[str, BatchRow], busy: set[str], first: Taken = None
    ) -> bool:
        """Take rows from the table (``first``, then more) while there are any to take; True
        when the batch is settled, False when the rest is in other hands for now (``WAIT``)."""

        while not self.stopping:
            try:
                taken, first = first or await self.take(busy), None
                if taken is None:
                    # Last: a dead worker's job the journal holds but its row missed.
                    if await run_in_worker(self.shared.adopt_unknown, self.target):
                        continue
                    return True
            except JournalUnavailableError as exc:
                self.stopping = True
                self.progress.message = f"stopped taking rows: {exc}"
                return True
            if taken == WAIT:
                return False
            assert isinstance(taken, tuple)
            kind, key, request_id = taken
            row = by_key[key]
            if kind == NEXT_FOLLOW:
                row.request_id, row.submit_unknown = request_id, False
                if row.state != PENDING:
                    row.state, row.error = PENDING, None
            elif row.request_id is not None and row.state != CANCELLED:
                row.request_id = None  # the table says it was never submitted
            busy.add(key)
            self.progress.in_flight[key] = row
            try:
                await self.one(row)
            finally:
                busy.discard(key)
                if self.progress.in_flight.pop(key, None) is not None:
                    self.tell()
        return True

    async def keep_claims(self) -> None:
        """Renew the claims of the rows being submitted, every third of the lease, as the
        journal renews its jobs' leases: only a dead worker's claims expire."""
        import anyio

        while True:
            await anyio.sleep(self.shared.journal.lease_seconds / 3)
            if self.sending:
                try:
                    await run_in_worker(self.shared.renew, sorted(self.sending))
                except JournalUnavailableError as exc:
                    logger.warning("batch claims not renewed: %s", exc)

    async def rounds(self, by_key: dict[str, BatchRow], concurrency: int) -> None:
        """Rounds of ``concurrency`` workers, while the claims being submitted are renewed."""
        import anyio

        async with anyio.create_task_group() as keeper:
            keeper.start_soon(self.keep_claims)
            await self._rounds(by_key, concurrency)
            keeper.cancel_scope.cancel()

    async def _rounds(self, by_key: dict[str, BatchRow], concurrency: int) -> None:
        """Between rounds, while other workers hold the rest, one look at the table per pause
        (a dead worker's claims expire meanwhile)."""
        import anyio

        pause = min(1.0, self.shared.journal.lease_seconds / 3)
        busy: set[str] = set()

        async def work(settled: list[bool], first: Taken) -> None:
            settled.append(await self.shared_worker(by_key, busy, first))

        first: Taken = None
        while True:
            settled: list[bool] = []
            async with anyio.create_task_group() as workers:
                for index in range(concurrency):
                    workers.start_soon(work, settled, first if index == 0 else None)
            if self.stopping or any(settled):
                return
            while True:  # one look per pause, not one per worker, until there is work again
                await anyio.sleep(pause)
                try:
                    first = await self.take(busy)
                except JournalUnavailableError as exc:
                    self.stopping = True
                    self.progress.message = f"stopped taking rows: {exc}"
                    return
                if first is None or isinstance(first, tuple):
                    break
            if first is None:
                return

    async def take(self, busy: set[str]) -> tuple[str, str, str | None] | str | None:
        return await run_in_worker(self.shared.next_row, set(busy) | self.settled)


async def run_shared(
    client: AsyncClient,
    manifest: Manifest,
    entries: list[BatchRow],
    directory: Path,
    shared: SharedRows,
    *,
    plan: Plan,
    started: float,
    concurrency: int,
    resubmit_unknown: bool,
    handle_sigint: bool,
    cancel_queued_on_interrupt: bool | Callable[[int], bool],
    on_progress: Callable[[BatchProgress, BatchRow | None], None] | None,
) -> BatchSummary:
    """Run this worker's share of a batch; see ``sora2._batch._shared``."""
    # Every step that reads or writes the table, the manifest or the files runs in a thread.
    await run_in_worker(lambda: shared.register(entries, resubmit_unknown=resubmit_unknown))
    await run_in_worker(shared.adopt_unknown, str(directory))
    merge(entries, await run_in_worker(shared.entries))
    manifest.replace_rows(entries)  # rows changed in place: serialize them again
    again = [
        r.key for r in await run_in_worker(to_follow, entries) if r.state in (COMPLETED, FAILED)
    ]
    await run_in_worker(shared.reopen, again)
    progress = BatchProgress(
        total=len(entries),
        done=sum(1 for r in entries if r.state == COMPLETED and r.key not in again),
        failed=sum(1 for r in entries if r.state in (FAILED, CANCELLED, GONE)),
        invalid=sum(1 for r in entries if r.state == INVALID),
        queued=0,
        started=started,
    )
    run = SharedRun(client, manifest, directory, progress, on_progress, shared=shared)
    await run.writer.save()
    by_key = {row.key: row for row in entries}
    run.tell()
    interrupted = await run.drive(
        lambda: run.rounds(by_key, concurrency),
        handle_sigint=handle_sigint,
        cancel=cancel_queued_on_interrupt,
        signals=(signal.SIGINT,),
    )
    await run_in_worker(run.flush)
    try:
        merge(entries, await run_in_worker(shared.entries))
        manifest.replace_rows(entries)
    except JournalUnavailableError as exc:
        logger.warning("the manifest shows this worker's rows only: %s", exc)
    stopped = run.progress.message if run.stopping and not interrupted else None
    return await run.summary(entries, plan, resumed=0, budget_stop=budget_stop(entries) or stopped)

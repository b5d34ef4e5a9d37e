"""One run of a batch: its workers, what each row's submit and wait change, the manifest
saved off the event loop at each change, and what happens on an interruption.

A worker takes the next row, submits it (unless it already has a job), writes the id to the
manifest at once, waits for the job and saves its files. A row's failure is recorded in its
manifest line and never stops the others; only errors that would fail every row alike (no key,
a refused token) stop the batch.
"""

from __future__ import annotations

import signal
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .._base_client import FATAL_FOR_RESUME
from .._exceptions import (
    ConflictError,
    InsufficientBalanceError,
    NotFoundError,
    Sora2Error,
    SubmissionUnknownError,
    WaitTimeoutError,
)
from .._threads import run_in_worker
from .._transports import logger
from .._types import CANCELLED, COMPLETED, FAILED, GONE, IN_QUEUE, outcome_of
from .._waiting import annotate, job_attributes, span
from ._compat import download_outputs, submit_body
from ._manifest import PENDING, BatchRow, Manifest, ManifestWriter
from ._needs import UNKNOWN_SUBMIT, queued_jobs
from ._summary import BatchProgress, BatchSummary

if TYPE_CHECKING:
    from .._async_client import AsyncClient
    from .._types import JobStatus
    from ._rows import Plan

__all__ = ["Run"]

_SHORT_ID = 8


class Run:
    def __init__(
        self,
        client: AsyncClient,
        manifest: Manifest,
        out_dir: Path,
        progress: BatchProgress,
        on_progress: Callable[[BatchProgress, BatchRow | None], None] | None,
    ) -> None:
        self.client = client
        self.manifest = manifest
        self.writer = ManifestWriter(manifest)
        self.out_dir = out_dir
        self.target = str(out_dir)
        self.progress = progress
        self.on_progress = on_progress
        self.stopping = False
        self.submitted = 0
        self.signal: int | None = None
        """The signal that interrupted the run (SIGINT, SIGTERM), if one did."""
        self.interrupted = False

    async def changed(self, row: BatchRow | None = None) -> None:
        """Save ``row``'s change to the manifest (off the event loop), then show it."""
        if row is not None:
            await self.writer.save(row)
        self.tell(row)

    def tell(self, row: BatchRow | None = None) -> None:
        if self.on_progress is not None:
            self.on_progress(self.progress, row)

    async def settle(self) -> None:
        """Save every change made so far (a shared run also waits for its table's writes)."""
        await self.writer.save()

    async def summary(
        self,
        rows: list[BatchRow],
        plan: Plan,
        *,
        resumed: int,
        budget_stop: str | None,
        costs: Mapping[str, tuple[float, int, int]] | None = None,
    ) -> BatchSummary:
        """Save the manifest for good (fsync), then sum the run up (``costs``: per model, the
        estimated cost of the jobs submitted, as ``BatchSummary.costs``)."""
        await self.settle()
        await run_in_worker(self.manifest.sync)
        return BatchSummary(
            self.manifest.path,
            tuple(rows),
            plan,
            submitted=self.submitted,
            resumed=resumed,
            budget_stop=budget_stop,
            costs=costs or {},
            interrupted=self.interrupted,
            terminated=self.signal == signal.SIGTERM,
            elapsed=time.monotonic() - self.progress.started,
        )

    async def finish(self, row: BatchRow, state: str, error: str | None = None) -> None:
        row.state, row.error = state, error
        self.progress.in_flight.pop(row.key, None)
        if state == COMPLETED:
            self.progress.done += 1
        elif state in (FAILED, CANCELLED, GONE):
            self.progress.failed += 1
        await self.changed(row)

    async def worker(self, items: deque[BatchRow]) -> None:
        while items:
            row = items.popleft()
            self.progress.queued -= 1
            if self.stopping and (row.request_id is None or row.state == CANCELLED):
                # Submitting has stopped; jobs already submitted are still followed.
                row.error = f"not submitted: {self.progress.message or 'stopped'}"
                await self.changed(row)
                continue
            self.progress.in_flight[row.key] = row
            try:
                await self.one(row)
            finally:
                if self.progress.in_flight.pop(row.key, None) is not None:
                    self.tell()

    async def submit(self, row: BatchRow) -> bool:
        """Submit ``row``; True once it has a job id (written to the manifest at once)."""
        import anyio

        if row.state == CANCELLED and row.request_id is not None:
            row.previous_request_ids.append(row.request_id)
            row.request_id, row.job_state = None, None
        row.submit_unknown = True
        try:
            # Shielded: a Ctrl-C must not abandon a submit that reached the service unanswered.
            with anyio.CancelScope(shield=True):
                # Written down before sending: if this process dies before the answer is
                # recorded, the re-run knows the job may exist and does not pay for it twice.
                await self.writer.save(row)
                submission = await submit_body(
                    self.client, dict(row.input), target=self.target, model=row.model
                )
        except FATAL_FOR_RESUME:
            row.submit_unknown = False
            await self.writer.save(row)
            raise
        except InsufficientBalanceError as exc:
            row.submit_unknown = False
            self.stopping = True
            self.progress.message = f"stopped submitting: {exc}"
            row.state, row.error = PENDING, f"not submitted: {exc}"
            await self.changed(row)
            return False
        except Sora2Error as exc:
            if exc.request_id is None:
                row.submit_unknown = isinstance(exc, SubmissionUnknownError)
                if row.submit_unknown:
                    await self.finish(row, PENDING, f"{UNKNOWN_SUBMIT}: {exc}")
                else:
                    await self.finish(row, FAILED, f"submit failed: {exc}")
                return False
            row.submit_unknown = False
            row.request_id = exc.request_id  # the job exists although its answer was bad
            self.submitted += 1
            row.state, row.error = PENDING, None
            await self.changed(row)
            return True
        row.request_id, row.submit_unknown = submission.request_id, False
        row.job_state, row.state, row.error = IN_QUEUE, PENDING, None
        self.submitted += 1
        await self.changed(row)
        return True

    async def one(self, row: BatchRow) -> None:
        attributes = {
            **job_attributes(row.input, row.request_id, row.model),
            "sora2.batch.row": row.row,
        }
        with span("batch.row", attributes):
            await self._one(row)

    async def _one(self, row: BatchRow) -> None:
        if (row.request_id is None or row.state == CANCELLED) and not await self.submit(row):
            return
        request_id = row.request_id
        assert request_id is not None
        annotate("sora2.request_id", request_id)

        def on_update(status: JobStatus) -> None:
            if status.state != row.job_state:
                row.job_state = status.state
                if self.on_progress is not None:
                    self.on_progress(self.progress, row)

        try:
            status = await self.client.wait(request_id, on_update=on_update)
            row.job_state = status.state
            outcome = outcome_of(status.state)
            if outcome == COMPLETED:
                result = await self.client.result(request_id)
                stem = row.name or f"row{row.row:04d}-{request_id[:_SHORT_ID]}"
                saved = await download_outputs(self.client, result, self.out_dir / stem)
                row.outputs = [str(path) for path in saved]
                await self.finish(row, COMPLETED)
            elif outcome == CANCELLED:
                await self.finish(row, CANCELLED, f"{request_id} was cancelled")
            else:
                await self.finish(row, FAILED, f"{request_id} ended {status.state}")
        except FATAL_FOR_RESUME:
            raise
        except NotFoundError as exc:
            await self.finish(row, GONE, f"{request_id} is gone: {exc}")
        except WaitTimeoutError as exc:
            await self.finish(row, PENDING, f"{exc}; the job goes on: run the batch again")
        except Sora2Error as exc:
            # A job that failed on the service says so in its state (JobFailedError.state): a
            # re-run then leaves it; any other failure (a download) is retried by a re-run.
            state = getattr(exc, "state", None)
            if isinstance(state, str) and state:
                row.job_state = state
            await self.finish(row, FAILED, str(exc))

    async def cancel_queued(self, rows: list[BatchRow]) -> int:
        """Cancel jobs not seen running; a job that started in the meantime goes on."""
        import anyio

        cancelled = 0

        async def cancel(row: BatchRow) -> None:
            nonlocal cancelled
            assert row.request_id is not None
            try:
                status = await self.client.cancel(row.request_id)
            except ConflictError:
                return
            except Sora2Error as exc:
                logger.warning("could not cancel %s: %s", row.request_id, exc)
                return
            row.job_state = status.state
            if outcome_of(status.state) == CANCELLED:
                cancelled += 1
                await self.finish(row, CANCELLED, "cancelled on interrupt")

        async with anyio.create_task_group() as group:
            for row in rows:
                group.start_soon(cancel, row)
        return cancelled

    async def drive(
        self,
        work: Callable[[], Awaitable[None]],
        *,
        handle_sigint: bool,
        cancel: bool | Callable[[int], bool],
        signals: tuple[signal.Signals, ...] = (signal.SIGINT, signal.SIGTERM),
    ) -> bool:
        """Run ``work`` (the workers) to its end, an interruption or an error that stops the
        batch, saving the manifest whatever happens; True when a signal interrupted it."""
        import anyio

        interrupted = False
        try:
            async with anyio.create_task_group() as group:
                if handle_sigint:

                    async def watch_sigint() -> None:
                        nonlocal interrupted
                        with anyio.open_signal_receiver(*signals) as received:
                            async for signum in received:
                                interrupted = self.stopping = True
                                self.signal = signum
                                group.cancel_scope.cancel()
                                return

                    group.start_soon(watch_sigint)
                await work()
                group.cancel_scope.cancel()  # the work is done: stop watching for Ctrl-C
        except BaseExceptionGroup as group:
            # A worker's error that stops the batch (no key, a refused token): raise it as itself.
            await self.settle()
            raise _first_error(group) from None
        except anyio.get_cancelled_exc_class():
            self.stopping = True
            with anyio.CancelScope(shield=True):
                await _after_interrupt(self, cancel)
                await self.settle()
                await run_in_worker(self.manifest.sync)
            raise
        if interrupted:
            with anyio.CancelScope(shield=True):
                await _after_interrupt(self, cancel)
        self.interrupted = interrupted
        return interrupted


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first error of a task group's that is not a cancellation."""
    import anyio

    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            return _first_error(error)
        if not isinstance(error, anyio.get_cancelled_exc_class()):
            return error
    return group


async def _after_interrupt(run: Run, cancel: bool | Callable[[int], bool]) -> None:
    """Cancel the queued jobs when asked (``cancel`` may be a question: count -> yes/no)."""
    run.progress.in_flight.clear()
    queued = queued_jobs(run.manifest)
    if callable(cancel) and run.signal == signal.SIGTERM:
        cancel = False  # terminated: no one to ask, and a stop is no decision about the jobs
    wanted = cancel(len(queued)) if callable(cancel) and queued else bool(cancel)
    if queued and wanted:
        await run.cancel_queued(queued)
    run.tell()

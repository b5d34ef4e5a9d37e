"""Running a batch: bounded concurrency, a budget, a manifest, and re-runs that never re-pay.

One ``AsyncClient`` and ``concurrency`` workers. A worker takes the next row, submits it (unless
it already has a job), writes the id to the manifest at once, waits for the job and saves its
files. Jobs already submitted by an earlier run are followed first, and count against the
concurrency and the budget like new ones. A row's failure is recorded in its manifest line and
never stops the others; only errors that would fail every row alike (no key, a refused token)
stop the batch.

Interrupted (Ctrl-C, or the caller's cancellation), a batch stops submitting at once: a submit
already on the wire is let finish so its id is recorded, queued jobs are cancelled only when
asked, and every other job is left running for a re-run to pick up.
"""

from __future__ import annotations

import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .._base_client import FATAL_FOR_RESUME
from .._constants import DEFAULT_BATCH_CONCURRENCY
from .._exceptions import (
    ConfigurationError,
    ConflictError,
    InsufficientBalanceError,
    NotFoundError,
    Sora2Error,
    SubmissionUnknownError,
    WaitTimeoutError,
)
from .._logging import logger
from .._telemetry import annotate, job_attributes, span
from .._text import plural
from .._types import CANCELLED, COMPLETED, FAILED, GONE, IN_QUEUE, outcome_of
from ._compat import download_outputs, submit_body
from ._manifest import INVALID, PENDING, BatchRow, Manifest
from ._needs import adopt_from_journal, is_paid, needs_follow_up, needs_submit, new_entry
from ._rows import load_rows, make_plan, row_seconds
from ._summary import BatchProgress, BatchSummary

if TYPE_CHECKING:
    from .._async_client import AsyncClient
    from .._types import JobStatus

__all__ = ["queued_jobs", "run_batch"]

_SHORT_ID = 8
_UNKNOWN = (
    "the submit got no answer, so the job may exist and is not submitted again (that could "
    "pay twice); check your RunComfy dashboard, then run again with --resubmit-unknown "
    "(resubmit_unknown=True) to submit it"
)


class _Run:
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
        self.out_dir = out_dir
        self.target = str(out_dir)
        self.progress = progress
        self.on_progress = on_progress
        self.stopping = False
        self.submitted = 0
        self.signal: int | None = None
        """The signal that interrupted the run (SIGINT, SIGTERM), if one did."""

    def changed(self, row: BatchRow | None = None) -> None:
        if row is not None:
            self.manifest.changed(row)
        if self.on_progress is not None:
            self.on_progress(self.progress, row)

    def finish(self, row: BatchRow, state: str, error: str | None = None) -> None:
        row.state, row.error = state, error
        self.progress.in_flight.pop(row.key, None)
        if state == COMPLETED:
            self.progress.done += 1
        elif state in (FAILED, CANCELLED, GONE):
            self.progress.failed += 1
        self.changed(row)

    async def worker(self, items: deque[BatchRow]) -> None:
        while items:
            row = items.popleft()
            self.progress.queued -= 1
            if self.stopping and (row.request_id is None or row.state == CANCELLED):
                # Submitting has stopped; jobs already submitted are still followed.
                row.error = f"not submitted: {self.progress.message or 'stopped'}"
                self.changed(row)
                continue
            self.progress.in_flight[row.key] = row
            try:
                await self.one(row)
            finally:
                if self.progress.in_flight.pop(row.key, None) is not None:
                    self.changed()

    async def submit(self, row: BatchRow) -> bool:
        """Submit ``row``; True once it has a job id (written to the manifest at once)."""
        import anyio

        if row.state == CANCELLED and row.request_id is not None:
            row.previous_request_ids.append(row.request_id)
            row.request_id, row.job_state = None, None
        # Written down before sending: if this process dies before the answer is recorded, the
        # re-run knows the job may exist and does not pay for it twice.
        row.submit_unknown = True
        self.manifest.changed(row)
        try:
            # Shielded: a Ctrl-C must not abandon a submit that reached the service unanswered.
            with anyio.CancelScope(shield=True):
                submission = await submit_body(
                    self.client, dict(row.input), target=self.target, model=row.model
                )
        except FATAL_FOR_RESUME:
            row.submit_unknown = False
            self.manifest.changed(row)
            raise
        except InsufficientBalanceError as exc:
            row.submit_unknown = False
            self.stopping = True
            self.progress.message = f"stopped submitting: {exc}"
            row.state, row.error = PENDING, f"not submitted: {exc}"
            self.changed(row)
            return False
        except Sora2Error as exc:
            if exc.request_id is None:
                row.submit_unknown = isinstance(exc, SubmissionUnknownError)
                if row.submit_unknown:
                    self.finish(row, PENDING, f"{_UNKNOWN}: {exc}")
                else:
                    self.finish(row, FAILED, f"submit failed: {exc}")
                return False
            row.submit_unknown = False
            row.request_id = exc.request_id  # the job exists although its answer was bad
            self.submitted += 1
            row.state, row.error = PENDING, None
            self.changed(row)
            return True
        row.request_id, row.submit_unknown = submission.request_id, False
        row.job_state, row.state, row.error = IN_QUEUE, PENDING, None
        self.submitted += 1
        self.changed(row)
        return True

    async def one(self, row: BatchRow) -> None:
        attributes = {**job_attributes(row.input, row.request_id), "sora2.batch.row": row.row}
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
                self.finish(row, COMPLETED)
            elif outcome == CANCELLED:
                self.finish(row, CANCELLED, f"{request_id} was cancelled")
            else:
                self.finish(row, FAILED, f"{request_id} ended {status.state}")
        except FATAL_FOR_RESUME:
            raise
        except NotFoundError as exc:
            self.finish(row, GONE, f"{request_id} is gone: {exc}")
        except WaitTimeoutError as exc:
            self.finish(row, PENDING, f"{exc}; the job goes on: run the batch again")
        except Sora2Error as exc:
            # A job that failed on the service says so in its state (JobFailedError.state): a
            # re-run then leaves it; any other failure (a download) is retried by a re-run.
            state = getattr(exc, "state", None)
            if isinstance(state, str) and state:
                row.job_state = state
            self.finish(row, FAILED, str(exc))

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
                self.finish(row, CANCELLED, "cancelled on interrupt")

        async with anyio.create_task_group() as group:
            for row in rows:
                group.start_soon(cancel, row)
        return cancelled


def queued_jobs(rows: Iterable[BatchRow]) -> list[BatchRow]:
    """Rows whose job was last seen queued (or not seen at all since it was submitted)."""
    return [
        r
        for r in rows
        if r.request_id is not None and r.state == PENDING and r.job_state in (None, IN_QUEUE)
    ]


async def run_batch(
    client: AsyncClient,
    source: str | os.PathLike[str] | Iterable[Mapping[str, Any]],
    *,
    out_dir: str | os.PathLike[str],
    concurrency: int = DEFAULT_BATCH_CONCURRENCY,
    max_jobs: int | None = None,
    max_seconds: float | None = None,
    dry_run: bool = False,
    cancel_queued_on_interrupt: bool | Callable[[int], bool] = False,
    resubmit_unknown: bool = False,
    defaults: Mapping[str, Any] | None = None,
    handle_sigint: bool = False,
    on_progress: Callable[[BatchProgress, BatchRow | None], None] | None = None,
    stdin: IO[str] | None = None,
) -> BatchSummary:
    """Run (or with ``dry_run``, check and plan) a batch; see ``AsyncClient.batch``."""
    import anyio

    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigurationError(f"concurrency must be a whole number >= 1, not {concurrency!r}")
    for label, limit in (("max_jobs", max_jobs), ("max_seconds", max_seconds)):
        if limit is not None and (isinstance(limit, bool) or limit < 0):
            raise ConfigurationError(f"{label} must be >= 0, not {limit!r}")
    started = time.monotonic()
    source_arg: Any = Path(source) if isinstance(source, os.PathLike) else source
    parsed = load_rows(source_arg, stdin=stdin, defaults=defaults)
    plan = make_plan(r.input for r in parsed if r.valid)
    directory = Path(out_dir).expanduser().absolute()
    if not dry_run:
        client._require_key()
        await client._journal_read(client._check_journal)  # no id may go unrecorded
    manifest = Manifest.read(directory)
    entries: list[BatchRow] = []
    for found in parsed:
        old = manifest.get(found.key) if found.valid else None
        entry = old if old is not None else new_entry(found)
        entry.row = found.line
        entries.append(entry)
    if dry_run:
        # What a run would submit now, and where the budget would stop it; nothing written.
        candidates = [row for row in entries if needs_submit(row, resubmit_unknown)]
        to_submit, budget_stop = _within_budget(candidates, manifest, max_jobs, max_seconds)
        if budget_stop is not None:
            budget_stop += (
                f"; {len(to_submit)} of {plural(len(candidates), 'job')} would be submitted"
            )
        return BatchSummary(
            None,
            tuple(new_entry(r) for r in parsed),
            plan,
            budget_stop=budget_stop,
            dry_run=True,
            elapsed=time.monotonic() - started,
        )
    manifest.replace_rows(entries)
    adopt_from_journal(client, manifest, entries, str(directory))
    from ._shared import shared_rows

    shared = shared_rows(client.journal, directory.name, entries)
    if shared is not None:
        # A PostgreSQL journal: the rows are shared with every worker given the same batch.
        if max_jobs is not None or max_seconds is not None:
            raise ConfigurationError(
                "max_jobs and max_seconds are not supported by a batch shared through a "
                "PostgreSQL journal: run it with a file journal, or without a budget"
            )
        from ._shared_runner import run_shared

        return await run_shared(
            client,
            manifest,
            entries,
            directory,
            shared,
            plan=plan,
            started=started,
            concurrency=concurrency,
            resubmit_unknown=resubmit_unknown,
            handle_sigint=handle_sigint,
            cancel_queued_on_interrupt=cancel_queued_on_interrupt,
            on_progress=on_progress,
        )
    follow = [row for row in entries if needs_follow_up(row)]
    candidates = [row for row in entries if needs_submit(row, resubmit_unknown)]
    for row in entries:
        if row.request_id is None and row.submit_unknown and not resubmit_unknown:
            row.state, row.error = PENDING, _UNKNOWN
    to_submit, budget_stop = _within_budget(candidates, manifest, max_jobs, max_seconds)
    for row in candidates[len(to_submit) :]:
        if row.request_id is None or row.state == CANCELLED:
            row.state, row.error = PENDING, f"not submitted: budget {budget_stop}"
    for row in follow:
        if row.state == FAILED:
            row.state, row.error = PENDING, None
    manifest.write()
    busy = {id(r) for r in follow} | {id(r) for r in to_submit}
    progress = BatchProgress(
        total=len(entries),
        done=sum(1 for r in entries if r.state == COMPLETED and id(r) not in busy),
        failed=sum(
            1 for r in entries if r.state in (FAILED, CANCELLED, GONE) and id(r) not in busy
        ),
        invalid=sum(1 for r in entries if r.state == INVALID),
        queued=len(follow) + len(to_submit),
        started=started,
        message=f"budget: {budget_stop}" if budget_stop else None,
        earlier={r.key: r.request_id for r in follow if r.request_id is not None},
    )
    run = _Run(client, manifest, directory, progress, on_progress)
    items: deque[BatchRow] = deque([*follow, *to_submit])
    run.changed()
    interrupted = False
    try:
        async with anyio.create_task_group() as group:
            if handle_sigint:

                async def watch_sigint() -> None:
                    nonlocal interrupted
                    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                        async for signum in signals:
                            interrupted = run.stopping = True
                            run.signal = signum
                            group.cancel_scope.cancel()
                            return

                group.start_soon(watch_sigint)

            async with anyio.create_task_group() as workers:
                for _ in range(min(concurrency, len(items)) or 0):
                    workers.start_soon(run.worker, items)
            group.cancel_scope.cancel()  # the workers are done: stop watching for Ctrl-C
    except BaseExceptionGroup as group:
        # A worker's error that stops the batch (no key, a refused token): raise it as itself.
        manifest.write()
        raise _first_error(group) from None
    except anyio.get_cancelled_exc_class():
        run.stopping = True
        with anyio.CancelScope(shield=True):
            await _after_interrupt(run, cancel_queued_on_interrupt)
            manifest.write()
            manifest.sync()
        raise
    if interrupted:
        with anyio.CancelScope(shield=True):
            await _after_interrupt(run, cancel_queued_on_interrupt)
    manifest.write()
    manifest.sync()
    return BatchSummary(
        manifest.path,
        tuple(entries),
        plan,
        submitted=run.submitted,
        resumed=len(follow),
        budget_stop=budget_stop
        or (run.progress.message if run.stopping and not interrupted else None),
        interrupted=interrupted,
        terminated=run.signal == signal.SIGTERM,
        elapsed=time.monotonic() - started,
    )


def _within_budget(
    candidates: list[BatchRow],
    manifest: Manifest,
    max_jobs: int | None,
    max_seconds: float | None,
) -> tuple[list[BatchRow], str | None]:
    """The candidates the budget lets through, in order, and why it stops the rest (the jobs
    of earlier runs in ``manifest`` count against it too)."""
    paid = [row for row in manifest if is_paid(row)]
    jobs_used = len(paid)
    seconds_used = sum(row_seconds(row.input) for row in paid)
    to_submit: list[BatchRow] = []
    for row in candidates:
        seconds = row_seconds(row.input)
        if max_jobs is not None and jobs_used + 1 > max_jobs:
            return to_submit, (
                f"--max-jobs {max_jobs} reached ({plural(jobs_used, 'job')} submitted; "
                f"row {row.row} would be one more)"
            )
        if max_seconds is not None and seconds_used + seconds > max_seconds:
            return to_submit, (
                f"--max-seconds {max_seconds:g} reached ({seconds_used:g} s submitted; "
                f"row {row.row} asks for {seconds:g} s more)"
            )
        jobs_used += 1
        seconds_used += seconds
        to_submit.append(row)
    return to_submit, None


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first error of a task group's that is not a cancellation."""
    import anyio

    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            return _first_error(error)
        if not isinstance(error, anyio.get_cancelled_exc_class()):
            return error
    return group


async def _after_interrupt(run: _Run, cancel: bool | Callable[[int], bool]) -> None:
    """Cancel the queued jobs when asked (``cancel`` may be a question: count -> yes/no)."""
    run.progress.in_flight.clear()
    queued = queued_jobs(run.manifest)
    if callable(cancel) and run.signal == signal.SIGTERM:
        cancel = False  # terminated: no one to ask, and a stop is no decision about the jobs
    wanted = cancel(len(queued)) if callable(cancel) and queued else bool(cancel)
    if queued and wanted:
        await run.cancel_queued(queued)
    run.changed()

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

import functools
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .._text import plural
from .._threads import run_in_worker
from .._types import CANCELLED, COMPLETED, FAILED, GONE
from ._manifest import INVALID, PENDING, BatchRow, Manifest
from ._needs import (
    BUDGET_PREFIX,
    UNKNOWN_SUBMIT,
    Budget,
    adopt_from_journal,
    check_limits,
    cost_by_model,
    needs_submit,
    new_entry,
    row_costs,
    to_follow,
    within_budget,
)
from ._rows import load_rows, make_plan
from ._run import Run
from ._summary import BatchProgress, BatchSummary

if TYPE_CHECKING:
    from .._async_client import AsyncClient

__all__ = ["BatchSettings", "run_batch"]


@dataclass(frozen=True)
class BatchSettings:
    """What a batch is asked to do: ``AsyncClient.batch``'s keywords (documented there, defaults
    in its signature), and two more of the CLI's: ``handle_sigint`` (Ctrl-C interrupts the
    batch, see ``Run.drive``) and ``stdin`` (the rows when ``source`` is ``"-"``).
    ``cancel_queued_on_interrupt`` may be a question, asked with the count of queued jobs."""

    out_dir: str | os.PathLike[str]
    concurrency: int
    max_jobs: int | None
    max_seconds: float | None
    max_cost: float | None
    dry_run: bool
    cancel_queued_on_interrupt: bool | Callable[[int], bool]
    resubmit_unknown: bool
    defaults: Mapping[str, Any] | None
    on_progress: Callable[[BatchProgress, BatchRow | None], None] | None
    handle_sigint: bool = False
    stdin: IO[str] | None = None


async def run_batch(
    client: AsyncClient,
    source: str | os.PathLike[str] | Iterable[Mapping[str, Any]],
    settings: BatchSettings,
) -> BatchSummary:
    """Run (or with ``dry_run``, check and plan) a batch; see ``AsyncClient.batch``."""
    import anyio

    check_limits(settings.concurrency, settings.max_jobs, settings.max_seconds, settings.max_cost)
    budget = Budget(settings.max_jobs, settings.max_seconds, settings.max_cost)
    started = time.monotonic()
    source_arg: Any = Path(source) if isinstance(source, os.PathLike) else source
    # Reading and checking the rows, the manifest and the journal is blocking work: a thread's.
    read = functools.partial(
        load_rows, source_arg, stdin=settings.stdin, defaults=settings.defaults
    )
    parsed = await run_in_worker(read)
    plan = make_plan(r.input for r in parsed if r.valid)
    directory = Path(settings.out_dir).expanduser().absolute()
    if not settings.dry_run:
        await client.check_ready()  # no key, or a journal that cannot record ids: stop now
    manifest = await run_in_worker(Manifest.read, directory)
    entries: list[BatchRow] = []
    for found in parsed:
        old = manifest.get(found.key) if found.valid else None
        entry = old if old is not None else new_entry(found)
        entry.row = found.line
        entries.append(entry)
    costs = await row_costs(client, [*entries, *manifest])
    if settings.dry_run:
        # What a run would submit now, and where the budget would stop it; nothing written.
        candidates = [row for row in entries if needs_submit(row, settings.resubmit_unknown)]
        to_submit, budget_stop = within_budget(candidates, manifest, budget, costs)
        if budget_stop is not None:
            budget_stop += (
                f"; {len(to_submit)} of {plural(len(candidates), 'job')} would be submitted"
            )
        return BatchSummary(
            None,
            tuple(new_entry(r) for r in parsed),
            plan,
            budget_stop=budget_stop,
            costs=cost_by_model([costs[r.key] for r in candidates if r.key in costs]),
            dry_run=True,
            elapsed=time.monotonic() - started,
        )
    manifest.replace_rows(entries)
    await run_in_worker(adopt_from_journal, client, manifest, entries, str(directory))
    from ._shared import shared_rows

    shared = shared_rows(client.journal, directory.name, entries, budget=budget, costs=costs)
    if shared is not None:
        # A PostgreSQL journal: the rows (and the budget) are shared with every worker given
        # the same batch.
        from ._shared_runner import run_shared

        return await run_shared(
            client,
            manifest,
            entries,
            directory,
            shared,
            plan=plan,
            started=started,
            concurrency=settings.concurrency,
            resubmit_unknown=settings.resubmit_unknown,
            handle_sigint=settings.handle_sigint,
            cancel_queued_on_interrupt=settings.cancel_queued_on_interrupt,
            on_progress=settings.on_progress,
        )
    follow = await run_in_worker(to_follow, entries)  # looks for the saved files
    candidates = [row for row in entries if needs_submit(row, settings.resubmit_unknown)]
    for row in entries:
        if row.request_id is None and row.submit_unknown and not settings.resubmit_unknown:
            row.state, row.error = PENDING, UNKNOWN_SUBMIT
    to_submit, budget_stop = within_budget(candidates, manifest, budget, costs)
    for row in candidates[len(to_submit) :]:
        if row.request_id is None or row.state == CANCELLED:
            row.state, row.error = PENDING, f"{BUDGET_PREFIX}{budget_stop}"
    for row in follow:
        if row.state == FAILED:
            row.state, row.error = PENDING, None
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
    run = Run(client, manifest, directory, progress, settings.on_progress)
    await run.settle()
    items: deque[BatchRow] = deque([*follow, *to_submit])
    run.tell()

    async def work() -> None:
        async with anyio.create_task_group() as workers:
            for _ in range(min(settings.concurrency, len(items)) or 0):
                workers.start_soon(run.worker, items)

    interrupted = await run.drive(
        work, handle_sigint=settings.handle_sigint, cancel=settings.cancel_queued_on_interrupt
    )
    stopped = run.progress.message if run.stopping and not interrupted else None
    return await run.summary(
        entries,
        plan,
        resumed=len(follow),
        budget_stop=budget_stop or stopped,
        costs=cost_by_model([costs[r.key] for r in to_submit if r.key in costs]),
    )

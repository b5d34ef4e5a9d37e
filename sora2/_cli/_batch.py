"""``sora2 batch FILE --out-dir DIR``: many jobs, bounded concurrency, a budget, a manifest.

A thin shell over the batch engine (``sora2._batch``): it reads the options, shows progress on
stderr (a rich display on a terminal, plain lines elsewhere), asks about queued jobs on Ctrl-C
when there is a person to ask, prints the summary on stdout and exits with a code a script
can branch on.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .._batch._manifest import INVALID, PENDING
from .._options import DEFAULT_BATCH_CONCURRENCY, format_usd
from .._text import plural
from .._types import COMPLETED
from . import (
    EXIT_BATCH_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    CommandError,
    translate_errors,
)
from ._common import Settings, client_options, echo_err, emit, input_options, max_cost_option
from ._generate import format_elapsed

if TYPE_CHECKING:
    from .._async_client import AsyncClient
    from .._batch import BatchProgress, BatchRow, BatchSummary

__all__ = ["EXIT_BATCH_INVALID", "batch", "make_async_client"]

EXIT_BATCH_INVALID = EXIT_USAGE
"""``--dry-run`` found invalid rows (the same code as any other bad input)."""
_MAX_JOB_LINES = 12
"""Lines of jobs in flight shown under the bar; the rest are counted on one more line."""


def _stderr_is_tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _stdin_is_tty() -> bool:
    """Whether there is a person at a terminal to ask (a seam for tests)."""
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def make_async_client(settings: Settings) -> AsyncClient:
    """The AsyncClient a batch runs on: the twin of the CLI's one client seam (``make_client``),
    so tests that swap that seam (fake time, an in-process emulator) drive batches too."""
    from .._async_client import AsyncClient
    from . import _common

    client = _common.make_client(settings)
    try:
        return AsyncClient.from_client(client)
    finally:
        client.close()


class _PlainDisplay:
    """One line per submitted and per finished row: readable in a CI log."""

    def __init__(self) -> None:
        self._said: dict[str, tuple[str | None, str]] = {}

    def __call__(self, progress: BatchProgress, row: BatchRow | None) -> None:
        if progress.message and progress.message not in self._said:
            self._said[progress.message] = (None, "")
            echo_err(progress.message)
        if row is None:
            return
        key = (row.request_id, row.state)
        if self._said.get(row.key) == key:
            return
        before = self._said.get(row.key)
        self._said[row.key] = key
        label = f"row {row.row}" + (f" ({row.name})" if row.name else "")
        earlier = row.request_id is not None and progress.earlier.get(row.key) == row.request_id
        if earlier and before is None:
            # Paid for by an earlier run: this run only follows it.
            echo_err(f"{label}: following {row.request_id} (submitted earlier)")
            if row.state == PENDING and not row.error:
                return
        if row.state == PENDING and row.request_id and (before is None or before[0] is None):
            echo_err(f"{label}: submitted {row.request_id}")
        elif row.state == COMPLETED:
            echo_err(f"{label}: completed: {', '.join(row.outputs)}")
        elif row.state != PENDING or row.error:
            echo_err(f"{label}: {row.state}" + (f": {row.error}" if row.error else ""))
        else:
            return
        elapsed = format_elapsed(time.monotonic() - progress.started)
        echo_err(
            f"  {progress.done} done, {progress.failed} failed, {len(progress.in_flight)} in "
            f"flight, {progress.queued} queued of {progress.total}, elapsed {elapsed}"
        )

    def stop(self) -> None:
        pass


class _RichDisplay:
    """One overall bar (done, failed, in flight, queued, elapsed, ETA) and a line per job."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._console = Console(stderr=True)
        self._bar = Progress(
            TextColumn("batch"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self._console,
        )
        self._task = self._bar.add_task("batch", total=None, counts="")
        self._progress: BatchProgress | None = None
        self._live = Live(
            console=self._console,
            get_renderable=self._render,
            refresh_per_second=4,
            transient=False,
        )
        self._live.start()

    def _render(self) -> Any:
        from rich.console import Group
        from rich.text import Text

        lines: list[Any] = [self._bar.get_renderable()]
        progress = self._progress
        if progress is not None:
            flying = list(progress.in_flight.values())
            for row in flying[:_MAX_JOB_LINES]:
                label = f"  row {row.row}" + (f" {row.name}" if row.name else "")
                earlier = row.request_id and progress.earlier.get(row.key) == row.request_id
                job = f"following {row.request_id} (submitted earlier)" if earlier else None
                lines.append(
                    Text(f"{label}  {job or row.request_id or 'submitting'}  {row.job_state or ''}")
                )
            if len(flying) > _MAX_JOB_LINES:
                lines.append(Text(f"  ... and {len(flying) - _MAX_JOB_LINES} more in flight"))
            if progress.message:
                lines.append(Text(progress.message, style="yellow"))
        return Group(*lines)

    def __call__(self, progress: BatchProgress, row: BatchRow | None) -> None:
        self._progress = progress
        finished = progress.done + progress.failed + progress.invalid
        self._bar.update(
            self._task,
            total=progress.total,
            completed=finished,
            counts=f"{progress.done} done, {progress.failed} failed, "
            f"{len(progress.in_flight)} in flight, {progress.queued} queued",
        )

    def stop(self) -> None:
        self._live.stop()


def _summary_lines(summary: BatchSummary, settings: Settings) -> list[str]:
    counts = summary.counts
    lines = [
        f"{plural(len(summary.rows), 'row')}: "
        + ", ".join(f"{count} {state}" for state, count in counts.items() if count)
        + f"; {summary.submitted} submitted now, {summary.resumed} followed from earlier runs"
    ]
    for row in summary.rows:
        if row.state != COMPLETED:
            where = f"row {row.row}" + (f" ({row.name})" if row.name else "")
            lines.append(f"  {where}: {row.state}" + (f": {row.error}" if row.error else ""))
    if summary.budget_stop:
        lines.append(f"stopped submitting: {summary.budget_stop}")
    lines.append(f"manifest: {summary.manifest}")
    return lines


def _cost_lines(summary: BatchSummary, title: str) -> list[str]:
    """The estimated total, then one line per model (jobs without an estimate said so)."""
    if not summary.costs:
        return []
    total = sum(usd for usd, _, _ in summary.costs.values())
    lines = [f"{title}: {format_usd(total)}"]
    for model, (usd, jobs, unknown) in summary.costs.items():
        line = f"  {model}: {plural(jobs, 'job')}, {format_usd(usd)}"
        if unknown:
            line += f" ({unknown} without an estimate: the price could not be read)"
        lines.append(line)
    return lines


def _plan_lines(summary: BatchSummary) -> list[str]:
    lines = []
    for row in summary.rows:
        if row.state == INVALID:
            lines.append(f"line {row.row}: {row.error}")
    plan = summary.plan
    lines.append(f"plan: {plural(plan.jobs, 'job')}, {plan.seconds:g} seconds of video")
    for size, (jobs, seconds) in plan.by_size.items():
        lines.append(f"  {size}: {plural(jobs, 'job')}, {seconds:g} s")
    lines.extend(_cost_lines(summary, "estimated cost"))
    if summary.budget_stop:
        lines.append(f"budget: would stop submitting: {summary.budget_stop}")
    invalid = summary.count(INVALID)
    lines.append(
        f"{plural(invalid, 'invalid row')}; nothing submitted"
        if invalid
        else "all rows valid; nothing submitted"
    )
    return lines


@click.command()
@click.argument(
    "file", metavar="FILE", type=click.Path(exists=True, dir_okay=False, allow_dash=True)
)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Where each job's files and manifest.jsonl go.",
)
@click.option("--dry-run", is_flag=True, help="Check every row and print the plan; submit nothing.")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH_CONCURRENCY,
    show_default=True,
    help="Most jobs in flight at once (submitted and unfinished).",
)
@click.option(
    "--max-jobs",
    type=click.IntRange(min=0),
    default=None,
    help="Budget: stop submitting before the batch holds more jobs than this.",
)
@click.option(
    "--max-seconds",
    type=click.FloatRange(min=0),
    default=None,
    help="Budget: stop submitting before the seconds of video requested exceed this.",
)
@max_cost_option
@click.option(
    "--cancel-queued-on-interrupt",
    is_flag=True,
    help="On Ctrl-C, cancel the jobs still queued without asking (default off a terminal: "
    "leave them running for a re-run).",
)
@click.option(
    "--resubmit-unknown",
    is_flag=True,
    help="Submit again the rows whose submit got no answer (the job may exist: check your "
    "dashboard first, or this may pay twice).",
)
@input_options
@client_options
def batch(
    file: str,
    inputs: dict[str, Any],
    out_dir: Path,
    dry_run: bool,
    concurrency: int,
    max_jobs: int | None,
    max_seconds: float | None,
    max_cost: float | None,
    cancel_queued_on_interrupt: bool,
    resubmit_unknown: bool,
    settings: Settings,
) -> None:
    """Run every row of FILE (JSONL or CSV, - for stdin) as a job; files go to --out-dir.

    A row holds input properties (prompt, and any other the spec lists) and an optional name
    for its files. The input options, --input and --input-file (a whole body, prompt included)
    give defaults for every row; a row's own values win over them. Every row is checked
    before anything is submitted; invalid rows are reported and skipped. DIR/manifest.jsonl
    records every row and its request id; running the same command again (with the same
    defaults) submits nothing already submitted and finishes what is left.

    Exit codes: 0 every row completed; 2 FILE is missing, empty or unreadable, or --dry-run
    found invalid rows; 8 the batch ran but not every row completed (see the manifest); 4 no
    API token or bad URL; 130 interrupted; 143 terminated (SIGTERM).
    """
    import anyio

    from .._batch._runner import BatchSettings, run_batch

    display: _PlainDisplay | _RichDisplay | None = None
    if not dry_run and not settings.quiet:
        display = _RichDisplay() if _stderr_is_tty() else _PlainDisplay()

    def ask(count: int) -> bool:
        if cancel_queued_on_interrupt:
            return True
        if not _stdin_is_tty():
            return False
        if display is not None:
            display.stop()
        try:
            return click.confirm(
                f"\nCancel the {plural(count, 'job')} still queued? (No: they run on; run the same "
                "command again to collect them)",
                default=False,
                err=True,
            )
        except (click.Abort, EOFError, KeyboardInterrupt):
            return False

    async def main() -> BatchSummary:
        async with make_async_client(settings) as client:
            return await run_batch(
                client,
                "-" if file == "-" else Path(file),
                BatchSettings(
                    out_dir=out_dir,
                    concurrency=concurrency,
                    max_jobs=max_jobs,
                    max_seconds=max_seconds,
                    max_cost=max_cost,
                    dry_run=dry_run,
                    cancel_queued_on_interrupt=ask,
                    resubmit_unknown=resubmit_unknown,
                    defaults=inputs,
                    on_progress=display,
                    handle_sigint=True,
                ),
            )

    try:
        with translate_errors():
            summary = anyio.run(main)
    finally:
        if display is not None:
            display.stop()
    if dry_run:
        emit(settings, summary.to_dict(), _plan_lines(summary))
        if not summary.ok:
            invalid = summary.count(INVALID)
            raise CommandError(plural(invalid, "invalid row"), EXIT_BATCH_INVALID)
        return
    emit(settings, summary.to_dict(), _summary_lines(summary, settings))
    words = ["batch", file, "--out-dir", os.fspath(out_dir), "--concurrency", str(concurrency)]
    if max_jobs is not None:
        words += ["--max-jobs", str(max_jobs)]
    if max_seconds is not None:
        words += ["--max-seconds", f"{max_seconds:g}"]
    if max_cost is not None:
        words += ["--max-cost", f"{max_cost:g}"]
    for name, value in inputs.items():  # the same defaults, or the rows' keys would change
        words += ["--input", f"{name}={json.dumps(value)}"]
    again = settings.command(*words)
    if summary.interrupted:
        word = "terminated" if summary.terminated else "interrupted"
        left = sum(1 for r in summary.rows if r.state == PENDING and r.request_id)
        echo_err(
            f"{word}: {plural(left, 'job')} left running; to finish the batch without "
            f"paying twice, run: {again}"
        )
        raise CommandError(word, EXIT_TERMINATED if summary.terminated else EXIT_INTERRUPTED)
    if not summary.ok:
        raise CommandError(
            f"{sum(1 for r in summary.rows if r.state != COMPLETED)} of "
            f"{plural(len(summary.rows), 'row')} did not complete; see {summary.manifest}",
            EXIT_BATCH_INCOMPLETE,
        )

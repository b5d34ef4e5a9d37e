"""The journal's commands: ``jobs``, ``forget``, ``resume``.

The journal holds every paid job; these list it, drop a row, or finish what is unfinished
without submitting anything again.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from .._exceptions import NotFoundError, Sora2Error
from .._options import format_usd, sum_known
from .._text import plural
from .._types import GONE, is_cancelled_state, is_completed_state, is_failed_state
from . import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_TERMINATED, CommandError, Terminated, first_line
from ._common import (
    Settings,
    client_options,
    echo_err,
    emit,
    id_command,
    open_client,
    timeout_option,
)
from ._generate import Progress

if TYPE_CHECKING:
    from .._client import Client
    from .._journal_glue import JobRecord

__all__ = ["forget", "jobs", "resume"]


_PROMPT_WIDTH = 32
"""Characters of the prompt shown by ``sora2 jobs``: enough to tell jobs of one size apart."""


def _short_prompt(prompt: str, width: int = _PROMPT_WIDTH) -> str:
    text = " ".join(prompt.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _record_line(record: JobRecord, *, service: bool = False) -> str:
    """One job of the journal; ``service`` adds its base URL (when the journal holds jobs of
    several services, the same id would otherwise not say where to resume it)."""
    when = record.submitted_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    params = " ".join(f"{k}={v}" for k, v in sorted(record.params.items()))
    line = f"{record.request_id}  {record.state:<11}  {when}"
    if service:
        line += f"  {record.base_url}"
    line += f"  {_short_prompt(record.prompt) or '-':<{_PROMPT_WIDTH}}"
    if record.model:
        line += f"  {record.model}"
    if params:
        line += f"  {params}"
    if record.estimate_usd is not None:
        line += f"  ~{format_usd(record.estimate_usd)}"
    if record.output_path:
        line += f"  {record.output_path}"
    elif record.error:
        line += f"  error: {record.error}"
    return line


@click.command()
@click.option("--unfinished", is_flag=True, help="Only jobs that `sora2 resume` would finish.")
@click.option(
    "--refresh",
    is_flag=True,
    help="First ask the service for the current state of every unfinished job of this service.",
)
@click.option(
    "--prune",
    is_flag=True,
    help="First remove this service's settled jobs (saved, cancelled, failed, gone) from the "
    "journal; a completed job whose outputs were never saved stays.",
)
@client_options
def jobs(unfinished: bool, refresh: bool, prune: bool, settings: Settings) -> None:
    """List the journal of submitted jobs, oldest first, with the last state seen.

    Each row shows the id, state, submission time, the start of the prompt, the model, the
    parameters and the saved file (or the last error). The state is the journal's; --refresh
    asks the service.
    """
    pruned: list[str] = []
    with open_client(settings) as client:
        if refresh:
            _refresh_unfinished(client)
        if prune:
            pruned = client.prune()
            echo_err(f"pruned {len(pruned)} settled job{'s' if len(pruned) != 1 else ''}")
        records = client.jobs(unfinished=unfinished)
        journal = client.journal
    payload: dict[str, Any] = {
        "journal": str(journal.location) if journal is not None else None,
        "jobs": [r.to_dict() for r in records],
    }
    if prune:
        payload["pruned"] = pruned
    spent, unestimated = _spend(records)
    payload["spent_usd"] = spent
    payload["jobs_without_estimate"] = unestimated
    several = len({r.base_url for r in records}) > 1
    emit(settings, payload, [_record_line(r, service=several) for r in records])
    if records and not settings.json_output:
        echo_err(_spend_line(spent, unestimated))  # stdout stays one job a line
    if not records and not settings.json_output:
        where = f" in {journal.location}" if journal is not None else ""
        echo_err(f"no {'unfinished ' if unfinished else ''}jobs{where}")


def _spend(records: list[JobRecord]) -> tuple[float, int]:
    """The estimated spend of the jobs listed, and how many have no estimate. A cancelled job
    is not counted: cancelling is only possible while queued, before it is charged."""
    from .._options import CostEstimate

    charged = [r for r in records if not is_cancelled_state(r.state)]
    return sum_known(CostEstimate(r.model or "", r.estimate_usd, "") for r in charged)


def _spend_line(spent: float, unestimated: int) -> str:
    line = f"spent so far (estimated): {format_usd(spent)}"
    if unestimated:
        line += f"; {plural(unestimated, 'job')} without an estimate not counted"
    return line


def _refresh_unfinished(client: Client) -> None:
    """One status call per unfinished job of this service; each answer updates its row (a
    404001 marks it gone). A failure is reported and the others go on."""
    for record in client.jobs(unfinished=True):
        if record.base_url != client.base_url or record.is_terminal:
            continue
        try:
            client.status(record.request_id)
        except NotFoundError:
            echo_err(f"{record.request_id}: the service no longer knows it; marked gone")
        except Sora2Error as error:
            echo_err(f"{record.request_id}: could not refresh: {first_line(error)}")


@id_command
def forget(request_id: str, settings: Settings) -> None:
    """Remove job ID from the journal, so `sora2 resume` no longer tries it.

    Only the journal's row goes: a job still running is not cancelled (see `sora2 cancel`).
    """
    with open_client(settings) as client:
        removed = client.forget(request_id)
    emit(
        settings,
        {"request_id": request_id, "forgotten": removed},
        [f"forgot {request_id}"] if removed else [],  # not removed: the error says it, once
    )
    if not removed:
        raise CommandError(f"{request_id} is not in the journal", EXIT_ERROR, request_id=request_id)


@click.command()
@click.argument("request_id", metavar="[ID]", required=False)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Download every completed video into this directory, a copy if ID was saved "
    "already [default: where `generate` meant to save it].",
)
@timeout_option
@client_options
def resume(
    request_id: str | None, out_dir: Path | None, timeout: float | None, settings: Settings
) -> None:
    """Finish unfinished jobs from the journal (or job ID) without submitting again.

    Waits for each job, then downloads the videos `generate` did not get to save.
    """
    with open_client(settings) as base, Progress(sys.stderr, quiet=settings.quiet) as progress:
        client = base.with_options(wait_timeout=timeout) if timeout is not None else base
        try:
            records = client.resume(
                request_id,
                out_dir=out_dir,
                on_update=progress.update,
                on_progress=progress.download,
            )
        except KeyboardInterrupt as interrupt:
            progress.close()
            terminated = isinstance(interrupt, Terminated)
            word = "terminated" if terminated else "interrupted"
            echo_err(f"{word}; the jobs go on. Run again: {settings.resume_command()}")
            raise CommandError(word, EXIT_TERMINATED if terminated else EXIT_INTERRUPTED) from None
        finally:
            if client is not base:
                client.close()
    progress.close()
    failed = [
        r
        for r in records
        if r.is_unfinished
        or r.state == GONE
        or is_failed_state(r.state)
        or (out_dir is not None and is_completed_state(r.state) and not r.output_path)
    ]
    emit(
        settings,
        {
            "jobs": [r.to_dict() for r in records],
            "finished": len(records) - len(failed),
            "failed": len(failed),
        },
        [_record_line(r) for r in records],
    )
    if not records:
        echo_err("nothing to resume")
        return
    for record in records:
        if record.state == GONE:
            echo_err(
                f"{record.request_id} is gone ({record.error}); "
                f"remove it with: {settings.command('forget', record.request_id)}"
            )
        elif record in failed:
            echo_err(
                f"{record.request_id} did not finish: {record.error or record.state}; "
                f"try again with: {settings.resume_command(record.request_id)}"
            )
        elif record.output_path and (out_dir is not None or request_id is not None):
            echo_err(f"{record.request_id} is saved: {record.output_path}")
        elif is_completed_state(record.state) and not record.output_path:
            echo_err(
                f"{record.request_id} completed; download it with: "
                f"{settings.command('result', record.request_id, '--out', '.')}"
            )
    if failed:
        raise CommandError(
            f"{len(records) - len(failed)} of {plural(len(records), 'job')} finished; "
            f"{len(failed)} did not (see `sora2 jobs`)",
            EXIT_ERROR,
            request_id=failed[0].request_id if len(failed) == 1 else None,
        )

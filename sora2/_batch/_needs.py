"""What each manifest row of a batch still needs: a submit, a follow-up, or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .._logging import logger
from .._types import CANCELLED, COMPLETED, FAILED, GONE, outcome_of
from ._manifest import INVALID, PENDING, BatchRow, Manifest
from ._rows import Row

if TYPE_CHECKING:
    from .._async_client import AsyncClient

__all__ = [
    "adopt_from_journal",
    "files_present",
    "is_paid",
    "needs_follow_up",
    "needs_submit",
    "new_entry",
]


def new_entry(row: Row) -> BatchRow:
    if not row.valid:
        return BatchRow(
            row.line,
            row.key,
            row.name,
            row.input,
            state=INVALID,
            error=row.error,
            model=row.model,
        )
    return BatchRow(row.line, row.key, row.name, row.input, model=row.model)


def _model_id(model: str | None) -> str:
    """A model as journaled or chosen; None (a row without a model column, a journal row from
    before the column) is the spec's default model."""
    from .._spec import default_model

    return model or default_model()


def files_present(row: BatchRow) -> bool:
    return bool(row.outputs) and all(Path(path).is_file() for path in row.outputs)


def needs_follow_up(row: BatchRow) -> bool:
    """A job was submitted and its files are not all saved, and it may still give them."""
    if row.request_id is None or row.state in (INVALID, GONE, CANCELLED):
        return False
    if row.state == COMPLETED:
        return not files_present(row)
    if row.state == FAILED:
        job = row.job_state or ""
        return outcome_of(job) != FAILED
    return True


def needs_submit(row: BatchRow, resubmit_unknown: bool = False) -> bool:
    """Never submitted (or its job was cancelled before it ran, so nothing was paid)."""
    if row.state == INVALID or (row.submit_unknown and not resubmit_unknown):
        return False
    if row.state == CANCELLED:
        return True
    return row.request_id is None and row.state in (PENDING, FAILED)


def is_paid(row: BatchRow) -> bool:
    return row.request_id is not None and row.state != CANCELLED


def adopt_from_journal(
    client: AsyncClient, manifest: Manifest, rows: list[BatchRow], target: str
) -> int:
    """Give rows without an id the jobs the journal has for this directory and no row holds.

    The manifest is written right after each submit returns; a SIGKILL between the journal's
    write and the manifest's would otherwise lose the id. Matched by input, in row order.
    """
    journal = client.journal
    if journal is None or not any(r.request_id is None for r in rows):
        return 0
    try:
        records = [r for r in journal.records(base_url=client.base_url) if r.target_path == target]
    except Exception as exc:  # a broken journal must not stop the batch
        logger.warning("journal %s: %s", journal.location, exc)
        return 0
    held = {r.request_id for r in manifest} | {
        old for r in manifest for old in r.previous_request_ids
    }
    adopted = 0
    for record in records:
        if record.request_id in held:
            continue
        body = {"prompt": record.prompt, **record.params} if record.prompt else dict(record.params)
        for row in rows:
            if (
                row.request_id is None
                and row.state != INVALID
                and row.input == body
                and _model_id(row.model) == _model_id(record.model)
            ):
                row.request_id = record.request_id
                row.state, row.error, row.submit_unknown = PENDING, None, False
                held.add(record.request_id)
                adopted += 1
                break
    return adopted

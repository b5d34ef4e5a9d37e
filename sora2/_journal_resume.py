"""What ``resume`` reads from the journal: the jobs to finish, a stand-in for an id no journal
holds, and where a resumed job's files go. Only ``resume`` and ``resume_pending`` load it."""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ._journal_glue import JobRecord

if TYPE_CHECKING:
    from ._journal_glue import JournalKeeper

__all__ = ["is_adhoc", "resume_target", "to_resume"]

_UNKNOWN_STATE = "unknown"
"""The state of a record made up for an id that no journal could hold."""


def to_resume(keeper: JournalKeeper, request_id: str | None) -> list[JobRecord]:
    """This service's unfinished jobs, or the one asked for: its row, or for an id the journal
    never saw an unwritten stand-in (:func:`is_adhoc`), which an ``Adopted`` change writes
    once the service has shown that it knows the id."""
    if request_id is None:
        found = keeper.read(lambda j: j.records(unfinished=True, base_url=keeper.base_url)) or []
        # Another live process's jobs are left to it; a dead one's (lease expired) adopted.
        ids = [r.request_id for r in found]
        mine = set(keeper.read(lambda j: j.claim(ids)) or ())
        return [r for r in found if r.request_id in mine]
    record = keeper.get(request_id)
    if record is not None:
        keeper.read(lambda j: j.claim([request_id]))
        return [record]
    now = datetime.datetime.now(datetime.UTC)
    return [
        JobRecord(
            request_id=request_id,
            base_url=keeper.base_url,
            prompt="",
            params={},
            state=_UNKNOWN_STATE,
            queue_position=None,
            submitted_at=now,
            started_at=None,
            finished_at=None,
            processing_seconds=None,
            video_url=None,
            target_path=None,
            output_path=None,
            error=None,
            created_at=now,
            updated_at=now,
        )
    ]


def is_adhoc(record: JobRecord) -> bool:
    """A stand-in of :func:`to_resume` for an id no journal holds."""
    return record.state == _UNKNOWN_STATE


def resume_target(
    record: JobRecord, out_dir: str | os.PathLike[str] | None
) -> str | os.PathLike[str] | None:
    """Where ``resume`` saves a job's files: ``out_dir`` if given (a copy, when they were
    saved already), else where ``generate`` meant to; None when they are already saved and no
    ``out_dir`` asks for a copy, or no place was ever named."""
    if out_dir is not None:
        directory = Path(out_dir)
        directory.mkdir(parents=True, exist_ok=True)
        if record.target_path and not Path(record.target_path).is_dir():
            return directory / Path(record.target_path).name
        return directory
    if record.output_path:
        return None
    return record.target_path

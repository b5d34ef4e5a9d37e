"""What a client writes to and reads from its journal, behind one guard.

A broken journal (a full disk, a locked or corrupt file) is logged, never allowed to lose a
job: every journal action of a client goes through :meth:`JournalKeeper.read` or
:meth:`JournalKeeper.write`. ``AsyncClient`` defers the writes of a sync step
(:data:`DEFERRED_WRITES`) so that SQLite runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import contextvars
import datetime
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ._inputs import duration_property, spec_default
from ._journal import JobRecord
from ._journal_store import JournalStore
from ._logging import logger
from ._types import JobResult, JobStatus

if TYPE_CHECKING:
    from ._base_client import SharedState

__all__ = ["DEFERRED_WRITES", "JournalKeeper", "is_adhoc", "resume_target"]

T = TypeVar("T")

DEFERRED_WRITES: contextvars.ContextVar[list[Callable[[], object]] | None] = contextvars.ContextVar(
    "sora2_deferred_writes", default=None
)
"""Set by AsyncClient around a sync step: journal writes queue here, to run in a thread."""

_UNKNOWN_STATE = "unknown"
"""The state of a record made up for an id that no journal could hold."""


class JournalKeeper:
    """One client's journal (or none), its base URL, and what it already wrote."""

    def __init__(self, journal: JournalStore | None, base_url: str, shared: SharedState) -> None:
        self.journal = journal
        self._base_url = base_url
        self._shared = shared

    # the guard ---------------------------------------------------------------------------------

    def read(self, action: Callable[[JournalStore], T]) -> T | None:
        """Run a journal action; a broken journal is logged, never allowed to lose a job."""
        if self.journal is None:
            return None
        try:
            return action(self.journal)
        except self.journal.errors as exc:
            logger.warning("journal %s: %s", self.journal.location, exc)
            return None

    def write(self, action: Callable[[JournalStore], object]) -> None:
        """A journal write: now, or (AsyncClient) after the sync step that asked for it, in a
        worker thread, so SQLite never blocks the event loop."""
        if self.journal is None:
            return
        deferred = DEFERRED_WRITES.get()
        if deferred is not None:
            deferred.append(lambda: self.read(action))
        else:
            self.read(action)

    # what happened to a job --------------------------------------------------------------------

    def submitted(
        self,
        request_id: str,
        body: Mapping[str, Any],
        target: str | None,
        model: str | None = None,
        estimate_usd: float | None = None,
    ) -> None:
        """A job exists: its id, model, prompt, inputs, (generate's) target path and the cost
        it was estimated at."""
        params = {k: v for k, v in body.items() if k != "prompt"}
        duration = duration_property()
        seconds = params.get(duration, spec_default(duration)) if duration else None
        if isinstance(seconds, int):
            self._shared.requested_seconds[request_id] = seconds
        now = self._shared.clock.time()
        self._shared.submitted_wall[request_id] = now
        self.write(
            lambda j: j.record_submission(
                request_id,
                base_url=self._base_url,
                prompt=str(body.get("prompt", "")),
                params=params,
                submitted_at=now,
                target_path=target,
                model=model,
                estimate_usd=estimate_usd,
            )
        )
        logger.debug("submitted %s", request_id)

    def observe(self, request_id: str, status: JobStatus) -> None:
        """Journal a polled state, on a change only: the same state again costs no write."""
        if self.journal is None:
            return
        seen = (status.state, status.queue_position)
        written = self._shared.journaled
        if written.get(request_id) == seen:
            return
        written[request_id] = seen
        self.write(
            lambda j: j.observe_state(
                request_id,
                status.state,
                queue_position=status.queue_position,
                at=self._shared.clock.time(),
            )
        )

    def observe_result(self, request_id: str, status: JobStatus, result: JobResult) -> None:
        """Journal a result's state, and its first file's URL once."""
        self.observe(request_id, status)
        if result.files and self._shared.journaled_urls.get(request_id) != (
            url := result.files[0].url
        ):
            self._shared.journaled_urls[request_id] = url
            self.write(lambda j: j.update(request_id, video_url=url))

    def gone(self, request_id: str, error: Exception) -> None:
        """The service does not know a journaled id (expired, or a typo): settle its row."""
        self._shared.journaled.pop(request_id, None)
        self.write(lambda j: j.mark_gone(request_id, f"not found by the service: {error}"))

    def failed(self, request_id: str, message: str) -> None:
        self.write(lambda j: j.update(request_id, error=message))

    def saved(self, request_id: str | None, paths: list[Path]) -> list[Path]:
        if request_id is not None and paths:
            first = str(paths[0])
            self.write(lambda j: j.update(request_id, output_path=first, error=None))
        return paths

    # the journal's rows ------------------------------------------------------------------------

    def get(self, request_id: str) -> JobRecord | None:
        return self.read(lambda j: j.get(request_id))

    def refresh(self, record: JobRecord) -> JobRecord:
        return self.get(record.request_id) or record

    def jobs(self, unfinished: bool) -> list[JobRecord]:
        return self.read(lambda j: j.records(unfinished=unfinished)) or []

    def processing_samples(self) -> list[tuple[float, float]]:
        return self.read(lambda j: j.processing_samples(base_url=self._base_url)) or []

    def forget(self, request_id: str) -> bool:
        self._shared.journaled.pop(request_id, None)
        return bool(self.read(lambda j: j.forget(request_id)))

    def prune(self, older_than: float | None) -> list[str]:
        return self.read(lambda j: j.prune(base_url=self._base_url, older_than=older_than)) or []

    def to_resume(self, request_id: str | None) -> list[JobRecord]:
        """This service's unfinished jobs, or the one asked for: its row, or for an id the
        journal never saw an unwritten stand-in (state ``unknown``), which :meth:`adopt` writes
        once the service has shown that it knows the id."""
        if request_id is None:
            found = self.read(lambda j: j.records(unfinished=True, base_url=self._base_url)) or []
            # Another live process's jobs are left to it; a dead one's (lease expired) adopted.
            ids = [r.request_id for r in found]
            mine = set(self.read(lambda j: j.claim(ids)) or ())
            return [r for r in found if r.request_id in mine]
        record = self.get(request_id)
        if record is not None:
            self.read(lambda j: j.claim([request_id]))
        return [record] if record is not None else [_adhoc_record(request_id, self._base_url)]

    def adopt(self, request_id: str) -> None:
        """Write the row of an id the journal never saw (from the dashboard, another machine),
        now that the service knows it: a typo never becomes a row. The next poll writes its
        state, even if the one that proved the id saw the same."""
        self._shared.journaled.pop(request_id, None)
        self.write(
            lambda j: j.record_submission(request_id, base_url=self._base_url, prompt="", params={})
        )


def is_adhoc(record: JobRecord) -> bool:
    """A stand-in of :meth:`JournalKeeper.to_resume` for an id no journal holds."""
    return record.state == _UNKNOWN_STATE


def _adhoc_record(request_id: str, base_url: str) -> JobRecord:
    now = datetime.datetime.now(datetime.UTC)
    return JobRecord(
        request_id=request_id,
        base_url=base_url,
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

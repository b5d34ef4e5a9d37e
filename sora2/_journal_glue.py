"""What a client writes to and reads from its journal, behind one guard.

A call's interpretation (``sora2._operations``) and a wait's bookkeeping (``sora2._waiting``)
return what the journal must record as small frozen change records; :meth:`JournalKeeper.apply`
writes them. ``Client`` applies them inline. ``AsyncClient`` hands them to a
:class:`GroupCommit`: the changes of every job waiting at that moment are written by one worker
thread in one transaction (one thread hop, one commit, instead of one each), so SQLite never
runs on the event loop and 1,000 concurrent jobs do not queue for 1,000 commits. Each caller
resumes only once its own changes are committed: a submit's id is durable before ``generate``
goes on. A broken journal (a full disk, a locked or corrupt file) is logged, never allowed to
lose a job: every journal action goes through :meth:`JournalKeeper.read`, and a batch that fails
is written again change by change, each failure logged as it would have been alone.
"""

from __future__ import annotations

import datetime
import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from ._journal import JournalStore
from ._journal_rows import JobRecord
from ._transports import logger

if TYPE_CHECKING:
    from ._base_client import SharedState
    from ._threads import Done

__all__ = [
    "Adopted",
    "Call",
    "Change",
    "Failed",
    "Gone",
    "GroupCommit",
    "JournalKeeper",
    "Observed",
    "OutputSeen",
    "Processed",
    "Saved",
    "Submitted",
    "Targeted",
    "is_adhoc",
    "resume_target",
]

T = TypeVar("T")

_UNKNOWN_STATE = "unknown"
"""The state of a record made up for an id that no journal could hold."""


@attrs.frozen
class Submitted:
    """A job exists: its id, model, prompt, inputs, (generate's) target path and the cost it
    was estimated at."""

    request_id: str
    prompt: str
    params: Mapping[str, Any]
    at: float
    target: str | None
    model: str | None
    seconds: int | None
    """The video seconds asked for, which the wait's schedule learns from."""
    estimate_usd: float | None = None
    """What the job was estimated to cost (USD, from the model's price); None when unknown."""


@attrs.frozen
class Observed:
    """A polled state that differs from the one last written."""

    request_id: str
    state: str
    queue_position: int | None
    at: float


@attrs.frozen
class OutputSeen:
    """A result's first file URL, seen for the first time."""

    request_id: str
    url: str


@attrs.frozen
class Gone:
    """The service does not know a journaled id (expired, or a typo): settle its row."""

    request_id: str
    reason: str


@attrs.frozen
class Processed:
    """What a completed wait learned: how long the service took."""

    request_id: str
    seconds: float


@attrs.frozen
class Failed:
    """A job's error, recorded by resume so that the next one goes on."""

    request_id: str
    message: str


@attrs.frozen
class Saved:
    """The job's files were saved; the first one's path."""

    request_id: str
    path: str


@attrs.frozen
class Targeted:
    """Where resume will save a job that had no place yet (one made by ``submit``): from now
    on the row stays unfinished until its files are saved, so an interrupted save is resumed."""

    request_id: str
    path: str


@attrs.frozen
class Adopted:
    """An id the journal never saw, now shown to exist by the service."""

    request_id: str


Change = Submitted | Observed | OutputSeen | Gone | Processed | Failed | Saved | Targeted | Adopted


class JournalKeeper:
    """One client's journal (or none), its base URL, and what it already wrote."""

    def __init__(self, journal: JournalStore | None, base_url: str, shared: SharedState) -> None:
        self.journal = journal
        self._base_url = base_url
        self._shared = shared
        self._group: GroupCommit | None = None

    def read(self, action: Callable[[JournalStore], T]) -> T | None:
        """Run a journal action; a broken journal is logged, never allowed to lose a job."""
        if self.journal is None:
            return None
        try:
            return action(self.journal)
        except self.journal.errors as exc:
            logger.warning("journal %s: %s", self.journal.location, exc)
            return None

    def remember(self, changes: tuple[Change, ...]) -> bool:
        """Note ``changes`` in what the client shares (cheap, no I/O); True when the journal
        then has something to write (:meth:`write`)."""
        shared = self._shared
        for change in changes:
            if isinstance(change, Observed):
                shared.journaled[change.request_id] = (change.state, change.queue_position)
            elif isinstance(change, OutputSeen):
                shared.journaled_urls[change.request_id] = change.url
            elif isinstance(change, Submitted):
                if change.seconds is not None:
                    shared.requested_seconds[change.request_id] = change.seconds
                shared.submitted_wall[change.request_id] = change.at
                logger.debug("submitted %s", change.request_id)
            elif isinstance(change, Gone | Adopted):
                shared.journaled.pop(change.request_id, None)
        return self.journal is not None and bool(changes)

    def write(self, changes: tuple[Change, ...]) -> None:
        """Write ``changes`` to the journal, in order, each behind the guard."""
        for change in changes:
            self.read(lambda j, c=change: _write(j, c, self._base_url))  # type: ignore[misc]

    def apply(self, changes: tuple[Change, ...]) -> None:
        """:meth:`remember` then :meth:`write`, inline (``Client``)."""
        if self.remember(changes):
            self.write(changes)

    def write_batch(self, batch: list[tuple[Change, ...]]) -> list[Exception | None]:
        """Write the changes of several callers, in order, in one transaction when the journal
        offers one (``transaction()``); what each caller's own write raised (beyond the
        journal's logged errors), or None.

        A batch that fails is rolled back and written again caller by caller, each change
        behind the guard: one bad change never costs the others their rows, and each failure
        surfaces (logged, or raised to its caller) exactly as it would have alone.
        """
        journal = self.journal
        if journal is None:
            return [None] * len(batch)
        transaction = getattr(journal, "transaction", None)
        if transaction is not None and len(batch) > 1:
            try:
                with transaction():
                    for changes in batch:
                        for change in changes:
                            _write(journal, change, self._base_url)
            except Exception:  # each caller's changes again, on their own (below)
                pass
            else:
                return [None] * len(batch)
        found: list[Exception | None] = []
        for changes in batch:
            try:
                self.write(changes)
            except Exception as exc:  # not the journal's own errors: the caller's to see
                found.append(exc)
            else:
                found.append(None)
        return found

    def group_commit(self) -> GroupCommit:
        """This keeper's :class:`GroupCommit` (``AsyncClient``'s journal writes)."""
        if self._group is None:
            self._group = GroupCommit(self)
        return self._group

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
        journal never saw an unwritten stand-in (state ``unknown``), which an :class:`Adopted`
        change writes once the service has shown that it knows the id."""
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


class GroupCommit:
    """``AsyncClient``'s way to its journal: every caller waiting at once shares one
    worker-thread hop (``sora2._threads.Batched``), and their changes one transaction.

    Each caller resumes once its batch is done (its changes committed), with its own value or
    error; a caller cancelled while it waits leaves its changes to be written all the same.
    """

    def __init__(self, keeper: JournalKeeper) -> None:
        from ._threads import Batched  # async only: a sync client never loads it

        self.batched = Batched(functools.partial(_run_batch, keeper))

    async def write(self, changes: tuple[Change, ...]) -> None:
        """Write ``changes``; returns once they are committed (or their failure logged)."""
        await self.batched.submit(changes)

    async def call(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` (a journal read) in the next batch's worker thread."""
        value: T = await self.batched.submit(Call(function, args))
        return value

    async def aclose(self) -> None:
        """Wait until every change handed over is written (a client's ``close()``)."""
        await self.batched.aclose()


@dataclass(frozen=True, slots=True)
class Call:
    """A journal read (or quick file check) to run in a batch: ``function(*args)``."""

    function: Callable[..., Any]
    args: tuple[Any, ...]


def _run_batch(keeper: JournalKeeper, batch: list[tuple[Change, ...] | Call]) -> list[Done]:
    """A batch, in order, in a worker thread: each run of consecutive writes in one
    transaction (:meth:`JournalKeeper.write_batch`), each read on its own."""
    from ._threads import Done

    found: list[Done] = []
    writes: list[tuple[Change, ...]] = []

    def flush() -> None:
        if writes:
            found.extend(Done(None, error) for error in keeper.write_batch(writes))
            writes.clear()

    for entry in batch:
        if not isinstance(entry, Call):
            writes.append(entry)
            continue
        flush()
        try:
            found.append(Done(entry.function(*entry.args), None))
        except Exception as exc:  # the caller's to see
            found.append(Done(None, exc))
    flush()
    return found


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


def _write(journal: JournalStore, change: Change, base_url: str) -> None:
    """One change, as the journal's own call."""
    rid = change.request_id
    if isinstance(change, Observed):
        journal.observe_state(rid, change.state, queue_position=change.queue_position, at=change.at)
    elif isinstance(change, Submitted):
        journal.record_submission(
            rid,
            base_url=base_url,
            prompt=change.prompt,
            params=dict(change.params),
            submitted_at=change.at,
            target_path=change.target,
            model=change.model,
            estimate_usd=change.estimate_usd,
        )
    elif isinstance(change, OutputSeen):
        journal.update(rid, video_url=change.url)
    elif isinstance(change, Gone):
        journal.mark_gone(rid, change.reason)
    elif isinstance(change, Processed):
        journal.update(rid, processing_seconds=change.seconds)
    elif isinstance(change, Failed):
        journal.update(rid, error=change.message)
    elif isinstance(change, Saved):
        journal.update(rid, output_path=change.path, error=None)
    elif isinstance(change, Targeted):
        journal.update(rid, target_path=change.path)
    else:  # Adopted: a row, written now that the service knows the id
        journal.record_submission(rid, base_url=base_url, prompt="", params={})

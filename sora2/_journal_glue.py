"""The journal as the client core speaks to it: the interface every journal keeps
(:class:`JournalStore`), the record of one job it gives back (:class:`JobRecord`), and what a
client writes to it.

A call's interpretation (``sora2._operations``) and a wait's bookkeeping (``sora2._waiting``)
return what the journal must record as small frozen change records; :class:`JournalKeeper`
writes them: ``Client`` inline, ``AsyncClient`` by group commit (``sora2._journal_async``). A
broken journal (a full disk, a locked or corrupt file) is logged, never allowed to lose a job:
every journal action goes through :meth:`JournalKeeper.read`.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import (
    TYPE_CHECKING,
    Any,
    Protocol,
    Required,
    TypedDict,
    TypeVar,
    Unpack,
    runtime_checkable,
)

import attrs

from ._transports import logger
from ._types import has_ended, is_completed_state

if TYPE_CHECKING:
    from ._base_client import SharedState
    from ._journal_async import GroupCommit

__all__ = [
    "Adopted",
    "Change",
    "Failed",
    "Gone",
    "JobRecord",
    "JournalKeeper",
    "JournalStore",
    "NewJob",
    "Observed",
    "OutputSeen",
    "Processed",
    "Saved",
    "Seen",
    "Submitted",
    "Targeted",
    "write_change",
]

T = TypeVar("T")


class NewJob(TypedDict, total=False):
    """What a journal records of a new job besides its id: ``target_path`` is where
    ``generate`` will save the video, so that ``resume`` knows it even if the submit answer
    itself was garbled."""

    base_url: Required[str]
    prompt: Required[str]
    params: Required[Mapping[str, Any]]
    submitted_at: float | None
    target_path: str | None
    model: str | None
    estimate_usd: float | None


class Seen(TypedDict, total=False):
    """What a poll saw besides the state: the queue position, and when (``time.time()``
    seconds; now if not given)."""

    queue_position: int | None
    at: float | None


@runtime_checkable
class JournalStore(Protocol):
    """What the client core reads from and writes to a journal of paid jobs."""

    @property
    def location(self) -> str:
        """Where the journal lives (a file path, or a URL without its password), for messages."""

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        """What this journal raises when it cannot be read or written: logged, never fatal."""

    def record_submission(self, request_id: str, **job: Unpack[NewJob]) -> None:
        """Write a new job the moment its id is known; this process now follows it."""

    def check_writable(self) -> None:
        """Raise ``JournalError`` unless a job id can be recorded now: checked before a submit,
        since a paid job whose id is lost is what the journal exists to prevent."""

    def update(self, request_id: str, **changes: Any) -> None:
        """Set columns of a job's row (``error``, ``video_url``, ``output_path``, ...)."""

    def observe_state(self, request_id: str, state: str, **seen: Unpack[Seen]) -> None:
        """Record a state seen by a poll, with its ``queue_position`` and the time ``at``."""

    def mark_gone(self, request_id: str, reason: str) -> None:
        """The service no longer knows this id."""

    def claim(self, request_ids: Sequence[str]) -> list[str]:
        """Take over the following of these jobs; returns those now this process's (a job
        another live process follows is left to it)."""

    def forget(self, request_id: str) -> bool:
        """Remove one job's row."""

    def prune(self, *, base_url: str | None = None, older_than: float | None = None) -> list[str]:
        """Remove settled rows; returns their ids."""

    def get(self, request_id: str) -> JobRecord | None:
        """One job's row."""

    def records(self, *, unfinished: bool = False, base_url: str | None = None) -> list[JobRecord]:
        """Every job, oldest first."""

    def processing_samples(self, *, base_url: str, limit: int = 50) -> list[tuple[float, float]]:
        """``(video_seconds, processing_seconds)`` of recent completed jobs."""

    def close(self) -> None:
        """Let go of connections (and, for a shared journal, of this process's leases)."""


@dataclass(frozen=True)
class JobRecord:
    """One journaled job. Times are timezone-aware UTC datetimes."""

    request_id: str
    """The job's id."""
    base_url: str
    """The service it was submitted to; ``resume`` only finishes this client's service's jobs."""
    prompt: str
    """The prompt as submitted."""
    params: Mapping[str, Any] = field(compare=False)
    """The other inputs as submitted (``size``, ``seconds``, ...)."""
    state: str
    """The last state seen: a job state, or ``gone`` (the service no longer knows the id)."""
    queue_position: int | None
    """The last queue position seen while queued."""
    submitted_at: datetime.datetime
    """When the id was first seen."""
    started_at: datetime.datetime | None
    """When the job was first seen in progress."""
    finished_at: datetime.datetime | None
    """When the job was first seen over."""
    processing_seconds: float | None
    """How long it ran, as measured by ``wait``; it teaches the poll schedule."""
    video_url: str | None
    """The video's URL, once a result was fetched."""
    target_path: str | None
    """Where ``generate`` meant to save the video, so ``resume`` can finish the download."""
    output_path: str | None
    """Where the video was saved, once it was."""
    error: str | None
    """The last error while finishing it (``resume``), or why it is ``gone``."""
    created_at: datetime.datetime
    """When the row was written."""
    updated_at: datetime.datetime
    """When the row last changed."""
    model: str | None = None
    """The model the job was submitted to; None in a row written before the journal recorded
    it (then it was the spec's default model, the only one)."""
    estimate_usd: float | None = None
    """What the job was estimated to cost when it was submitted (USD); None when the price
    could not be read, or in a row written before."""

    @property
    def is_terminal(self) -> bool:
        """The job itself is over (a final state of the spec), or the service no longer knows it."""
        return has_ended(self.state)

    @property
    def is_unfinished(self) -> bool:
        """Still running, or completed with a download that ``generate`` did not finish."""
        if not self.is_terminal:
            return True
        return (
            is_completed_state(self.state) and self.target_path is not None and not self.output_path
        )

    @property
    def is_settled(self) -> bool:
        """Nothing is left to do: cancelled, failed or gone, or completed with its files saved.

        A completed job never downloaded (made by ``submit``) is not settled: its outputs are
        paid for, and the row is the only record of its id.
        """
        return self.is_terminal and not (is_completed_state(self.state) and not self.output_path)

    @property
    def seconds(self) -> int | None:
        """The requested video duration, when it was recorded."""
        from ._inputs import duration_property

        duration = duration_property()
        value = self.params.get(duration) if duration else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (ISO 8601 times), for ``sora2 jobs --json``."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, datetime.datetime):
                value = value.isoformat()
            elif name == "params":
                value = dict(value)
            out[name] = value
        return out

    @classmethod
    def _from_row(cls, row: Mapping[str, Any]) -> JobRecord:
        """A row read by column name (the columns are the fields); times in seconds."""
        values = {name: row[name] for name in cls.__dataclass_fields__}
        try:
            params = json.loads(values["params"])
        except (TypeError, ValueError):
            params = None
        values["params"] = params if isinstance(params, dict) else {}
        for name in ("submitted_at", "started_at", "finished_at", "created_at", "updated_at"):
            at = values[name]
            values[name] = None if at is None else datetime.datetime.fromtimestamp(at, datetime.UTC)
        return cls(**values)


# What a call implies for the journal, as data -------------------------------------------------


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


def write_change(journal: JournalStore, change: Change, base_url: str) -> None:
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


class JournalKeeper:
    """One client's journal (or none), its base URL, and what it already wrote."""

    def __init__(self, journal: JournalStore | None, base_url: str, shared: SharedState) -> None:
        self.journal = journal
        self.base_url = base_url
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
            self.read(lambda j, c=change: write_change(j, c, self.base_url))  # type: ignore[misc]

    def apply(self, changes: tuple[Change, ...]) -> None:
        """:meth:`remember` then :meth:`write`, inline (``Client``)."""
        if self.remember(changes):
            self.write(changes)

    def group_commit(self) -> GroupCommit:
        """This keeper's group commit (``AsyncClient``'s journal writes)."""
        if self._group is None:
            from ._journal_async import GroupCommit

            self._group = GroupCommit(self)
        return self._group

    def get(self, request_id: str) -> JobRecord | None:
        return self.read(lambda j: j.get(request_id))

    def refresh(self, record: JobRecord) -> JobRecord:
        return self.get(record.request_id) or record

    def jobs(self, unfinished: bool) -> list[JobRecord]:
        return self.read(lambda j: j.records(unfinished=unfinished)) or []

    def processing_samples(self) -> list[tuple[float, float]]:
        return self.read(lambda j: j.processing_samples(base_url=self.base_url)) or []

    def forget(self, request_id: str) -> bool:
        self._shared.journaled.pop(request_id, None)
        return bool(self.read(lambda j: j.forget(request_id)))

    def prune(self, older_than: float | None) -> list[str]:
        return self.read(lambda j: j.prune(base_url=self.base_url, older_than=older_than)) or []

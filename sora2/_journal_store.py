"""The one small interface every journal keeps, and how a ``journal=`` option becomes one.

A journal is where a client writes a job the moment its id is known, and reads back what a
crash left unfinished. Two live behind this interface: the SQLite file of one machine
(``sora2._journal``) and PostgreSQL, shared by many (``sora2._journal_pg``). The client core
speaks only these operations.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, Required, TypedDict, Unpack, runtime_checkable

from ._options import JOURNAL_ENV_VAR, JOURNAL_URL_SCHEMES

if TYPE_CHECKING:
    from ._journal_rows import JobRecord

__all__ = ["JournalStore", "NewJob", "Seen", "is_journal_url", "open_journal"]


class NewJob(TypedDict, total=False):
    """What a journal records of a new job besides its id (``record_submission``'s keywords):
    ``target_path`` is where ``generate`` will save the video, so that ``resume`` knows it
    even if the submit answer itself was garbled."""

    base_url: Required[str]
    prompt: Required[str]
    params: Required[Mapping[str, Any]]
    submitted_at: float | None
    target_path: str | None
    model: str | None
    estimate_usd: float | None


class Seen(TypedDict, total=False):
    """What a poll saw besides the state (``observe_state``'s keywords): the queue position,
    and when, in ``time.time()`` seconds (now if not given)."""

    queue_position: int | None
    at: float | None


@runtime_checkable
class JournalStore(Protocol):
    """What the client core reads from and writes to a journal of paid jobs."""

    @property
    def location(self) -> str:
        """Where the journal lives (a file path, or a URL without its password), for messages."""
        ...

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        """What this journal raises when it cannot be read or written: logged, never fatal."""
        ...

    def record_submission(self, request_id: str, **job: Unpack[NewJob]) -> None:
        """Write a new job the moment its id is known; this process now follows it."""
        ...

    def check_writable(self) -> None:
        """Raise ``JournalError`` unless a job id can be recorded now: checked before a submit,
        since a paid job whose id is lost is what the journal exists to prevent."""
        ...

    def update(self, request_id: str, **changes: Any) -> None:
        """Set columns of a job's row (``error``, ``video_url``, ``output_path``, ...)."""
        ...

    def observe_state(self, request_id: str, state: str, **seen: Unpack[Seen]) -> None:
        """Record a state seen by a poll, with its ``queue_position`` and the time ``at`` which
        it was seen (``time.time()`` seconds; now if not given)."""
        ...

    def mark_gone(self, request_id: str, reason: str) -> None:
        """The service no longer knows this id."""
        ...

    def claim(self, request_ids: Sequence[str]) -> list[str]:
        """Take over the following of these jobs; returns those now this process's (a job
        another live process follows is left to it)."""
        ...

    def forget(self, request_id: str) -> bool:
        """Remove one job's row."""
        ...

    def prune(self, *, base_url: str | None = None, older_than: float | None = None) -> list[str]:
        """Remove settled rows; returns their ids."""
        ...

    def get(self, request_id: str) -> JobRecord | None:
        """One job's row."""
        ...

    def records(self, *, unfinished: bool = False, base_url: str | None = None) -> list[JobRecord]:
        """Every job, oldest first."""
        ...

    def processing_samples(self, *, base_url: str, limit: int = 50) -> list[tuple[float, float]]:
        """``(video_seconds, processing_seconds)`` of recent completed jobs."""
        ...

    def close(self) -> None:
        """Let go of connections (and, for a shared journal, of this process's leases)."""
        ...


def is_journal_url(value: str | os.PathLike[str]) -> bool:
    """``postgresql://...`` (or ``postgres://``): a database, not a file path."""
    text = os.fspath(value)
    return (
        isinstance(text, str)
        and text.split("://", 1)[0].lower() in JOURNAL_URL_SCHEMES
        and ("://" in text)
    )


def open_journal(value: str | os.PathLike[str] | None, *, emulator: bool) -> JournalStore:
    """The journal a ``journal=`` option names: a ``postgresql://`` URL, a file path, or (None)
    ``$SORA2_JOURNAL``, else the default file."""
    from ._journal import Journal, default_journal_path

    if value is None:
        value = os.environ.get(JOURNAL_ENV_VAR) or default_journal_path(emulator=emulator)
    if is_journal_url(value):
        from ._journal_pg import PostgresJournal

        return PostgresJournal(os.fspath(value))
    return Journal(value)

"""The journal of paid jobs: the small interface every journal keeps, how a ``journal=`` option
becomes one, and the local SQLite journal behind it.

A journal is where a client writes a job the moment its id is known, before the rest of the
answer is even parsed, and reads back what a crash left unfinished; ``wait``, ``result``,
``cancel`` and ``download`` update its row. ``Client.jobs()`` lists it and ``Client.resume()``
finishes what a crash or Ctrl-C left unfinished, without submitting again. The API token is never
stored. Two live behind :class:`JournalStore`, the only operations the client core speaks: the
SQLite file of one machine (:class:`Journal`, here) and PostgreSQL, shared by many
(``sora2._journal_pg``).

One connection per SQLite journal, used under a lock, WAL mode and a busy timeout make it safe
to share between threads and between processes (a CLI ``sora2 jobs`` while a script is
waiting). Clients write on a change of state only, not on every poll.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    Final,
    Protocol,
    Required,
    TypedDict,
    Unpack,
    runtime_checkable,
)

from ._journal_rows import SqlJournal, first_columns, prunable
from ._options import EMULATOR_JOURNAL_FILE, JOURNAL_ENV_VAR, JOURNAL_FILE, JOURNAL_URL_SCHEMES

if TYPE_CHECKING:
    from ._journal_rows import JobRecord

__all__ = [
    "Journal",
    "JournalStore",
    "NewJob",
    "Seen",
    "default_journal_path",
    "is_journal_url",
    "open_journal",
]


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
    if value is None:
        value = os.environ.get(JOURNAL_ENV_VAR) or default_journal_path(emulator=emulator)
    if is_journal_url(value):
        from ._journal_pg import PostgresJournal

        return PostgresJournal(os.fspath(value))
    return Journal(value)


_SCHEMA: Final = f"""
CREATE TABLE IF NOT EXISTS jobs (
{first_columns("REAL")},
    model TEXT,
    estimate_usd REAL
);
CREATE INDEX IF NOT EXISTS jobs_by_update ON jobs (updated_at);
"""
_MIGRATIONS: Final = (
    ("model", "ALTER TABLE jobs ADD COLUMN model TEXT"),
    ("estimate_usd", "ALTER TABLE jobs ADD COLUMN estimate_usd REAL"),
)
"""Columns added since the first journal, each with the statement that adds it to an older
one (opened as is; a row written before has NULL there)."""


def default_journal_path(*, emulator: bool = False) -> Path:
    """``$SORA2_JOURNAL``, else a file in the user data directory (a separate one for emulator
    jobs, so demo jobs are never resumed against the real service). Read at call time."""
    override = os.environ.get(JOURNAL_ENV_VAR)
    if override:
        return Path(override).expanduser()
    import platformdirs

    directory = Path(platformdirs.user_data_dir("sora2", appauthor=False))
    return directory / (EMULATOR_JOURNAL_FILE if emulator else JOURNAL_FILE)


def _migrate(conn: sqlite3.Connection) -> None:
    """Add to an older journal the columns it lacks (``_MIGRATIONS``); another process doing
    the same at once is harmless."""
    present = {row[1] for row in conn.execute("PRAGMA table_info(jobs)")}
    for column, statement in _MIGRATIONS:
        if column in present:
            continue
        try:
            conn.execute(statement)
        except sqlite3.OperationalError as exc:
            if "duplicate column" not in str(exc):
                raise


class Journal(SqlJournal):
    """The SQLite journal at ``path`` (created, with its directory, on first write)."""

    _table = "jobs"
    _mark = "?"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if is_journal_url(path):
            from ._exceptions import ConfigurationError

            raise ConfigurationError(
                f"Journal is the SQLite file journal; {os.fspath(path)!r} is a database URL: "
                "pass it as journal=URL (or use sora2.PostgresJournal)"
            )
        self.path = Path(path).expanduser()
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._lock = threading.RLock()
        self._writable = False

    @property
    def location(self) -> str:
        return str(self.path)

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.Error, OSError)

    def claim(self, request_ids: Sequence[str]) -> list[str]:
        """Every job is this process's: a file journal is one machine's, and keeps no leases."""
        return list(request_ids)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """The journal's one connection (opened on first use), held under the lock."""
        with self._lock:
            if self._conn is None or self._pid != os.getpid():
                self._conn = self._open()
                self._pid = os.getpid()
            yield self._conn

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=10.0, isolation_level=None, check_same_thread=False
        )
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(_SCHEMA)
            _migrate(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    def check_writable(self) -> None:
        """Prove the journal can record a job: open it (creating file and folder) and take its
        write lock. Raises ``JournalError`` naming the file when it cannot (not a SQLite file,
        a folder that cannot be written); once it could, later calls cost nothing.

        A probe, not permission bits: root may write anywhere, and only SQLite can tell a text
        file from a database.
        """
        from ._exceptions import JournalError

        if self._writable:
            return
        try:
            with self._connect() as conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
        except (sqlite3.Error, OSError) as exc:
            self.close()
            reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
            raise JournalError(
                f"journal {self.path} cannot record job ids ({reason}); nothing was submitted. "
                "Choose another journal (--journal PATH, journal=PATH), or run without one "
                "(--no-journal, journal=False: no resume after a crash)",
                path=str(self.path),
            ) from None
        self._writable = True

    def close(self) -> None:
        """Close the connection; the next operation opens a new one."""
        with self._lock:
            if self._conn is not None:
                with suppress(sqlite3.Error):
                    self._conn.close()
                self._conn = None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Every write inside (from this thread) in one transaction, committed once at the end
        and rolled back on an error: an async client's group commit."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _rows(self, query: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._connect() as conn:
            return conn.execute(query, args).fetchall()

    def forget(self, request_id: str) -> bool:
        """Remove one job's row; False if there was none (no RETURNING: SQLite before 3.35)."""
        with self._connect() as conn:
            cursor = conn.execute("DELETE FROM jobs WHERE request_id = ?", (request_id,))
        return cursor.rowcount > 0

    def prune(self, *, base_url: str | None = None, older_than: float | None = None) -> list[str]:
        """Remove the settled rows (:attr:`JobRecord.is_settled`: saved, cancelled, failed,
        gone), and return their ids; optionally only one service's, or those not updated for
        ``older_than`` seconds. Unfinished jobs, and completed ones whose outputs were never
        saved, always stay."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                settled = prunable(conn.execute(*self._select(base_url)).fetchall(), older_than)
                conn.executemany("DELETE FROM jobs WHERE request_id = ?", [(i,) for i in settled])
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        return settled

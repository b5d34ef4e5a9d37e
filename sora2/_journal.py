"""The journal of paid jobs in SQL: the statements both engines share (:class:`SqlJournal`),
the local SQLite journal (:class:`Journal`), and :func:`open_journal`, which turns a
``journal=`` option into a journal. The API token is never stored.

One connection per SQLite journal, used under a lock, WAL mode and a busy timeout make it safe
to share between threads and processes (``sora2 jobs`` while a script is waiting).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final, Unpack

from ._journal_glue import JobRecord, JournalStore
from ._options import EMULATOR_JOURNAL_FILE, JOURNAL_ENV_VAR, JOURNAL_FILE, JOURNAL_URL_SCHEMES
from ._types import GONE, IN_PROGRESS, IN_QUEUE, is_completed_state, is_terminal_state

if TYPE_CHECKING:
    from ._journal_glue import NewJob, Seen

__all__ = ["Journal", "SqlJournal", "first_columns", "open_journal", "prunable"]

_COLUMNS: Final = ", ".join(JobRecord.__dataclass_fields__)
"""A job's columns, as both journals store them (PostgreSQL adds its lease's)."""

_UPDATABLE: Final = frozenset(
    {
        "state",
        "queue_position",
        "started_at",
        "finished_at",
        "processing_seconds",
        "video_url",
        "target_path",
        "output_path",
        "error",
    }
)


def first_columns(real: str) -> str:
    """The first journal's job table, as both engines declare it (``real``: the engine's
    floating point type); later columns are each journal's migrations."""
    declared = (
        "request_id TEXT PRIMARY KEY, base_url TEXT NOT NULL, prompt TEXT NOT NULL DEFAULT '', "
        "params TEXT NOT NULL DEFAULT '{}', state TEXT NOT NULL, queue_position INTEGER, "
        "submitted_at REAL NOT NULL, started_at REAL, finished_at REAL, processing_seconds REAL, "
        "video_url TEXT, target_path TEXT, output_path TEXT, error TEXT, "
        "created_at REAL NOT NULL, updated_at REAL NOT NULL"
    )
    return ",\n".join(f"    {line}" for line in declared.replace("REAL", real).split(", "))


def prunable(rows: Sequence[Mapping[str, Any]], older_than: float | None) -> list[str]:
    """The ids among ``rows`` that ``prune`` removes: settled (:attr:`JobRecord.is_settled`),
    and not updated for ``older_than`` seconds when given."""
    cutoff = None if older_than is None else time.time() - older_than
    return [
        record.request_id
        for record in map(JobRecord._from_row, rows)
        if record.is_settled and (cutoff is None or record.updated_at.timestamp() < cutoff)
    ]


class SqlJournal:
    """The operations both journals share, written once: a journal gives ``_rows`` (run one
    statement, return its rows), its table's name and its placeholder, and may hook what it
    keeps per job (``_follow``, ``_settled``, ``_let_go``: PostgreSQL's leases)."""

    _table: ClassVar[str]
    _mark: ClassVar[str]
    _release: ClassVar[str] = ""
    """More assignments when nothing is left to do for a job (PostgreSQL drops its lease)."""
    _observed: ClassVar[str] = ""
    """What an observed state's statement returns, for a journal that hooks ``_settled``."""

    @property
    def location(self) -> str:
        """Where the journal lives (a file path, or a URL without its password)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"

    def _rows(self, query: str, args: Sequence[Any] = ()) -> list[Any]:
        """Run one statement; the rows it returns (if any), each read by column name."""
        raise NotImplementedError

    def _sql(self, query: str) -> str:
        return query.replace("{jobs}", self._table).replace("?", self._mark)

    def _submission_extra(self) -> tuple[str, str, tuple[Any, ...]]:
        """More columns of a new job: names, value expressions and values (a lease)."""
        return "", "", ()

    def _follow(self, request_id: str) -> None:
        """This process now follows the job."""

    def _settled(self, request_id: str) -> None:
        """Nothing is left to do for the job."""

    def _let_go(self, request_id: str) -> None:
        """The job is no longer this process's to follow."""

    def record_submission(self, request_id: str, **job: Unpack[NewJob]) -> None:
        """Write a new job the moment its id is known. Re-recording an id keeps its history."""
        now = time.time()
        submitted = job.get("submitted_at")
        names, marks, extra = self._submission_extra()
        self._rows(
            self._sql(
                "INSERT INTO {jobs} (request_id, base_url, prompt, params, state, submitted_at, "
                f"target_path, created_at, updated_at, model, estimate_usd{names}) "
                f"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?{marks}) "
                "ON CONFLICT (request_id) DO UPDATE SET updated_at = excluded.updated_at, "
                "target_path = COALESCE(excluded.target_path, {jobs}.target_path), "
                "model = COALESCE({jobs}.model, excluded.model), "
                "estimate_usd = COALESCE({jobs}.estimate_usd, excluded.estimate_usd)"
            ),
            (
                request_id,
                job["base_url"],
                job["prompt"],
                json.dumps(dict(job["params"]), sort_keys=True, default=str),
                IN_QUEUE,  # the spec: submit answers "accepted and queued"
                now if submitted is None else submitted,
                job.get("target_path"),
                now,
                now,
                job.get("model"),
                job.get("estimate_usd"),
                *extra,
            ),
        )
        self._follow(request_id)

    def update(self, request_id: str, **changes: Any) -> None:
        """Set columns of an existing row (a no-op for an unknown id)."""
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise TypeError(f"not journal columns: {', '.join(sorted(unknown))}")
        if not changes:
            return
        assignments = ", ".join(f"{name} = ?" for name in changes)
        saved = bool(changes.get("output_path"))  # nothing is left to do: its lease goes too
        self._rows(
            self._sql(
                f"UPDATE {{jobs}} SET {assignments}, updated_at = ?{self._release if saved else ''}"
                " WHERE request_id = ?"
            ),
            [*changes.values(), time.time(), request_id],
        )
        if saved:
            self._let_go(request_id)

    def observe_state(self, request_id: str, state: str, **seen: Unpack[Seen]) -> None:
        """Record a state seen by a poll; stamps first ``in_progress`` and terminal times."""
        at = seen.get("at")
        now = time.time() if at is None else at
        terminal = is_terminal_state(state)
        rows = self._rows(
            self._sql(
                "UPDATE {jobs} SET state = ?, queue_position = ?, "
                "started_at = CASE WHEN ? AND started_at IS NULL THEN ? ELSE started_at END, "
                "finished_at = CASE WHEN ? AND finished_at IS NULL THEN ? ELSE finished_at END, "
                f"updated_at = ? WHERE request_id = ?{self._observed}"
            ),
            (
                state,
                seen.get("queue_position"),
                state == IN_PROGRESS,
                now,
                terminal,
                now,
                time.time(),
                request_id,
            ),
        )
        if terminal and rows:
            row = rows[0]
            wants_file = is_completed_state(state) and row["target_path"] and not row["output_path"]
            if not wants_file:
                self._settled(request_id)

    def mark_gone(self, request_id: str, reason: str) -> None:
        """The service no longer knows this id: make the row terminal, keeping the reason."""
        now = time.time()
        self._rows(
            self._sql(
                "UPDATE {jobs} SET state = ?, error = ?, queue_position = NULL, "
                f"finished_at = COALESCE(finished_at, ?), updated_at = ?{self._release} "
                "WHERE request_id = ?"
            ),
            (GONE, reason, now, now, request_id),
        )
        self._let_go(request_id)

    def forget(self, request_id: str) -> bool:
        """Remove one job's row; False if there was none. The job itself is not touched."""
        rows = self._rows(
            self._sql("DELETE FROM {jobs} WHERE request_id = ? RETURNING request_id"),
            (request_id,),
        )
        self._let_go(request_id)
        return bool(rows)

    def _select(self, base_url: str | None) -> tuple[str, list[Any]]:
        """Every job (or one service's), oldest first."""
        query, args = f"SELECT {_COLUMNS} FROM {{jobs}}", []
        if base_url is not None:
            query, args = query + " WHERE base_url = ?", [base_url]
        return self._sql(query + " ORDER BY submitted_at, created_at, request_id"), args

    def get(self, request_id: str) -> JobRecord | None:
        """One job's row."""
        query = self._sql(f"SELECT {_COLUMNS} FROM {{jobs}} WHERE request_id = ?")
        rows = self._rows(query, (request_id,))
        return JobRecord._from_row(rows[0]) if rows else None

    def records(self, *, unfinished: bool = False, base_url: str | None = None) -> list[JobRecord]:
        """Every job, oldest first; optionally only unfinished ones, or one service's."""
        found = [JobRecord._from_row(row) for row in self._rows(*self._select(base_url))]
        return [r for r in found if r.is_unfinished] if unfinished else found

    def processing_samples(self, *, base_url: str, limit: int = 50) -> list[tuple[float, float]]:
        """``(video_seconds, processing_seconds)`` of recent completed jobs, oldest first."""
        rows = self._rows(
            self._sql(
                "SELECT params, processing_seconds FROM {jobs} WHERE base_url = ? AND "
                "processing_seconds IS NOT NULL ORDER BY finished_at DESC LIMIT ?"
            ),
            (base_url, limit),
        )
        from ._inputs import duration_property

        duration = duration_property()
        samples: list[tuple[float, float]] = []
        for row in reversed(rows):
            try:
                seconds = json.loads(row["params"]).get(duration) if duration else None
            except (TypeError, ValueError, AttributeError):
                continue
            if isinstance(seconds, int | float) and not isinstance(seconds, bool):
                samples.append((float(seconds), float(row["processing_seconds"])))
        return samples


def _is_url(value: str | os.PathLike[str]) -> bool:
    """``postgresql://...`` (or ``postgres://``): a database, not a file path."""
    text = os.fspath(value)
    return (
        isinstance(text, str)
        and "://" in text
        and text.split("://")[0].lower() in JOURNAL_URL_SCHEMES
    )


def open_journal(value: str | os.PathLike[str] | None, *, emulator: bool) -> JournalStore:
    """The journal a ``journal=`` option names: a ``postgresql://`` URL, a file path, or (None)
    ``$SORA2_JOURNAL``, else a file in the user data directory (a separate one for emulator
    jobs, so demo jobs are never resumed against the real service)."""
    if value is None:
        value = os.environ.get(JOURNAL_ENV_VAR)
        if not value:
            import platformdirs

            directory = Path(platformdirs.user_data_dir("sora2", appauthor=False))
            value = directory / (EMULATOR_JOURNAL_FILE if emulator else JOURNAL_FILE)
    if _is_url(value):
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


class Journal(SqlJournal):
    """The SQLite journal at ``path`` (created, with its directory, on first write)."""

    _table = "jobs"
    _mark = "?"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if _is_url(path):
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
        """The journal's one connection (opened on first use, again in a forked child), held
        under the lock."""
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
            present = {row[1] for row in conn.execute("PRAGMA table_info(jobs)")}
            for column, statement in _MIGRATIONS:
                if column not in present:
                    try:
                        conn.execute(statement)
                    except sqlite3.OperationalError as exc:  # another process added it first
                        if "duplicate column" not in str(exc):
                            raise
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
        if self._writable:
            return
        try:
            with self._connect() as conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
        except (sqlite3.Error, OSError) as exc:
            self.close()
            reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
            from ._exceptions import JournalError

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
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Every write inside (from this thread) in one transaction, committed once at the end
        and rolled back on an error: an async client's group commit."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
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
        with self.transaction() as conn:
            settled = prunable(conn.execute(*self._select(base_url)).fetchall(), older_than)
            conn.executemany("DELETE FROM jobs WHERE request_id = ?", [(i,) for i in settled])
        return settled

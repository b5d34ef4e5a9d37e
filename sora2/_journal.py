"""A local SQLite record of every submitted job, so no paid job is ever lost track of.

A row is written the moment ``submit`` returns a request id, before the rest of the answer is
even parsed; ``wait``, ``result``, ``cancel`` and ``download`` update it. ``Client.jobs()``
lists it and ``Client.resume()`` finishes what a crash or Ctrl-C left unfinished, without
submitting again. The API token is never stored.

One connection per journal, used under a lock, WAL mode and a busy timeout make it safe to
share between threads and between processes (a CLI ``sora2 jobs`` while a script is waiting).
Clients write on a change of state only, not on every poll.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Final

from ._journal_rows import SqlJournal, first_columns, prunable
from ._options import EMULATOR_JOURNAL_FILE, JOURNAL_ENV_VAR, JOURNAL_FILE

__all__ = ["Journal", "default_journal_path"]

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
        from ._journal_store import is_journal_url

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

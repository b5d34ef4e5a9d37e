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

import datetime
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ._constants import EMULATOR_JOURNAL_FILE, JOURNAL_ENV_VAR, JOURNAL_FILE
from ._types import GONE, IN_PROGRESS, IN_QUEUE, is_completed_state, is_terminal_state

__all__ = ["JobRecord", "Journal", "default_journal_path"]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS jobs (
    request_id TEXT PRIMARY KEY,
    base_url TEXT NOT NULL,
    prompt TEXT NOT NULL DEFAULT '',
    params TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL,
    queue_position INTEGER,
    submitted_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    processing_seconds REAL,
    video_url TEXT,
    target_path TEXT,
    output_path TEXT,
    error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
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

_COLUMNS: Final = (
    "request_id, base_url, prompt, params, state, queue_position, submitted_at, started_at, "
    "finished_at, processing_seconds, video_url, target_path, output_path, error, created_at, "
    "updated_at, model, estimate_usd"
)


def default_journal_path(*, emulator: bool = False) -> Path:
    """``$SORA2_JOURNAL``, else a file in the user data directory (a separate one for emulator
    jobs, so demo jobs are never resumed against the real service). Read at call time."""
    override = os.environ.get(JOURNAL_ENV_VAR)
    if override:
        return Path(override).expanduser()
    import platformdirs

    directory = Path(platformdirs.user_data_dir("sora2", appauthor=False))
    return directory / (EMULATOR_JOURNAL_FILE if emulator else JOURNAL_FILE)


def _utc(timestamp: float | None) -> datetime.datetime | None:
    if timestamp is None:
        return None
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC)


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
    """What the job was estimated to cost when it was submitted (USD, from the model's
    price); None when the price could not be read, or in a row written before."""

    @property
    def is_terminal(self) -> bool:
        """The job itself is over (a final state of the spec), or the service no longer knows it."""
        return is_terminal_state(self.state) or self.state == GONE

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
        if not self.is_terminal or self.is_unfinished:
            return False
        return not (is_completed_state(self.state) and not self.output_path)

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
    def _from_row(cls, row: Mapping[str, Any] | sqlite3.Row) -> JobRecord:
        try:
            params = json.loads(row["params"])
        except (TypeError, ValueError):
            params = {}
        return cls(
            request_id=row["request_id"],
            base_url=row["base_url"],
            prompt=row["prompt"],
            params=params if isinstance(params, dict) else {},
            state=row["state"],
            queue_position=row["queue_position"],
            submitted_at=_utc(row["submitted_at"]) or datetime.datetime.now(datetime.UTC),
            started_at=_utc(row["started_at"]),
            finished_at=_utc(row["finished_at"]),
            processing_seconds=row["processing_seconds"],
            video_url=row["video_url"],
            target_path=row["target_path"],
            output_path=row["output_path"],
            error=row["error"],
            created_at=_utc(row["created_at"]) or datetime.datetime.now(datetime.UTC),
            updated_at=_utc(row["updated_at"]) or datetime.datetime.now(datetime.UTC),
            model=row["model"],
            estimate_usd=row["estimate_usd"],
        )


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


class Journal:
    """The SQLite journal at ``path`` (created, with its directory, on first write)."""

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

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

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

    # writes ----------------------------------------------------------------------------------

    def record_submission(
        self,
        request_id: str,
        *,
        base_url: str,
        prompt: str,
        params: Mapping[str, Any],
        submitted_at: float | None = None,
        target_path: str | None = None,
        model: str | None = None,
        estimate_usd: float | None = None,
    ) -> None:
        """Write a new job the moment its id is known. Re-recording an id keeps its history.

        ``target_path`` is where ``generate`` will save the video, written in the same row so
        that ``resume`` knows it even if the submit answer itself was garbled.
        """
        now = time.time()
        when = now if submitted_at is None else submitted_at
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO jobs (request_id, base_url, prompt, params, state, submitted_at, "
                "target_path, created_at, updated_at, model, estimate_usd) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(request_id) DO UPDATE SET updated_at = excluded.updated_at, "
                "target_path = COALESCE(excluded.target_path, jobs.target_path), "
                "model = COALESCE(jobs.model, excluded.model), "
                "estimate_usd = COALESCE(jobs.estimate_usd, excluded.estimate_usd)",
                (
                    request_id,
                    base_url,
                    prompt,
                    json.dumps(dict(params), sort_keys=True, default=str),
                    IN_QUEUE,  # the spec: submit answers "accepted and queued"
                    when,
                    target_path,
                    now,
                    now,
                    model,
                    estimate_usd,
                ),
            )

    def update(self, request_id: str, **changes: Any) -> None:
        """Set columns of an existing row (a no-op for an unknown id)."""
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise TypeError(f"not journal columns: {', '.join(sorted(unknown))}")
        if not changes:
            return
        assignments = ", ".join(f"{name} = ?" for name in changes)
        values = [*changes.values(), time.time(), request_id]
        with self._connect() as conn:
            conn.execute(
                f"UPDATE jobs SET {assignments}, updated_at = ? WHERE request_id = ?", values
            )

    def observe_state(
        self,
        request_id: str,
        state: str,
        *,
        queue_position: int | None = None,
        at: float | None = None,
    ) -> None:
        """Record a state seen by a poll; stamps first ``in_progress`` and terminal times."""
        now = time.time() if at is None else at
        with self._connect() as conn:
            conn.execute(
                "UPDATE jobs SET state = ?, queue_position = ?, "
                "started_at = CASE WHEN ? = ? AND started_at IS NULL "
                "THEN ? ELSE started_at END, "
                "finished_at = CASE WHEN ? AND finished_at IS NULL THEN ? ELSE finished_at END, "
                "updated_at = ? WHERE request_id = ?",
                (
                    state,
                    queue_position,
                    state,
                    IN_PROGRESS,
                    now,
                    is_terminal_state(state),
                    now,
                    time.time(),
                    request_id,
                ),
            )

    def mark_gone(self, request_id: str, reason: str) -> None:
        """The service no longer knows this id: make the row terminal, keeping the reason."""
        now = time.time()
        with self._connect() as conn:
            conn.execute(
                "UPDATE jobs SET state = ?, error = ?, queue_position = NULL, "
                "finished_at = COALESCE(finished_at, ?), updated_at = ? WHERE request_id = ?",
                (GONE, reason, now, now, request_id),
            )

    def forget(self, request_id: str) -> bool:
        """Remove one job's row; False if there was none. The job itself is not touched."""
        with self._connect() as conn:
            cursor = conn.execute("DELETE FROM jobs WHERE request_id = ?", (request_id,))
        return cursor.rowcount > 0

    def prune(self, *, base_url: str | None = None, older_than: float | None = None) -> list[str]:
        """Remove the settled rows (:attr:`JobRecord.is_settled`: saved, cancelled, failed,
        gone), and return their ids; optionally only one service's, or those not updated for
        ``older_than`` seconds. Unfinished jobs, and completed ones whose outputs were never
        saved, always stay."""
        cutoff = None if older_than is None else time.time() - older_than
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                settled = [
                    record.request_id
                    for record in self.records(base_url=base_url)
                    if record.is_settled
                    and (cutoff is None or record.updated_at.timestamp() < cutoff)
                ]
                conn.executemany("DELETE FROM jobs WHERE request_id = ?", [(i,) for i in settled])
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        return settled

    # reads -----------------------------------------------------------------------------------

    def get(self, request_id: str) -> JobRecord | None:
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM jobs WHERE request_id = ?", (request_id,)
            ).fetchone()
        return None if row is None else JobRecord._from_row(row)

    def records(self, *, unfinished: bool = False, base_url: str | None = None) -> list[JobRecord]:
        """Every job, oldest first; optionally only unfinished ones, or one service's."""
        query = f"SELECT {_COLUMNS} FROM jobs"
        args: list[Any] = []
        if base_url is not None:
            query += " WHERE base_url = ?"
            args.append(base_url)
        query += " ORDER BY submitted_at, created_at, request_id"
        with self._connect() as conn:
            rows = conn.execute(query, args).fetchall()
        found = [JobRecord._from_row(row) for row in rows]
        return [r for r in found if r.is_unfinished] if unfinished else found

    def processing_samples(self, *, base_url: str, limit: int = 50) -> list[tuple[float, float]]:
        """``(video_seconds, processing_seconds)`` of recent completed jobs, oldest first."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT params, processing_seconds FROM jobs WHERE base_url = ? AND "
                "processing_seconds IS NOT NULL ORDER BY finished_at DESC LIMIT ?",
                (base_url, limit),
            ).fetchall()
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

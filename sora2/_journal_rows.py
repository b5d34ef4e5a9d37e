"""A journal's rows, whatever engine holds them: the record of one job, and the operations
both journals do alike, written once in the SQL both engines read.

``SqlJournal`` runs each operation with ``?`` marks on a ``{jobs}`` table; a journal (the SQLite
file, ``sora2._journal``; PostgreSQL, ``sora2._journal_pg``) supplies the connection, the
table's name, its placeholder and its own bookkeeping per job (PostgreSQL's leases). What is
not alike (opening, the schema, ``prune``'s transaction, leases) stays in each journal.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Final, Unpack

from ._types import GONE, IN_PROGRESS, IN_QUEUE, is_completed_state, is_terminal_state

if TYPE_CHECKING:
    from ._journal import NewJob, Seen

__all__ = ["COLUMNS", "JobRecord", "SqlJournal", "first_columns", "prunable"]

COLUMNS: Final = (
    "request_id, base_url, prompt, params, state, queue_position, submitted_at, started_at, "
    "finished_at, processing_seconds, video_url, target_path, output_path, error, created_at, "
    "updated_at, model, estimate_usd"
)
"""A job's columns, as both journals store them (PostgreSQL adds its lease's)."""


def first_columns(real: str) -> str:
    """The columns of the first journal's job table, as both engines declare them (``real``:
    the engine's floating point type); later ones are each journal's migrations."""
    return ",\n".join(
        f"    {line}".replace("REAL", real)
        for line in (
            "request_id TEXT PRIMARY KEY",
            "base_url TEXT NOT NULL",
            "prompt TEXT NOT NULL DEFAULT ''",
            "params TEXT NOT NULL DEFAULT '{}'",
            "state TEXT NOT NULL",
            "queue_position INTEGER",
            "submitted_at REAL NOT NULL",
            "started_at REAL",
            "finished_at REAL",
            "processing_seconds REAL",
            "video_url TEXT",
            "target_path TEXT",
            "output_path TEXT",
            "error TEXT",
            "created_at REAL NOT NULL",
            "updated_at REAL NOT NULL",
        )
    )


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
    def _from_row(cls, row: Mapping[str, Any]) -> JobRecord:
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


class SqlJournal:
    """The operations both journals share, written once: a journal gives ``_rows`` (run one
    statement, return its rows), its table's name and its placeholder, and may hook what it
    keeps per job (``_follow``, ``_settled``, ``_let_go``: PostgreSQL's leases)."""

    _table: ClassVar[str]
    _mark: ClassVar[str]
    _release: ClassVar[str] = ""
    """More assignments when nothing is left to do for a job, in the statement that says so
    (PostgreSQL drops its lease there)."""

    _observed: ClassVar[str] = ""
    """What an observed state's statement returns, for a journal that hooks ``_settled``
    (SQLite's keeps none, and needs no RETURNING: 3.35 or later)."""

    @property
    def location(self) -> str:
        """Where the journal lives (a file path, or a URL without its password)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r})"

    def _rows(self, query: str, args: Sequence[Any] = ()) -> list[Any]:
        """Run one statement; the rows it returns (none for one that returns none), each
        read by column name."""
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
        query, args = f"SELECT {COLUMNS} FROM {{jobs}}", []
        if base_url is not None:
            query, args = query + " WHERE base_url = ?", [base_url]
        return self._sql(query + " ORDER BY submitted_at, created_at, request_id"), args

    def get(self, request_id: str) -> JobRecord | None:
        """One job's row."""
        query = self._sql(f"SELECT {COLUMNS} FROM {{jobs}} WHERE request_id = ?")
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


def prunable(rows: Sequence[Mapping[str, Any]], older_than: float | None) -> list[str]:
    """The ids among ``rows`` that ``prune`` removes: settled (:attr:`JobRecord.is_settled`),
    and not updated for ``older_than`` seconds when given."""
    cutoff = None if older_than is None else time.time() - older_than
    return [
        record.request_id
        for record in map(JobRecord._from_row, rows)
        if record.is_settled and (cutoff is None or record.updated_at.timestamp() < cutoff)
    ]

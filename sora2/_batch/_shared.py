"""One batch, many workers: the rows of a batch claimed through a PostgreSQL journal.

Every worker (process) given the same rows and output directory name registers them in
``sora2.batch_rows`` and then takes them one at a time: ``SELECT ... FOR UPDATE SKIP LOCKED``
picks the first row nobody has claimed, and the same transaction marks it ``submitting``. So
each row is submitted by one worker, at most once in total.

A row's life in the table::

    todo -> submitting -> submitted -> done
                 \\-> unknown (the worker died mid-submit: the job may exist)

``submitting`` carries a lease (``worker``, ``updated_at``), renewed while its worker submits:
a claim whose worker died before recording the answer expires into ``unknown``, which no
worker submits again unless asked (``resubmit_unknown``), exactly like ``submit_unknown`` in
the manifest; if the job's id reached the journal before the death, the row adopts it. A
``submitted`` job is followed by whoever holds its journal lease (``sora2._journal_pg``); a
dead worker's jobs are adopted once their leases expire. Each worker stays until every row is
settled, then writes a manifest of every row, whichever worker ran it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from .._journal_pg import PostgresJournal
from .._types import CANCELLED, COMPLETED, FAILED, GONE
from ._manifest import INVALID, PENDING, BatchRow
from ._needs import BUDGET_PREFIX, UNKNOWN_SUBMIT, Budget
from ._rows import row_seconds

if TYPE_CHECKING:
    import psycopg

    from .._options import CostEstimate

__all__ = [
    "DONE",
    "NEXT_FOLLOW",
    "NEXT_SUBMIT",
    "UNKNOWN",
    "WAIT",
    "SharedRows",
    "State",
    "batch_key",
    "merge",
    "shared_rows",
    "state_of",
]


class State(StrEnum):
    """A row's state in the table (its life is drawn above)."""

    TODO = "todo"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    UNKNOWN = "unknown"
    DONE = "done"
    SKIPPED = "skipped"
    """Invalid, stopped by the budget, or its submit failed without making a job."""


TODO, SUBMITTING, SUBMITTED, UNKNOWN, DONE, SKIPPED = State

NEXT_SUBMIT: Final = "submit"
NEXT_FOLLOW: Final = "follow"
WAIT: Final = "wait"
"""``next_row``: nothing to take now, but rows are still in other workers' hands."""

_NOW: Final = "extract(epoch from clock_timestamp())"


def batch_key(directory_name: str, row_keys: Iterable[str]) -> str:
    """The batch's identity: its rows and the name of its output directory (not the full path,
    so workers on different machines share it)."""
    digest = hashlib.sha256(directory_name.encode())
    for key in sorted(row_keys):
        digest.update(b"\0" + key.encode())
    return digest.hexdigest()[:32]


def state_of(row: BatchRow) -> str:
    """The table's state for a manifest row."""
    if row.state == INVALID:
        return SKIPPED
    if row.request_id is None:
        if row.submit_unknown:
            return UNKNOWN
        return SKIPPED if row.state == FAILED else TODO
    if row.state in (COMPLETED, FAILED, CANCELLED, GONE):
        return DONE
    return SUBMITTED


def shared_rows(
    journal: object,
    name: str,
    rows: list[BatchRow],
    *,
    budget: Budget | None = None,
    costs: Mapping[str, CostEstimate] | None = None,
) -> SharedRows | None:
    """The shared table of this batch when the journal is PostgreSQL; else None."""
    if not isinstance(journal, PostgresJournal):
        return None
    shared = SharedRows(journal, batch_key(name, (r.key for r in rows)), budget=budget)
    shared.know(rows, costs or {})
    return shared


class SharedRows:
    """This worker's view of one batch's table: register, claim, record, read back.

    A ``budget`` is counted in the table, over every worker: a row's claim takes the batch's
    advisory lock, sums what the rows holding a job (or being submitted) cost, and refuses
    the row when the budget would be exceeded; then every row still to do is marked stopped
    by the budget, for all workers. Every worker of a batch must be given the same budget.
    """

    def __init__(
        self, journal: PostgresJournal, batch: str, *, budget: Budget | None = None
    ) -> None:
        self.journal = journal
        self.batch = batch
        self.worker = journal.owner
        self.budget = budget or Budget()
        self.rows: dict[str, BatchRow] = {}
        self.costs: Mapping[str, CostEstimate] = {}

    def know(self, rows: list[BatchRow], costs: Mapping[str, CostEstimate]) -> None:
        """The rows and their estimated costs, for the budget's checks and messages."""
        self.rows = {row.key: row for row in rows}
        self.costs = costs

    def register(self, rows: list[BatchRow], *, resubmit_unknown: bool) -> None:
        """Add the rows nobody registered yet; take ids this worker's manifest knows and the
        table does not; reopen rows whose last run left work (a failed download)."""
        now = time.time()

        def register(conn: psycopg.Connection[Any]) -> None:
            with conn.transaction():
                self.journal.round_trips += 1
                # One statement for every row (unnest of one array per column), not one each.
                conn.execute(
                    "INSERT INTO sora2.batch_rows (batch, row_key, position, state, request_id, "
                    "entry, updated_at, seconds, cost_usd) SELECT %s, * FROM unnest(%s::text[], "
                    "%s::int[], %s::text[], %s::text[], %s::text[], %s::float8[], %s::float8[], "
                    "%s::float8[]) ON CONFLICT (batch, row_key) DO UPDATE SET "
                    "request_id = excluded.request_id, state = excluded.state, "
                    "entry = excluded.entry, updated_at = excluded.updated_at "
                    "WHERE sora2.batch_rows.request_id IS NULL "
                    "AND excluded.request_id IS NOT NULL",
                    (
                        self.batch,
                        [row.key for row in rows],
                        list(range(len(rows))),
                        [str(state_of(row)) for row in rows],
                        [row.request_id for row in rows],
                        [json.dumps(row.to_dict(), default=str) for row in rows],
                        [now] * len(rows),
                        [row_seconds(row.input) for row in rows],
                        [self._usd(row.key) for row in rows],
                    ),
                )
                # A failed submit (no job) is tried again by a new run, as without sharing.
                reopen = [SKIPPED] + ([UNKNOWN] if resubmit_unknown else [])
                self.journal.round_trips += 1
                conn.execute(
                    "UPDATE sora2.batch_rows SET state = %s, worker = NULL WHERE batch = %s "
                    "AND request_id IS NULL AND state = ANY(%s) "
                    "AND entry::jsonb ->> 'state' <> %s",
                    (TODO, self.batch, reopen, INVALID),
                )

        self.journal.run(register)

    def reopen(self, keys: list[str]) -> None:
        """Rows whose job needs following again (their files are missing)."""
        if keys:
            self.journal.execute(
                "UPDATE sora2.batch_rows SET state = %s WHERE batch = %s AND row_key = ANY(%s) "
                "AND state = %s",
                (SUBMITTED, self.batch, keys, DONE),
            )

    def next_row(self, busy: set[str]) -> tuple[str, str, str | None] | str | None:
        """``(kind, row_key, request_id)`` of the next row for this worker: one to submit
        (claimed), or a job nobody follows (its lease claimed); ``WAIT`` while other workers
        still hold rows; None when every row is settled."""

        def take(conn: psycopg.Connection[Any]) -> tuple[str, str, str | None] | None:
            if not self.budget.limited:  # one statement: pick the first free row, mark it
                self.journal.round_trips += 1
                row = conn.execute(
                    f"UPDATE sora2.batch_rows SET state = %s, worker = %s, updated_at = {_NOW} "
                    "WHERE batch = %s AND row_key = (SELECT row_key FROM sora2.batch_rows "
                    "WHERE batch = %s AND state = %s ORDER BY position LIMIT 1 "
                    "FOR UPDATE SKIP LOCKED) RETURNING row_key",
                    (SUBMITTING, self.worker, self.batch, self.batch, TODO),
                ).fetchone()
                return None if row is None else (NEXT_SUBMIT, row["row_key"], None)
            with conn.transaction():  # one claim at a time: the budget is counted whole
                self.journal.round_trips += 3
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.batch,))
                row = conn.execute(
                    "SELECT row_key FROM sora2.batch_rows WHERE batch = %s AND state = %s "
                    "ORDER BY position LIMIT 1",
                    (self.batch, TODO),
                ).fetchone()
                if row is None or self._over_budget(conn, row["row_key"]):
                    return None
                conn.execute(
                    f"UPDATE sora2.batch_rows SET state = %s, worker = %s, updated_at = "
                    f"{_NOW} WHERE batch = %s AND row_key = %s",
                    (SUBMITTING, self.worker, self.batch, row["row_key"]),
                )
                return (NEXT_SUBMIT, row["row_key"], None)

        taken = self.journal.run(take)
        if taken is not None:
            return taken
        unsettled = self.journal.run(self._unsettled)
        followable = {
            r["request_id"]: r["row_key"]
            for r in unsettled
            if r["state"] == SUBMITTED and r["row_key"] not in busy
        }
        if followable:
            claimed = self.journal.claim(list(followable))
            if claimed:
                return (NEXT_FOLLOW, followable[claimed[0]], claimed[0])
        return WAIT if unsettled else None

    def _usd(self, key: str) -> float | None:
        cost = self.costs.get(key)
        return None if cost is None else cost.usd

    def _over_budget(self, conn: psycopg.Connection[Any], key: str) -> bool:
        """Whether the budget refuses row ``key``, counting every worker's jobs (under the
        batch's lock); if it does, every row still to do is marked stopped, with the reason."""
        used = conn.execute(
            "SELECT count(*) AS jobs, coalesce(sum(seconds), 0) AS seconds, "
            "coalesce(sum(cost_usd), 0) AS usd FROM sora2.batch_rows WHERE batch = %s "
            "AND (state = %s OR (request_id IS NOT NULL AND entry::jsonb ->> 'state' <> %s))",
            (self.batch, SUBMITTING, CANCELLED),
        ).fetchone()
        assert used is not None
        row = self.rows[key]
        refusal = self.budget.refusal(
            row, self.costs.get(key), (used["jobs"], used["seconds"], used["usd"])
        )
        if refusal is None:
            return False
        self.journal.round_trips += 1
        conn.execute(
            f"UPDATE sora2.batch_rows SET state = %s, worker = NULL, updated_at = {_NOW}, "
            "entry = (entry::jsonb || jsonb_build_object('state', %s::text, 'error', "
            "%s::text))::text WHERE batch = %s AND state = %s",
            (SKIPPED, PENDING, BUDGET_PREFIX + refusal, self.batch, TODO),
        )
        return True

    def _unsettled(self, conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
        """The rows not settled yet, in one statement: a claim whose worker died mid-submit
        becomes unknown; a job saved whose row does not say so yet (its worker is about to,
        or died first) is settled from the journal, never followed (and downloaded) a second
        time. Both are left out of the rows returned (they see the table as it was before);
        a "todo" row returned is being claimed by another worker right now."""
        self.journal.round_trips += 1
        return list(
            conn.execute(
                "WITH expired AS (UPDATE sora2.batch_rows SET state = %s WHERE batch = %s "
                f"AND state = %s AND updated_at < {_NOW} - %s RETURNING row_key), "
                "saved AS (UPDATE sora2.batch_rows b SET state = %s, entry = (b.entry::jsonb "
                "|| jsonb_build_object('state', %s::text, 'job_state', j.state, 'error', NULL, "
                "'outputs', jsonb_build_array(j.output_path)))::text FROM sora2.jobs j "
                "WHERE b.batch = %s AND b.state = %s AND j.request_id = b.request_id "
                "AND j.output_path IS NOT NULL RETURNING b.row_key) "
                "SELECT row_key, state, request_id FROM sora2.batch_rows WHERE batch = %s "
                "AND state IN (%s, %s, %s) AND row_key NOT IN (SELECT row_key FROM expired) "
                "AND row_key NOT IN (SELECT row_key FROM saved) ORDER BY position",
                (
                    UNKNOWN,
                    self.batch,
                    SUBMITTING,
                    self.journal.lease_seconds,
                    DONE,
                    COMPLETED,
                    self.batch,
                    SUBMITTED,
                    self.batch,
                    SUBMITTED,
                    SUBMITTING,
                    TODO,
                ),
            ).fetchall()
        )

    def adopt_unknown(self, target: str) -> int:
        """Give ``unknown`` rows the jobs the journal holds for this directory and no row has
        (a worker killed between the journal's write and the table's)."""

        def adopt(conn: psycopg.Connection[Any]) -> int:
            self.journal.round_trips += 1
            adopted = conn.execute(
                "WITH orphan AS ("
                " SELECT j.request_id, j.prompt, j.params FROM sora2.jobs j"
                " WHERE j.target_path = %s AND NOT EXISTS (SELECT 1 FROM sora2.batch_rows b"
                " WHERE b.batch = %s AND b.request_id = j.request_id)),"
                " matched AS ("
                " SELECT DISTINCT ON (o.request_id) o.request_id, b.row_key FROM orphan o"
                " JOIN sora2.batch_rows b ON b.batch = %s AND b.state = %s"
                " AND (b.entry::jsonb -> 'input') = (o.params::jsonb"
                " || jsonb_build_object('prompt', o.prompt))"
                " ORDER BY o.request_id, b.position)"
                " UPDATE sora2.batch_rows b SET request_id = m.request_id, state = %s"
                " FROM matched m WHERE b.batch = %s AND b.row_key = m.row_key"
                " RETURNING b.row_key",
                (target, self.batch, self.batch, UNKNOWN, SUBMITTED, self.batch),
            ).fetchall()
            return len(adopted)

        return self.journal.run(adopt)

    def renew(self, keys: list[str]) -> None:
        """Extend this worker's claims on rows it is still submitting: a slow submit (retries,
        a loaded machine) is not a dead worker's, so its row must not expire into unknown."""
        if keys:
            self.journal.execute(
                f"UPDATE sora2.batch_rows SET updated_at = {_NOW} WHERE batch = %s "
                "AND row_key = ANY(%s) AND worker = %s AND state = %s",
                (self.batch, keys, self.worker, SUBMITTING),
            )

    def record(self, key: str, state: str, request_id: str | None, entry: str) -> None:
        """Write what became of a row: its table state, its job's id, its manifest line."""
        self.journal.execute(
            f"UPDATE sora2.batch_rows SET state = %s, request_id = COALESCE(%s, request_id), "
            f"entry = %s, worker = %s, updated_at = {_NOW} WHERE batch = %s AND row_key = %s",
            (state, request_id, entry, self.worker, self.batch, key),
        )

    def entries(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """Every row's table state and last manifest line, by key."""
        rows = self.journal.execute(
            "SELECT row_key, state, request_id, entry FROM sora2.batch_rows WHERE batch = %s",
            (self.batch,),
        )
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for row in rows:
            entry = json.loads(row["entry"])
            if row["request_id"] is not None:
                entry["request_id"] = row["request_id"]
            out[row["row_key"]] = (row["state"], entry)
        return out


def merge(rows: list[BatchRow], entries: dict[str, tuple[str, dict[str, Any]]]) -> None:
    """Bring this worker's rows up to date with the table (rows run by other workers)."""
    for row in rows:
        found = entries.get(row.key)
        if found is None:
            continue
        state, entry = found
        if (entry.get("request_id") and not row.request_id) or state in (DONE, SUBMITTED):
            fresh = BatchRow.from_dict(entry)
            for name in ("request_id", "state", "job_state", "outputs", "error"):
                setattr(row, name, getattr(fresh, name))
            row.submit_unknown = False
        elif state == UNKNOWN and row.request_id is None:
            # Sent, but its worker died before the answer was recorded: say why it waits.
            row.submit_unknown = True
            row.state, row.error = PENDING, UNKNOWN_SUBMIT
        elif state == SKIPPED and row.request_id is None and row.state != INVALID:
            fresh = BatchRow.from_dict(entry)  # stopped by the budget, or its submit failed
            row.state, row.error = fresh.state, fresh.error

"""The journal on PostgreSQL: one record of paid jobs for many processes on many machines.

The same rows as the SQLite journal (``sora2._journal``), plus a lease per job: the process
that submitted a job (or adopted it) owns it until ``lease_expires``, a time of the database's
own clock, and renews it from a background thread every third of the lease. A process that dies
stops renewing; once its leases have expired, another process's ``resume`` claims the jobs and
finishes them. Nothing here ever submits, so two followers cost nothing but polls.

The schema lives in its own PostgreSQL schema, ``sora2``, created on first use under an advisory
lock and versioned in ``sora2.schema_version``: a later release adds a migration to
``_MIGRATIONS`` and the first process to connect applies it.

Every operation is retried while the database is unreachable (a restart, a fail-over), for up to
``JOURNAL_OUTAGE_SECONDS``; after that it raises ``JournalUnavailableError``, which the client
logs like a full disk for the SQLite journal.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, Final, TypeVar

from ._exceptions import ConfigurationError, JournalUnavailableError
from ._journal import SqlJournal, first_columns, prunable
from ._options import JOURNAL_OUTAGE_SECONDS, LEASE_ENV_VAR, LEASE_SECONDS
from ._transports import logger

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

__all__ = ["SCHEMA_VERSION", "PostgresJournal", "redact_url"]

T = TypeVar("T")

SCHEMA_VERSION: Final = 4
"""The schema this release reads and writes."""

_MIGRATIONS: Final[dict[int, str]] = {
    1: """
CREATE TABLE sora2.jobs (
"""
    + first_columns("DOUBLE PRECISION")
    + """,
    lease_owner TEXT,
    lease_expires DOUBLE PRECISION
);
CREATE INDEX jobs_by_update ON sora2.jobs (updated_at);
CREATE INDEX jobs_by_base_url ON sora2.jobs (base_url, submitted_at);
CREATE TABLE sora2.batch_rows (
    batch TEXT NOT NULL,
    row_key TEXT NOT NULL,
    position INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'todo',
    worker TEXT,
    request_id TEXT,
    entry TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (batch, row_key)
);
CREATE INDEX batch_rows_todo ON sora2.batch_rows (batch, state, position);
""",
    2: "ALTER TABLE sora2.jobs ADD COLUMN model TEXT",
    3: "ALTER TABLE sora2.jobs ADD COLUMN estimate_usd DOUBLE PRECISION",
    4: "ALTER TABLE sora2.batch_rows ADD COLUMN seconds DOUBLE PRECISION, "
    "ADD COLUMN cost_usd DOUBLE PRECISION",
}
"""Version -> the DDL that brings the schema from the version before to it."""

_NOW: Final = "extract(epoch from clock_timestamp())"
"""The database's clock: leases of processes on different machines compare on one clock."""


def redact_url(url: str) -> str:
    """The URL without its password, for messages and reprs."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    userinfo, _, host = rest.partition("@")
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}{':***' if ':' in userinfo else ''}@{host}"


def _psycopg() -> Any:
    """psycopg and its pool, or the one-line error giving the install command that works for
    how sora2 was installed (it is not on a package index)."""
    from ._exceptions import needs_extra

    with needs_extra("a postgresql:// journal", "postgres"):
        import psycopg
        import psycopg_pool
    return psycopg, psycopg_pool


def _lease_from_env() -> float:
    raw = os.environ.get(LEASE_ENV_VAR)
    if not raw:
        return LEASE_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ConfigurationError(f"{LEASE_ENV_VAR} must be a number of seconds > 0, not {raw!r}")
    return value


class PostgresJournal(SqlJournal):
    """The journal in the PostgreSQL database at ``url`` (schema created on first use).

    ``lease_seconds`` is how long this process's claim on a job lasts unrenewed (default
    ``$SORA2_LEASE_SECONDS``, else ``LEASE_SECONDS``); ``outage_seconds`` how long an operation
    waits for an unreachable database before raising ``JournalUnavailableError``.
    """

    _table = "sora2.jobs"
    _mark = "%s"
    _release = ", lease_owner = NULL, lease_expires = NULL"
    _observed = " RETURNING target_path, output_path"

    def __init__(
        self,
        url: str,
        *,
        lease_seconds: float | None = None,
        outage_seconds: float = JOURNAL_OUTAGE_SECONDS,
        owner: str | None = None,
    ) -> None:
        self._psycopg, self._pool_module = _psycopg()
        self.url = url
        self.lease_seconds = _lease_from_env() if lease_seconds is None else float(lease_seconds)
        if self.lease_seconds <= 0:
            raise ConfigurationError(f"lease_seconds must be > 0, not {lease_seconds!r}")
        self.outage_seconds = outage_seconds
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._pool: ConnectionPool[Any] | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._held: set[str] = set()
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self._in_transaction = threading.local()
        self.round_trips = 0
        """Statements sent to the database (measured by the benchmark)."""

    @property
    def location(self) -> str:
        return redact_url(self.url)

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        return (JournalUnavailableError,)

    def check_writable(self) -> None:
        """Prove the journal can record a job before anything is paid for: connect and bring
        the schema up to date. Raises ``JournalError`` naming the (redacted) URL when it cannot."""
        from ._exceptions import JournalError

        try:
            self._open_pool()
        except (JournalUnavailableError, ConfigurationError) as exc:
            raise JournalError(
                f"journal {self.location} cannot record job ids ({exc}); nothing was submitted. "
                "Choose another journal (--journal, journal=), or run without one "
                "(--no-journal, journal=False: no resume after a crash)",
                path=self.location,
            ) from None

    # connections -------------------------------------------------------------------------------

    def _open_pool(self) -> ConnectionPool[Any]:
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                from psycopg.rows import dict_row

                pool = self._pool_module.ConnectionPool(
                    self.url,
                    min_size=1,
                    max_size=8,
                    open=False,
                    kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": 5},
                    timeout=10.0,
                    name="sora2-journal",
                )
                pool.open(wait=False)
                self._pool, self._pid = pool, os.getpid()
                self._held = set()
                try:
                    self._migrate(pool)
                except BaseException:
                    self._pool = None
                    pool.close()
                    raise
            return self._pool

    def _migrate(self, pool: ConnectionPool[Any]) -> None:
        """Create or upgrade the schema, once, whichever process gets there first."""

        def migrate(conn: psycopg.Connection[Any]) -> None:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('sora2.schema'))")
                conn.execute("CREATE SCHEMA IF NOT EXISTS sora2")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS sora2.schema_version (version INTEGER NOT NULL)"
                )
                row = conn.execute("SELECT max(version) AS v FROM sora2.schema_version").fetchone()
                current = (row or {}).get("v") or 0
                if current > SCHEMA_VERSION:
                    raise ConfigurationError(
                        f"the journal at {self.location} has schema version {current}, newer "
                        f"than this sora2 understands ({SCHEMA_VERSION}): upgrade sora2"
                    )
                for version in range(current + 1, SCHEMA_VERSION + 1):
                    conn.execute(_MIGRATIONS[version])
                    conn.execute(
                        "INSERT INTO sora2.schema_version (version) VALUES (%s)", (version,)
                    )
                    logger.info("journal %s: schema version %d", self.location, version)

        self._retrying(pool, migrate)

    def _retrying(
        self, pool: ConnectionPool[Any], action: Callable[[psycopg.Connection[Any]], T]
    ) -> T:
        """Run ``action`` on a pooled connection; while the database is unreachable, again."""
        psycopg = self._psycopg
        deadline = time.monotonic() + self.outage_seconds
        delay = 0.1
        while True:
            try:
                with pool.connection() as conn:
                    return action(conn)
            except (psycopg.OperationalError, self._pool_module.PoolTimeout) as exc:
                if time.monotonic() + delay > deadline:
                    raise JournalUnavailableError(
                        f"the journal at {self.location} is unreachable: {exc}"
                    ) from None
                logger.warning("journal %s unreachable, retrying: %s", self.location, exc)
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
            except psycopg.Error as exc:
                raise JournalUnavailableError(f"journal {self.location}: {exc}") from None

    def run(self, action: Callable[[psycopg.Connection[Any]], T]) -> T:
        """Run ``action`` on a connection of the journal's pool (autocommit; dict rows), or
        on this thread's open :meth:`transaction`."""
        held = getattr(self._in_transaction, "conn", None)
        if held is not None:
            return action(held)
        return self._retrying(self._open_pool(), action)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Every write inside (from this thread) on one connection, in one transaction
        committed at the end: an async client's group commit. Not retried inside: a failed
        batch is rolled back, and its writes are made again one by one."""
        psycopg = self._psycopg
        try:
            with self._open_pool().connection() as conn, conn.transaction():
                self._in_transaction.conn = conn
                try:
                    yield
                finally:
                    self._in_transaction.conn = None
        except (psycopg.Error, self._pool_module.PoolTimeout) as exc:
            raise JournalUnavailableError(f"journal {self.location}: {exc}") from None

    def _rows(self, query: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self.execute(query, args)

    def execute(self, query: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """One statement (autocommit, retried through an outage); the rows it returns, as
        dicts (none for a statement that returns none)."""

        def action(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
            self.round_trips += 1
            cursor = conn.execute(query, args)
            return list(cursor.fetchall()) if cursor.description else []

        return self.run(action)

    def close(self) -> None:
        """Give up this process's leases (another process may adopt at once) and disconnect."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
            self._renewer = None
        pool, self._pool = self._pool, None
        if pool is None or self._pid != os.getpid():
            return
        held, self._held = list(self._held), set()
        if held:
            with suppress(JournalUnavailableError):
                self.outage_seconds, outage = 0.0, self.outage_seconds
                try:
                    self._retrying(
                        pool,
                        lambda conn: conn.execute(
                            "UPDATE sora2.jobs SET lease_owner = NULL, lease_expires = NULL "
                            "WHERE lease_owner = %s AND request_id = ANY(%s)",
                            (self.owner, held),
                        ),
                    )
                finally:
                    self.outage_seconds = outage
        pool.close()

    # leases ------------------------------------------------------------------------------------

    def _hold(self, request_ids: Sequence[str]) -> None:
        with self._lock:
            self._held.update(request_ids)
            if self._renewer is None or not self._renewer.is_alive():
                self._stop.clear()
                self._renewer = threading.Thread(
                    target=self._renew_forever, name="sora2-journal-leases", daemon=True
                )
                self._renewer.start()

    def _let_go(self, request_id: str) -> None:
        with self._lock:
            self._held.discard(request_id)

    def _renew_forever(self) -> None:
        while not self._stop.wait(self.lease_seconds / 3):
            try:
                self.renew()
            except JournalUnavailableError as exc:
                logger.warning("journal %s: leases not renewed: %s", self.location, exc)

    def renew(self) -> list[str]:
        """Extend this process's leases; returns the ids it lost (taken over after expiry)."""
        with self._lock:
            held = list(self._held)
        if not held:
            return []
        rows = self.execute(
            f"UPDATE sora2.jobs SET lease_expires = {_NOW} + %s "
            "WHERE lease_owner = %s AND request_id = ANY(%s) RETURNING request_id",
            (self.lease_seconds, self.owner, held),
        )
        kept = {row["request_id"] for row in rows}
        lost = [i for i in held if i not in kept]
        for request_id in lost:
            logger.warning("journal: %s is now followed by another process", request_id)
            self._let_go(request_id)
        return lost

    def claim(self, request_ids: Sequence[str]) -> list[str]:
        """Take the jobs no live process follows (no lease, an expired one, or ours)."""
        if not request_ids:
            return []
        rows = self.execute(
            f"UPDATE sora2.jobs SET lease_owner = %s, lease_expires = {_NOW} + %s "
            "WHERE request_id = ANY(%s) AND output_path IS NULL AND (lease_owner IS NULL "
            f"OR lease_owner = %s OR lease_expires < {_NOW}) RETURNING request_id",
            (self.owner, self.lease_seconds, list(request_ids), self.owner),
        )
        claimed = {row["request_id"] for row in rows}
        self._hold(list(claimed))
        return [i for i in request_ids if i in claimed]

    def _settled(self, request_id: str) -> None:
        """Nothing is left to do for this job: its lease goes (one statement, no wait)."""
        self._let_go(request_id)
        self.execute(
            "UPDATE sora2.jobs SET lease_owner = NULL, lease_expires = NULL "
            "WHERE request_id = %s AND lease_owner = %s",
            (request_id, self.owner),
        )

    def _follow(self, request_id: str) -> None:
        self._hold([request_id])

    def _submission_extra(self) -> tuple[str, str, tuple[Any, ...]]:
        """A new job is leased to this process."""
        return (
            ", lease_owner, lease_expires",
            f", %s, {_NOW} + %s",
            (self.owner, self.lease_seconds),
        )

    def prune(self, *, base_url: str | None = None, older_than: float | None = None) -> list[str]:
        """Remove the settled rows (see ``Journal.prune``) in one transaction."""

        def prune(conn: psycopg.Connection[Any]) -> list[str]:
            with conn.transaction():
                query, args = self._select(base_url)
                settled = prunable(conn.execute(query + " FOR UPDATE", args).fetchall(), older_than)
                conn.execute("DELETE FROM sora2.jobs WHERE request_id = ANY(%s)", (settled,))
            return settled

        return self.run(prune)

    # reads -------------------------------------------------------------------------------------

    def lease(self, request_id: str) -> tuple[str | None, float | None]:
        """``(owner, seconds left)`` of a job's lease (``sora2 jobs`` and the tests)."""
        rows = self.execute(
            f"SELECT lease_owner, lease_expires - {_NOW} AS left FROM sora2.jobs "
            "WHERE request_id = %s",
            (request_id,),
        )
        return (rows[0]["lease_owner"], rows[0]["left"]) if rows else (None, None)

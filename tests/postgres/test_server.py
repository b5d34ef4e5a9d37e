"""The throwaway PostgreSQL server of the tests (tests/_postgres.py) itself."""

from __future__ import annotations

import psycopg
from _postgres import PostgresServer


def test_server_answers_on_loopback(postgres_server: PostgresServer) -> None:
    """The session's server listens on 127.0.0.1 and runs PostgreSQL 15 or later."""
    assert postgres_server.url.startswith("postgresql://postgres@127.0.0.1:")
    with psycopg.connect(postgres_server.url) as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
    assert row is not None and int(row[0]) >= 150000


def test_each_test_gets_an_empty_database(postgres_url: str) -> None:
    """``postgres_url`` names a database of its own, with no tables yet."""
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    assert (0,) == row

"""Shared fixtures: nothing here touches the internet; servers bind to 127.0.0.1 only."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from _postgres import HOW_TO_RUN, PostgresServer, find_bindir

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL server on 127.0.0.1 for the session; skips, saying how to run
    these tests, where the server binaries or psycopg are missing."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(HOW_TO_RUN)
    pytest.importorskip("psycopg", reason="psycopg is missing: pip install 'sora2[postgres]'")
    server = PostgresServer(bindir)
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh, empty database on the session's server, as a ``postgresql://`` URL."""
    import psycopg

    name = f"test_{next(_databases)}"
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres_server.url.rsplit("/", 1)[0] + f"/{name}"

"""Fixtures of every folder: isolation from the developer's environment, fake time, the emulator
over HTTP, and PostgreSQL. Nothing here touches the internet; servers bind to 127.0.0.1 only."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from _fakes import FakeClock
from _postgres import HOW_TO_RUN, PostgresServer, find_bindir

from sora2.emulator import Emulator, serve

_databases = itertools.count(1)
_AMBIENT = (
    "RUNCOMFY_API_TOKEN",
    "RUNCOMFY_TOKEN",
    "YOUR_API_TOKEN",
    "RUNCOMFY_BASE_URL",
    "SORA2_TRUSTED_HOSTS",
    "SORA2_LEASE_SECONDS",
)
"""Settings a developer's environment may hold that no test may inherit."""


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (the client's loop), not on every backend anyio finds."""
    return "asyncio"


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A test of its own: no ambient token or setting, ``$SORA2_JOURNAL`` and ``$XDG_DATA_HOME``
    inside ``tmp_path``, and a fresh working directory, which it returns.

    The folders whose every test needs it make it autouse in their conftest.
    """
    for name in _AMBIENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SORA2_JOURNAL", str(tmp_path / "journal.sqlite3"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def clock() -> FakeClock:
    """Fake time for the client and the emulator alike (a folder may offer a subclass)."""
    return FakeClock()


@pytest.fixture
def server(emulator: Emulator) -> Iterator[str]:
    """The test's ``emulator`` fixture served over HTTP on 127.0.0.1."""
    with serve(emulator) as url:
        yield url


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

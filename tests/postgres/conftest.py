"""Fixtures of the PostgreSQL tests: every test in its own directory and database, with no
ambient token or journal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sora2._journal_pg import PostgresJournal


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No developer token, journal or data directory leaks in; the working directory is new."""
    for name in ("RUNCOMFY_API_TOKEN", "RUNCOMFY_TOKEN", "YOUR_API_TOKEN", "RUNCOMFY_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("SORA2_LEASE_SECONDS", raising=False)
    monkeypatch.setenv("SORA2_JOURNAL", str(tmp_path / "unused.sqlite3"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def journals(postgres_url: str) -> Iterator[list[PostgresJournal]]:
    """Journals opened by a test (``journals.append(...)``), all closed after it."""
    made: list[PostgresJournal] = []
    yield made
    for journal in made:
        journal.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"

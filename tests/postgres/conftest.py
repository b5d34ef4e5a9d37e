"""Fixtures of the PostgreSQL tests: every test in its own directory and database, with no
ambient token or journal."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sora2._journal_pg import PostgresJournal


@pytest.fixture(autouse=True)
def _isolated(isolated: Path) -> None:
    """Every test here runs isolated (tests/conftest.py)."""


@pytest.fixture
def journals(postgres_url: str) -> Iterator[list[PostgresJournal]]:
    """Journals opened by a test (``journals.append(...)``), all closed after it."""
    made: list[PostgresJournal] = []
    yield made
    for journal in made:
        journal.close()

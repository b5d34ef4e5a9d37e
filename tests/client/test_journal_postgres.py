"""The journal's semantics on PostgreSQL: the SQLite journal's tests of resume and of
generate's target, run again with ``journal="postgresql://..."``."""

from __future__ import annotations

import pytest

from .test_journal import TestGenerateTarget as TestGenerateTarget
from .test_journal import TestResume as TestResume

pytestmark = pytest.mark.anyio


@pytest.fixture
def journal_path(postgres_url: str) -> str:
    """Every client of these tests (and the tests' own reads) use one PostgreSQL database."""
    return postgres_url

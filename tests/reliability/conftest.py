"""Fixtures of the reliability tests: an isolated environment, and no test reads a real token.

Servers bind to 127.0.0.1 only; nothing here touches the internet.
"""

from __future__ import annotations

from pathlib import Path

import pytest

_ENV_VARS = (
    "RUNCOMFY_API_TOKEN",
    "RUNCOMFY_TOKEN",
    "YOUR_API_TOKEN",
    "RUNCOMFY_BASE_URL",
    "SORA2_TRUSTED_HOSTS",
    "SORA2_JOURNAL",
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own directory and journal, and never the developer's token."""
    for name in _ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SORA2_JOURNAL", str(tmp_path / "env-journal.sqlite3"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work

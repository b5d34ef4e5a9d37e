"""The PostgreSQL journal (sora2._journal_pg): its schema, its errors, and the CLI's
``--journal postgresql://...``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import psycopg
import pytest
from cli.helpers import run

from sora2 import Client, ConfigurationError, JournalError, MissingExtraError
from sora2._journal import Journal
from sora2._journal_pg import SCHEMA_VERSION, PostgresJournal, redact_url

BASE_URL = "https://model-api.example"


def _cli(*args: str) -> tuple[int, str, str]:
    result = run(*args)
    return result.exit_code, result.stdout, result.stderr


def test_schema_is_created_on_first_use_and_versioned(
    postgres_url: str, journals: list[PostgresJournal]
) -> None:
    """The first operation creates schema ``sora2`` with its tables and records its version."""
    journal = PostgresJournal(postgres_url)
    journals.append(journal)
    assert [] == journal.records()
    with psycopg.connect(postgres_url) as conn:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'sora2'"
            )
        }
        versions = [row[0] for row in conn.execute("SELECT version FROM sora2.schema_version")]
    assert {"jobs", "batch_rows", "schema_version"} == tables
    assert list(range(1, SCHEMA_VERSION + 1)) == versions


def test_two_journals_migrate_once(postgres_url: str, journals: list[PostgresJournal]) -> None:
    """A second process opening the same database finds the schema and adds nothing."""
    journals.extend([PostgresJournal(postgres_url), PostgresJournal(postgres_url)])
    for journal in journals:
        journal.records()
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute("SELECT count(*) FROM sora2.schema_version").fetchone()
    assert (SCHEMA_VERSION,) == row


def test_a_newer_schema_is_refused(postgres_url: str, journals: list[PostgresJournal]) -> None:
    """A database migrated by a later release gives a clear error, not a wrong write."""
    first = PostgresJournal(postgres_url)
    journals.append(first)
    first.records()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("INSERT INTO sora2.schema_version VALUES (%s)", (SCHEMA_VERSION + 1,))
    later = PostgresJournal(postgres_url)
    journals.append(later)
    with pytest.raises(ConfigurationError, match="newer than this sora2 understands"):
        later.records()


def test_rows_forget_and_prune(postgres_url: str, journals: list[PostgresJournal]) -> None:
    """Record, observe, forget and prune behave as on SQLite; unfinished jobs stay, and so
    does a completed job whose outputs were never saved (its row is its only record)."""
    journal = PostgresJournal(postgres_url)
    journals.append(journal)
    for request_id in ("a", "b", "c", "d"):
        journal.record_submission(request_id, base_url=BASE_URL, prompt="p", params={"n": 1})
    journal.observe_state("a", "cancelled")
    journal.observe_state("b", "in_progress")
    journal.observe_state("d", "completed")
    record = journal.get("b")
    assert record is not None and record.started_at is not None and record.params == {"n": 1}
    assert ["a"] == journal.prune(base_url=BASE_URL)
    assert ["b", "c"] == [r.request_id for r in journal.records(unfinished=True)]
    assert journal.forget("c") and not journal.forget("c")
    assert ["b", "d"] == [r.request_id for r in journal.records()]
    with pytest.raises(TypeError):
        journal.update("b", request_id="x")


def test_the_password_never_shows() -> None:
    """A URL's password is masked in the journal's location and repr."""
    url = "postgresql://sora2:hunter2@db.example:5432/jobs"
    assert "postgresql://sora2:***@db.example:5432/jobs" == redact_url(url)
    journal = PostgresJournal(url)
    assert "hunter2" not in repr(journal) and "hunter2" not in journal.location


def test_a_url_without_the_extra_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    """Without psycopg a postgresql:// journal says which extra to install, and creates no
    folders named after the URL."""
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(MissingExtraError, match=r"needs the \[postgres\] extra.*pip install"):
        Client(api_key="t", journal="postgresql://sora2@127.0.0.1:5432/postgres")
    code, _, err = _cli("jobs", "--journal", "postgresql://sora2@127.0.0.1:5432/postgres")
    assert 0 != code
    assert "[postgres] extra" in err and "pip install" in err and "Traceback" not in err
    assert [] == list(isolated.iterdir())


def test_the_sqlite_journal_refuses_a_url(isolated: Path) -> None:
    """``Journal(url)`` is an error, not a folder called ``postgresql:``."""
    with pytest.raises(ConfigurationError, match="database URL"):
        Journal("postgresql://sora2@127.0.0.1/postgres")
    assert [] == list(isolated.iterdir())


def test_cli_lists_forgets_and_prunes(
    postgres_url: str, journals: list[PostgresJournal], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--journal URL`` and ``SORA2_JOURNAL=URL`` reach the same rows."""
    journal = PostgresJournal(postgres_url)
    journals.append(journal)
    journal.record_submission("done", base_url=BASE_URL, prompt="one", params={})
    journal.record_submission("open", base_url=BASE_URL, prompt="two", params={})
    journal.observe_state("done", "cancelled")
    code, out, err = _cli("jobs", "--journal", postgres_url, "--base-url", BASE_URL, "--json")
    assert 0 == code, err
    assert ["done", "open"] == [job["request_id"] for job in json.loads(out)["jobs"]]
    monkeypatch.setenv("SORA2_JOURNAL", postgres_url)
    code, out, err = _cli("jobs", "--prune", "--base-url", BASE_URL, "--json")
    assert 0 == code, err
    assert (["done"], ["open"]) == (
        json.loads(out)["pruned"],
        [job["request_id"] for job in json.loads(out)["jobs"]],
    )
    code, out, err = _cli("forget", "open", "--base-url", BASE_URL)
    assert 0 == code, err
    assert [] == journal.records()


def test_an_unreachable_database_refuses_to_submit() -> None:
    """A postgresql:// journal that cannot be reached refuses the submit with JournalError
    (its password masked) before anything is sent: no paid job goes unrecorded."""
    import anyio
    import httpx

    from sora2 import AsyncClient
    from sora2.emulator import create_app

    app = create_app(token="t")
    journal = PostgresJournal("postgresql://sora2:hunter2@127.0.0.1:1/jobs", outage_seconds=0.2)

    async def submit() -> None:
        async with AsyncClient(
            api_key="t",
            base_url="http://127.0.0.1:8000",
            transport=httpx.ASGITransport(app=app),
            journal=journal,
        ) as client:
            await client.submit("A lighthouse at dawn")

    with pytest.raises(JournalError) as caught:
        anyio.run(submit)
    assert "127.0.0.1:1" in str(caught.value) and "hunter2" not in str(caught.value)
    assert 0 == app.stats.requests["submit"]

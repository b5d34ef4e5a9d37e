"""docs/services.md: its Python example runs as written, with ``SORA2_JOURNAL`` naming a
PostgreSQL database and an emulator on 127.0.0.1, and its start-up adopts a dead replica's
job."""

from __future__ import annotations

import re
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sora2 import Client
from sora2._inputs import input_fields
from sora2._journal_pg import PostgresJournal
from sora2.emulator import Emulator, create_app, serve

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "services.md"
TOKEN = "sk-services-doc-test"


def _python_blocks() -> list[str]:
    text = PAGE.read_text(encoding="utf-8")
    return [textwrap.dedent(code) for code in re.findall(r"```python\n(.*?)\n```", text, re.S)]


@pytest.fixture
def emulator() -> Emulator:
    """Real time, sped up so that a job ends within about a second."""
    probe = create_app(token=TOKEN)
    longest = max(input_fields()["seconds"].choices or (20,))
    queued, running = probe.phase_durations(longest)
    return create_app(token=TOKEN, speed=(queued + running) / 1.0, workers=8)


@pytest.fixture
def server(emulator: Emulator) -> Iterator[str]:
    with serve(emulator) as url:
        yield url


def test_the_page_has_one_example() -> None:
    """The page's example is found (an empty list would pass vacuously)."""
    assert 1 == len(_python_blocks())


def test_the_service_example_runs_and_adopts_on_start_up(
    postgres_url: str,
    server: str,
    emulator: Emulator,
    isolated: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A job left by a replica that is gone is finished by the app's start-up sweep; the
    example's own request is journaled in PostgreSQL."""
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", TOKEN)
    monkeypatch.setenv("RUNCOMFY_BASE_URL", server)
    monkeypatch.setenv("SORA2_JOURNAL", postgres_url)
    gone = PostgresJournal(postgres_url)
    with Client(journal=gone) as replica:
        orphan = replica.submit("left by a replica that is gone").request_id
    gone.close()

    namespace: dict[str, Any] = {"__name__": "services_md"}
    exec(compile(_python_blocks()[0], str(PAGE), "exec"), namespace)

    printed = capsys.readouterr().out.split()
    # Started again (another replica, or a restart), the app's sweep finishes the orphan.
    from starlette.testclient import TestClient

    journal = PostgresJournal(postgres_url)
    try:
        with TestClient(namespace["app"]):
            deadline = time.monotonic() + 60
            while (found := journal.get(orphan)) is None or found.output_path is None:
                assert time.monotonic() < deadline, "the orphan was never adopted"
                time.sleep(0.05)
        adopted = journal.get(orphan)
        created = journal.get(printed[0])
    finally:
        journal.close()
    assert created is not None and "a lighthouse at dusk" == created.prompt
    assert adopted is not None and adopted.output_path is not None
    assert Path(adopted.output_path).is_file()
    assert Path(adopted.output_path).parent == isolated / "videos"
    assert 2 == emulator.stats.requests["submit"]

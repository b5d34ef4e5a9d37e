"""docs/services.md: its Python example runs as written, in a process of its own (as an app
would: OpenTelemetry's providers are process-wide), with ``SORA2_JOURNAL`` naming a PostgreSQL
database and an emulator on 127.0.0.1; its start-up adopts a dead replica's job, and the spans
of both jobs come out."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sora2._inputs import input_fields
from sora2._journal_pg import PostgresJournal
from sora2.emulator import Emulator, create_app

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "services.md"
TOKEN = "sk-services-doc-test"

_DRIVER = """
import json, sys, time
from starlette.testclient import TestClient
from sora2 import Client
from sora2._journal_pg import PostgresJournal

page, url = sys.argv[1:3]
namespace = {"__name__": "services_md"}
exec(compile(open(page, encoding="utf-8").read(), page, "exec"), namespace)
# A replica submits a job and dies (its journal closed: no lease left) ...
journal = PostgresJournal(url)
with Client(journal=journal) as replica:
    orphan = replica.submit("left by a replica that is gone").request_id
journal.close()
# ... and the app, started again (another replica, or a restart), finishes it.
with TestClient(namespace["app"]):
    deadline = time.monotonic() + 60
    while (found := journal.get(orphan)) is None or found.output_path is None:
        if time.monotonic() > deadline:
            sys.exit(f"the orphan was never adopted: {found}")
        time.sleep(0.05)
journal.close()
spans = [
    {"name": s.name, "attributes": dict(s.attributes or {})}
    for s in namespace["spans"].get_finished_spans()
]
print(orphan)
print(json.dumps(spans))
"""


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


def test_the_page_has_one_example() -> None:
    """The page's example is found (an empty list would pass vacuously)."""
    assert 1 == len(_python_blocks())


def test_the_service_example_runs_traces_and_adopts_on_start_up(
    postgres_url: str, server: str, emulator: Emulator, isolated: Path
) -> None:
    """A job left by a replica that is gone is finished by the app's start-up sweep; the
    example's own request is journaled in PostgreSQL; both jobs' spans reach the app's
    OpenTelemetry exporter, carrying their request ids."""
    example = isolated / "services_md.py"
    example.write_text(_python_blocks()[0], encoding="utf-8")
    environment = {
        **os.environ,
        "RUNCOMFY_API_TOKEN": TOKEN,
        "RUNCOMFY_BASE_URL": server,
        "SORA2_JOURNAL": postgres_url,
    }
    done = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(example), postgres_url],
        cwd=isolated,
        env=environment,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert 0 == done.returncode, done.stderr
    printed, orphan, spans_line = done.stdout.strip().splitlines()[-3:]
    spans = json.loads(spans_line)

    journal = PostgresJournal(postgres_url)
    try:
        adopted = journal.get(orphan)
        created = journal.get(printed.split()[0])
    finally:
        journal.close()
    assert created is not None and "a lighthouse at dusk" == created.prompt
    assert adopted is not None and adopted.output_path is not None
    assert Path(adopted.output_path).is_file()
    assert Path(adopted.output_path).parent == isolated / "videos"
    assert 2 == emulator.stats.requests["submit"]
    named = {(s["name"], s["attributes"].get("sora2.request_id")) for s in spans}
    assert {("sora2.submit", created.request_id), ("sora2.download", orphan)} <= named
    assert [] == [s for s in spans if TOKEN in json.dumps(s)]

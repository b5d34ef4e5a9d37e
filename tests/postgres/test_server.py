"""The throwaway PostgreSQL server of the tests (tests/_postgres.py) itself."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

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


_STARTER = """
import sys
from pathlib import Path

from benchmarks._postgres import PostgresServer

server = PostgresServer(Path(sys.argv[1]))
server.init()
server.start()
pid = (server.data / "postmaster.pid").read_text().split()[0]
print(pid, server.root, flush=True)
sys.stdin.read()  # until the test kills this process
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_killed_starter_leaves_no_server_running(postgres_server: PostgresServer) -> None:
    """A process that started a server and is then SIGKILLed leaves neither the server nor its
    directory behind: the server's watchdog stops it and removes the files."""
    starter = subprocess.Popen(
        [sys.executable, "-c", _STARTER, str(postgres_server.bindir)],
        cwd=Path(__file__).parents[2],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert starter.stdout is not None
        pid_text, root = starter.stdout.readline().split()
        pid = int(pid_text)
        assert _alive(pid)
    finally:
        starter.kill()
        starter.wait()
    for _ in range(600):  # a bounded wait, not a speed check: at most a minute
        if not _alive(pid) and not Path(root).exists():
            break
        time.sleep(0.1)
    assert (False, False) == (_alive(pid), Path(root).exists())

"""Workers: one batch of 1,000 rows run by one ``sora2 batch`` process, then by three sharing a
PostgreSQL journal (``--journal postgresql://...``), against one emulator process.

Each round gets a fresh database on a throwaway PostgreSQL server (benchmarks/_postgres.py,
started with ``log_statement=all``) and rows of its own prompts. Wall time runs from starting
the processes to the last one's exit, start-up included, the same for both rounds. Submissions
per row are counted on the emulator (1.00: none twice, none lost); the statements the server
logged for the round's database, per job, are its PostgreSQL round trips (a transaction's
BEGIN and COMMIT count; registering the rows is one statement per worker).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ._postgres import HOW_TO_RUN, PostgresServer, find_bindir
from ._proc import REPO_ROOT, child_env
from ._server import BENCH_TOKEN, EmulatorProcess
from ._table import Row

__all__ = ["CONCURRENCY", "ROWS", "run"]

ROWS = 1000
CONCURRENCY = 50
"""Jobs in flight per worker (``--concurrency``)."""
SPEED = 50.0
"""Emulator speed, as in the batch benchmark: the longest clip runs in about a quarter second."""
WORKERS = (1, 3)


def _rows(prefix: str, count: int) -> list[dict[str, Any]]:
    from .bench_batch import _rows as batch_rows

    return [{**row, "prompt": f"{prefix} {row['prompt']}"} for row in batch_rows(count)]


def _statements(log: Path, database: str) -> int:
    """Statements the server logged for ``database`` (log_line_prefix starts with its name)."""
    count = 0
    with open(log, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith(f"{database} ") and (" statement: " in line or " execute " in line):
                count += 1
    return count


def _round(
    server: PostgresServer, emulator: EmulatorProcess, folder: Path, workers: int, rows: int
) -> dict[str, Any]:
    import psycopg

    database = f"bench_{workers}"
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {database}")
        conn.execute(f"CREATE DATABASE {database}")
    url = server.url.rsplit("/", 1)[0] + f"/{database}"
    source = folder / f"rows-{workers}.jsonl"
    prefix = f"w{workers}"
    source.write_text(
        "".join(json.dumps(row) + "\n" for row in _rows(prefix, rows)), encoding="utf-8"
    )
    command = [sys.executable, "-m", "sora2", "batch", str(source), "--out-dir"]
    command += [str(folder / f"out-{workers}"), "--journal", url, "--base-url", emulator.url]
    command += ["--concurrency", str(CONCURRENCY), "-q", "--json"]
    env = {**child_env(), "RUNCOMFY_API_TOKEN": BENCH_TOKEN}
    # Output goes to files: a worker blocked on a full pipe would look like a slow worker.
    logs = [
        (folder / f"w{workers}-{i}.out", folder / f"w{workers}-{i}.err") for i in range(workers)
    ]
    started = time.perf_counter()
    children = []
    for out_path, err_path in logs:
        with open(out_path, "w") as out, open(err_path, "w") as err:
            children.append(
                subprocess.Popen(
                    command,
                    cwd=REPO_ROOT,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                )
            )
    codes = [child.wait(timeout=1800) for child in children]
    wall = time.perf_counter() - started
    outputs = [(o.read_text(), e.read_text()) for o, e in logs]
    if any(codes):
        manifest = (folder / f"out-{workers}" / "manifest.jsonl").read_text(encoding="utf-8")
        stuck = [
            (row["row"], row["state"], row["error"])
            for row in map(json.loads, manifest.splitlines())
            if row["state"] != "completed"
        ]
        raise RuntimeError(f"workers exited {codes}; rows not completed: {stuck[:5]}")
    summaries = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    submissions = emulator.stats()["submissions"]
    mine = [count for prompt, count in submissions.items() if prompt.startswith(f"{prefix} ")]
    return {
        "wall": wall,
        "completed": max(s["counts"]["completed"] for s in summaries),
        "by_worker": [s["submitted"] for s in summaries],
        "submissions_per_row": sum(mine) / rows,
        "max_per_row": max(mine, default=0),
        "statements_per_job": _statements(server.log, database) / rows,
    }


def run(quick: bool = False) -> list[Row]:
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError(HOW_TO_RUN)
    rows = 6 if quick else ROWS
    server = PostgresServer(bindir)
    try:
        server.init()
        server.start("-c log_statement=all -c log_line_prefix='%d '")
        with (
            EmulatorProcess(
                speed=SPEED, workers=CONCURRENCY * max(WORKERS), max_requests=20 * rows
            ) as emulator,
            tempfile.TemporaryDirectory(prefix="sora2-bench-workers-") as folder,
        ):
            found = {n: _round(server, emulator, Path(folder), n, rows) for n in WORKERS}
    finally:
        server.close()
    label = f"workers: {rows} rows, one PostgreSQL journal"
    one, three = found[1], found[3]
    table: list[Row] = []
    for workers in WORKERS:
        result = found[workers]
        ok = result["completed"] == rows and result["max_per_row"] == 1
        table.append(
            Row(
                f"{label}, {workers} worker{'s' if workers > 1 else ''}",
                "wall time, all complete (start-up included)",
                result["wall"],
                unit="s",
                passed=ok,
                target="all complete",
                note=(
                    f"{result['completed']}/{rows} completed; submitted by each worker: "
                    f"{result['by_worker']}"
                ),
            )
        )
        table.append(
            Row(
                f"{label}, {workers} worker{'s' if workers > 1 else ''}",
                "submissions per row (emulator)",
                result["submissions_per_row"],
                target="1.00",
                passed=result["submissions_per_row"] == 1.0,
            )
        )
        table.append(
            Row(
                f"{label}, {workers} worker{'s' if workers > 1 else ''}",
                "PostgreSQL statements (round trips) per job",
                result["statements_per_job"],
            )
        )
    table.append(
        Row(
            label,
            "wall time, 3 workers / 1 worker",
            three["wall"],
            one["wall"],
            three["wall"] / one["wall"],
            unit="s",
            baseline_name="1 worker",
            note=f"{os.cpu_count()} CPU cores shared by the workers, the emulator and PostgreSQL",
        )
    )
    return table

"""Batch: ``sora2 batch`` runs 1,000 rows at concurrency 50 against the emulator at high speed.

The command runs in a child process (``python -m benchmarks.bench_batch URL ROWS DIR``) that
calls the CLI's ``main`` in process and measures itself with ``resource.getrusage``, so wall
time, CPU and peak RSS are the client's alone (progress lines go to a pipe: the plain mode).
Rows cycle through every size and duration the spec allows; the journal is on, in the run's
temporary directory, as a user would have it. The child then runs the same command again:
that re-run must submit nothing. Duplicates are counted on the emulator (a prompt submitted
more than once), which is where a double payment would show.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ._proc import run_json_child
from ._server import BENCH_TOKEN, EmulatorProcess
from ._table import Row

__all__ = ["CONCURRENCY", "MAX_RSS_MB", "ROWS", "run"]

ROWS = 1000
CONCURRENCY = 50
MAX_RSS_MB = 150.0
"""Issue 13: peak RSS under 150 MB, and 0 duplicates."""
SPEED = 50.0
"""Emulator speed: the longest clip the spec allows runs in about a quarter of a second."""


def _rows(count: int) -> list[dict[str, Any]]:
    from sora2._inputs import duration_property, input_fields, size_property

    fields = input_fields()
    size, seconds = size_property(), duration_property()
    sizes = (fields[size].choices or ()) if size else ()
    durations = (fields[seconds].choices or ()) if seconds else ()
    found = []
    for index in range(count):
        row: dict[str, Any] = {"prompt": f"batch {index}"}
        if size and sizes:
            row[size] = sizes[index % len(sizes)]
        if seconds and durations:
            row[seconds] = durations[index % len(durations)]
        found.append(row)
    return found


def _child(url: str, rows: int, folder: Path) -> dict[str, Any]:
    from sora2._cli import main  # imported before the clock starts: start-up is not batch

    source = folder / "rows.jsonl"
    source.write_text("".join(json.dumps(row) + "\n" for row in _rows(rows)), encoding="utf-8")
    os.environ["RUNCOMFY_API_TOKEN"] = BENCH_TOKEN
    command = ["batch", str(source), "--out-dir", str(folder / "out"), "--json"]
    command += ["--concurrency", str(CONCURRENCY), "--base-url", url]
    command += ["--journal", str(folder / "journal.sqlite3")]

    def once() -> tuple[int, dict[str, Any]]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(command)
        return code, json.loads(out.getvalue().strip().splitlines()[-1])

    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    code, summary = once()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rerun_started = time.perf_counter()
    rerun_code, rerun = once()
    rerun_wall = time.perf_counter() - rerun_started
    return {
        "exit": code,
        "completed": summary["counts"]["completed"],
        "submitted": summary["submitted"],
        "rerun_exit": rerun_code,
        "rerun_submitted": rerun["submitted"],
        "rerun_wall": rerun_wall,
        "wall": wall,
        "cpu": cpu,
        "max_rss_mb": after.ru_maxrss / 1024,
    }


def run(quick: bool = False) -> list[Row]:
    rows = 4 if quick else ROWS
    with EmulatorProcess(speed=SPEED, workers=CONCURRENCY, max_requests=4 * rows) as server:
        with tempfile.TemporaryDirectory(prefix="sora2-bench-batch-") as folder:
            found = run_json_child(
                "benchmarks.bench_batch", server.url, str(rows), folder, timeout=900
            )
        stats = server.stats()
    requests: dict[str, int] = stats["requests"]
    total = sum(requests.values())
    duplicates = sum(count - 1 for count in stats["submissions"].values() if count > 1)
    ok = found["completed"] == rows and found["exit"] == 0 and duplicates == 0
    breakdown = ", ".join(f"{name} {count / rows:.2f}" for name, count in sorted(requests.items()))
    label = f"batch: {rows} rows, concurrency {CONCURRENCY}"
    note = (
        f"{found['completed']}/{rows} completed (exit {found['exit']}); requests per job: "
        f"{breakdown}; re-run: {found['rerun_submitted']} submitted, exit "
        f"{found['rerun_exit']}, {found['rerun_wall']:.1f} s"
    )
    return [
        Row(
            label,
            "wall time, all complete",
            found["wall"],
            unit="s",
            passed=ok,
            target="all complete",
            note=note,
        ),
        Row(label, "requests sent per job (emulator stats)", total / rows),
        Row(label, "client CPU per request", found["cpu"] / max(1, total) * 1000, unit="ms"),
        Row(
            label,
            "duplicate submissions (run + re-run)",
            float(duplicates + found["rerun_submitted"]),
            target="0",
            passed=duplicates == 0 and found["rerun_submitted"] == 0,
        ),
        Row(
            label,
            "client peak RSS",
            found["max_rss_mb"],
            MAX_RSS_MB,
            found["max_rss_mb"] / MAX_RSS_MB,
            unit="MB",
            baseline_name="limit",
            target=f"< {MAX_RSS_MB:g} MB",
            passed=found["max_rss_mb"] < MAX_RSS_MB,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_batch")
    parser.add_argument("url")
    parser.add_argument("rows", type=int)
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    print(json.dumps(_child(args.url, args.rows, args.folder)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()

"""Scale: one ``AsyncClient`` drives 1,000 concurrent ``generate()`` calls to completion.

The client runs in a child process (``python -m benchmarks.bench_scale URL``) that measures
itself with ``resource.getrusage``: wall time, CPU seconds and peak RSS belong to the client
alone, not to the emulator (another process) nor to the runner. Durations cycle through every
value the spec allows; outputs go to a temporary directory; the journal is off. The emulator
runs at a high speed with a worker per job, so the run is bound by the client, not the queue.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from ._proc import run_json_child
from ._server import BENCH_TOKEN, EmulatorProcess
from ._table import Row

__all__ = ["JOBS", "MAX_RSS_MB", "run", "scenario"]

JOBS = 1000
MAX_RSS_MB = 200.0
"""Issue 7: every job completes, with no error, and peak RSS stays under 200 MB."""
SPEED = 20.0
"""Emulator speed: the longest job the spec allows is done before the first poll."""


async def scenario(url: str, jobs: int, out: Path) -> dict[str, Any]:
    """Generate ``jobs`` videos at once through one AsyncClient; count what happened."""
    import sora2
    from sora2._inputs import input_fields

    durations = input_fields()["seconds"].choices or (None,)
    errors: Counter[str] = Counter()
    async with sora2.AsyncClient(api_key=BENCH_TOKEN, base_url=url, journal=False) as client:

        async def one(index: int) -> None:
            seconds = durations[index % len(durations)]
            try:
                if seconds is None:
                    await client.generate(f"scale {index}", out=out / f"{index}.mp4")
                else:
                    await client.generate(
                        f"scale {index}", seconds=seconds, out=out / f"{index}.mp4"
                    )
            except Exception as error:  # counted and reported, not raised
                errors[type(error).__name__] += 1

        await asyncio.gather(*(one(i) for i in range(jobs)))
    files = [path for path in out.iterdir() if path.suffix == ".mp4" and path.stat().st_size > 0]
    return {"completed": len(files), "errors": dict(errors)}


def _child(url: str, jobs: int) -> dict[str, Any]:
    from sora2 import AsyncClient  # imported before the clock starts: start-up is not scale

    del AsyncClient
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sora2-bench-scale-") as folder:
        found = asyncio.run(scenario(url, jobs, Path(folder)))
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {**found, "wall": wall, "cpu": cpu, "max_rss_mb": after.ru_maxrss / 1024}


def run(quick: bool = False) -> list[Row]:
    jobs = 3 if quick else JOBS
    with EmulatorProcess(speed=SPEED, workers=jobs, max_requests=4 * jobs) as server:
        found = run_json_child("benchmarks.bench_scale", server.url, str(jobs), timeout=600)
        stats = server.stats()
    requests: dict[str, int] = stats["requests"]
    per_job = sum(requests.values()) / jobs
    breakdown = ", ".join(f"{name} {count / jobs:.2f}" for name, count in sorted(requests.items()))
    errors = found["errors"]
    ok = found["completed"] == jobs and not errors
    outcome = f"{found['completed']}/{jobs} completed" + (f", errors: {errors}" if errors else "")
    label = f"scale: {jobs} concurrent generate()"
    cpu_ms = found["cpu"] / max(1, sum(requests.values())) * 1000
    note = f"{outcome}; requests per job: {breakdown}; {cpu_ms:.1f} ms client CPU per request"
    return [
        Row(
            label,
            "wall time, all complete",
            found["wall"],
            unit="s",
            passed=ok,
            target="all complete, no error",
            note=note,
        ),
        Row(label, "requests sent per job (emulator stats)", per_job),
        Row(label, "client CPU time", found["cpu"], unit="s"),
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
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_scale")
    parser.add_argument("url")
    parser.add_argument("jobs", type=int)
    args = parser.parse_args()
    print(json.dumps(_child(args.url, args.jobs)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()

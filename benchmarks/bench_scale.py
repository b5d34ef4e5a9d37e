"""Scale: N concurrent jobs, each submitted, polled, fetched and downloaded, three ways at once.

Three clients drive the same jobs against the same emulator process (reset between them), in
one run, so every figure is a ratio to baselines measured beside it:

* ``httpx``: a raw loop on ``httpx.AsyncClient`` (httpx's own pool), as a user would write it;
* ``aiohttp``: the same loop on httpx with the aiohttp transport (``httpx_aiohttp``): the floor;
* ``sora2``: ``sora2.AsyncClient`` in its default configuration (journal on, in a temporary
  file), ``generate()`` per job.

The raw loops send the same requests (submit, status until the job ends, result, the video
streamed to a file), at most ``IN_FLIGHT`` at once (sora2's default connection limit: without
it, httpx's pool re-examines its whole queue on every request and never finishes 10,000 jobs),
polling after ``RAW_POLL`` seconds. Each client runs in a child process
(``python -m benchmarks.bench_scale URL JOBS CLIENT``) that measures itself with
``resource.getrusage``: wall time, CPU seconds and peak RSS belong to that client alone, not to
the emulator (another process) nor to the runner. Start-up is not scale: each child first runs
one job its own way (imports, compiled schemas, TLS contexts: what any process pays once), says
so on stdout, and starts its clock when the runner, having zeroed the emulator's counters,
answers on stdin (run by hand, it waits for Enter). Durations cycle through every value the spec
allows; outputs go to a temporary directory. The emulator runs at a high speed with a worker
per job, so the run is bound by the client, not the queue. Requests per job come from the
emulator's counters. Sizes: ``python -m benchmarks -k scale --scale-jobs 1000,10000``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._proc import REPO_ROOT, child_env, python_command
from ._server import BENCH_TOKEN, EmulatorProcess
from ._table import Row

__all__ = ["CLIENTS", "JOBS", "RSS_LIMITS_MB", "run", "scenario", "set_sizes"]

JOBS: tuple[int, ...] = (1000,)
"""Sizes run by default; ``--scale-jobs`` (``set_sizes``) chooses others."""
CLIENTS = ("httpx", "aiohttp", "sora2")
"""The raw httpx loop, the raw aiohttp-transport loop (the baseline), sora2's default."""
RSS_LIMITS_MB = {1000: 150.0, 10_000: 300.0}
"""Issue 21: peak RSS at most 150 MB at 1,000 jobs, under 300 MB at 10,000."""
CPU_TARGET_MS = 1.0
"""Issue 21: at most 1.0 ms of client CPU per request at 1,000 jobs (default configuration)."""
CPU_RATIO_TARGET = 1.7
"""Issue 21: within 1.7x of the raw aiohttp-transport loop's CPU per request, same run."""
SPEED = 20.0
"""Emulator speed: the longest job the spec allows is done before the first poll."""
IN_FLIGHT = 100
"""Requests in flight at once in the raw loops: sora2's DEFAULT_CONNECTION_LIMIT."""
RAW_POLL = 1.0
"""Seconds the raw loops wait before each status poll."""

_sizes: tuple[int, ...] = JOBS


def set_sizes(sizes: Sequence[int]) -> None:
    """The job counts the next ``run()`` measures (``python -m benchmarks --scale-jobs``)."""
    global _sizes
    if not sizes or any(size < 1 for size in sizes):
        raise ValueError(f"job counts must be whole numbers >= 1, not {list(sizes)}")
    _sizes = tuple(sizes)


async def scenario(url: str, jobs: int, out: Path) -> dict[str, Any]:
    """Generate ``jobs`` videos at once through one default AsyncClient; count what happened."""
    import sora2
    from sora2._inputs import input_fields

    durations = input_fields()["seconds"].choices or (None,)
    errors: Counter[str] = Counter()
    async with sora2.AsyncClient(api_key=BENCH_TOKEN, base_url=url) as client:

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
    return {"errors": dict(errors), "transport": type(client._http._transport).__name__}


async def raw_loop(url: str, jobs: int, out: Path, *, aiohttp: bool) -> dict[str, Any]:
    """The same jobs on a bare ``httpx.AsyncClient``: what a user would write without sora2."""
    import httpx

    from sora2._inputs import input_fields
    from sora2._spec import operation
    from sora2._types import is_terminal_state

    durations = input_fields()["seconds"].choices or (None,)
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)

    def transport() -> httpx.AsyncBaseTransport | None:
        if not aiohttp:
            return None
        from httpx_aiohttp import AiohttpTransport

        return AiohttpTransport(limits=limits)

    slots = asyncio.Semaphore(IN_FLIGHT)
    errors: Counter[str] = Counter()
    submit, status, result = operation("submit"), operation("status"), operation("result")
    headers = {"authorization": f"Bearer {BENCH_TOKEN}"}
    async with (
        httpx.AsyncClient(
            base_url=url, headers=headers, limits=limits, timeout=60, transport=transport()
        ) as api,
        httpx.AsyncClient(limits=limits, timeout=60, transport=transport()) as files,
    ):

        async def one(index: int) -> None:
            body: dict[str, Any] = {"prompt": f"scale {index}"}
            seconds = durations[index % len(durations)]
            if seconds is not None:
                body["seconds"] = seconds
            async with slots:
                answer = await api.post(submit.path, json=body)
            answer.raise_for_status()
            request_id = answer.json()["request_id"]
            while True:
                await asyncio.sleep(RAW_POLL)
                async with slots:
                    answer = await api.get(status.url_path(request_id=request_id))
                answer.raise_for_status()
                if is_terminal_state(answer.json()["status"]):
                    break
            async with slots:
                answer = await api.get(result.url_path(request_id=request_id))
            answer.raise_for_status()
            output = answer.json().get("output") or {}
            for name, video in output.items():
                async with slots, files.stream("GET", video) as download:
                    download.raise_for_status()
                    with open(out / f"{index}-{name}.mp4", "wb") as target:
                        async for chunk in download.aiter_bytes():
                            target.write(chunk)

        async def counted(index: int) -> None:
            try:
                await one(index)
            except Exception as error:  # counted and reported, not raised
                errors[type(error).__name__] += 1

        await asyncio.gather(*(counted(i) for i in range(jobs)))
    return {"errors": dict(errors), "transport": "AiohttpTransport" if aiohttp else "httpx"}


WARMED = "warmed"
"""What a child prints once its warm-up job is done; it then waits for a line on stdin."""


def _jobs(url: str, jobs: int, client: str, out: Path) -> dict[str, Any]:
    if client == "sora2":
        os.environ["SORA2_JOURNAL"] = str(out / "journal.sqlite3")  # the default, isolated
        return asyncio.run(scenario(url, jobs, out))
    return asyncio.run(raw_loop(url, jobs, out, aiohttp=client == "aiohttp"))


def _child(url: str, jobs: int, client: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sora2-bench-warm-") as folder:
        _jobs(url, 1, client, Path(folder))  # start-up is not scale: paid before the clock
    print(WARMED, flush=True)
    sys.stdin.readline()  # the runner zeroes the emulator's counters, then says go
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="sora2-bench-scale-") as folder:
        out = Path(folder)
        found = _jobs(url, jobs, client, out)
        completed = sum(1 for path in out.glob("*.mp4") if path.stat().st_size > 0)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        **found,
        "completed": completed,
        "wall": wall,
        "cpu": cpu,
        "max_rss_mb": after.ru_maxrss / 1024,
    }


def _measure(jobs: int) -> dict[str, dict[str, Any]]:
    """Each client's figures at ``jobs`` jobs, on one emulator reset between clients."""
    found: dict[str, dict[str, Any]] = {}
    with EmulatorProcess(speed=SPEED, workers=jobs, max_requests=4 * jobs) as server:
        for client in CLIENTS:
            server.reset()
            figures = _run_child(server, jobs, client)
            requests: dict[str, int] = server.stats()["requests"]
            figures["requests"] = sum(requests.values())
            figures["breakdown"] = ", ".join(
                f"{name} {count / jobs:.2f}" for name, count in sorted(requests.items())
            )
            found[client] = figures
    return found


def _run_child(server: EmulatorProcess, jobs: int, client: str) -> dict[str, Any]:
    """One client's child: its warm-up job, then (the counters zeroed) the measured jobs."""
    command = python_command("benchmarks.bench_scale", server.url, str(jobs), client)
    with subprocess.Popen(
        command,
        env=child_env(),
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdin is not None and child.stdout is not None
        line = child.stdout.readline().strip()
        if line != WARMED:
            child.kill()
            raise RuntimeError(f"bench_scale {client}: no warm-up ({line!r})")
        server.reset()
        child.stdin.write("go\n")
        child.stdin.flush()
        output, _ = child.communicate(timeout=3600)
    if child.returncode != 0 or not output.strip():
        raise RuntimeError(f"bench_scale {client} exited {child.returncode}")
    figures: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return figures


def _rows(jobs: int, found: dict[str, dict[str, Any]]) -> list[Row]:
    ours, floor, httpx_loop = found["sora2"], found["aiohttp"], found["httpx"]

    def per_request(figures: dict[str, Any]) -> float:
        return float(figures["cpu"]) / max(1, int(figures["requests"])) * 1000

    label = f"scale {jobs:,}: sora2.AsyncClient (default)"
    cpu_ms, floor_ms, httpx_ms = per_request(ours), per_request(floor), per_request(httpx_loop)
    cpu_ratio = cpu_ms / floor_ms if floor_ms else float("inf")
    judged = jobs == 1000
    rows = []
    for client, figures in found.items():
        outcome = f"{figures['completed']}/{jobs} completed"
        if figures["errors"]:
            outcome += f", errors: {figures['errors']}"
        rows.append(
            Row(
                f"scale {jobs:,}: {client}",
                "all complete, no error",
                float(figures["completed"]),
                unit="",
                passed=figures["completed"] == jobs and not figures["errors"],
                target="all complete" if client == "sora2" else "",
                note=f"{outcome}; transport {figures['transport']}; requests per job: "
                f"{figures['breakdown']}",
            )
        )
    rss_limit = RSS_LIMITS_MB.get(jobs)
    rows += [
        Row(
            label,
            "client CPU per request",
            cpu_ms,
            floor_ms,
            cpu_ratio,
            unit="ms",
            baseline_name="raw aiohttp loop",
            target=f"<= {CPU_TARGET_MS:g} ms, <= {CPU_RATIO_TARGET:g}x" if judged else "",
            passed=(cpu_ms <= CPU_TARGET_MS and cpu_ratio <= CPU_RATIO_TARGET) if judged else None,
        ),
        Row(
            label,
            "client CPU per request",
            cpu_ms,
            httpx_ms,
            cpu_ms / httpx_ms if httpx_ms else None,
            unit="ms",
            baseline_name="raw httpx loop",
        ),
        Row(
            f"scale {jobs:,}: raw httpx loop",
            "client CPU per request",
            httpx_ms,
            floor_ms,
            httpx_ms / floor_ms if floor_ms else None,
            unit="ms",
            baseline_name="raw aiohttp loop",
        ),
        Row(
            label,
            "wall time, all jobs",
            float(ours["wall"]),
            float(floor["wall"]),
            float(ours["wall"]) / float(floor["wall"]),
            unit="s",
            baseline_name="raw aiohttp loop",
            note=f"raw httpx loop {float(httpx_loop['wall']):.1f} s",
        ),
        Row(
            label,
            "requests per job (emulator stats)",
            int(ours["requests"]) / jobs,
            int(floor["requests"]) / jobs,
            int(ours["requests"]) / max(1, int(floor["requests"])),
            baseline_name="raw aiohttp loop",
        ),
        Row(
            label,
            "client peak RSS",
            float(ours["max_rss_mb"]),
            float(floor["max_rss_mb"]),
            float(ours["max_rss_mb"]) / float(floor["max_rss_mb"]),
            unit="MB",
            baseline_name="raw aiohttp loop",
            target=f"<= {rss_limit:g} MB" if rss_limit else "",
            passed=float(ours["max_rss_mb"]) <= rss_limit if rss_limit else None,
            note=f"raw httpx loop {float(httpx_loop['max_rss_mb']):.0f} MB",
        ),
    ]
    return rows


def run(quick: bool = False) -> list[Row]:
    rows: list[Row] = []
    for jobs in (3,) if quick else _sizes:
        rows += _rows(jobs, _measure(jobs))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_scale")
    parser.add_argument("url")
    parser.add_argument("jobs", type=int)
    parser.add_argument("client", choices=CLIENTS)
    args = parser.parse_args()
    print(json.dumps(_child(args.url, args.jobs, args.client)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()

"""The emulator under load: 50 concurrent clients for 30 s against one server process, with no
5xx the test did not inject, and memory that stays bounded."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

from sora2 import AsyncClient, ConflictError, Sora2Error
from sora2.emulator._constants import VIDEO_CACHE_SIZE

from ._load_server import rss_kib
from .helpers import TOKEN, choices, report

CLIENTS = 50
DURATION = 30.0
"""Seconds during which clients start new jobs; the last ones finish shortly after."""
GRACE = 3.0
"""After DURATION, clients start nothing new; after DURATION + GRACE, whatever they are still
doing is cancelled, as when users close their laptops (the server must shrug that off too)."""
MAX_JOBS_PER_CLIENT = 200
"""A bound on each client's loop, whatever the clock says (far above what 30 s allows)."""
SPEED = 20.0
"""Jobs take 0.3-1 s: the server sees submits, polls, results and downloads all the time."""
WORKERS = CLIENTS
"""As many emulated GPUs as clients: jobs do not queue behind each other, so the server sees
the most requests per second the clients can make."""
EAGER_POLL = 0.2
"""Half the clients poll this often instead of using wait(): the server sees real traffic."""
TTL = 25.0
"""Finished jobs are forgotten after this many seconds (the service keeps them longer; a short
TTL shows, within the run, that the job table stops growing). It outlasts the longest sleep of
wait() while queued (15 s) plus a poll's retries, so no client loses a job it waits for."""
TTL_SLACK = 5.0
"""A job ends within this many seconds of its submission (at SPEED), so the table holds only
jobs submitted in the last TTL + TTL_SLACK seconds."""
MAX_REQUESTS = 5000
"""The emulator's hard cap, far above what the TTL keeps: not the limit that is tested."""
FAULTS = "*:503=0@rate=0.01,*:500@rate=0.005,*:502@rate=0.005,video:500@rate=0.01"
"""A few injected 5xx (Retry-After: 0, so the test does not idle): every other 5xx is a bug."""
RSS_WARMUP = 10.0
"""By then the job table is full; memory is measured from the first sample after it at which
every clip the spec allows (or as many as the cache holds) is encoded and cached, so that a
spec with more or longer clips does not count their encoding as growth."""
RSS_GROWTH_LIMIT_KIB = 32 * 1024
"""Allowed growth of the server's resident memory after warm-up. Its state is bounded by
construction (MAX_REQUESTS jobs of a few hundred bytes, VIDEO_CACHE_SIZE clips), so after
warm-up memory should only wobble with allocator noise and in-flight buffers (50 connections
times a clip of at most a few hundred KiB); a leak of even 1 KiB per request (about 20 000
requests in the run) would exceed this."""
SERVER_TIMEOUT = 60.0
SAMPLE_EVERY = 1.0


@dataclass
class Server:
    """The emulator process, asked for its counters over stdin/stdout."""

    process: subprocess.Popen[str]
    url: str
    lock: threading.Lock = field(default_factory=threading.Lock)

    def snapshot(self) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        with self.lock:
            self.process.stdin.write("stats\n")
            self.process.stdin.flush()
            answer: dict[str, Any] = json.loads(self.process.stdout.readline())
        return answer


@pytest.fixture
def server() -> Iterator[Server]:
    script = Path(__file__).with_name("_load_server.py")
    process = subprocess.Popen(
        [
            sys.executable,
            str(script),
            str(SPEED),
            str(WORKERS),
            str(MAX_REQUESTS),
            str(TTL),
            FAULTS,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        yield Server(process, url)
    finally:
        if process.stdin is not None:
            process.stdin.close()  # end of stdin: the server shuts down
        try:
            process.wait(SERVER_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(SERVER_TIMEOUT)


@dataclass
class Samples:
    """What the sampler thread saw: (seconds since start, RSS KiB) and (seconds since start,
    jobs held, jobs ever created)."""

    rss: list[tuple[float, int]] = field(default_factory=list)
    jobs: list[tuple[float, int, int]] = field(default_factory=list)
    videos: list[int] = field(default_factory=list)
    """Clips in the server's video cache, at each ``rss`` sample."""


def _sample(server: Server, samples: Samples, started: float, stop: threading.Event) -> None:
    pid = str(server.process.pid)
    while not stop.wait(SAMPLE_EVERY):
        at = time.monotonic() - started
        samples.rss.append((at, rss_kib(pid)))
        snapshot = server.snapshot()
        samples.jobs.append((at, snapshot["jobs"], snapshot["submissions"]))
        samples.videos.append(snapshot["videos_cached"])


async def _follow(client: AsyncClient, request_id: str, eager: bool) -> None:
    """Until the job ends: wait() (its adaptive schedule), or a naive poller that asks every
    EAGER_POLL seconds, as some users' scripts do."""
    if not eager:
        await client.wait(request_id, timeout=SERVER_TIMEOUT)
        return
    for _ in range(int(SERVER_TIMEOUT / EAGER_POLL)):
        if (await client.status(request_id)).is_terminal:
            return
        await anyio.sleep(EAGER_POLL)


async def _client(number: int, url: str, deadline: float, out: Path, tally: Counter[str]) -> None:
    """One user: submit, follow, fetch and download, again and again; every fifth job is
    cancelled instead. Only a Sora2Error is an expected failure; anything else fails the test."""
    sizes, durations = choices("size"), choices("seconds")
    target = out / f"client-{number:02d}.mp4"
    async with AsyncClient(TOKEN, base_url=url, journal=False) as client:
        for job in range(MAX_JOBS_PER_CLIENT):
            if time.monotonic() > deadline:
                break
            tally["submitted"] += 1
            try:
                submission = await client.submit(
                    f"load client {number} job {job}",
                    size=sizes[(number + job) % len(sizes)],
                    seconds=durations[(number * 7 + job) % len(durations)],
                )
                if job % 5 == 4:
                    try:
                        await client.cancel(submission.request_id)
                        tally["cancelled"] += 1
                    except ConflictError:
                        tally["started before cancel"] += 1
                    continue
                await _follow(client, submission.request_id, eager=number % 2 == 1)
                await client.download(await client.result(submission.request_id), target)
                tally["downloaded"] += 1
            except Sora2Error as error:
                tally[type(error).__name__] += 1


def _created_before(samples: Samples, moment: float) -> int:
    """Jobs created by ``moment`` (seconds since start), from the samples: a lower bound."""
    return max((created for at, _, created in samples.jobs if at <= moment), default=0)


@pytest.mark.slow
def test_fifty_clients_for_thirty_seconds(
    server: Server, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    """50 concurrent clients for 30 s: every 5xx the server sent was injected, its job table
    holds only recent jobs, and its memory stops growing once warm."""
    tally: Counter[str] = Counter()
    samples = Samples()
    stop = threading.Event()
    started = time.monotonic()
    sampler = threading.Thread(target=_sample, args=(server, samples, started, stop), daemon=True)
    sampler.start()

    async def run() -> None:
        deadline = time.monotonic() + DURATION
        with anyio.move_on_after(DURATION + GRACE):  # then in-flight calls are abandoned
            async with anyio.create_task_group() as group:
                for number in range(CLIENTS):
                    group.start_soon(_client, number, server.url, deadline, tmp_path, tally)

    try:
        anyio.run(run)
    finally:
        stop.set()
        sampler.join(SERVER_TIMEOUT)
    elapsed = time.monotonic() - started
    final = server.snapshot()

    server_errors = sum(n for status, n in final["statuses"].items() if int(status) >= 500)
    injected = sum(final["faults"].get(kind, 0) for kind in ("500", "502", "503"))
    clips = min(len(choices("size")) * len(choices("seconds")), VIDEO_CACHE_SIZE)
    sampled = list(zip(samples.rss, samples.videos, strict=False))
    warm_from = next(
        (i for i, ((at, _), cached) in enumerate(sampled) if at >= RSS_WARMUP and cached >= clips),
        len(sampled),
    )
    warm = [kib for (_, kib), _ in sampled[warm_from:]]
    assert len(warm) >= 2, ("the video cache never filled", samples.videos)
    growth = max(warm) - warm[0]

    assert injected == server_errors, final["statuses"]
    assert tally["downloaded"] >= CLIENTS, tally  # every client got through at least once
    held_too_long = [
        (at, held, created - _created_before(samples, at - TTL - TTL_SLACK))
        for at, held, created in samples.jobs
        if held > created - _created_before(samples, at - TTL - TTL_SLACK)
    ]
    assert [] == held_too_long  # only the last TTL (+ slack) seconds of jobs are kept
    assert final["jobs"] < final["submissions"]  # and some did expire
    assert {"NotFoundError"}.isdisjoint(tally)  # but none that a client was still following
    assert growth < RSS_GROWTH_LIMIT_KIB, samples.rss
    report(
        record_property,
        "emulator under load",
        {
            "clients": CLIENTS,
            "seconds": round(elapsed, 1),
            "client_outcomes": dict(tally),
            "server_requests": final["requests"],
            "server_statuses": final["statuses"],
            "faults_injected": final["faults"],
            "uninjected_5xx": server_errors - injected,
            "jobs_created": final["submissions"],
            "job_table_max": max(held for _, held, _ in samples.jobs),
            "job_table_final": final["jobs"],
            "rss_mib_at_warmup": round(warm[0] / 1024, 1),
            "rss_mib_max": round(max(kib for _, kib in samples.rss) / 1024, 1),
            "rss_growth_after_warmup_mib": round(growth / 1024, 1),
        },
    )

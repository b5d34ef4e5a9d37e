"""Polling efficiency: how soon ``wait()`` sees a job finish, and how many polls that costs.

Jobs of every duration the spec allows run at emulator speed 1, all at once, half followed by
``sora2.AsyncClient.wait`` (one client, as an application would have) and half by a fixed
one-second poller over raw httpx. Each poller has an emulator of its own, with a worker per
job, so the jobs of one never stand in the other's queue. Detection delay is measured against
the emulator's own completion timestamp: the emulator's clock is ``time.monotonic``, which on
Linux is one clock for every process, so the runner reads it directly from the server process.

The emulator's job lengths are exact, so a poller whose schedule starts at submission would
always meet a job of one duration at the same phase, lucky or not. Real jobs vary; to sample
the phases evenly both pollers start polling after the same offsets, ``(i + 0.5) / repeats``
of a second for the i-th job of each duration.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx

from ._server import BENCH_TOKEN, EmulatorProcess
from ._table import Row

__all__ = ["FIXED_INTERVAL", "LATENCY_FRACTION", "Outcome", "run"]

FIXED_INTERVAL = 1.0
"""The baseline: poll every second."""
LATENCY_FRACTION = 0.10
"""Issue 7: completion detected within 10% of the job's length, in fewer polls than the baseline."""


class _CountingTransport(httpx.AsyncBaseTransport):
    """Counts the requests sent per URL path, to know each job's polls exactly."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.paths: Counter[str] = Counter()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths[request.url.path] += 1
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass(frozen=True)
class Outcome:
    """One followed job: who followed it, its length, when it was seen done, at what cost."""

    poller: str
    seconds: int
    request_id: str
    detected_at: float
    polls: int


async def _sora2_jobs(url: str, durations: list[tuple[int, float]]) -> list[Outcome]:
    import sora2
    from sora2._spec import operation

    counter = _CountingTransport()
    client = sora2.AsyncClient(api_key=BENCH_TOKEN, base_url=url, journal=False, transport=counter)
    async with client:

        async def follow(seconds: int, offset: float) -> Outcome:
            submission = await client.submit("polling benchmark", seconds=seconds)
            await asyncio.sleep(offset)
            await client.wait(submission.request_id)
            detected = time.monotonic()
            path = operation("status").url_path(request_id=submission.request_id)
            return Outcome("sora2", seconds, submission.request_id, detected, counter.paths[path])

        return list(await asyncio.gather(*(follow(s, o) for s, o in durations)))


async def _fixed_jobs(url: str, durations: list[tuple[int, float]]) -> list[Outcome]:
    from sora2._spec import operation

    headers = {"Authorization": f"Bearer {BENCH_TOKEN}"}
    async with httpx.AsyncClient(base_url=url, headers=headers) as client:

        async def follow(seconds: int, offset: float) -> Outcome:
            answer = await client.post(
                operation("submit").path, json={"prompt": "polling benchmark", "seconds": seconds}
            )
            answer.raise_for_status()
            request_id = answer.json()["request_id"]
            path = operation("status").url_path(request_id=request_id)
            polls = 0
            await asyncio.sleep(offset)
            while True:
                polls += 1
                state = (await client.get(path)).json()["status"]
                if state in ("completed", "cancelled"):
                    return Outcome("fixed 1 s", seconds, request_id, time.monotonic(), polls)
                await asyncio.sleep(FIXED_INTERVAL)

        return list(await asyncio.gather(*(follow(s, o) for s, o in durations)))


async def _both(
    ours_url: str, theirs_url: str, durations: list[tuple[int, float]]
) -> tuple[list[Outcome], list[Outcome]]:
    ours, theirs = await asyncio.gather(
        _sora2_jobs(ours_url, durations), _fixed_jobs(theirs_url, durations)
    )
    return ours, theirs


def _rows(found: list[tuple[Outcome, dict[str, Any]]], repeats: int, speed: float) -> list[Row]:
    rows: list[Row] = []
    for seconds in sorted({outcome.seconds for outcome, _ in found}):
        by_poller: dict[str, list[tuple[float, float, int]]] = {}
        for outcome, job in found:
            if outcome.seconds != seconds:
                continue
            length = job["finished_at"] - job["submitted_at"]
            delay = outcome.detected_at - job["finished_at"]
            by_poller.setdefault(outcome.poller, []).append((length, delay, outcome.polls))
        ours, fixed = by_poller["sora2"], by_poller["fixed 1 s"]
        length = statistics.median(x[0] for x in ours + fixed)
        worst, fixed_worst = max(x[1] for x in ours), max(x[1] for x in fixed)
        polls = statistics.mean(x[2] for x in ours)
        fixed_polls = statistics.mean(x[2] for x in fixed)
        label = f"polling: {seconds} s video ({length:.1f} s job)"
        typical = statistics.median(x[1] for x in ours)
        bound = LATENCY_FRACTION * length
        rows.append(
            Row(
                label,
                f"detection delay, worst of {repeats}; median {typical:.2f} s",
                worst,
                fixed_worst,
                worst / fixed_worst if fixed_worst > 0 else None,
                target=f"<= {bound:.2f} s (10% of job)",
                passed=worst <= bound,
                unit="s",
                baseline_name="fixed 1 s",
                note="" if speed == 1.0 else f"emulator speed {speed:g}, not 1",
            )
        )
        rows.append(
            Row(
                label,
                f"status polls per job (mean of {repeats})",
                polls,
                fixed_polls,
                polls / fixed_polls,
                target="fewer than fixed 1 s",
                passed=polls < fixed_polls,
                baseline_name="fixed 1 s",
            )
        )
    return rows


def run(quick: bool = False) -> list[Row]:
    from sora2._inputs import input_fields

    choices = input_fields()["seconds"].choices
    if not choices:
        raise RuntimeError("the spec gives seconds no fixed set of values")
    repeats, speed = (1, 20.0) if quick else (3, 1.0)
    durations = [(int(s), (i + 0.5) / repeats) for s in choices for i in range(repeats)]
    workers = len(durations)
    with (
        EmulatorProcess(speed=speed, workers=workers) as ours,
        EmulatorProcess(speed=speed, workers=workers) as theirs,
    ):
        followed = asyncio.run(_both(ours.url, theirs.url, durations))
        found = [(outcome, ours.job(outcome.request_id)) for outcome in followed[0]]
        found += [(outcome, theirs.job(outcome.request_id)) for outcome in followed[1]]
    return _rows(found, repeats, speed)

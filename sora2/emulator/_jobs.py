"""The emulated job queue: a simulation computed lazily from a clock, not by background tasks.

Every access first advances the simulation to ``clock()``: jobs finish when their run time is
up, and queued jobs take a free worker in submission order once they have waited their
admission time. Nothing runs between requests, so the emulator behaves the same through
``httpx.ASGITransport``, a sync bridge or uvicorn, and a test drives it with a fake clock.
"""

from __future__ import annotations

import bisect
import heapq
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._types import CANCELLED, COMPLETED, FAILED, IN_PROGRESS, IN_QUEUE

__all__ = [
    "Job",
    "JobStore",
    "JobView",
    "StoreFullError",
]


class StoreFullError(Exception):
    """Every slot holds a job that has not finished yet; the submission is refused."""


@dataclass(eq=False)
class Job:
    """One request (job), mutated only under the store's lock."""

    seq: int
    request_id: str
    body: dict[str, Any]
    submitted_at: float
    ready_at: float
    run_time: float
    state: str = IN_QUEUE
    started_at: float | None = None
    finished_at: float | None = None
    fails: bool = False
    """Ends in the store's failed state instead of ``completed`` (an injected failure)."""


@dataclass(frozen=True)
class JobView:
    """A consistent snapshot of a job, safe to read outside the lock."""

    request_id: str
    state: str
    body: dict[str, Any] = field(repr=False)
    queue_position: int | None
    submitted_at: float
    started_at: float | None
    finished_at: float | None


class JobStore:
    """The queue simulation plus bounded storage (TTL for finished jobs and a total cap)."""

    def __init__(
        self,
        *,
        workers: int,
        clock: Callable[[], float],
        ttl: float,
        max_jobs: int,
        failed_state: str = FAILED,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be 1 or more")
        if max_jobs < 1:
            raise ValueError("max_requests must be 1 or more")
        self._workers = workers
        self._clock = clock
        self._ttl = ttl
        self._max_jobs = max_jobs
        self._failed_state = failed_state
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        # Queued jobs in submission order (``seq``), from ``_head`` on: a job's queue position
        # is a binary search, not a walk of the queue (10,000 queued jobs each polled).
        self._queue: list[Job] = []
        self._head = 0
        self._running: list[tuple[float, int, Job]] = []
        self._finished: deque[Job] = deque()
        self._seq = 0
        self._now = clock()

    def __len__(self) -> int:
        with self._lock:
            self._advance()
            return len(self._jobs)

    def submit(
        self,
        request_id: str,
        body: dict[str, Any],
        *,
        queue_time: float,
        run_time: float,
        fails: bool = False,
    ) -> JobView:
        """Queue a new job; raises StoreFullError when no finished job can make room.

        A job that ``fails`` runs as usual, then ends in the failed state with no output.
        """
        with self._lock:
            now = self._advance()
            while len(self._jobs) >= self._max_jobs and self._finished:
                self._forget(self._finished.popleft())
            if len(self._jobs) >= self._max_jobs:
                raise StoreFullError(request_id)
            self._seq += 1
            job = Job(self._seq, request_id, body, now, now + queue_time, run_time, fails=fails)
            self._jobs[request_id] = job
            self._queue.append(job)
            self._advance()
            return self._view(job)

    def get(self, request_id: str) -> JobView | None:
        with self._lock:
            self._advance()
            job = self._jobs.get(request_id)
            return None if job is None else self._view(job)

    def cancel(self, request_id: str) -> tuple[JobView, bool] | None:
        """Cancel a queued job: (its view, True); (its view, False) if it is past the queue."""
        with self._lock:
            now = self._advance()
            job = self._jobs.get(request_id)
            if job is None:
                return None
            if job.state != IN_QUEUE:
                return self._view(job), False
            del self._queue[self._position(job) + self._head]
            job.state = CANCELLED
            job.finished_at = now
            self._finished.append(job)
            return self._view(job), True

    def clear(self) -> None:
        with self._lock:
            self._jobs.clear()
            self._queue.clear()
            self._head = 0
            self._running.clear()
            self._finished.clear()

    def _view(self, job: Job) -> JobView:
        position = self._position(job) if job.state == IN_QUEUE else None
        return JobView(
            job.request_id,
            job.state,
            job.body,
            position,
            job.submitted_at,
            job.started_at,
            job.finished_at,
        )

    def _position(self, job: Job) -> int:
        """Jobs ahead of queued ``job``: the queue is ordered by ``seq``."""
        return bisect.bisect_left(self._queue, job.seq, lo=self._head, key=_seq) - self._head

    def _pop_queued(self) -> Job:
        job = self._queue[self._head]
        self._head += 1
        if self._head > 1024 and self._head * 2 > len(self._queue):
            del self._queue[: self._head]  # amortised: each job is moved at most once or twice
            self._head = 0
        return job

    def _forget(self, job: Job) -> None:
        if self._jobs.get(job.request_id) is job:
            del self._jobs[job.request_id]

    def _advance(self) -> float:
        """Play every start and finish up to now, in time order; expire old finished jobs."""
        now = max(self._clock(), self._now)
        while True:
            next_finish = self._running[0][0] if self._running else float("inf")
            next_start = float("inf")
            if len(self._queue) > self._head and len(self._running) < self._workers:
                next_start = max(self._now, self._queue[self._head].ready_at)
            moment = min(next_finish, next_start)
            if moment > now:
                break
            if next_finish <= next_start:
                _, _, job = heapq.heappop(self._running)
                job.state = self._failed_state if job.fails else COMPLETED
                job.finished_at = moment
                self._finished.append(job)
            else:
                job = self._pop_queued()
                job.state = IN_PROGRESS
                job.started_at = moment
                heapq.heappush(self._running, (moment + job.run_time, job.seq, job))
            self._now = moment
        self._now = now
        while self._finished:
            oldest = self._finished[0]
            assert oldest.finished_at is not None
            if oldest.finished_at + self._ttl > now:
                break
            self._forget(self._finished.popleft())
        return now


def _seq(job: Job) -> int:
    return job.seq

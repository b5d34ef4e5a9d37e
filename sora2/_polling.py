"""When wait() polls next: a schedule that adapts to the job's state and to what it has learned.

Two rules bound every interval:

* **Latency.** An interval never exceeds ``POLL_LATENCY_FRACTION`` of the job's age (with a
  floor of ``MIN_POLL_INTERVAL``), so completion is noticed within that fraction of the job's
  length even when nothing is known about it. Intervals grow with the job's age, so long jobs
  cost few requests.
* **Expectation.** Once the processing time per requested video second has been learned from
  completed jobs (an EWMA), an in-progress job is polled sparsely early and densely near its
  expected end: each sleep covers ``POLL_APPROACH_FRACTION`` of the expected remainder.

While queued, a job far back in the queue is polled less often, and once processing times are
known a queued job is not polled before it could possibly be done. A Retry-After from the
service always wins over a shorter interval. Time comes from a :class:`Clock`, so tests never
really sleep.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from ._constants import (
    MAX_POLL_INTERVAL,
    MAX_QUEUE_POLL_INTERVAL,
    MAX_RETRY_AFTER,
    MIN_POLL_INTERVAL,
    POLL_APPROACH_FRACTION,
    POLL_LATENCY_FRACTION,
    PROGRESS_EWMA_ALPHA,
    QUEUE_POLL_INTERVAL,
)
from ._types import JobStatus

__all__ = ["Clock", "PollSchedule", "ProgressModel", "SystemClock"]


class Clock(Protocol):
    """The time source of wait(): monotonic for deadlines, wall time for the journal."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    async def asleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        import anyio

        await anyio.sleep(seconds)


class ProgressModel:
    """The learned processing time per requested video second, an exponentially weighted mean.

    Shared by a client and its ``with_options`` copies, and seeded from the journal, so each
    completed job makes the next wait cheaper.
    """

    def __init__(self, alpha: float = PROGRESS_EWMA_ALPHA) -> None:
        self._alpha = alpha
        self._per_second: float | None = None
        self._samples = 0
        self._lock = threading.Lock()

    @property
    def samples(self) -> int:
        return self._samples

    @property
    def seconds_per_video_second(self) -> float | None:
        return self._per_second

    def observe(self, video_seconds: float, processing_seconds: float) -> None:
        """Learn from one job that took ``processing_seconds`` to make ``video_seconds``."""
        if video_seconds <= 0 or processing_seconds <= 0:
            return
        rate = processing_seconds / video_seconds
        with self._lock:
            if self._per_second is None:
                self._per_second = rate
            else:
                self._per_second += self._alpha * (rate - self._per_second)
            self._samples += 1

    def seed(self, samples: Iterable[tuple[float, float]]) -> None:
        """Learn from past jobs, oldest first: ``(video_seconds, processing_seconds)`` pairs."""
        for video_seconds, processing_seconds in samples:
            self.observe(video_seconds, processing_seconds)

    def expected(self, video_seconds: float | None) -> float | None:
        """Expected processing time of a job, or None while nothing has been learned."""
        if video_seconds is None or self._per_second is None:
            return None
        return self._per_second * video_seconds


@dataclass
class PollSchedule:
    """The next sleep of one wait() loop.

    Args:
        model: what has been learned about processing times.
        video_seconds: the job's requested duration, when known (from the journal).
        submitted_at: when the job was submitted (clock time), or when waiting began.
        earliest_start: the earliest the job can have started processing (clock time): the last
            poll that still saw it queued. None means "any time since it was submitted".
    """

    model: ProgressModel
    video_seconds: float | None
    submitted_at: float
    earliest_start: float | None = None

    def _latency_bound(self, now: float) -> float:
        return max(MIN_POLL_INTERVAL, POLL_LATENCY_FRACTION * (now - self.submitted_at))

    def next_delay(self, status: JobStatus, now: float) -> float:
        """Seconds to sleep before polling again, after seeing ``status`` at ``now``."""
        delay = self._latency_bound(now)
        expected = self.model.expected(self.video_seconds)
        if status.state == "in_queue":
            if expected is not None:
                # It cannot finish sooner than its whole processing time from now.
                delay = max(delay, POLL_APPROACH_FRACTION * expected)
            elif status.queue_position:
                spacing = QUEUE_POLL_INTERVAL * status.queue_position
                delay = max(delay, min(MAX_QUEUE_POLL_INTERVAL, spacing))
        elif status.state == "in_progress" and expected is not None:
            start = self.submitted_at if self.earliest_start is None else self.earliest_start
            remaining = expected - (now - start)
            if remaining > 0:
                delay = max(delay, POLL_APPROACH_FRACTION * remaining)
        # Any other state, including one this version does not know: not finished, keep going.
        delay = max(MIN_POLL_INTERVAL, min(MAX_POLL_INTERVAL, delay))
        if status.retry_after is not None:
            delay = max(delay, min(status.retry_after, MAX_RETRY_AFTER))
        return delay

    def error_delay(self, now: float, retry_after: float | None, failures: int) -> float:
        """Seconds to sleep after a failed poll: backing off, but never past the latency bound."""
        delay = min(MAX_POLL_INTERVAL, max(self._latency_bound(now), MIN_POLL_INTERVAL * failures))
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
        return delay

"""When wait() polls next: a schedule that adapts to the job's state and to what it has learned.

Two rules bound every interval:

* **Latency.** An interval never exceeds ``POLL_LATENCY_FRACTION`` of the job's age (with a
  floor of ``MIN_POLL_INTERVAL``), so completion is noticed within that fraction of the job's
  length even when nothing is known about it. Intervals grow with the job's age, so long jobs
  cost few requests.
* **Expectation.** Once the processing time per requested video second has been learned from
  completed jobs (an EWMA), an in-progress job is polled sparsely early and densely near its
  expected end: each sleep covers ``POLL_APPROACH_FRACTION`` of the expected remainder. Near
  that end the one-second floor gives way to ``POLL_LATENCY_FRACTION`` of the job's expected
  length (at least ``MIN_NEAR_END_POLL_INTERVAL``): a job expected to last 6 s is polled every
  0.6 s around its end, so it too is seen done within 10%, and only there.

While queued, a job far back in the queue is polled less often, and once processing times are
known a queued job is not polled before it could possibly be done. A Retry-After from the
service always wins over a shorter interval. Time comes from a :class:`Clock`, so tests never
really sleep.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from ._constants import (
    MAX_POLL_INTERVAL,
    MAX_QUEUE_POLL_INTERVAL,
    MAX_RETRY_AFTER,
    MIN_NEAR_END_POLL_INTERVAL,
    MIN_POLL_INTERVAL,
    POLL_APPROACH_FRACTION,
    POLL_LATENCY_FRACTION,
    POLL_START_FRACTION,
    PROGRESS_EWMA_ALPHA,
    QUEUE_POLL_INTERVAL,
)
from ._types import IN_PROGRESS, IN_QUEUE, JobStatus

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
    completed job makes the next wait cheaper. Each requested duration also keeps its own mean
    processing time, used once that duration has been seen: a fixed overhead per job makes
    short videos slower per second than long ones, so one rate for all would expect a short
    job to end too soon and poll it at the near-end floor for longer than needed.
    """

    def __init__(self, alpha: float = PROGRESS_EWMA_ALPHA) -> None:
        self._alpha = alpha
        self._per_second: float | None = None
        self._by_duration: dict[float, float] = {}
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
            self._per_second = self._mean(self._per_second, rate)
            self._by_duration[video_seconds] = self._mean(
                self._by_duration.get(video_seconds), processing_seconds
            )
            self._samples += 1

    def _mean(self, previous: float | None, sample: float) -> float:
        return sample if previous is None else previous + self._alpha * (sample - previous)

    def seed(self, samples: Iterable[tuple[float, float]]) -> None:
        """Learn from past jobs, oldest first: ``(video_seconds, processing_seconds)`` pairs."""
        for video_seconds, processing_seconds in samples:
            self.observe(video_seconds, processing_seconds)

    def knows(self, video_seconds: float | None) -> bool:
        """Whether a job of this duration has been seen, so ``expected`` is not extrapolated."""
        return video_seconds is not None and video_seconds in self._by_duration

    def expected(self, video_seconds: float | None) -> float | None:
        """Expected processing time of a job, or None while nothing has been learned."""
        if video_seconds is None or self._per_second is None:
            return None
        same = self._by_duration.get(video_seconds)
        return same if same is not None else self._per_second * video_seconds


@dataclass
class PollSchedule:
    """The next sleep of one wait() loop.

    Args:
        model: what has been learned about processing times.
        video_seconds: the job's requested duration, when known (from the journal).
        submitted_at: when the job was submitted (clock time), or when waiting began.
        earliest_start: the earliest the job can have started processing (clock time): the last
            poll that still saw it queued. None means "any time since it was submitted".

    The latest it can have started is the first poll that saw it in progress after seeing it
    queued (the schedule notes it itself). Once jobs of this very duration have been seen, the
    expected end is counted from ``POLL_START_FRACTION`` of the way between the two, where
    their processing time was measured from. An expectation scaled from other durations is
    less sure, so it counts from the earliest start: the job may end later than expected, which
    costs a few polls, but not sooner, which would cost latency. The near-end floor always
    counts from the earliest start, so it never exceeds 10% of any length the job can have.
    """

    model: ProgressModel
    video_seconds: float | None
    submitted_at: float
    earliest_start: float | None = None
    _latest_start: float | None = field(default=None, init=False, repr=False)
    _seen_queued: bool = field(default=False, init=False, repr=False)

    def _latency_bound(self, now: float, floor: float = MIN_POLL_INTERVAL) -> float:
        return max(floor, POLL_LATENCY_FRACTION * (now - self.submitted_at))

    def _near_end_floor(self, expected_end: float) -> float:
        """The shortest interval for a job expected to end at ``expected_end``.

        ``POLL_LATENCY_FRACTION`` of its expected length, between ``MIN_NEAR_END_POLL_INTERVAL``
        and ``MIN_POLL_INTERVAL``: one second for jobs of 10 s or more, as without a model.
        Before the end, sleeping half the expected remainder is longer than this floor except
        in the last moments; after it, the latency bound takes over as the job ages.
        """
        length = POLL_LATENCY_FRACTION * (expected_end - self.submitted_at)
        return min(MIN_POLL_INTERVAL, max(MIN_NEAR_END_POLL_INTERVAL, length))

    def next_delay(self, status: JobStatus, now: float) -> float:
        """Seconds to sleep before polling again, after seeing ``status`` at ``now``."""
        floor = MIN_POLL_INTERVAL
        delay = self._latency_bound(now)
        expected = self.model.expected(self.video_seconds)
        if status.state == IN_QUEUE:
            self._seen_queued = True
            if expected is not None:
                # It cannot finish sooner than its whole processing time from now.
                delay = max(delay, POLL_APPROACH_FRACTION * expected)
            elif status.queue_position:
                spacing = QUEUE_POLL_INTERVAL * status.queue_position
                delay = max(delay, min(MAX_QUEUE_POLL_INTERVAL, spacing))
        elif status.state == IN_PROGRESS:
            if self._seen_queued and self._latest_start is None:
                self._latest_start = now  # noted even while nothing has been learned yet
            if expected is not None:
                floor, delay = self._approach(expected, now)
        # Any other state, including one this version does not know: not finished, keep going.
        delay = max(floor, min(MAX_POLL_INTERVAL, delay))
        if status.retry_after is not None:
            delay = max(delay, min(status.retry_after, MAX_RETRY_AFTER))
        return delay

    def _approach(self, expected: float, now: float) -> tuple[float, float]:
        """(floor, delay) for a running job expected to take ``expected`` seconds."""
        earliest = self.submitted_at if self.earliest_start is None else self.earliest_start
        start = earliest
        if (
            self._latest_start is not None
            and self._latest_start > earliest
            and self.model.knows(self.video_seconds)
        ):
            start += POLL_START_FRACTION * (self._latest_start - earliest)
        remaining = expected - (now - start)
        # The floor counts from the earliest start: never over 10% of any length it can have.
        floor = self._near_end_floor(earliest + expected)
        delay = self._latency_bound(now, floor)
        if remaining > 0:
            delay = max(delay, POLL_APPROACH_FRACTION * remaining)
        return floor, delay

    def error_delay(self, now: float, retry_after: float | None, failures: int) -> float:
        """Seconds to sleep after a failed poll: backing off, but never past the latency bound."""
        delay = min(MAX_POLL_INTERVAL, max(self._latency_bound(now), MIN_POLL_INTERVAL * failures))
        if retry_after is not None:
            delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
        return delay
